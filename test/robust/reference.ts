// Straightforward (slow, allocating) reference implementations of the robust rules, written from
// their definitions, to check the optimised ones against on random inputs.

export const rows = (...xs: number[][]): Float32Array[] => xs.map((x) => Float32Array.from(x));

export function column(us: readonly Float32Array[], j: number): number[] {
  return us.map((u) => u[j]);
}

export function refMedian(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function refTrimmedMean(values: number[], b: number): number {
  const s = [...values].sort((a, b) => a - b).slice(b, values.length - b);
  return s.reduce((a, x) => a + x, 0) / s.length;
}

export function sqdist(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j] - b[j]) ** 2;
  return s;
}

/** Krum scores of the updates at `active` (indices), with `k` nearest neighbours. */
export function refKrumScores(us: readonly Float32Array[], active: number[], k: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const i of active) {
    const ds = active.filter((o) => o !== i).map((o) => sqdist(us[i], us[o])).sort((a, b) => a - b);
    out.set(i, ds.slice(0, k).reduce((a, x) => a + x, 0));
  }
  return out;
}

export function refBulyan(us: readonly Float32Array[], f: number): { selected: number[]; update: number[] } {
  const n = us.length;
  const theta = n - 2 * f;
  const remaining = us.map((_, i) => i);
  const selected: number[] = [];
  while (selected.length < theta) {
    const r = remaining.length;
    const k = Math.min(r - 1, Math.max(1, r - f - 2));
    const scores = refKrumScores(us, remaining, k);
    const best = [...remaining].sort((a, b) => scores.get(a)! - scores.get(b)! || a - b)[0];
    selected.push(best);
    remaining.splice(remaining.indexOf(best), 1);
  }
  const beta = theta - 2 * f;
  const d = us[0].length;
  const update: number[] = [];
  for (let j = 0; j < d; j++) {
    const vals = selected.map((i) => us[i][j]);
    const med = refMedian(vals);
    // Closest to the median first; equal distances: the smaller value first.
    const closest = [...vals].sort((a, b) => Math.abs(a - med) - Math.abs(b - med) || a - b).slice(0, beta);
    update.push(closest.reduce((a, x) => a + x, 0) / beta);
  }
  return { selected, update };
}

/** A seeded stream of floats (mulberry32) for random test inputs. */
export function randoms(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n random updates of length d; values drawn from a few levels so that ties occur. */
export function randomUpdates(n: number, d: number, seed: number, levels = 0): Float32Array[] {
  const r = randoms(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: d }, () => (levels ? Math.floor(r() * levels) - levels / 2 : (r() - 0.5) * 4)));
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} ≠ ${expected.length}`);
  for (let j = 0; j < actual.length; j++) {
    if (!(Math.abs(actual[j] - expected[j]) <= tol * Math.max(1, Math.abs(expected[j])))) {
      throw new Error(`${what}: index ${j}: got ${actual[j]}, expected ${expected[j]}`);
    }
  }
}
