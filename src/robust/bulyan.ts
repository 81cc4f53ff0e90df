/**
 * Bulyan (El Mhamdi et al. 2018), on top of Krum.
 *
 * 1. Selection: θ = n − 2f updates by repeated Krum — score the remaining updates, move the
 *    best-scored one to the selection, re-score the rest without it, θ times. (Taking the θ lowest
 *    scores of a single Krum pass is a different, weaker rule.)
 * 2. Aggregation: for every coordinate, the mean of the β = θ − 2f selected values closest to the
 *    coordinate's median (over the θ selected values).
 *
 * Needs n ≥ 4f + 3. Scores use the |R| − f − 2 nearest of the |R| remaining updates; in the last
 * selection steps with f ≤ 1 that count reaches 0, and the single nearest neighbour is used
 * instead. Ties (scores, and values equally far from the median) go to the lower index and the
 * smaller value. Unweighted.
 */
import { FederaError } from '../core/errors.js';
import { checkByzantineCount, checkUpdates, type AggregateOptions, type AggregateResult, type Aggregator } from './aggregator.js';
import { krumScores, pairwiseSquaredDistances } from './krum.js';
import { minRange, quickselect, sortRange } from './select.js';

export interface BulyanOptions {
  /** Byzantine updates to tolerate. */
  f: number;
}

export class Bulyan implements Aggregator {
  readonly name = 'bulyan';
  readonly weighted = false;
  readonly f: number;

  constructor(options: BulyanOptions) {
    this.f = checkByzantineCount(this.name, options.f);
  }

  minUpdates(): number {
    return 4 * this.f + 3;
  }

  /** Indices of the θ = n − 2f updates chosen by repeated Krum, in the order they were chosen. */
  select(updates: readonly Float32Array[]): number[] {
    const n = updates.length;
    const f = this.f;
    const theta = n - 2 * f;
    const dist = pairwiseSquaredDistances(updates);
    const scores = new Float64Array(n);
    const remaining = updates.map((_, i) => i);
    const selected: number[] = [];
    while (selected.length < theta) {
      const r = remaining.length;
      const neighbours = Math.min(r - 1, Math.max(1, r - f - 2));
      krumScores(dist, n, remaining, neighbours, scores);
      let best = 0;
      for (let t = 1; t < r; t++) {
        const a = remaining[t], b = remaining[best];
        if (scores[a] < scores[b] || (scores[a] === scores[b] && a < b)) best = t;
      }
      selected.push(remaining[best]);
      remaining.splice(best, 1);
    }
    return selected;
  }

  aggregate(updates: readonly Float32Array[], options: AggregateOptions = {}): AggregateResult {
    const n = updates.length;
    const f = this.f;
    const d = checkUpdates(this.name, updates, 1, `needs n ≥ 4f + 3 = ${4 * f + 3}`, options);
    if (n < 4 * f + 3) {
      throw new FederaError('insufficient_results', `bulyan: n = ${n} updates are too few to tolerate f = ${f} Byzantine ones; Bulyan needs n ≥ 4f + 3 = ${4 * f + 3}`, { n, f });
    }
    const selected = this.select(updates);
    const theta = selected.length;
    const beta = theta - 2 * f;
    const rows = selected.map((i) => updates[i]);
    const out = options.out ?? new Float32Array(d);
    const a = new Float64Array(theta);
    const inv = 1 / beta;
    const e = 2 * f; // values that may be left out at each end
    const middleKnown = theta > 2 * e; // sorted positions [e, θ − e) are in every candidate window
    const q = (theta - 1) >> 1;
    for (let j = 0; j < d; j++) {
      for (let t = 0; t < theta; t++) a[t] = rows[t][j];
      let med: number, sum = 0, lo: number, hi: number;
      if (e === 0) {
        for (let t = 0; t < theta; t++) sum += a[t];
        out[j] = sum * inv;
        continue;
      }
      if (middleKnown) {
        // a[0..e) ≤ a[e..θ−e) ≤ a[θ−e..θ); the median lies in the middle part, which is always kept.
        quickselect(a, 0, theta, e);
        quickselect(a, e, theta, theta - e);
        const lower = quickselect(a, e, theta - e, q);
        med = theta & 1 ? lower : (lower + minRange(a, q + 1, theta - e)) / 2;
        for (let t = e; t < theta - e; t++) sum += a[t];
        sortRange(a, 0, e);
        sortRange(a, theta - e, theta);
        lo = e - 1;
        hi = theta - e;
      } else {
        sortRange(a, 0, theta);
        med = theta & 1 ? a[q] : (a[q] + a[q + 1]) / 2;
        lo = q;
        hi = q + 1;
      }
      // Grow the window of values closest to the median, one value at a time, up to β values.
      for (let taken = hi - lo - 1; taken < beta; taken++) {
        if (hi >= theta || (lo >= 0 && med - a[lo] <= a[hi] - med)) sum += a[lo--];
        else sum += a[hi++];
      }
      out[j] = sum * inv;
    }
    return { update: out, selected };
  }
}
