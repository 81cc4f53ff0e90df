/**
 * Coordinate-wise trimmed mean (Yin et al. 2018): for every parameter, drop the b = ⌊β·n⌋ largest
 * and the b smallest client values and average the n − 2b left. β must be < 1/2: with β·n ≥ n/2
 * nothing would be left to average, and that configuration is refused rather than returning NaN.
 * Tolerates up to b arbitrary values per coordinate. Unweighted; β = 0 is the plain mean.
 */
import { FederaError } from '../core/errors.js';
import { checkUpdates, type AggregateOptions, type AggregateResult, type Aggregator } from './aggregator.js';
import { quickselect } from './select.js';

export interface TrimmedMeanOptions {
  /** Fraction trimmed from each end, in [0, 0.5). */
  beta: number;
}

export class TrimmedMean implements Aggregator {
  readonly name = 'trimmed-mean';
  readonly weighted = false;
  readonly beta: number;

  constructor(options: TrimmedMeanOptions) {
    const beta = options.beta;
    if (typeof beta !== 'number' || !(beta >= 0)) {
      throw new FederaError('invalid_config', `trimmed mean: β must be a number in [0, 0.5), got ${String(beta)}`);
    }
    if (beta >= 0.5) {
      throw new FederaError('invalid_config', `trimmed mean: β = ${beta} trims β·n ≥ n/2 values from each end, leaving nothing to average; β must be < 0.5`);
    }
    this.beta = beta;
  }

  /** Values trimmed from each end for n updates: ⌊β·n⌋. */
  trimmed(n: number): number {
    // The small epsilon keeps β·n that is mathematically an integer (0.2 · 10) from flooring down.
    return Math.floor(this.beta * n + 1e-9);
  }

  minUpdates(): number {
    return 1;
  }

  aggregate(updates: readonly Float32Array[], options: AggregateOptions = {}): AggregateResult {
    const d = checkUpdates(this.name, updates, 1, 'the trimmed mean needs at least 1', options);
    const n = updates.length;
    const b = this.trimmed(n);
    const kept = n - 2 * b;
    if (kept < 1) {
      // Unreachable for β < 0.5; kept as a guard against a NaN result.
      throw new FederaError('insufficient_results', `trimmed mean: trimming ${b} of ${n} updates from each end leaves nothing to average`);
    }
    const out = options.out ?? new Float32Array(d);
    const column = new Float64Array(n);
    const inv = 1 / kept;
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < n; i++) column[i] = updates[i][j];
      if (b > 0) {
        // column[0..b) ≤ column[b..n−b) ≤ column[n−b..n): the middle is what is kept.
        quickselect(column, 0, n, b);
        quickselect(column, b, n, n - b);
      }
      let s = 0;
      for (let i = b; i < n - b; i++) s += column[i];
      out[j] = s * inv;
    }
    return { update: out };
  }
}
