/**
 * The aggregation stages a run config asks for, in chain order: weight cap → server clip (central
 * DP) → DP noise → the uplink encoding → the reducer (robust rule, secure sum, or the mean). The
 * config checks build them to run the composition check (aggregate/check.ts); the run plan builds
 * them to run. One place decides which stage a config key turns on.
 */
import { FederaError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { calibrateNoiseMultiplier } from '../privacy/accountant/calibrate.js';
import { DpNoiseStage, type DpFedAvgOptions } from '../aggregate/dp-noise.js';
import { dpFedAvgStages } from '../aggregate/dp-fedavg.js';
import { createMeanStage } from '../aggregate/mean.js';
import { createClipStage } from '../aggregate/clip.js';
import { createRobustStage } from '../aggregate/robust-strategy.js';
import { createSecureSumStage, type SecureSumStage } from '../aggregate/secure-sum.js';
import { createCompressionStage, secAggQuantizedUplink } from '../aggregate/compression.js';
import { createQfflStage } from '../aggregate/qffl.js';
import type { AggregationStage } from '../aggregate/stage.js';
import { rotatedLength } from '../compress/hadamard.js';
import type { RunConfig } from './schema.js';

export interface StageContext {
  /** N: the clients sampling draws from (the simulation's clients, the server's privacy.populationSize). */
  population: number;
  /** m: clients per round. */
  clientsPerRound: number;
  /** Seeded server noise (simulation); absent: the CSPRNG (deployment). */
  noiseRng?: Rng;
  /** Refuse a DP plan above its budget (off while checking a config whose population is not known yet). */
  checkBudget?: boolean;
  /** d: the model's parameter count, once known (the planned ε of Skellam noise depends on it). */
  dimension?: number;
}

/** DP-FedAvg as planned for a run: the multiplier in use and what the planned rounds spend. */
export interface DpPlan {
  stage: DpNoiseStage;
  noiseMultiplier: number;
  calibrated: boolean;
  plannedEpsilon: number;
  samplingRate: number;
  clientsPerRound: number;
}

export interface PlannedStages {
  stages: AggregationStage[];
  dp?: DpPlan;
  secure?: SecureSumStage;
}

/** The DP-FedAvg options of a config: the noise multiplier given, or calibrated to the budget. */
function dpOptions(c: RunConfig, ctx: StageContext): { options: DpFedAvgOptions; calibrated: boolean } {
  const p = c.privacy!;
  // FedBuff: each buffer of K uploads is one release, with no amplification by sampling (who
  // uploads depends on who is free and fast, not on a random draw): q = 1, m = K.
  const fedbuff = c.strategy.name === 'fedbuff';
  const population = fedbuff ? (c.strategy.bufferSize ?? 10) : ctx.population;
  const m = fedbuff ? population : Math.min(ctx.population, ctx.clientsPerRound);
  const q = m / population;
  // Distributed DP under rotation + quantization: Skellam noise on the secure sum's codes.
  const quantize = c.secagg?.enabled && c.compression ? secAggQuantizedUplink(c.compression.uplink) : undefined;
  const discrete =
    quantize && p.mode === 'distributed'
      ? { scale: (2 ** quantize.bits - 1) / (2 * c.secagg!.clippingRange), ...(ctx.dimension !== undefined ? { dimension: rotatedLength(ctx.dimension, quantize.block) } : {}) }
      : undefined;
  const adaptiveOf = (sigma: number) =>
    p.adaptive
      ? { targetQuantile: p.adaptive.targetQuantile, clipLearningRate: p.adaptive.clipLearningRate, countNoiseMultiplier: p.adaptive.countNoiseMultiplier ?? Math.max(m / 20, sigma) }
      : undefined;
  const base = {
    clipNorm: p.clipNorm,
    mode: p.mode,
    delta: p.delta,
    populationSize: population,
    clientsPerRound: m,
    accountant: p.accountant,
    noiseRng: ctx.noiseRng,
    sampling: p.sampling ?? 'poisson',
    ...(discrete ? { discrete } : {}),
  } satisfies Partial<DpFedAvgOptions>;
  let sigma = p.noiseMultiplier;
  let calibrated = false;
  if (sigma === undefined) {
    if (p.targetEpsilon === undefined) throw new FederaError('invalid_config', 'privacy: give a noise multiplier (privacy.noiseMultiplier, --dp-noise) or a budget to calibrate it to (privacy.targetEpsilon, --target-epsilon)');
    // Local mode: a client may take part in every round, each a Gaussian with sensitivity 2C.
    // Skellam noise (once the dimension is known): the smallest z whose planned Skellam ε meets the target.
    const skellamEpsilon =
      discrete?.dimension !== undefined ? (z: number) => new DpNoiseStage({ ...base, noiseMultiplier: z, adaptive: adaptiveOf(z) }).plannedEpsilon(c.rounds) : undefined;
    sigma =
      p.mode === 'local'
        ? 2 * calibrateNoiseMultiplier({ q: 1, steps: c.rounds, delta: p.delta, epsilon: p.targetEpsilon, accountant: p.accountant })
        : calibrateNoiseMultiplier({ q, steps: c.rounds, delta: p.delta, epsilon: p.targetEpsilon, accountant: p.accountant, ...(skellamEpsilon ? { epsilonOf: skellamEpsilon } : {}) });
    calibrated = true;
  }
  const adaptive = adaptiveOf(sigma);
  return {
    calibrated,
    options: {
      ...base,
      noiseMultiplier: sigma,
      mode: p.mode,
      adaptive,
      targetEpsilon: ctx.checkBudget === false ? undefined : p.targetEpsilon,
      plannedRounds: c.rounds,
      // Secure aggregation clips each coordinate of the noisy shares to [−c, c]: keep C + 6σᵢ ≤ c.
      ...(c.secagg?.enabled ? { coordinateRange: c.secagg.clippingRange } : {}),
    },
  };
}

/** Builds the stages of `c` (validating their settings; a DP plan above its budget is refused). */
export function planStages(c: RunConfig, ctx: StageContext): PlannedStages {
  const stages: AggregationStage[] = [];
  // DP-FedAvg weighs clients equally; so does FedBuff (the buffer is Σ s(τ)·Δ / K).
  const uniform = c.privacy !== undefined || c.strategy.name === 'fedbuff' || c.strategy.name === 'qffl';
  let dp: DpPlan | undefined;
  if (c.privacy) {
    const { options, calibrated } = dpOptions(c, ctx);
    const stage = new DpNoiseStage(options);
    stages.push(...dpFedAvgStages(stage));
    dp = { stage, noiseMultiplier: options.noiseMultiplier, calibrated, plannedEpsilon: stage.canPlan ? stage.plannedEpsilon(c.rounds) : NaN, samplingRate: stage.samplingRate, clientsPerRound: stage.clientsPerRound };
  }
  if (c.strategy.name === 'qffl') stages.push(createQfflStage({ q: c.strategy.q, lipschitz: c.strategy.lipschitz }));
  if (c.compression && c.compression.uplink.length > 0) stages.push(createCompressionStage(c.compression.uplink));
  let secure: SecureSumStage | undefined;
  if (c.secagg?.enabled) {
    const { enabled: _enabled, ...settings } = c.secagg as typeof c.secagg & { randomness?: unknown };
    delete (settings as { randomness?: unknown }).randomness;
    // compression.uplink "rotate,quantize:b" runs inside the secure sum (rotation + its fixed-point codes).
    const quantize = c.compression ? secAggQuantizedUplink(c.compression.uplink) : undefined;
    secure = createSecureSumStage({ ...settings, weighting: c.secagg.weighting ?? (uniform ? 'uniform' : 'examples'), ...(quantize ? { quantize } : {}) });
    stages.push(secure);
  }
  const weightCap = c.weightCap;
  const r = c.robust;
  if (r && uniform && (r.aggregator ?? 'mean') === 'mean' && typeof r.normBound === 'number' && !r.reputation) {
    // Under DP a fixed norm bound is one more clip in front of the clipped mean: the sensitivity
    // stays bounded (by the smaller of the two bounds), so it composes with DP's stages.
    stages.push(
      createClipStage({
        bound: r.normBound,
        field: 'robust.normBound',
        title: 'norm bounding',
        needsUpdates: { reason: 'robust.normBound has the server clip each update', hint: 'under secure aggregation the clients clip: use privacy.clipNorm' },
        tallyKey: 'normBound.clipped',
      }),
    );
  } else if (r) stages.push(createRobustStage({ ...r, weighting: r.weighting ?? (uniform ? 'uniform' : 'examples') }, weightCap));
  if (!stages.some((s) => s.reduce)) stages.push(createMeanStage({ weighting: uniform ? 'uniform' : 'examples', weightCap }));
  return { stages, dp, secure };
}
