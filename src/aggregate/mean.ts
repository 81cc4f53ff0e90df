/**
 * The default reducer: a streaming weighted sum (FedAvg's), O(d) memory however many clients
 * report, with the cap on claimed weights (weight-cap.ts). It also accepts a secure sum, which it
 * passes on as the round's aggregate.
 */
import { FederaError } from '../core/errors.js';
import { WeightedSum } from '../core/kernels.js';
import type { Params } from '../core/params.js';
import type { RoundEvent } from '../core/records.js';
import { MetricsMean, RoundScratch, type StrategyState } from '../strategy/strategy.js';
import { UpdateStore } from '../robust/updates.js';
import { WeightCap, type WeightCapOptions } from './weight-cap.js';
import type { AggregationStage, Reduction, RoundAggregate, SecureSumResult, StageUpdate } from './stage.js';

export interface MeanOptions {
  /** `examples` (default): weight each update by its example count; `uniform`: 1 each. */
  weighting?: 'examples' | 'uniform';
  /** Cap the weight a client may claim (example weighting only). */
  weightCap?: WeightCapOptions | WeightCap;
}

/** Adds `values` into `sums` (the per-client tallies of an accepted update). */
export function addTally(sums: Record<string, number>, values: Readonly<Record<string, number>> | undefined): void {
  if (!values) return;
  for (const [k, v] of Object.entries(values)) sums[k] = (sums[k] ?? 0) + v;
}

/** The round aggregate of a secure sum. */
export function secureAggregate(round: number, s: SecureSumResult): RoundAggregate {
  return {
    round,
    sum: s.sum,
    weight: s.weight,
    contributors: [...s.contributors],
    secure: true,
    weighting: s.weighting,
    metrics: s.metrics,
    metricSums: { ...s.maskedSums },
    ...(s.noise ? { secureNoise: s.noise } : {}),
    stageMetrics: {},
    events: [],
  };
}

/** Events and metrics of the claims a round capped. */
export function capReport(round: number, capped: ReadonlyArray<{ clientId: string; claim: number; weight: number }>): { events: RoundEvent[]; metrics: Record<string, number> } {
  return {
    events: capped.map((c) => ({ kind: 'weight-capped', clientId: c.clientId, message: `client ${c.clientId} claimed ${c.claim} examples in round ${round}; weighted as ${c.weight}`, claim: c.claim, weight: c.weight })),
    metrics: capped.length ? { weight_capped: capped.length } : {},
  };
}

export class MeanStage implements AggregationStage {
  readonly name = 'mean';
  readonly field = 'strategy';
  readonly title = 'the weighted mean';
  readonly reducer = 'linear' as const;
  readonly weighting: 'examples' | 'uniform';
  readonly statePrefix = 'weightCap.';
  readonly cap: WeightCap | undefined;
  private readonly sums = new RoundScratch<WeightedSum>();

  constructor(options: MeanOptions = {}) {
    const weighting = options.weighting ?? 'examples';
    if (weighting !== 'examples' && weighting !== 'uniform') throw new FederaError('invalid_config', `weighting must be "examples" or "uniform", got "${String(weighting)}"`);
    this.weighting = weighting;
    const c = options.weightCap;
    this.cap = weighting === 'examples' && c ? (c instanceof WeightCap ? c : new WeightCap(c)) : undefined;
  }

  reduce(round: number, global: Params): Reduction {
    const d = global.layout.size;
    const cap = this.cap;
    // Without a reference median yet, hold the round's updates and cap against its own median.
    const hold = cap !== undefined && !cap.streaming;
    const { value: sum, release } = this.sums.acquire((kept) => kept.size === d, () => new WeightedSum(d));
    const held = hold ? new UpdateStore(d) : undefined;
    const metrics = new MetricsMean();
    const tallies: Record<string, number> = {};
    const contributors: string[] = [];
    const claims: number[] = [];
    const capped: Array<{ clientId: string; claim: number; weight: number }> = [];
    const rejected: RoundEvent[] = [];
    const weighting = this.weighting;
    let secure: SecureSumResult | undefined;
    return {
      add: (u: StageUpdate) => {
        if (secure) throw new FederaError('invalid_argument', `round ${round}: a plain update from client ${u.clientId} cannot join a secure sum`);
        if (weighting === 'examples' && !(u.numExamples > 0)) {
          throw new FederaError('invalid_argument', `client ${u.clientId} reported ${u.numExamples} examples; weighting by examples needs > 0`);
        }
        if (held) held.push(u.clientId, u.update, u.weight);
        else {
          const w = cap ? cap.capOne(u.weight) : u.weight;
          sum.add(u.update, w, `update from client ${u.clientId}`);
          if (w < u.weight) capped.push({ clientId: u.clientId, claim: u.weight, weight: w });
        }
        claims.push(u.weight);
        metrics.add(u.metrics, Math.max(1, u.numExamples));
        addTally(tallies, u.tally);
        contributors.push(u.clientId);
      },
      addSecureSum: (s: SecureSumResult) => {
        if (secure || contributors.length) throw new FederaError('invalid_argument', `round ${round}: a secure sum must be the round's only input`);
        if (s.sum.length !== d) throw new FederaError('shape_mismatch', `secure sum: ${s.sum.length} values, expected ${d}`);
        secure = s;
      },
      get accepted() {
        return secure ? secure.contributors.length : contributors.length;
      },
      finish: (): RoundAggregate => {
        try {
          if (secure) return secureAggregate(round, secure);
          if (contributors.length === 0) throw new FederaError('insufficient_results', `round ${round}: no training result to aggregate`);
          if (held) {
            const weights = cap!.capAll(claims);
            weights.forEach((w, i) => {
              try {
                sum.add(held.row(i), w, `update from client ${held.clientIds[i]}`);
              } catch (e) {
                // Finite on its own but not in this sum (float32 overflow): left out, as a streaming round would.
                rejected.push({ kind: 'rejected', clientId: held.clientIds[i], message: `update from client ${held.clientIds[i]} left out of round ${round}: ${e instanceof Error ? e.message : String(e)}` });
                return;
              }
              if (w < claims[i]) capped.push({ clientId: held.clientIds[i], claim: claims[i], weight: w });
            });
          }
          cap?.observe(claims);
          if (sum.count === 0) throw new FederaError('insufficient_results', `round ${round}: no update could be summed`);
          const report = capReport(round, capped);
          const kept = rejected.length ? contributors.filter((id) => !rejected.some((r) => r.clientId === id)) : contributors;
          return { round, sum: sum.sum(), weight: sum.totalWeight, contributors: kept, secure: false, weighting, metrics: metrics.result(), metricSums: tallies, stageMetrics: report.metrics, events: [...report.events, ...rejected] };
        } finally {
          release();
        }
      },
      discard: release,
    };
  }

  getState(): StrategyState {
    return this.cap?.getState() ?? {};
  }

  setState(state: StrategyState): void {
    this.cap?.setState(state);
  }
}

export function createMeanStage(options: MeanOptions = {}): MeanStage {
  return new MeanStage(options);
}
