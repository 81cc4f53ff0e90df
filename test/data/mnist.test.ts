import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';
import { labelCounts, makeDataset } from '../../src/data/dataset.js';
import {
  MNIST_SPLIT_SEED,
  MNIST_TEST_FRACTION,
  mnistFromRaw,
  splitStratified,
  standardMnistSplit,
} from '../../src/data/mnist.js';
import { loadMnist } from '../../src/node/mnist.js';

const EXPECTED_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
const EXPECTED_TEST_COUNTS = [200, 225, 198, 206, 196, 173, 203, 214, 189, 196];

function rawDigit(d: number): number[] {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  return JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')).data;
}

test('loadMnist: real per-class counts, shape, digit order', () => {
  const { all } = loadMnist();
  assert.deepEqual(labelCounts(all), EXPECTED_COUNTS);
  assert.equal(EXPECTED_COUNTS.reduce((a, b) => a + b, 0), 10_000);
  assert.equal(all.y.length, 10_000);
  assert.equal(all.numFeatures, 784);
  assert.equal(all.numClasses, 10);
  assert.deepEqual(all.featureShape, [28, 28, 1]);
  assert.equal(all.x.length, 10_000 * 784);
  // Digit 0's images first, then digit 1's, ...: labels are non-decreasing with 9 changes.
  let changes = 0;
  for (let i = 1; i < all.y.length; i++) {
    assert.ok(all.y[i] >= all.y[i - 1], `label decreases at ${i}`);
    if (all.y[i] !== all.y[i - 1]) changes++;
  }
  assert.equal(changes, 9);
});

test('loadMnist: examples are the package images in file order', () => {
  const { all } = loadMnist();
  const zero = rawDigit(0);
  assert.deepEqual(Array.from(all.x.subarray(0, 784)), Array.from(Float32Array.from(zero.slice(0, 784))));
  const nine = rawDigit(9);
  assert.deepEqual(Array.from(all.x.subarray(9999 * 784)), Array.from(Float32Array.from(nine.slice(nine.length - 784))));
  // First image of digit 1 sits right after digit 0's 1001 images.
  const one = rawDigit(1);
  assert.deepEqual(Array.from(all.x.subarray(1001 * 784, 1002 * 784)), Array.from(Float32Array.from(one.slice(0, 784))));
});

test('loadMnist: pixel values are in [0, 1] and use the whole range', () => {
  const { all, train, test: testSet } = loadMnist();
  for (const ds of [all, train, testSet]) {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < ds.x.length; i++) {
      const v = ds.x[i];
      if (!(v >= 0 && v <= 1)) assert.fail(`pixel ${i} = ${v} is outside [0, 1]`);
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
  }
});

test('loadMnist: cached (same objects on the second call)', () => {
  const a = loadMnist();
  const b = loadMnist();
  assert.equal(a, b);
  assert.equal(a.all, b.all);
  assert.equal(a.train, b.train);
});

test('standard split: exactly 8,000 / 2,000, stratified, disjoint, covering', () => {
  const { all, train, test: testSet } = loadMnist();
  assert.equal(MNIST_TEST_FRACTION, 0.2);
  assert.equal(MNIST_SPLIT_SEED, 'mnist-split');
  assert.equal(train.y.length, 8000);
  assert.equal(testSet.y.length, 2000);
  assert.equal(train.x.length, 8000 * 784);
  assert.deepEqual(train.featureShape, [28, 28, 1]);
  const testCounts = labelCounts(testSet);
  assert.deepEqual(testCounts, EXPECTED_TEST_COUNTS);
  for (let c = 0; c < 10; c++) {
    assert.ok(Math.abs(testCounts[c] - EXPECTED_COUNTS[c] * 0.2) < 1, `class ${c}: ${testCounts[c]} vs ${EXPECTED_COUNTS[c] * 0.2}`);
    assert.equal(labelCounts(train)[c], EXPECTED_COUNTS[c] - testCounts[c]);
  }

  const split = standardMnistSplit(all);
  assert.deepEqual(labelCounts(split.train), labelCounts(train));
  const seen = new Uint8Array(10_000);
  for (const i of split.trainIndices) seen[i]++;
  for (const i of split.testIndices) seen[i]++;
  assert.ok(seen.every((s) => s === 1), 'every example is in exactly one of train/test');
  // The loader's split is the standard split, and the datasets hold the indexed examples.
  assert.deepEqual(train.y, split.train.y);
  assert.deepEqual(testSet.x, split.test.x);
  for (let k = 0; k < split.testIndices.length; k++) {
    const i = split.testIndices[k];
    assert.equal(testSet.y[k], all.y[i]);
    assert.deepEqual(testSet.x.subarray(k * 784, (k + 1) * 784), all.x.subarray(i * 784, (i + 1) * 784));
  }
});

test('standard split: classes are interleaved (train and test are shuffled)', () => {
  const { train, test: testSet } = loadMnist();
  for (const ds of [train, testSet]) {
    let changes = 0;
    for (let i = 1; i < ds.y.length; i++) if (ds.y[i] !== ds.y[i - 1]) changes++;
    // Sorted would give 9 changes; a random order gives ~90% of positions.
    assert.ok(changes > ds.y.length * 0.8, `only ${changes} label changes in ${ds.y.length}`);
  }
});

test('splitStratified: deterministic per seed, different across seeds', () => {
  const { all } = loadMnist();
  const a = splitStratified(all, 0.2, new Rng('mnist-split'));
  const b = splitStratified(all, 0.2, new Rng('mnist-split'));
  assert.deepEqual(a.trainIndices, b.trainIndices);
  assert.deepEqual(a.testIndices, b.testIndices);
  const c = splitStratified(all, 0.2, new Rng('other'));
  assert.notDeepEqual(c.testIndices, a.testIndices);
  assert.deepEqual(labelCounts(c.test), EXPECTED_TEST_COUNTS); // counts do not depend on the seed
});

function tinyDataset(labels: number[]): ReturnType<typeof makeDataset> {
  const y = Int32Array.from(labels);
  const x = Float32Array.from(labels.map((_, i) => i));
  return makeDataset(x, y, 1, Math.max(...labels) + 1);
}

test('splitStratified: largest-remainder apportionment keeps the total exact', () => {
  // 3 classes × 5, fraction 0.1: each class's share is 0.5; rounding each would give 3 test
  // examples, but the total is round(1.5) = 2, given to the lowest class indices on a tie.
  const ds = tinyDataset([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
  const s = splitStratified(ds, 0.1, new Rng(1));
  assert.deepEqual(labelCounts(s.test), [1, 1, 0]);
  assert.deepEqual(labelCounts(s.train), [4, 4, 5]);
  // 3 × 3, fraction 0.5: shares 1.5 each, total round(4.5) = 5 → [2, 2, 1].
  const s2 = splitStratified(tinyDataset([0, 0, 0, 1, 1, 1, 2, 2, 2]), 0.5, new Rng(1));
  assert.deepEqual(labelCounts(s2.test), [2, 2, 1]);
  // Features follow their examples.
  for (let k = 0; k < s.train.y.length; k++) assert.equal(s.train.x[k], s.trainIndices[k]);
});

test('splitStratified: fraction 0 puts everything in train; empty classes are fine', () => {
  const ds = makeDataset(Float32Array.from([1, 2, 3]), Int32Array.from([0, 2, 2]), 1, 4);
  const s = splitStratified(ds, 0, new Rng(1));
  assert.equal(s.test.y.length, 0);
  assert.deepEqual(Array.from(s.trainIndices).sort(), [0, 1, 2]);
  assert.equal(s.train.numClasses, 4);
});

test('splitStratified: rejects a fraction outside [0, 1)', () => {
  const ds = tinyDataset([0, 1]);
  for (const f of [1, -0.1, NaN, Infinity]) {
    assert.throws(
      () => splitStratified(ds, f, new Rng(1)),
      (e: unknown) => isFederaError(e, 'invalid_config') && e.message === `splitStratified: testFraction must be a number in [0, 1), got ${f}`,
    );
  }
});

test('mnistFromRaw: order and labels on synthetic input', () => {
  const raw = Array.from({ length: 10 }, (_, d) => new Array<number>(784 * (d % 2 === 0 ? 1 : 2)).fill(d / 10));
  const ds = mnistFromRaw(raw);
  assert.deepEqual(Array.from(ds.y), [0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9, 9]);
  assert.equal(ds.x[0], 0);
  assert.equal(ds.x[784], Math.fround(0.1));
  assert.equal(ds.x[14 * 784 + 783], Math.fround(0.9));
  assert.deepEqual(ds.featureShape, [28, 28, 1]);
});

test('mnistFromRaw: rejects malformed input with data_error', () => {
  const ok = () => Array.from({ length: 10 }, () => new Array<number>(784).fill(0));
  assert.throws(() => mnistFromRaw(ok().slice(0, 9)), (e: unknown) => isFederaError(e, 'data_error') && e.message === 'mnistFromRaw: expected 10 arrays (one per digit), got 9');
  const short = ok();
  short[3] = new Array<number>(783).fill(0);
  assert.throws(() => mnistFromRaw(short), (e: unknown) => isFederaError(e, 'data_error') && e.message === 'mnistFromRaw: digit 3 has 783 values, not a multiple of 784 (28×28)');
  const big = ok();
  big[2] = new Array<number>(784 * 2).fill(0);
  big[2][784 + 5] = 1.5;
  assert.throws(() => mnistFromRaw(big), (e: unknown) => isFederaError(e, 'data_error') && e.message === 'mnistFromRaw: digit 2, image 1, pixel 5: 1.5 is not a number in [0, 1]');
  const nan = ok();
  nan[0][0] = NaN;
  assert.throws(() => mnistFromRaw(nan), (e: unknown) => isFederaError(e, 'data_error') && e.message === 'mnistFromRaw: digit 0, image 0, pixel 0: NaN is not a number in [0, 1]');
});
