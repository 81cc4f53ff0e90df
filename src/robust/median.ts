/**
 * Coordinate-wise median (Yin et al. 2018): every parameter of the aggregate is the median of the
 * clients' values for it; for an even number of updates, the mean of the two middle values.
 * Tolerates any minority of arbitrary updates per coordinate. Unweighted.
 */
import { checkUpdates, type AggregateOptions, type AggregateResult, type Aggregator } from './aggregator.js';
import { medianInPlace } from './select.js';

export class CoordinateMedian implements Aggregator {
  readonly name = 'median';
  readonly weighted = false;

  minUpdates(): number {
    return 1;
  }

  aggregate(updates: readonly Float32Array[], options: AggregateOptions = {}): AggregateResult {
    const d = checkUpdates(this.name, updates, 1, 'the median needs at least 1', options);
    const n = updates.length;
    const out = options.out ?? new Float32Array(d);
    const column = new Float64Array(n);
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < n; i++) column[i] = updates[i][j];
      out[j] = medianInPlace(column, n);
    }
    return { update: out };
  }
}
