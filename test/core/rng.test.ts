// Tests for the seeded RNG (src/core/rng.ts). Statistical checks use a fixed seed, so they are
// deterministic; their bounds are derived from the standard error of each statistic (stated next
// to each check) and are generous enough that only a real bias fails them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, SecureRng, logFactorial } from '../../src/core/rng.js';
import { isFederaError, type FederaErrorCode } from '../../src/core/errors.js';

function throwsCode(fn: () => unknown, code: FederaErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isFederaError(e), `expected a FederaError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

function draws(rng: Rng, count: number): number[] {
  return Array.from({ length: count }, () => rng.nextU32());
}

/** Pearson's chi-square statistic of `counts` against equal expected counts. */
function chiSquareUniform(counts: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  const expected = total / counts.length;
  let chi = 0;
  for (let i = 0; i < counts.length; i++) chi += (counts[i] - expected) ** 2 / expected;
  return chi;
}

// Upper quantiles of the chi-square distribution at p = 1e-4 (tables): a correct generator at a
// fixed seed exceeds them with probability 1/10,000, a biased one blows far past them.
const CHI2_P1E4: Record<number, number> = { 1: 15.14, 5: 25.74, 9: 33.72, 19: 50.5 };

test('same seed and stream give identical sequences; number and string seeds share a path', () => {
  const a = new Rng(42).stream('sampling');
  const b = new Rng(42).stream('sampling');
  assert.deepEqual(draws(a, 1000), draws(b, 1000));
  // The path is String(seed): 42 and "42" are the same seed.
  assert.deepEqual(draws(new Rng(42), 50), draws(new Rng('42'), 50));
  assert.equal(new Rng(42).stream('sampling').path, '42/sampling');
});

test('different seeds and different stream names give different sequences', () => {
  const base = new Rng(7);
  const x = draws(base.stream('a'), 64);
  const y = draws(base.stream('b'), 64);
  const z = draws(new Rng(8).stream('a'), 64);
  const parent = draws(new Rng(7), 64);
  assert.notDeepEqual(x, y);
  assert.notDeepEqual(x, z);
  assert.notDeepEqual(x, parent);
  // Not merely shifted copies of one another: no equal values at all in 64 32-bit draws
  // (chance of any collision between two independent 64-draw lists is ~64²/2³² ≈ 1e-6).
  const ys = new Set(y);
  assert.equal(x.filter((v) => ys.has(v)).length, 0);
  // Numeric and string stream names with the same text are the same stream.
  assert.deepEqual(draws(base.stream(3), 10), draws(base.stream('3'), 10));
});

test('stream() depends on the seed path, not on draws made before', () => {
  const fresh = new Rng(99);
  const used = new Rng(99);
  for (let i = 0; i < 1234; i++) used.nextU32();
  used.normal(); // leaves a spare normal cached in `used`
  assert.deepEqual(draws(used.stream('round-3'), 100), draws(fresh.stream('round-3'), 100));
  // A stream is exactly the Rng built from the joined path.
  assert.deepEqual(draws(fresh.stream('a').stream('b'), 100), draws(new Rng('99/a/b'), 100));
  assert.equal(fresh.stream('a').stream('b').path, '99/a/b');
  // Drawing from a child does not move its parent or its siblings.
  const p1 = new Rng(5), p2 = new Rng(5);
  const child = p1.stream('x');
  for (let i = 0; i < 100; i++) child.nextU32();
  assert.deepEqual(draws(p1, 20), draws(p2, 20));
  assert.deepEqual(draws(p1.stream('y'), 20), draws(p2.stream('y'), 20));
});

test('nextU32 is a 32-bit unsigned integer; next() is in [0, 1) with mean ≈ 1/2', () => {
  const rng = new Rng('unit');
  let sum = 0;
  const N = 100_000;
  for (let i = 0; i < N; i++) {
    const u = rng.nextU32();
    assert.ok(Number.isInteger(u) && u >= 0 && u <= 0xffffffff, `nextU32 out of range: ${u}`);
    const x = rng.next();
    assert.ok(x >= 0 && x < 1, `next() out of [0,1): ${x}`);
    sum += x;
  }
  // Uniform(0,1) has sd 1/√12 ≈ 0.2887; SE of the mean over 1e5 draws ≈ 0.000913; allow 5 SE.
  assert.ok(Math.abs(sum / N - 0.5) < 5 * 0.2887 / Math.sqrt(N), `mean of next() = ${sum / N}`);
});

test('int(n) stays in [0, n) and is uniform (chi-square)', () => {
  const rng = new Rng(2024).stream('int');
  const n = 10, N = 100_000;
  const counts = new Array(n).fill(0);
  for (let i = 0; i < N; i++) {
    const v = rng.int(n);
    assert.ok(Number.isInteger(v) && v >= 0 && v < n, `int(10) gave ${v}`);
    counts[v]++;
  }
  const chi = chiSquareUniform(counts); // 9 degrees of freedom
  assert.ok(chi < CHI2_P1E4[9], `chi-square ${chi.toFixed(2)} for counts ${counts}`);
  // int(1) is always 0; int(2^32) is allowed and in range.
  for (let i = 0; i < 100; i++) assert.equal(rng.int(1), 0);
  for (let i = 0; i < 100; i++) {
    const v = rng.int(2 ** 32);
    assert.ok(v >= 0 && v < 2 ** 32);
  }
});

test('int(n) has no modulo bias for n that does not divide 2^32', () => {
  // n = 3·2^30: plain `nextU32() % n` would map [n, 2^32) onto [0, 2^30), so P(v < 2^30) would be
  // 1/2 instead of 1/3. With rejection it is 1/3; SE over 30k draws = √(1/3·2/3/30000) ≈ 0.00272.
  const rng = new Rng(1).stream('bias');
  const n = 3 * 2 ** 30, N = 30_000;
  let low = 0;
  for (let i = 0; i < N; i++) {
    const v = rng.int(n);
    assert.ok(v >= 0 && v < n);
    if (v < 2 ** 30) low++;
  }
  assert.ok(Math.abs(low / N - 1 / 3) < 5 * 0.00272, `fraction below 2^30 = ${low / N}`);
});

test('normal(): mean ≈ 0 and sd ≈ 1 over 100k draws', () => {
  const rng = new Rng(3).stream('normal');
  const N = 100_000;
  let s = 0, s2 = 0;
  for (let i = 0; i < N; i++) {
    const z = rng.normal();
    assert.ok(Number.isFinite(z));
    s += z;
    s2 += z * z;
  }
  const mean = s / N;
  const variance = s2 / N - mean * mean;
  // SE(mean) = 1/√N ≈ 0.00316; SE(sample variance) of N(0,1) = √(2/N) ≈ 0.00447. Allow 5 SE each.
  assert.ok(Math.abs(mean) < 5 / Math.sqrt(N), `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / N), `variance ${variance}`);
  // Tail mass: P(|Z| > 1.96) = 0.05; SE over 1e5 = √(0.05·0.95/1e5) ≈ 0.00069.
  const rng2 = new Rng(3).stream('normal-tail');
  let tail = 0;
  for (let i = 0; i < N; i++) if (Math.abs(rng2.normal()) > 1.959964) tail++;
  assert.ok(Math.abs(tail / N - 0.05) < 5 * 0.00069, `tail fraction ${tail / N}`);
});

for (const shape of [0.3, 5]) {
  test(`gamma(${shape}): positive draws with mean ≈ shape and variance ≈ shape`, () => {
    const rng = new Rng(11).stream(`gamma-${shape}`);
    const N = 100_000;
    let s = 0, s2 = 0;
    for (let i = 0; i < N; i++) {
      const g = rng.gamma(shape);
      assert.ok(g >= 0 && Number.isFinite(g), `gamma draw ${g}`);
      s += g;
      s2 += g * g;
    }
    const mean = s / N;
    const variance = s2 / N - mean * mean;
    // Gamma(k, 1) has mean k and variance k, so SE(mean) = √(k/N): 0.00173 for k = 0.3, 0.00707 for k = 5.
    assert.ok(Math.abs(mean - shape) < 5 * Math.sqrt(shape / N), `mean ${mean} for shape ${shape}`);
    // SE(sample variance) = √((μ₄ − σ⁴)/N), with central μ₄ = 3k² + 6k for Gamma(k, 1): √((2k² + 6k)/N).
    assert.ok(Math.abs(variance - shape) < 5 * Math.sqrt((2 * shape * shape + 6 * shape) / N), `variance ${variance} for shape ${shape}`);
  });
}

test('dirichlet(alpha, k) is a probability vector with mean 1/k per component', () => {
  const rng = new Rng(12).stream('dirichlet');
  for (const alpha of [0.05, 0.5, 1, 10]) {
    const mean = new Float64Array(4);
    const N = 5000;
    for (let t = 0; t < N; t++) {
      const p = rng.dirichlet(alpha, 4);
      assert.ok(p instanceof Float64Array);
      assert.equal(p.length, 4);
      let sum = 0;
      for (const v of p) {
        assert.ok(v >= 0 && v <= 1, `component ${v}`);
        sum += v;
      }
      assert.ok(Math.abs(sum - 1) < 1e-12, `sum ${sum} for alpha ${alpha}`);
      for (let i = 0; i < 4; i++) mean[i] += p[i] / N;
    }
    // Each component is Beta(alpha, 3·alpha): mean 1/4, variance (1/4·3/4)/(4·alpha+1) ≤ 0.1875;
    // SE over 5000 draws ≤ √(0.1875/5000) ≈ 0.0061. Allow 5 SE.
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(mean[i] - 0.25) < 5 * 0.0061, `alpha ${alpha}: mean[${i}] = ${mean[i]}`);
  }
  const one = rng.dirichlet(0.5, 1);
  assert.deepEqual([...one], [1]);
});

test('shuffle returns a permutation of its input, in place, and is uniform over orders', () => {
  const rng = new Rng(13).stream('shuffle');
  const items = Array.from({ length: 20 }, (_, i) => i);
  const same = rng.shuffle(items);
  assert.equal(same, items, 'shuffles in place and returns the same array');
  assert.deepEqual([...items].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  assert.notDeepEqual(items, Array.from({ length: 20 }, (_, i) => i)); // identity has probability 1/20!
  // Typed arrays too.
  const typed = Int32Array.from({ length: 50 }, (_, i) => i);
  rng.shuffle(typed);
  assert.deepEqual([...typed].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  // Empty and single-element arrays are fine.
  assert.deepEqual(rng.shuffle([]), []);
  assert.deepEqual(rng.shuffle(['x']), ['x']);
  // All 6 orders of 3 items equally likely: chi-square with 5 degrees of freedom.
  const counts = new Map<string, number>();
  for (let t = 0; t < 60_000; t++) {
    const key = rng.shuffle(['a', 'b', 'c']).join('');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  const chi = chiSquareUniform([...counts.values()]);
  assert.ok(chi < CHI2_P1E4[5], `chi-square ${chi} for ${[...counts]}`);
});

function checkSample(out: number[], n: number, k: number): void {
  assert.equal(out.length, k);
  assert.equal(new Set(out).size, k, `duplicates in ${out}`);
  for (const v of out) assert.ok(Number.isInteger(v) && v >= 0 && v < n, `index ${v} outside [0, ${n})`);
}

test('sampleIndices: distinct, in range, uniform — Floyd path (4k ≤ n)', () => {
  const rng = new Rng(14).stream('floyd');
  checkSample(rng.sampleIndices(1000, 10), 1000, 10);
  checkSample(rng.sampleIndices(1_000_000, 250_000), 1_000_000, 250_000); // 4k = n: still Floyd
  assert.deepEqual(rng.sampleIndices(10, 0), []);
  assert.deepEqual(rng.sampleIndices(0, 0), []);
  // n = 20, k = 5 (4k = 20 ≤ n): each index is picked with probability k/n = 1/4.
  const counts = new Array(20).fill(0);
  const T = 20_000;
  for (let t = 0; t < T; t++) {
    const s = rng.sampleIndices(20, 5);
    checkSample(s, 20, 5);
    for (const i of s) counts[i]++;
  }
  // Counts are not independent across indices (they sum to 5T), which only lowers the chi-square,
  // so the df = 19 quantile is conservative.
  const chi = chiSquareUniform(counts);
  assert.ok(chi < CHI2_P1E4[19], `chi-square ${chi}, counts ${counts}`);
});

test('sampleIndices: distinct, in range, uniform — shuffle path (4k > n)', () => {
  const rng = new Rng(15).stream('shuffle-path');
  checkSample(rng.sampleIndices(20, 10), 20, 10);
  const all = rng.sampleIndices(30, 30);
  checkSample(all, 30, 30);
  assert.deepEqual([...all].sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i));
  // n = 20, k = 6 (4k = 24 > n): each index picked with probability 6/20.
  const counts = new Array(20).fill(0);
  for (let t = 0; t < 20_000; t++) {
    const s = rng.sampleIndices(20, 6);
    checkSample(s, 20, 6);
    for (const i of s) counts[i]++;
  }
  const chi = chiSquareUniform(counts);
  assert.ok(chi < CHI2_P1E4[19], `chi-square ${chi}, counts ${counts}`);
  // sample() returns the items at sampled indices.
  const items = ['a', 'b', 'c', 'd', 'e'];
  const picked = rng.sample(items, 3);
  assert.equal(picked.length, 3);
  assert.equal(new Set(picked).size, 3);
  for (const p of picked) assert.ok(items.includes(p));
  // sampleIndices is deterministic for a given stream.
  assert.deepEqual(new Rng(1).stream('s').sampleIndices(100, 7), new Rng(1).stream('s').sampleIndices(100, 7));
  assert.deepEqual(new Rng(1).stream('s').sampleIndices(10, 7), new Rng(1).stream('s').sampleIndices(10, 7));
});

test('bad arguments throw FederaError(invalid_argument)', () => {
  throwsCode(() => new Rng(NaN), 'invalid_argument');
  throwsCode(() => new Rng(Infinity), 'invalid_argument');
  const rng = new Rng(0);
  for (const n of [0, -1, 1.5, NaN, Infinity, 2 ** 32 + 1]) throwsCode(() => rng.int(n), 'invalid_argument');
  for (const shape of [0, -1, NaN, Infinity]) throwsCode(() => rng.gamma(shape), 'invalid_argument');
  for (const lambda of [-1, NaN, Infinity]) throwsCode(() => rng.poisson(lambda), 'invalid_argument');
  throwsCode(() => rng.dirichlet(0, 3), 'invalid_argument');
  throwsCode(() => rng.dirichlet(-1, 3), 'invalid_argument');
  for (const k of [0, -1, 2.5, NaN]) throwsCode(() => rng.dirichlet(1, k), 'invalid_argument');
  throwsCode(() => rng.sampleIndices(5, 6), 'invalid_argument');
  throwsCode(() => rng.sampleIndices(5, -1), 'invalid_argument');
  throwsCode(() => rng.sampleIndices(5, 1.5), 'invalid_argument');
  throwsCode(() => rng.sampleIndices(5, NaN), 'invalid_argument');
  for (const n of [2.5, -1, NaN, Infinity]) throwsCode(() => rng.sampleIndices(n, 1), 'invalid_argument');
  throwsCode(() => rng.sampleIndices(NaN, 0), 'invalid_argument');
  throwsCode(() => rng.sample(['a'], 2), 'invalid_argument');
});

test('logFactorial: the table and Stirling\'s series agree with Σ log k to 1e-13 relative', () => {
  let exact = 0;
  for (let k = 1; k <= 2000; k++) {
    exact += Math.log(k);
    const got = logFactorial(k);
    assert.ok(Math.abs(got - exact) <= 1e-13 * Math.max(1, exact), `log(${k}!) = ${got}, expected ${exact}`);
  }
  assert.equal(logFactorial(0), 0);
});

// Exact Poisson pmf, summed into bins with at least 5 expected counts each, against a chi-square
// test at p = 1e-4: both the multiplication method (λ < 10) and PTRS (λ ≥ 10) are exact samplers.
for (const lambda of [0.3, 4, 10, 37.5, 2500, 4e5]) {
  test(`poisson(${lambda}): the distribution is Poisson (chi-square over bins, mean and variance)`, () => {
    const rng = new Rng(17).stream(`poisson-${lambda}`);
    const N = 200_000;
    const draws = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      const k = rng.poisson(lambda);
      assert.ok(Number.isInteger(k) && k >= 0, `draw ${k}`);
      draws[i] = k;
    }
    let mean = 0;
    for (const k of draws) mean += k;
    mean /= N;
    let v = 0;
    for (const k of draws) v += (k - mean) ** 2;
    v /= N - 1;
    // Standard errors: √(λ/N) for the mean, ≈ λ·√(2/N) for the variance (plus the 4th cumulant λ/N).
    assert.ok(Math.abs(mean - lambda) < 5 * Math.sqrt(lambda / N), `mean ${mean}`);
    assert.ok(Math.abs(v - lambda) < 5 * Math.sqrt((2 * lambda * lambda + lambda) / N), `variance ${v}`);
    // Bins over [λ − 6√λ, λ + 6√λ], merged until each expects ≥ 5 draws.
    const lo = Math.max(0, Math.floor(lambda - 6 * Math.sqrt(lambda) - 2));
    const hi = Math.ceil(lambda + 6 * Math.sqrt(lambda) + 2);
    const pmf = (k: number) => Math.exp(-lambda + k * Math.log(lambda) - logFactorial(k));
    const counts = new Map<number, number>();
    for (const k of draws) counts.set(k, (counts.get(k) ?? 0) + 1);
    const bins: { expected: number; observed: number }[] = [];
    let cur = { expected: 0, observed: 0 };
    let tailBelow = 0;
    for (let k = 0; k < lo; k++) tailBelow += counts.get(k) ?? 0;
    let pBelow = 0;
    for (let k = 0; k < lo; k++) pBelow += pmf(k);
    cur = { expected: pBelow * N, observed: tailBelow };
    for (let k = lo; k <= hi; k++) {
      cur.expected += pmf(k) * N;
      cur.observed += counts.get(k) ?? 0;
      if (cur.expected >= 5) (bins.push(cur), (cur = { expected: 0, observed: 0 }));
    }
    let above = 0;
    for (const [k, c] of counts) if (k > hi) above += c;
    cur.observed += above;
    cur.expected += Math.max(0, N - bins.reduce((s, b) => s + b.expected, 0) - cur.expected);
    if (cur.expected > 0) bins.push(cur);
    const chi = bins.reduce((s, b) => s + (b.observed - b.expected) ** 2 / b.expected, 0);
    const df = bins.length - 1;
    // Wilson–Hilferty: the chi-square quantile at p = 1e-4 (z = 3.719).
    const limit = df * (1 - 2 / (9 * df) + 3.719 * Math.sqrt(2 / (9 * df))) ** 3;
    assert.ok(chi < limit, `chi-square ${chi.toFixed(1)} over ${bins.length} bins (limit ${limit.toFixed(1)})`);
  });
}

test('skellam(λ): mean 0, variance 2λ; seeded streams repeat, SecureRng draws from the CSPRNG', () => {
  const rng = new Rng(5).stream('skellam');
  const N = 100_000;
  const lambda = 123.4;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < N; i++) {
    const x = rng.skellam(lambda);
    s += x;
    s2 += x * x;
  }
  const mean = s / N;
  const variance = s2 / N - mean * mean;
  assert.ok(Math.abs(mean) < 5 * Math.sqrt((2 * lambda) / N), `mean ${mean}`);
  assert.ok(Math.abs(variance - 2 * lambda) < 5 * 2 * lambda * Math.sqrt(2 / N), `variance ${variance}`);
  const a = new Rng(9).stream('x');
  const b = new Rng(9).stream('x');
  for (let i = 0; i < 100; i++) assert.equal(a.skellam(50), b.skellam(50));
  const secure = new SecureRng('t');
  const draws = Array.from({ length: 50 }, () => secure.skellam(1e4));
  assert.ok(new Set(draws).size > 40, 'secure Skellam draws vary');
});
