/**
 * Order statistics on small scratch arrays, in place and without allocation: the per-coordinate
 * inner loops of the median, trimmed mean and Bulyan run these once per parameter.
 *
 * Inputs are finite (robust aggregations reject non-finite updates when they are added).
 */

type Floats = Float32Array | Float64Array;

/** Insertion sort of a[lo..hi), ascending. */
export function sortRange(a: Floats, lo: number, hi: number): void {
  for (let i = lo + 1; i < hi; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= lo && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

/**
 * Rearranges a[lo..hi) so that a[k] holds the value it would hold if the range were sorted, every
 * element of a[lo..k) is ≤ a[k] and every element of a(k..hi) is ≥ a[k] (Hoare's selection with a
 * median-of-three pivot; small ranges are insertion-sorted). Returns a[k]. Deterministic.
 */
export function quickselect(a: Floats, lo: number, hi: number, k: number): number {
  let l = lo;
  let r = hi - 1;
  while (r - l > 16) {
    // Median of three as the pivot, moved to a[l].
    const m = (l + r) >>> 1;
    if (a[m] < a[l]) swap(a, m, l);
    if (a[r] < a[l]) swap(a, r, l);
    if (a[r] < a[m]) swap(a, r, m);
    // Now a[l] ≤ a[m] ≤ a[r]; partition around a[m].
    const pivot = a[m];
    let i = l;
    let j = r;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    // a[l..j] ≤ pivot ≤ a[i..r], and elements between j and i equal the pivot.
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else return a[k];
  }
  sortRange(a, l, r + 1);
  return a[k];
}

function swap(a: Floats, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/** Smallest value of a[lo..hi). */
export function minRange(a: Floats, lo: number, hi: number): number {
  let m = a[lo];
  for (let i = lo + 1; i < hi; i++) if (a[i] < m) m = a[i];
  return m;
}

/**
 * Median of a[0..n) (reorders a): the middle value for odd n, the mean of the two middle values
 * for even n.
 */
export function medianInPlace(a: Floats, n: number): number {
  const k = (n - 1) >> 1;
  const lower = quickselect(a, 0, n, k);
  if (n & 1) return lower;
  return (lower + minRange(a, k + 1, n)) / 2;
}

/** Median of `values` (not modified). */
export function median(values: ArrayLike<number>): number {
  const a = Float64Array.from(values);
  if (a.length === 0) return NaN;
  return medianInPlace(a, a.length);
}
