/**
 * Top-k sparsification: keep the k values of largest magnitude and their indices. With error
 * feedback (Stich et al. 2018, applied by the uplink client layer) what is dropped is carried into
 * the client's next update, so nothing is lost, only delayed.
 *
 * Selection is exact and deterministic: a radix select on the magnitude's float32 bits (two
 * 65,536-bucket histogram passes) finds the k-th largest magnitude T, then one pass keeps every
 * value with |x| > T and, of those with |x| = T, the ones with the lowest indices until k are
 * kept. Indices come out in ascending order. O(n) whatever the data, no sorting.
 */
import { invalidConfig } from './format.js';
import type { TopKSpec } from './spec.js';

let histogram: Uint32Array | null = null;

/** k for a vector of `n` values: `spec.k` (refused when > n), or max(1, round(fraction·n)), at most n. */
export function topkCount(spec: Pick<TopKSpec, 'k' | 'fraction'>, n: number, where = 'topk'): number {
  if (n === 0) return 0;
  if (spec.k !== undefined) {
    if (spec.k > n) throw invalidConfig(where, `k = ${spec.k} is impossible for a vector of ${n} values (k must be ≤ ${n})`);
    return spec.k;
  }
  const f = spec.fraction ?? 1;
  return Math.min(n, Math.max(1, Math.round(f * n)));
}

/**
 * Writes the indices of the `out.length` = k largest magnitudes of `x` into `out`, ascending.
 * Returns -1, or the index of the first non-finite value (then `out` is incomplete).
 */
export function selectTopK(x: Float32Array, out: Uint32Array): number {
  const n = x.length;
  const k = out.length;
  if (k > n) throw invalidConfig('topk', `k = ${k} is impossible for a vector of ${n} values`);
  const bits = new Int32Array(x.buffer, x.byteOffset, n);
  const hist = (histogram ??= new Uint32Array(65536));
  hist.fill(0);
  for (let i = 0; i < n; i++) {
    const a = bits[i] & 0x7fffffff;
    if (a >= 0x7f800000) return i;
    hist[a >>> 16]++;
  }
  if (k === 0) return -1;
  if (k === n) {
    for (let i = 0; i < n; i++) out[i] = i;
    return -1;
  }
  // The high 16 bits of the k-th largest magnitude, and how many lie strictly above that bucket.
  let hiBucket = 65535, above = 0;
  for (; hiBucket > 0; hiBucket--) {
    if (above + hist[hiBucket] >= k) break;
    above += hist[hiBucket];
  }
  hist.fill(0);
  for (let i = 0; i < n; i++) {
    const a = bits[i] & 0x7fffffff;
    if (a >>> 16 === hiBucket) hist[a & 0xffff]++;
  }
  let lo = 65535;
  for (; lo > 0; lo--) {
    if (above + hist[lo] >= k) break;
    above += hist[lo];
  }
  const threshold = (hiBucket << 16) | lo;
  let ties = k - above;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const a = bits[i] & 0x7fffffff;
    if (a > threshold) out[j++] = i;
    else if (a === threshold && ties > 0) {
      out[j++] = i;
      ties--;
    }
  }
  return -1;
}

/** values[j] = x[indices[j]] */
export function gather(x: Float32Array, indices: Uint32Array, values: Float32Array): void {
  for (let j = 0; j < indices.length; j++) values[j] = x[indices[j]];
}

/** out = 0 except out[indices[j]] = values[j]. */
export function scatter(indices: Uint32Array, values: Float32Array, out: Float32Array): void {
  out.fill(0);
  for (let j = 0; j < indices.length; j++) out[indices[j]] = values[j];
}
