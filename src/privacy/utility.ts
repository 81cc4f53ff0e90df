/**
 * Will the planned DP noise swamp the signal? DP-FedAvg adds Gaussian noise of standard deviation
 * z·C/m to every coordinate of the average of m clipped updates, so the noise on the averaged update
 * has an expected L2 norm of about z·C·√d/m, while the averaged update itself is at most
 * min(typical update norm, C) long. Their ratio is the per-round noise-to-signal ratio; far above 1
 * the model random-walks (the README's old example, 10 clients per round on the 2NN, had ≈ 35 and
 * ended at 0.34 accuracy; the privacy bench's 100 per round on logreg has 0.9–3.8 and keeps utility).
 */
import { FederaError } from '../core/errors.js';

export interface NoisePlan {
  /** Noise multiplier z (noise std / clip norm). */
  readonly noiseMultiplier: number;
  /** Clip norm C of client updates. */
  readonly clipNorm: number;
  /** Clients averaged per round, m. */
  readonly clientsPerRound: number;
  /** Model parameters d. */
  readonly dimension: number;
  /**
   * Typical L2 norm of an unclipped client update, when known (e.g. the median norm of round 1).
   * Unknown: the best case is assumed, every update clipped to exactly C.
   */
  readonly typicalUpdateNorm?: number;
}

export interface NoiseAssessment {
  /** Noise std per coordinate of the averaged update, z·C/m. */
  readonly noiseStdPerCoordinate: number;
  /** Expected L2 norm of the noise on the averaged update, ≈ z·C·√d/m. */
  readonly noiseNorm: number;
  /** Largest L2 norm the averaged update can have, min(typical update norm, C). */
  readonly signalNorm: number;
  /** noiseNorm / signalNorm. */
  readonly ratio: number;
  /** True when `ratio` exceeds the threshold the assessment used. */
  readonly swamped: boolean;
  /** A one-line warning with what to change, when swamped. */
  readonly warning?: string;
}

/**
 * Above this per-round noise-to-signal ratio the warning fires. Between the bench setting that keeps
 * utility (≤ 3.8) and the README setting that wrecked the model (≈ 35).
 */
export const DEFAULT_MAX_NOISE_TO_SIGNAL = 10;

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new FederaError('invalid_argument', `${name} must be a finite number > 0, got ${v}`, { field: name });
  return v;
}

/** Compares the planned noise per round with the signal it is added to. */
export function assessDpNoise(plan: NoisePlan, maxRatio = DEFAULT_MAX_NOISE_TO_SIGNAL): NoiseAssessment {
  const z = plan.noiseMultiplier;
  if (!Number.isFinite(z) || z < 0) throw new FederaError('invalid_argument', `noiseMultiplier must be a finite number ≥ 0, got ${z}`, { field: 'noiseMultiplier' });
  const c = positive('clipNorm', plan.clipNorm);
  const m = positive('clientsPerRound', plan.clientsPerRound);
  const d = positive('dimension', plan.dimension);
  const u = plan.typicalUpdateNorm === undefined ? c : positive('typicalUpdateNorm', plan.typicalUpdateNorm);
  positive('maxRatio', maxRatio);
  const noiseStdPerCoordinate = (z * c) / m;
  const noiseNorm = noiseStdPerCoordinate * Math.sqrt(d);
  const signalNorm = Math.min(u, c);
  const ratio = noiseNorm / signalNorm;
  const swamped = ratio > maxRatio;
  if (!swamped) return { noiseStdPerCoordinate, noiseNorm, signalNorm, ratio, swamped };
  // Noise on the average falls as 1/m: the m that brings the ratio down to the threshold.
  const needM = Math.ceil((m * ratio) / maxRatio);
  const warning =
    `DP noise will swamp the updates: noise per round z·C/m = ${fmt(z)}·${fmt(c)}/${m} = ${fmt(noiseStdPerCoordinate)} per coordinate, ` +
    `≈ ${fmt(noiseNorm)} in L2 over ${d} parameters, against an averaged update of at most ${fmt(signalNorm)} (ratio ${fmt(ratio)} > ${maxRatio}). ` +
    `Select more clients per round (about ${needM} for this z), allow a larger ε (smaller z), or use a smaller model.`;
  return { noiseStdPerCoordinate, noiseNorm, signalNorm, ratio, swamped, warning };
}

function fmt(x: number): string {
  return Number(x.toPrecision(3)).toString();
}

/**
 * `distributed` noise is split among the clients and only adds up to the planned σ in the sum; without
 * secure aggregation the server sees each client's update with 1/√m of the noise, so the reported ε
 * does not hold against the server. Returns the warning text, or undefined when the combination is fine.
 */
export function distributedDpWarning(mode: 'central' | 'distributed' | 'local', secureAggregation: boolean): string | undefined {
  if (mode !== 'distributed' || secureAggregation) return undefined;
  return 'DP mode "distributed" without secure aggregation: each client adds only its share of the noise, so the server sees every update with too little noise and the reported ε does not hold against it; enable secure aggregation or use mode "central" or "local"';
}
