/**
 * Krum and Multi-Krum (Blanchard et al. 2017).
 *
 * Each update i gets a score: the sum of its squared L2 distances to its n − f − 2 nearest other
 * updates. Krum returns the update with the lowest score, unchanged (a copy of one client's
 * update). Multi-Krum returns the mean of the m updates with the lowest scores (scored once).
 * Both need n > 2f + 2 (n ≥ 2f + 3) to tolerate f Byzantine updates. Ties go to the lower index.
 * Unweighted.
 *
 * Cost: the n(n−1)/2 distances are computed once, O(n²·d), in one blocked pass over the updates;
 * scoring is O(n²) on top.
 */
import { FederaError } from '../core/errors.js';
import { checkByzantineCount, checkUpdates, weightedMeanInto, type AggregateOptions, type AggregateResult, type Aggregator } from './aggregator.js';
import { quickselect } from './select.js';

/** Coordinates per block: a block of every update stays in cache while all pairs use it. */
const BLOCK = 2048;

/**
 * Squared L2 distances between all pairs of updates, as an n×n row-major matrix (symmetric, zero
 * diagonal), accumulated in float64.
 */
export function pairwiseSquaredDistances(updates: readonly Float32Array[]): Float64Array {
  const n = updates.length;
  const dist = new Float64Array(n * n);
  if (n === 0) return dist;
  const d = updates[0].length;
  for (let lo = 0; lo < d; lo += BLOCK) {
    const hi = Math.min(d, lo + BLOCK);
    for (let i = 0; i < n; i++) {
      const a = updates[i];
      for (let k = i + 1; k < n; k++) {
        const b = updates[k];
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        let j = lo;
        for (; j + 4 <= hi; j += 4) {
          const t0 = a[j] - b[j];
          const t1 = a[j + 1] - b[j + 1];
          const t2 = a[j + 2] - b[j + 2];
          const t3 = a[j + 3] - b[j + 3];
          s0 += t0 * t0;
          s1 += t1 * t1;
          s2 += t2 * t2;
          s3 += t3 * t3;
        }
        for (; j < hi; j++) {
          const t = a[j] - b[j];
          s0 += t * t;
        }
        dist[i * n + k] += s0 + s1 + s2 + s3;
      }
    }
  }
  for (let i = 0; i < n; i++) for (let k = i + 1; k < n; k++) dist[k * n + i] = dist[i * n + k];
  return dist;
}

/**
 * Krum scores of the updates in `active` (indices into the n×n `dist`): for each, the sum of its
 * `neighbours` smallest squared distances to the other active updates. Written to `scores[i]`.
 */
export function krumScores(dist: Float64Array, n: number, active: readonly number[], neighbours: number, scores: Float64Array): void {
  const others = new Float64Array(Math.max(0, active.length - 1));
  const k = Math.min(neighbours, others.length);
  for (const i of active) {
    let c = 0;
    for (const o of active) if (o !== i) others[c++] = dist[i * n + o];
    if (k > 0 && k < c) quickselect(others, 0, c, k - 1);
    let s = 0;
    for (let t = 0; t < k; t++) s += others[t];
    scores[i] = s;
  }
}

/** Indices of `active` ordered by score, ties by index. */
function byScore(active: readonly number[], scores: Float64Array): number[] {
  return [...active].sort((a, b) => scores[a] - scores[b] || a - b);
}

export interface KrumOptions {
  /** Byzantine updates to tolerate. */
  f: number;
}

export interface MultiKrumOptions extends KrumOptions {
  /** Updates averaged (the m best scores); default n − f. */
  m?: number;
}

function checkKrumN(name: string, n: number, f: number): void {
  if (n <= 2 * f + 2) {
    throw new FederaError('insufficient_results', `${name}: n = ${n} updates are too few to tolerate f = ${f} Byzantine ones; Krum needs n > 2f + 2 = ${2 * f + 2}`, { n, f });
  }
}

export class MultiKrum implements Aggregator {
  readonly name: string;
  readonly weighted = false;
  readonly f: number;
  readonly m: number | undefined;

  constructor(options: MultiKrumOptions, name = 'multi-krum') {
    this.name = name;
    this.f = checkByzantineCount(this.name, options.f);
    if (options.m !== undefined && !(Number.isInteger(options.m) && options.m >= 1)) {
      throw new FederaError('invalid_config', `${this.name}: m (updates averaged) must be an integer ≥ 1, got ${options.m}`);
    }
    this.m = options.m;
  }

  minUpdates(): number {
    return Math.max(2 * this.f + 3, this.m ?? 1);
  }

  /** Updates averaged for n updates. */
  selectCount(n: number): number {
    return this.m ?? n - this.f;
  }

  aggregate(updates: readonly Float32Array[], options: AggregateOptions = {}): AggregateResult {
    const n = updates.length;
    const d = checkUpdates(this.name, updates, 1, `needs n > 2f + 2 = ${2 * this.f + 2}`, options);
    checkKrumN(this.name, n, this.f);
    const m = this.selectCount(n);
    if (m > n) throw new FederaError('insufficient_results', `${this.name}: cannot average the m = ${m} best of only ${n} updates`, { n, m });
    const dist = pairwiseSquaredDistances(updates);
    const scores = new Float64Array(n);
    const all = updates.map((_, i) => i);
    krumScores(dist, n, all, n - this.f - 2, scores);
    const selected = byScore(all, scores).slice(0, m);
    const out = options.out ?? new Float32Array(d);
    if (m === 1) out.set(updates[selected[0]]);
    else weightedMeanInto(this.name, updates, undefined, undefined, out, selected);
    return { update: out, selected, scores: Array.from(scores) };
  }
}

/** Krum: Multi-Krum with m = 1; returns the best-scored update unchanged. */
export class Krum extends MultiKrum {
  constructor(options: KrumOptions) {
    super({ f: options.f, m: 1 }, 'krum');
  }
}
