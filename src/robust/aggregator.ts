/**
 * Robust aggregators: rules that turn a round's client updates into one update while bounding the
 * influence of a minority of bad ones. An aggregator sees every update (it cannot stream), returns
 * the robust update Δ, and leaves applying Δ to the model to a strategy: {@link RobustStrategy}
 * feeds Δ to FedAvg (x ← x + Δ) or to a server optimizer (FedAdam and friends use Δ as their
 * pseudo-gradient).
 *
 * Updates are flat `Float32Array`s of equal length; aggregators never modify them.
 */
import { FederaError } from '../core/errors.js';

export interface AggregateOptions {
  /** One weight ≥ 0 per update (e.g. example counts × reputation); used by weighted rules only. Default: all 1. */
  weights?: ArrayLike<number>;
  /** Where to write the result (length d); a new array when omitted. */
  out?: Float32Array;
}

export interface AggregateResult {
  /** The aggregated update. */
  readonly update: Float32Array;
  /** Indices of the updates the rule selected (Krum, Multi-Krum, Bulyan); absent when every update took part. */
  readonly selected?: readonly number[];
  /** Indices of the updates that were scaled down (norm bounding). */
  readonly clipped?: readonly number[];
  /** The norm bound applied this round (norm bounding). */
  readonly clipNorm?: number;
  /** Per-update scores (Krum: sum of squared distances to the n − f − 2 nearest; lower is better). */
  readonly scores?: readonly number[];
}

export interface Aggregator {
  /** Short name (`median`, `krum`, ...), used in logs and strategy names. */
  readonly name: string;
  /** Whether `weights` change the result (the mean and norm bounding); robust order statistics ignore them. */
  readonly weighted: boolean;
  /** Fewest updates the rule accepts; `aggregate` throws `insufficient_results` below it. */
  minUpdates(): number;
  aggregate(updates: readonly Float32Array[], options?: AggregateOptions): AggregateResult;
}

/** Checks the common preconditions and returns d. */
export function checkUpdates(name: string, updates: readonly Float32Array[], min: number, why: string, options?: AggregateOptions): number {
  const n = updates.length;
  if (n < Math.max(1, min)) {
    throw new FederaError('insufficient_results', `${name}: ${n} update${n === 1 ? '' : 's'} ${n === 1 ? 'is' : 'are'} too few; ${why}`, { n, min });
  }
  const d = updates[0].length;
  for (let i = 1; i < n; i++) {
    if (updates[i].length !== d) throw new FederaError('shape_mismatch', `${name}: update ${i} has ${updates[i].length} values, update 0 has ${d}`);
  }
  if (options?.out && options.out.length !== d) throw new FederaError('shape_mismatch', `${name}: out has ${options.out.length} values, expected ${d}`);
  const w = options?.weights;
  if (w) {
    if (w.length !== n) throw new FederaError('shape_mismatch', `${name}: ${w.length} weights for ${n} updates`);
    for (let i = 0; i < n; i++) {
      if (!(Number.isFinite(w[i]) && w[i] >= 0)) throw new FederaError('invalid_argument', `${name}: weight ${i} must be a finite number ≥ 0, got ${w[i]}`);
    }
  }
  return d;
}

export function checkByzantineCount(name: string, f: number): number {
  if (!Number.isInteger(f) || f < 0) throw new FederaError('invalid_config', `${name}: f (the number of Byzantine updates to tolerate) must be an integer ≥ 0, got ${f}`);
  return f;
}

/**
 * out[j] = Σᵢ sᵢ·xᵢ[j] / Σᵢ wᵢ with sᵢ = wᵢ·scaleᵢ, accumulated in float64 (a pass per update, each
 * a tight loop over the coordinates). Throws `insufficient_results` when Σ wᵢ = 0.
 */
export function weightedMeanInto(
  name: string,
  updates: readonly Float32Array[],
  weights: ArrayLike<number> | undefined,
  scales: ArrayLike<number> | undefined,
  out: Float32Array,
  rows?: readonly number[],
): Float32Array {
  const d = out.length;
  const idx = rows ?? updates.map((_, i) => i);
  let total = 0;
  for (const i of idx) total += weights ? weights[i] : 1;
  if (!(total > 0)) throw new FederaError('insufficient_results', `${name}: the updates' weights sum to 0`);
  const acc = new Float64Array(d);
  for (const i of idx) {
    const s = (weights ? weights[i] : 1) * (scales ? scales[i] : 1);
    if (s === 0) continue;
    const x = updates[i];
    for (let j = 0; j < d; j++) acc[j] += s * x[j];
  }
  const inv = 1 / total;
  for (let j = 0; j < d; j++) out[j] = acc[j] * inv;
  return out;
}

/**
 * The weighted mean Σ wᵢ·xᵢ / Σ wᵢ: FedAvg's rule, not robust. With reputation weights it becomes
 * a reputation-weighted mean; behind norm bounding, Sun et al.'s defence.
 */
export class Mean implements Aggregator {
  readonly name = 'mean';
  readonly weighted = true;

  minUpdates(): number {
    return 1;
  }

  aggregate(updates: readonly Float32Array[], options: AggregateOptions = {}): AggregateResult {
    const d = checkUpdates(this.name, updates, 1, 'the mean needs at least 1', options);
    const out = options.out ?? new Float32Array(d);
    return { update: weightedMeanInto(this.name, updates, options.weights, undefined, out) };
  }
}
