/**
 * Client ids in a stable order: digit runs compare as numbers, so `c2` comes before `c10` and
 * `client-9` before `client-10` (a plain string sort puts them the other way round). Sampling,
 * secure-aggregation indices and robust rules all order clients this way, so the same population
 * gives the same order whatever order the ids arrived in.
 */

const PARTS = /(\d+)|(\D+)/g;

/** Negative, zero or positive as `a` sorts before, with or after `b`. */
export function compareClientIds(a: string, b: string): number {
  if (a === b) return 0;
  const pa = a.match(PARTS) ?? [];
  const pb = b.match(PARTS) ?? [];
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    const dx = x.charCodeAt(0) >= 48 && x.charCodeAt(0) <= 57;
    const dy = y.charCodeAt(0) >= 48 && y.charCodeAt(0) <= 57;
    if (dx && dy) {
      // Numerically (without parsing: ids may hold more digits than a double keeps), then by length of zero padding.
      const tx = x.replace(/^0+/, '');
      const ty = y.replace(/^0+/, '');
      if (tx.length !== ty.length) return tx.length - ty.length;
      if (tx !== ty) return tx < ty ? -1 : 1;
      if (x.length !== y.length) return x.length - y.length;
      continue;
    }
    return x < y ? -1 : 1;
  }
  if (pa.length !== pb.length) return pa.length - pb.length;
  return a < b ? -1 : 1;
}

/** A sorted copy of `ids` in {@link compareClientIds} order. */
export function sortClientIds(ids: Iterable<string>): string[] {
  return [...ids].sort(compareClientIds);
}
