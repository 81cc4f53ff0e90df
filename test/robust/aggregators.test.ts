import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFederaError } from '../../src/core/errors.js';
import { Mean } from '../../src/robust/aggregator.js';
import { CoordinateMedian } from '../../src/robust/median.js';
import { TrimmedMean } from '../../src/robust/trimmed-mean.js';
import { Krum, MultiKrum, pairwiseSquaredDistances } from '../../src/robust/krum.js';
import { Bulyan } from '../../src/robust/bulyan.js';
import { NormBounding } from '../../src/robust/norm-bound.js';
import { medianInPlace, quickselect } from '../../src/robust/select.js';
import { createAggregator } from '../../src/robust/settings.js';
import { assertClose, column, randomUpdates, randoms, refBulyan, refKrumScores, refMedian, refTrimmedMean, rows, sqdist } from './reference.js';

const code = (c: string, pattern: RegExp) => (e: unknown) => {
  assert.ok(isFederaError(e, c as never), `expected FederaError ${c}, got ${String(e)}`);
  assert.match((e as Error).message, pattern);
  return true;
};

test('quickselect puts the k-th order statistic at k and partitions around it, for every k', () => {
  const r = randoms(1);
  for (const n of [1, 2, 5, 17, 18, 40, 101]) {
    for (const levels of [0, 3]) {
      const base = Float64Array.from({ length: n }, () => (levels ? Math.floor(r() * levels) : r()));
      const sorted = [...base].sort((a, b) => a - b);
      for (let k = 0; k < n; k++) {
        const a = base.slice();
        assert.equal(quickselect(a, 0, n, k), sorted[k]);
        for (let i = 0; i < k; i++) assert.ok(a[i] <= a[k]);
        for (let i = k + 1; i < n; i++) assert.ok(a[i] >= a[k]);
        assert.deepEqual([...a].sort((x, y) => x - y), sorted, 'a permutation of the input');
      }
    }
    const odd = Float64Array.from({ length: n }, () => r());
    assert.equal(medianInPlace(odd.slice(), n), refMedian([...odd]));
  }
});

test('coordinate median: odd n, even n (mean of the two middle values), ties, n = 1', () => {
  const m = new CoordinateMedian();
  assert.deepEqual([...m.aggregate(rows([1, 5, -2], [3, 1, 0], [2, 2, 7])).update], [2, 2, 0]);
  assert.deepEqual([...m.aggregate(rows([1, 10, 0], [2, 20, 0], [3, 30, 0], [100, -5, 0])).update], [2.5, 15, 0]);
  assert.deepEqual([...m.aggregate(rows([1, 1], [1, 2], [1, 1], [5, 5])).update], [1, 1.5]);
  assert.deepEqual([...m.aggregate(rows([4, -4])).update], [4, -4]);
  // A minority of arbitrary values cannot move it far: 2 huge of 5.
  assert.deepEqual([...m.aggregate(rows([1], [2], [3], [1e30], [-1e30])).update], [2]);
  assert.throws(() => m.aggregate([]), code('insufficient_results', /median/));
});

test('coordinate median matches a sorting reference on random inputs (n > 16 uses the partitioning path)', () => {
  for (const [n, seed, levels] of [[41, 1, 0], [50, 2, 0], [33, 3, 4], [20, 4, 2]]) {
    const us = randomUpdates(n, 23, seed, levels);
    const copy = us.map((u) => u.slice());
    const out = new CoordinateMedian().aggregate(us).update;
    for (let j = 0; j < 23; j++) assert.equal(out[j], Math.fround(refMedian(column(us, j))), `n=${n} j=${j}`);
    assert.deepEqual(us, copy, 'inputs untouched');
  }
});

test('trimmed mean: ⌊β·n⌋ trimmed from each end, per coordinate; β = 0 is the mean', () => {
  // β = 0.2, n = 5: one trimmed from each end.
  const t = new TrimmedMean({ beta: 0.2 });
  assert.deepEqual([...t.aggregate(rows([1, -50], [2, 6], [3, 7], [4, 8], [100, 9])).update], [3, 7]);
  // β = 0.25, n = 4: mean of the two middle values.
  assert.deepEqual([...new TrimmedMean({ beta: 0.25 }).aggregate(rows([1], [2], [4], [100])).update], [3]);
  // β = 0.2, n = 4: ⌊0.8⌋ = 0, the plain mean.
  assert.deepEqual([...t.aggregate(rows([1], [2], [4], [101])).update], [27]);
  assert.deepEqual([...new TrimmedMean({ beta: 0 }).aggregate(rows([1, 2], [3, 6])).update], [2, 4]);
  // Ties at the cut: [5, 5, 5, 1, 9] trims one 1 and one 9.
  assert.deepEqual([...t.aggregate(rows([5], [5], [5], [1], [9])).update], [5]);
  // β·n that is an integer in exact arithmetic is not floored down by rounding.
  assert.equal(new TrimmedMean({ beta: 0.29 }).trimmed(100), 29);
  assert.equal(new TrimmedMean({ beta: 0.3 }).trimmed(10), 3);
});

test('trimmed mean rejects β·n ≥ n/2 with a clear error instead of returning NaN', () => {
  assert.throws(() => new TrimmedMean({ beta: 0.5 }), code('invalid_config', /β = 0\.5 trims β·n ≥ n\/2 .*nothing to average; β must be < 0\.5/));
  assert.throws(() => new TrimmedMean({ beta: 0.7 }), code('invalid_config', /β·n ≥ n\/2/));
  assert.throws(() => new TrimmedMean({ beta: -0.1 }), code('invalid_config', /β must be a number in \[0, 0\.5\)/));
  assert.throws(() => new TrimmedMean({ beta: NaN }), code('invalid_config', /β/));
  // The largest β < 0.5 still leaves one value: n = 3, ⌊0.49·3⌋ = 1.
  assert.deepEqual([...new TrimmedMean({ beta: 0.49 }).aggregate(rows([1], [7], [3])).update], [3]);
});

test('trimmed mean matches a sorting reference on random inputs', () => {
  for (const [n, beta, seed, levels] of [[37, 0.2, 5, 0], [20, 0.3, 6, 3], [7, 0.1, 7, 0], [64, 0.45, 8, 5]]) {
    const us = randomUpdates(n, 19, seed, levels);
    const t = new TrimmedMean({ beta });
    const b = t.trimmed(n);
    const out = t.aggregate(us).update;
    const expected = Array.from({ length: 19 }, (_, j) => refTrimmedMean(column(us, j), b));
    assertClose(out, expected, 1e-6, `n=${n} β=${beta}`);
  }
});

test('pairwise squared distances: exact for small integers, symmetric, zero for duplicates, across block boundaries', () => {
  const d = 5000; // more than one block of coordinates
  const us = randomUpdates(6, d, 9, 7);
  us[5].set(us[2]);
  const dist = pairwiseSquaredDistances(us);
  for (let i = 0; i < 6; i++) {
    for (let k = 0; k < 6; k++) assert.equal(dist[i * 6 + k], sqdist(us[i], us[k]));
  }
  assert.equal(dist[2 * 6 + 5], 0);
});

// Five 2-D updates; the second coordinate is the same for all. Squared distances on the first:
//   0: to 1,3,10,-1 → 1, 9, 100, 1     2 nearest: 1 + 1 = 2
//   1: 1, 4, 81, 4                                 1 + 4 = 5
//   3: 9, 4, 49, 16                                4 + 9 = 13
//  10: 100, 81, 49, 121                          49 + 81 = 130
//  -1: 1, 4, 16, 121                              1 + 4 = 5
const FIVE = rows([0, 7], [1, 7], [3, 7], [10, 7], [-1, 7]);

test('Krum: scores over the n − f − 2 nearest, returns the best update unchanged (a copy)', () => {
  const r = new Krum({ f: 1 }).aggregate(FIVE);
  assert.deepEqual(r.scores, [2, 5, 13, 130, 5]);
  assert.deepEqual(r.selected, [0]);
  assert.deepEqual([...r.update], [0, 7]);
  assert.notEqual(r.update, FIVE[0]);
  // Unchanged bit for bit, also for values float32 cannot hold exactly in decimal.
  const odd = rows([0.1, 0.2], [0.1000001, 0.2], [5, 5], [0.3, -0.7], [0.1, 0.2000001]);
  const k = new Krum({ f: 1 }).aggregate(odd);
  assert.deepEqual(k.update, odd[k.selected![0]]);
});

test('Multi-Krum averages the m best scores; ties go to the lower index; default m = n − f', () => {
  // m = 2: score 2 (update 0), then a tie at 5 between updates 1 and 4 → update 1.
  const two = new MultiKrum({ f: 1, m: 2 }).aggregate(FIVE);
  assert.deepEqual(two.selected, [0, 1]);
  assert.deepEqual([...two.update], [0.5, 7]);
  // Default m = 5 − 1 = 4: updates 0, 1, 4, 2 → mean of 0, 1, -1, 3.
  const def = new MultiKrum({ f: 1 }).aggregate(FIVE);
  assert.deepEqual(def.selected, [0, 1, 4, 2]);
  assert.deepEqual([...def.update], [0.75, 7]);
  assert.throws(() => new MultiKrum({ f: 1, m: 6 }).aggregate(FIVE), code('insufficient_results', /m = 6 best of only 5/));
  assert.throws(() => new MultiKrum({ f: 1, m: 0 }), code('invalid_config', /m \(updates averaged\)/));
});

test('Krum with duplicate updates: equal scores, the lowest index wins', () => {
  const dup = rows([3, 0], [0, 0], [0, 0], [9, 9], [0, 0]);
  const r = new Krum({ f: 1 }).aggregate(dup);
  // Squared distances from [3, 0]: 9, 9, 117, 9; from [0, 0]: 9, 0, 162, 0; from [9, 9]: 117, 162, 162, 162.
  assert.deepEqual(r.scores, [18, 0, 0, 279, 0]);
  assert.deepEqual(r.selected, [1]);
  assert.deepEqual(new MultiKrum({ f: 1, m: 3 }).aggregate(dup).selected, [1, 2, 4]);
});

test('Krum with f = 0 uses the n − 2 nearest; n ≤ 2f + 2 is refused with a clear error', () => {
  // n = 3, f = 0: one nearest neighbour. Scores 1, 1, 16: a tie, index 0 wins.
  const r = new Krum({ f: 0 }).aggregate(rows([0], [1], [5]));
  assert.deepEqual(r.scores, [1, 1, 16]);
  assert.deepEqual([...r.update], [0]);
  assert.throws(() => new Krum({ f: 0 }).aggregate(rows([0], [1])), code('insufficient_results', /n = 2 updates are too few to tolerate f = 0.*n > 2f \+ 2 = 2/));
  assert.throws(() => new Krum({ f: 1 }).aggregate(FIVE.slice(0, 4)), code('insufficient_results', /n = 4 .* f = 1.*n > 2f \+ 2 = 4/));
  assert.throws(() => new MultiKrum({ f: 2 }).aggregate(FIVE), code('insufficient_results', /n > 2f \+ 2 = 6/));
  assert.throws(() => new Krum({ f: -1 }), code('invalid_config', /f .* integer ≥ 0/));
  assert.throws(() => new Krum({ f: 1.5 }), code('invalid_config', /f .* integer ≥ 0/));
  assert.equal(new Krum({ f: 2 }).minUpdates(), 7);
});

test('Krum and Multi-Krum match a reference on random inputs', () => {
  for (const [n, f, seed] of [[20, 6, 10], [11, 2, 11], [9, 0, 12]]) {
    const us = randomUpdates(n, 300, seed, 3);
    const ref = refKrumScores(us, us.map((_, i) => i), n - f - 2);
    const r = new MultiKrum({ f }).aggregate(us);
    for (let i = 0; i < n; i++) assert.equal(r.scores![i], ref.get(i));
    const order = us.map((_, i) => i).sort((a, b) => ref.get(a)! - ref.get(b)! || a - b);
    assert.deepEqual(r.selected, order.slice(0, n - f));
  }
});

// Bulyan, n = 7, f = 1: θ = 5 by repeated Krum, then per coordinate the β = 3 values closest to
// the median. Values 0, 1, 2, 4, 7, 20, -30 (one coordinate):
//   step 1 (7 left, 4 nearest): scores 70, 47, 34, 38, 119, 1110, 4041 → 2
//   step 2 (6 left, 3 nearest): 0: 66, 1: 46, 4: 34, 7: 94, ... → 4
//   step 3 (5 left, 2 nearest): 0: 50, 1: 37, 7: 85, ... → 1
//   step 4 (4 left, 1 nearest): 0: 49, 7: 49 (tie → lower index: 0), 20: 169, -30: 900 → 0
//   step 5 (3 left, 1 nearest): 7: 169, 20: 169 (tie → 7), -30: 1369 → 7
// Selected {2, 4, 1, 0, 7}, median 2; closest: 2, 1, then 0 and 4 tie at distance 2 → the smaller, 0.
// Mean of 2, 1, 0 = 1.
test('Bulyan: θ = n − 2f by repeated Krum with re-scoring, then the mean of the β closest to the median', () => {
  const us = rows([0], [1], [2], [4], [7], [20], [-30]);
  const r = new Bulyan({ f: 1 }).aggregate(us);
  assert.deepEqual(r.selected, [2, 3, 1, 0, 4]);
  assert.deepEqual([...r.update], [1]);
});

test('Bulyan when θ ≤ 4f (every value sorted): a cluster of 7 and 4 far outliers, n = 11, f = 2', () => {
  // θ = 7 (the cluster), β = 3. Coordinate 0: 0..6 → median 3 → 2, 3, 4 → 3.
  // Coordinate 1: 10, 0, 3, 5, 1, 9, 2 → median 3 → 3, 2, then 1 and 5 tie → 1 → mean 2.
  const us = rows([0, 10], [1, 0], [2, 3], [3, 5], [4, 1], [5, 9], [6, 2], [1000, 0], [3000, 0], [-1000, 0], [-3000, 0]);
  const r = new Bulyan({ f: 2 }).aggregate(us);
  assert.deepEqual([...r.selected!].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...r.update], [3, 2]);
});

test('Bulyan with f = 0 is the mean; n < 4f + 3 is refused with a clear error', () => {
  assert.deepEqual([...new Bulyan({ f: 0 }).aggregate(rows([1, 0], [2, 0], [6, 3])).update], [3, 1]);
  assert.throws(() => new Bulyan({ f: 1 }).aggregate(rows([0], [1], [2], [3], [4], [5])), code('insufficient_results', /n = 6 .* f = 1.*n ≥ 4f \+ 3 = 7/));
  assert.throws(() => new Bulyan({ f: 0 }).aggregate(rows([0], [1])), code('insufficient_results', /n ≥ 4f \+ 3 = 3/));
  assert.equal(new Bulyan({ f: 4 }).minUpdates(), 19);
});

test('Bulyan matches a reference (repeated Krum, closest-to-median mean) on random inputs, both per-coordinate paths', () => {
  for (const [n, f, seed, levels] of [[7, 1, 20, 0], [11, 2, 21, 0], [20, 4, 22, 3], [15, 3, 23, 4], [23, 2, 24, 0], [40, 9, 25, 5]]) {
    const us = randomUpdates(n, 40, seed, levels);
    const ref = refBulyan(us, f);
    const r = new Bulyan({ f }).aggregate(us);
    assert.deepEqual(r.selected, ref.selected, `n=${n} f=${f}`);
    assertClose(r.update, ref.update, 1e-6, `n=${n} f=${f}`);
  }
});

test('Bulyan\'s repeated Krum differs from taking the θ lowest scores of one Krum pass', () => {
  // Search random small inputs for one where the two rules select different sets, then check
  // that Bulyan follows the repeated rule (the reference) there.
  let found = 0;
  for (let seed = 100; seed < 400 && found < 3; seed++) {
    const us = randomUpdates(7, 2, seed, 0);
    const f = 1;
    const onePass = refKrumScores(us, us.map((_, i) => i), 7 - f - 2);
    const lowest = us.map((_, i) => i).sort((a, b) => onePass.get(a)! - onePass.get(b)! || a - b).slice(0, 5).sort();
    const ref = refBulyan(us, f);
    if (JSON.stringify([...ref.selected].sort()) === JSON.stringify(lowest)) continue;
    found++;
    assert.deepEqual(new Bulyan({ f }).aggregate(us).selected, ref.selected);
  }
  assert.ok(found > 0, 'found an input where the two rules differ');
});

test('norm bounding: fixed bound and the round\'s median norm (odd and even n), then the weighted mean', () => {
  const us = rows([3, 4], [0, 1], [6, 8]); // norms 5, 1, 10
  const fixed = new NormBounding({ threshold: 2 }).aggregate(us);
  assertClose(fixed.update, [0.8, 1.4], 1e-6);
  assert.deepEqual(fixed.clipped, [0, 2]);
  assert.equal(fixed.clipNorm, 2);
  const med = new NormBounding({ threshold: 'median' }).aggregate(us); // bound 5
  assertClose(med.update, [2, 3], 1e-6);
  assert.deepEqual(med.clipped, [2]);
  // Even n: norms 5, 1, 10, 0 → bound (1 + 5) / 2 = 3.
  const even = new NormBounding({ threshold: 'median' }).aggregate(rows([3, 4], [0, 1], [6, 8], [0, 0]));
  assert.equal(even.clipNorm, 3);
  assertClose(even.update, [0.9, 1.45], 1e-6);
  // Weights (e.g. example counts) weight the mean of the bounded updates.
  assertClose(new NormBounding({ threshold: 2 }).aggregate(us, { weights: [1, 2, 1] }).update, [0.6, 1.3], 1e-6);
  // Another rule after the bound; inputs are never modified.
  const copy = us.map((u) => u.slice());
  assert.deepEqual([...new NormBounding({ threshold: 'median', inner: new CoordinateMedian() }).aggregate(us).update], [3, 4]);
  assert.deepEqual(us, copy);
  assert.throws(() => new NormBounding({ threshold: 0 }), code('invalid_config', /norm bound must be a finite number > 0 or "median"/));
  assert.throws(() => new NormBounding({ threshold: -1 }), code('invalid_config', /norm bound/));
});

test('weighted mean, and the shared input checks', () => {
  assertClose(new Mean().aggregate(rows([1, 0], [4, 3]), { weights: [2, 1] }).update, [2, 1], 1e-7);
  assert.throws(() => new Mean().aggregate(rows([1], [1]), { weights: [0, 0] }), code('insufficient_results', /weights sum to 0/));
  assert.throws(() => new Mean().aggregate(rows([1], [1]), { weights: [1] }), code('shape_mismatch', /1 weights for 2 updates/));
  assert.throws(() => new Mean().aggregate(rows([1], [1]), { weights: [1, NaN] }), code('invalid_argument', /weight 1/));
  assert.throws(() => new CoordinateMedian().aggregate(rows([1, 2], [1])), code('shape_mismatch', /update 1 has 1 values, update 0 has 2/));
  const out = new Float32Array(2);
  assert.equal(new CoordinateMedian().aggregate(rows([1, 2], [3, 4]), { out }).update, out);
});

test('createAggregator builds each rule from settings and refuses missing f', () => {
  assert.equal(createAggregator({ aggregator: 'median' }).name, 'median');
  assert.equal(createAggregator({}).name, 'mean');
  assert.equal(createAggregator({ aggregator: 'trimmed-mean', beta: 0.3 }).name, 'trimmed-mean');
  assert.equal(createAggregator({ aggregator: 'krum', f: 2 }).minUpdates(), 7);
  assert.equal(createAggregator({ aggregator: 'multi-krum', f: 1, m: 3 }).name, 'multi-krum');
  assert.equal(createAggregator({ aggregator: 'bulyan', f: 1 }).minUpdates(), 7);
  assert.equal(createAggregator({ normBound: 'median' }).name, 'norm-bound');
  assert.equal(createAggregator({ aggregator: 'krum', f: 1, normBound: 3 }).name, 'norm-bound+krum');
  assert.throws(() => createAggregator({ aggregator: 'krum' }), code('invalid_config', /robust\.f .* required for krum/));
  assert.throws(() => createAggregator({ aggregator: 'nope' as never }), code('invalid_config', /robust\.aggregator must be one of/));
});
