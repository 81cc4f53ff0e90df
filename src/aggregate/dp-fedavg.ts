/**
 * DP-FedAvg as one strategy around any other: the DP stage (dp-noise.ts) behind the server's clip
 * in central mode, with the uniform-weight mean as reducer, in front of `inner` (FedAvg applies
 * the noisy average; FedAdam, FedYogi and FedAvgM use it as their pseudo-gradient — post-processing
 * keeps the guarantee). The run plan assembles the same stages from a config; this class is the
 * library user's way to the same thing, with the DP state in reach.
 */
import type { Strategy } from '../strategy/strategy.js';
import { createClipStage } from './clip.js';
import { DpNoiseStage, type DpFedAvgOptions } from './dp-noise.js';
import { createMeanStage } from './mean.js';
import { AggregationStrategy } from './pipeline.js';
import type { AggregationStage } from './stage.js';

/** The stages of DP-FedAvg: the server's clip (central mode), the DP stage, the uniform-weight mean. */
export function dpFedAvgStages(dp: DpNoiseStage): AggregationStage[] {
  const clip =
    dp.mode === 'central'
      ? [
          createClipStage({
            bound: () => dp.clipNorm,
            field: 'privacy.clipNorm',
            title: "DP-FedAvg's server-side clipping",
            needsUpdates: dp.needsUpdates!,
          }),
        ]
      : [];
  return [...clip, dp];
}

export class DpFedAvg extends AggregationStrategy {
  readonly dp: DpNoiseStage;

  constructor(inner: Strategy, options: DpFedAvgOptions) {
    const dp = new DpNoiseStage(options);
    super(inner, [...dpFedAvgStages(dp), createMeanStage({ weighting: 'uniform' })]);
    this.dp = dp;
  }

  get mode() {
    return this.dp.mode;
  }
  get delta(): number {
    return this.dp.delta;
  }
  get noiseMultiplier(): number {
    return this.dp.noiseMultiplier;
  }
  get updateNoiseMultiplier(): number {
    return this.dp.updateNoiseMultiplier;
  }
  get samplingRate(): number {
    return this.dp.samplingRate;
  }
  get clientsPerRound(): number {
    return this.dp.clientsPerRound;
  }
  get targetEpsilon(): number | undefined {
    return this.dp.targetEpsilon;
  }
  /** The current clip norm C. */
  get clipNorm(): number {
    return this.dp.clipNorm;
  }
  /** ε spent so far (the value in the last round's record). */
  get epsilon(): number {
    return this.dp.epsilon;
  }
  /** Rounds charged to the accountant so far. */
  get roundsCharged(): number {
    return this.dp.ledger.steps;
  }
  /** ε after `rounds` more rounds at full participation, from the current state. */
  plannedEpsilon(rounds: number): number {
    return this.dp.plannedEpsilon(rounds);
  }
  /** Whether one more round at full participation stays within `targetEpsilon` (always true without one). */
  canRunRound(): boolean {
    return this.dp.canRunRound();
  }
}

export { updateNoiseMultiplier, type DpFedAvgOptions, type AdaptiveClippingOptions } from './dp-noise.js';
