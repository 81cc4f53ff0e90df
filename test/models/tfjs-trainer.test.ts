// Tests for TfjsTrainer (src/models/tfjs-trainer.ts) on the backend initBackend picks (wasm here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/models/backend.js';
import { TfjsTrainer, createTfjsTrainer } from '../../src/models/tfjs-trainer.js';
import { logisticRegression, mlp2nn } from '../../src/models/zoo.js';
import { Rng } from '../../src/core/rng.js';
import { isFederaError, type FederaErrorCode } from '../../src/core/errors.js';
import type { Dataset } from '../../src/data/dataset.js';

await initBackend();

/** `n` points around `k` well separated class centres in `f` dimensions. */
function blobs(n: number, f: number, k: number, seed: number, noise = 0.3): Dataset {
  const rng = new Rng(seed);
  const centres = Array.from({ length: k }, (_, c) => {
    const r = new Rng('centres').stream(c);
    return Array.from({ length: f }, () => r.normal() * 2);
  });
  const x = new Float32Array(n * f);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(k);
    y[i] = c;
    for (let j = 0; j < f; j++) x[i * f + j] = centres[c][j] + noise * rng.normal();
  }
  return { x, y, numFeatures: f, numClasses: k };
}

function distance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

function bitwiseEqual(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function fails(code: FederaErrorCode, field: string) {
  return (e: unknown) => isFederaError(e, code) && e.details?.field === field && e.message.includes(field);
}

test('createTfjsTrainer: layouts of the zoo models, seeded init', async () => {
  const nn = await createTfjsTrainer('2nn', 784, 10, { seed: 3 });
  const lr = await createTfjsTrainer('logreg', 784, 10, { seed: 3 });
  const nn2 = await createTfjsTrainer('2nn', 784, 10, { seed: 3 });
  try {
    assert.equal(nn.layout.size, 199_210);
    assert.deepEqual(nn.layout.toJSON(), [
      { name: 'dense_1/kernel', shape: [784, 200] },
      { name: 'dense_1/bias', shape: [200] },
      { name: 'dense_2/kernel', shape: [200, 200] },
      { name: 'dense_2/bias', shape: [200] },
      { name: 'dense_3/kernel', shape: [200, 10] },
      { name: 'dense_3/bias', shape: [10] },
    ]);
    assert.equal(lr.layout.size, 7_850);
    assert.deepEqual(lr.layout.toJSON(), [
      { name: 'dense_1/kernel', shape: [784, 10] },
      { name: 'dense_1/bias', shape: [10] },
    ]);
    assert.ok(nn.layout.equals(nn2.layout), 'a second model in the same process has the same layout');
    assert.ok(bitwiseEqual(nn.getParameters(), nn2.getParameters()), 'same seed, same initial parameters');
    assert.equal(nn.numFeatures, 784);
    assert.equal(nn.numClasses, 10);
  } finally {
    nn.dispose();
    lr.dispose();
    nn2.dispose();
  }
});

test('getParameters/setParameters round trip exactly and never alias', async () => {
  const t = await createTfjsTrainer('2nn', 12, 3, { seed: 1 });
  try {
    const rng = new Rng(9);
    const p = new Float32Array(t.layout.size);
    for (let i = 0; i < p.length; i++) p[i] = rng.normal() * 10 ** rng.int(6);
    p[0] = -0; // sign of zero survives too
    t.setParameters(p);
    const got = t.getParameters();
    assert.ok(bitwiseEqual(got, p), 'round trip is bit-exact');

    const keep = p.slice();
    p.fill(123); // the trainer must not have kept a view of the caller's array
    assert.ok(bitwiseEqual(t.getParameters(), keep), 'setParameters copied its input');
    got.fill(-5); // nor hand out a view of its own storage
    assert.ok(bitwiseEqual(t.getParameters(), keep), 'getParameters returns a copy');
    assert.notEqual(t.getParameters(), t.getParameters());

    assert.throws(() => t.setParameters(new Float32Array(t.layout.size - 1)), (e) => isFederaError(e, 'shape_mismatch'));
  } finally {
    t.dispose();
  }
});

test('training on separable data lowers the loss and reaches high accuracy', async () => {
  const train = blobs(400, 20, 4, 1);
  const test_ = blobs(200, 20, 4, 2);
  for (const model of ['logreg', '2nn'] as const) {
    const t = await createTfjsTrainer(model, 20, 4, { seed: 5 });
    try {
      const before = await t.evaluate(test_);
      const out = await t.fit(train, { epochs: 3, batchSize: 16, learningRate: 0.1, seed: 1 });
      const after = await t.evaluate(test_);
      assert.equal(out.numExamples, 400);
      assert.ok(Number.isFinite(out.metrics.loss) && out.metrics.loss >= 0);
      assert.ok(after.loss < before.loss / 4, `${model}: loss ${before.loss} → ${after.loss}`);
      assert.ok(after.metrics.accuracy >= 0.97, `${model}: test accuracy ${after.metrics.accuracy}`);
      assert.ok(out.metrics.accuracy >= 0.9, `${model}: training accuracy of the last epoch ${out.metrics.accuracy}`);
      assert.equal(after.numExamples, 200);
    } finally {
      t.dispose();
    }
  }
});

test('fit metrics are the mean loss and accuracy over the last epoch (learning rate tiny)', async () => {
  // With a negligible learning rate the weights barely move, so the last epoch's running loss
  // must match an evaluation of the same data.
  const data = blobs(50, 6, 3, 4);
  const t = await createTfjsTrainer('logreg', 6, 3, { seed: 2 });
  try {
    const ev = await t.evaluate(data);
    const out = await t.fit(data, { epochs: 2, batchSize: 7, learningRate: 1e-9, seed: 0 });
    assert.ok(Math.abs(out.metrics.loss - ev.loss) < 1e-5, `${out.metrics.loss} vs ${ev.loss}`);
    assert.equal(out.metrics.accuracy, ev.metrics.accuracy);
  } finally {
    t.dispose();
  }
});

/** Logistic regression by hand, in float64: logits = x·W + b. */
function handLogits(x: number[], W: number[][], b: number[]): number[] {
  return b.map((bj, j) => bj + x.reduce((s, xi, i) => s + xi * W[i][j], 0));
}
function handSoftmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, c) => a + c, 0);
  return e.map((v) => v / s);
}
function flatten(W: number[][], b: number[]): Float32Array {
  return Float32Array.from([...W.flat(), ...b]);
}

test('evaluate matches a hand computation of cross-entropy and accuracy', async () => {
  const t = new TfjsTrainer(logisticRegression(3, 3).model);
  try {
    const W = [[0.5, -1, 2], [1.5, 0.25, -0.75], [-2, 1, 0.5]];
    const b = [0.1, -0.2, 0.3];
    t.setParameters(flatten(W, b));
    const xs = [[1, 0, 2], [0.5, -1, 1], [-1, 2, 0], [3, 1, -1], [0, 0, 0]];
    const ys = [2, 0, 1, 0, 2];
    let ce = 0, correct = 0;
    xs.forEach((x, i) => {
      const z = handLogits(x, W, b);
      const logSumExp = Math.log(z.reduce((s, v) => s + Math.exp(v), 0));
      ce += logSumExp - z[ys[i]];
      if (z.indexOf(Math.max(...z)) === ys[i]) correct++;
    });
    const data: Dataset = { x: Float32Array.from(xs.flat()), y: Int32Array.from(ys), numFeatures: 3, numClasses: 3 };
    for (const batchSize of [1000, 2]) {
      const ev = await t.evaluate(data, { batchSize });
      assert.equal(ev.numExamples, 5);
      assert.ok(Math.abs(ev.loss - ce / 5) < 1e-5, `batch ${batchSize}: loss ${ev.loss} vs ${ce / 5}`);
      assert.equal(ev.metrics.loss, ev.loss);
      assert.equal(ev.metrics.accuracy, correct / 5);
    }
    assert.ok(correct > 0 && correct < 5, 'the example mixes right and wrong predictions');

    const empty = await t.evaluate({ x: new Float32Array(0), y: new Int32Array(0), numFeatures: 3, numClasses: 3 });
    assert.deepEqual(empty, { loss: 0, numExamples: 0, metrics: { loss: 0, accuracy: 0 } });
  } finally {
    t.dispose();
  }
});

test('evaluate is stable for extreme logits (no log(0))', async () => {
  const t = new TfjsTrainer(logisticRegression(2, 2).model);
  try {
    t.setParameters(Float32Array.from([1000, -1000, 0, 0, 0, 0]));
    const data: Dataset = { x: Float32Array.from([1, 0, 1, 0]), y: Int32Array.from([0, 1]), numFeatures: 2, numClasses: 2 };
    const ev = await t.evaluate(data);
    // Example 0 is right with certainty (loss 0); example 1 is wrong by a logit gap of 2000.
    assert.ok(Math.abs(ev.loss - 1000) < 1e-2, `loss ${ev.loss}`);
    assert.equal(ev.metrics.accuracy, 0.5);
  } finally {
    t.dispose();
  }
});

test('one SGD step, and FedProx on the second step, match a hand computation', async () => {
  const W0 = [[0.2, -0.1, 0.05], [0.3, 0.1, -0.2]];
  const b0 = [0.01, 0, -0.01];
  const x = [1.5, -0.5];
  const label = 1;
  const lr = 0.4;
  const mu = 2;
  // Hand gradients of softmax cross-entropy: dz = p − onehot; dW = xᵀ·dz; db = dz.
  const step = (W: number[][], b: number[], muTerm: number, Wg: number[][], bg: number[]) => {
    const p = handSoftmax(handLogits(x, W, b));
    const dz = p.map((v, j) => v - (j === label ? 1 : 0));
    return {
      W: W.map((row, i) => row.map((w, j) => w - lr * (x[i] * dz[j] + muTerm * (w - Wg[i][j])))),
      b: b.map((v, j) => v - lr * (dz[j] + muTerm * (v - bg[j]))),
    };
  };
  const s1 = step(W0, b0, mu, W0, b0); // the proximal gradient is zero at the start
  const s2 = step(s1.W, s1.b, mu, W0, b0);
  const noProx2 = step(s1.W, s1.b, 0, W0, b0);

  // Two identical examples, batch 1: two steps whatever the shuffle.
  const data: Dataset = { x: Float32Array.from([...x, ...x]), y: Int32Array.from([label, label]), numFeatures: 2, numClasses: 3 };
  for (const denseFastPath of [true, false]) {
    const t = new TfjsTrainer(logisticRegression(2, 3).model, { denseFastPath });
    try {
      t.setParameters(flatten(W0, b0));
      await t.fit({ ...data, x: data.x.subarray(0, 2), y: data.y.subarray(0, 1) }, { epochs: 1, batchSize: 1, learningRate: lr, proximalMu: mu });
      const got1 = t.getParameters();
      const want1 = flatten(s1.W, s1.b);
      assert.ok(distance(got1, want1) < 1e-6, `fast=${denseFastPath} step 1: ${got1} vs ${want1}`);

      t.setParameters(flatten(W0, b0));
      await t.fit(data, { epochs: 1, batchSize: 1, learningRate: lr, proximalMu: mu });
      const got2 = t.getParameters();
      const want2 = flatten(s2.W, s2.b);
      assert.ok(distance(got2, want2) < 1e-6, `fast=${denseFastPath} prox step 2: ${got2} vs ${want2}`);
      assert.ok(distance(want2, flatten(noProx2.W, noProx2.b)) > 1e-3, 'the proximal term changes step 2 measurably');
    } finally {
      t.dispose();
    }
  }
});

test('FedProx with a large mu keeps the weights much closer to the start', async () => {
  const data = blobs(120, 10, 3, 6);
  // Small steps: plain SGD still travels far over 48 steps, while with lr·mu = 1 each step pulls
  // the weights all the way back, so FedProx ends one step (lr·‖g‖) from the start.
  const lr = 0.02;
  const moved = async (mu: number) => {
    const t = await createTfjsTrainer('2nn', 10, 3, { seed: 4 });
    try {
      const start = t.getParameters();
      await t.fit(data, { epochs: 4, batchSize: 10, learningRate: lr, proximalMu: mu, seed: 3 });
      return distance(t.getParameters(), start);
    } finally {
      t.dispose();
    }
  };
  const d0 = await moved(0);
  const dMu = await moved(1 / lr);
  const dSmall = await moved(0.1);
  assert.ok(d0 > 0.5, `plain SGD moves the weights (distance ${d0})`);
  console.log(`FedProx distances from the start: mu=0 ${d0.toFixed(4)}, mu=0.1 ${dSmall.toFixed(4)}, mu=${1 / lr} ${dMu.toFixed(4)}`);
  assert.ok(dMu < 0.25 * d0, `mu=${1 / lr}: distance ${dMu} vs ${d0} without the proximal term`);
  assert.ok(dSmall < d0 && dSmall > dMu, `a small mu lands in between: ${dMu} < ${dSmall} < ${d0}`);
});

test('a proximal anchor other than the start (Ditto): the weights are pulled toward it, on the dense fast path and the general path', async () => {
  const data = blobs(120, 10, 3, 6);
  const lr = 0.02;
  for (const model of ['logreg', '2nn'] as const) {
    const t = await createTfjsTrainer(model, 10, 3, { seed: 4 });
    try {
      const start = t.getParameters();
      const anchor = Float32Array.from(start, (v, i) => v + (i % 2 ? 0.05 : -0.05));
      // With lr·mu = 1 every step lands back on the anchor (plus one gradient step).
      await t.fit(data, { epochs: 2, batchSize: 10, learningRate: lr, proximalMu: 1 / lr, proximalAnchor: anchor, seed: 3 });
      const toAnchor = distance(t.getParameters(), anchor);
      const fromStart = distance(start, anchor);
      assert.ok(toAnchor < 0.5 * fromStart, `${model}: distance to the anchor ${toAnchor} vs ${fromStart} at the start`);
      t.setParameters(start);
      await t.fit(data, { epochs: 2, batchSize: 10, learningRate: lr, proximalMu: 1 / lr, seed: 3 });
      assert.ok(distance(t.getParameters(), start) < 0.5 * fromStart, `${model}: without an anchor the start is the anchor`);
      await assert.rejects(() => t.fit(data, { epochs: 1, batchSize: 10, learningRate: lr, proximalMu: 1, proximalAnchor: new Float32Array(3) }), /proximalAnchor/);
    } finally {
      t.dispose();
    }
  }
});

test('proximalMu 0 and no proximalMu give bitwise-identical training', async () => {
  const data = blobs(60, 8, 3, 7);
  const run = async (opts: { proximalMu?: number }) => {
    const t = await createTfjsTrainer('logreg', 8, 3, { seed: 1 });
    try {
      await t.fit(data, { epochs: 2, batchSize: 8, learningRate: 0.2, seed: 'x', ...opts });
      return t.getParameters();
    } finally {
      t.dispose();
    }
  };
  assert.ok(bitwiseEqual(await run({}), await run({ proximalMu: 0 })));
});

test('determinism: same init, data and seed give bitwise-identical parameters', async () => {
  const data = blobs(150, 16, 4, 8);
  const init = await createTfjsTrainer('2nn', 16, 4, { seed: 11 });
  const start = init.getParameters();
  init.dispose();
  const run = async (seed: number | string, mu = 0.01) => {
    const t = new TfjsTrainer(mlp2nn(16, 200, 4).model);
    try {
      t.setParameters(start);
      const out = await t.fit(data, { epochs: 2, batchSize: 10, learningRate: 0.05, proximalMu: mu, seed });
      return { params: t.getParameters(), loss: out.metrics.loss };
    } finally {
      t.dispose();
    }
  };
  const a = await run(42);
  const b = await run(42);
  const c = await run(43);
  assert.ok(bitwiseEqual(a.params, b.params), 'same seed: identical bits');
  assert.equal(a.loss, b.loss);
  assert.ok(!bitwiseEqual(a.params, c.params), 'another seed shuffles differently');
});

test('the dense fast path and the generic tfjs-layers path train the same model', async () => {
  const data = blobs(100, 12, 3, 9);
  const init = await createTfjsTrainer('2nn', 12, 3, { seed: 2 });
  const start = init.getParameters();
  init.dispose();
  const run = async (denseFastPath: boolean) => {
    const t = new TfjsTrainer(mlp2nn(12, 200, 3).model, { denseFastPath });
    try {
      t.setParameters(start);
      const out = await t.fit(data, { epochs: 2, batchSize: 7, learningRate: 0.05, proximalMu: 0.5, seed: 1 });
      return { params: t.getParameters(), out };
    } finally {
      t.dispose();
    }
  };
  const fast = await run(true);
  const slow = await run(false);
  const moved = distance(fast.params, start);
  assert.ok(moved > 0.1, `training moved the weights (${moved})`);
  assert.ok(distance(fast.params, slow.params) < 1e-4 * moved, `paths differ by ${distance(fast.params, slow.params)} (moved ${moved})`);
  assert.ok(Math.abs(fast.out.metrics.loss - slow.out.metrics.loss) < 1e-5);
  assert.equal(fast.out.metrics.accuracy, slow.out.metrics.accuracy);
});

test('no tensor leaks over 5 rounds of set/fit/get/evaluate; dispose frees everything', async () => {
  const before = tf.memory().numTensors;
  const t = await createTfjsTrainer('2nn', 10, 3, { seed: 1 });
  const data = blobs(53, 10, 3, 10); // 53: the last batch of 10 is partial
  const afterCreate = tf.memory().numTensors;
  let params = t.getParameters();
  const counts: number[] = [];
  for (let round = 0; round < 5; round++) {
    t.setParameters(params);
    await t.fit(data, { epochs: 2, batchSize: 10, learningRate: 0.05, proximalMu: round % 2 ? 0.1 : 0, seed: round });
    params = t.getParameters();
    await t.evaluate(data, { batchSize: 20 });
    counts.push(tf.memory().numTensors);
  }
  assert.deepEqual(counts, new Array(5).fill(afterCreate), `numTensors after create ${afterCreate}, after each round ${counts}`);
  t.dispose();
  assert.equal(tf.memory().numTensors, before, 'dispose frees the model');
  t.dispose(); // idempotent
  assert.throws(() => t.getParameters(), (e) => isFederaError(e, 'unsupported'));
});

test('an empty training set trains nothing and reports zeros', async () => {
  const t = await createTfjsTrainer('logreg', 4, 2, { seed: 1 });
  try {
    const p = t.getParameters();
    const out = await t.fit({ x: new Float32Array(0), y: new Int32Array(0), numFeatures: 4, numClasses: 2 }, { epochs: 1, batchSize: 4, learningRate: 0.1 });
    assert.deepEqual(out, { numExamples: 0, metrics: { loss: 0, accuracy: 0 } });
    assert.ok(bitwiseEqual(t.getParameters(), p));
  } finally {
    t.dispose();
  }
});

test('bad inputs throw invalid_argument naming the field', async () => {
  const t = await createTfjsTrainer('logreg', 4, 3, { seed: 1 });
  const good = blobs(10, 4, 3, 1);
  const opts = { epochs: 1, batchSize: 4, learningRate: 0.1 };
  try {
    await assert.rejects(t.fit(blobs(10, 5, 3, 1), opts), fails('invalid_argument', 'numFeatures'));
    await assert.rejects(t.evaluate(blobs(10, 5, 3, 1)), fails('invalid_argument', 'numFeatures'));
    await assert.rejects(t.fit({ ...good, y: Int32Array.from(good.y, (v, i) => (i === 3 ? 3 : v)) }, opts), fails('invalid_argument', 'y'));
    await assert.rejects(t.evaluate({ ...good, y: Int32Array.from(good.y, (v, i) => (i === 0 ? -1 : v)) }), fails('invalid_argument', 'y'));
    await assert.rejects(t.fit({ ...good, x: good.x.subarray(1) }, opts), fails('invalid_argument', 'x'));
    await assert.rejects(t.fit({ ...good, numClasses: 5 }, opts), fails('invalid_argument', 'numClasses'));
    for (const epochs of [0, 1.5, -1, NaN]) await assert.rejects(t.fit(good, { ...opts, epochs }), fails('invalid_argument', 'epochs'));
    for (const batchSize of [0, 2.5, -3]) await assert.rejects(t.fit(good, { ...opts, batchSize }), fails('invalid_argument', 'batchSize'));
    for (const learningRate of [0, -0.1, NaN, Infinity]) await assert.rejects(t.fit(good, { ...opts, learningRate }), fails('invalid_argument', 'learningRate'));
    for (const proximalMu of [-1, NaN, Infinity]) await assert.rejects(t.fit(good, { ...opts, proximalMu }), fails('invalid_argument', 'proximalMu'));
    await assert.rejects(t.fit(good, { ...opts, seed: NaN }), fails('invalid_argument', 'seed'));
    await assert.rejects(t.evaluate(good, { batchSize: 0 }), fails('invalid_argument', 'batchSize'));
    // The trainer is still usable after rejected calls.
    const ev = await t.evaluate(good);
    assert.equal(ev.numExamples, 10);
  } finally {
    t.dispose();
  }
});

test('concurrent fit on one trainer is refused, not interleaved', async () => {
  const t = await createTfjsTrainer('logreg', 4, 3, { seed: 1 });
  try {
    const data = blobs(20, 4, 3, 2);
    const first = t.fit(data, { epochs: 1, batchSize: 4, learningRate: 0.1 });
    await assert.rejects(t.evaluate(data), (e) => isFederaError(e, 'unsupported'));
    await first;
    await t.evaluate(data);
  } finally {
    t.dispose();
  }
});

test('divergence is reported as non_finite', async () => {
  const t = new TfjsTrainer(logisticRegression(2, 2).model);
  try {
    t.setParameters(Float32Array.from([0, 0, 0, 0, 0, 0]));
    const data: Dataset = { x: Float32Array.from([1e30, -1e30, -1e30, 1e30]), y: Int32Array.from([0, 1]), numFeatures: 2, numClasses: 2 };
    await assert.rejects(t.fit(data, { epochs: 3, batchSize: 1, learningRate: 1e10 }), (e) => isFederaError(e, 'non_finite'));
  } finally {
    t.dispose();
  }
});

test('logistic regression trains on flat arrays (softmax-sgd.ts) exactly as the TF.js path: sparse inputs, partial batches, FedProx', async () => {
  const f = 30;
  const data = blobs(203, f, 4, 17);
  // Every other example mostly zeros, as MNIST pixels are (the flat path skips them), the rest dense.
  const zeros = new Rng('zeros');
  for (let i = 0; i < data.x.length; i++) if (zeros.next() < (Math.floor(i / f) % 2 ? 0.7 : 0.1)) data.x[i] = 0;
  for (const mu of [0, 0.3]) {
    const trainers = [true, false].map((denseFastPath) => new TfjsTrainer(logisticRegression(f, 4).model, { denseFastPath }));
    const init = Float32Array.from({ length: trainers[0].layout.size }, (_, i) => Math.sin(i) * 0.1);
    const outcomes = [];
    for (const t of trainers) {
      t.setParameters(init);
      outcomes.push(await t.fit(data, { epochs: 3, batchSize: 16, learningRate: 0.2, proximalMu: mu, seed: 'same' }));
    }
    const [fast, tfPath] = trainers.map((t) => t.getParameters());
    let worst = 0;
    for (let i = 0; i < fast.length; i++) worst = Math.max(worst, Math.abs(fast[i] - tfPath[i]) / Math.max(1e-3, Math.abs(tfPath[i])));
    assert.ok(worst < 1e-4, `mu=${mu}: relative parameter difference ${worst}`);
    assert.ok(fast.some((v, i) => Math.abs(v - init[i]) > 1e-3), 'the flat path trained');
    assert.equal(outcomes[0].numExamples, outcomes[1].numExamples);
    assert.ok(Math.abs(outcomes[0].metrics.loss - outcomes[1].metrics.loss) < 1e-4, `loss ${outcomes[0].metrics.loss} vs ${outcomes[1].metrics.loss}`);
    assert.equal(outcomes[0].metrics.accuracy, outcomes[1].metrics.accuracy);
    const before = tf.memory().numTensors;
    // The flat path runs no TF.js kernel per step (the TF.js path runs dozens per batch).
    const kernels = async (t: TfjsTrainer, batchSize: number) => (await tf.profile(async () => void (await t.fit(data, { epochs: 1, batchSize, learningRate: 0.2, seed: 1 })) as unknown as tf.TensorContainer)).kernels.length;
    const flatKernels = await kernels(trainers[0], 16);
    assert.ok(flatKernels < 10, `flat path: ${flatKernels} kernels`);
    assert.ok((await kernels(trainers[1], 16)) > 13 * 10, 'the TF.js path runs kernels per batch');
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    trainers.forEach((t) => t.dispose());
  }
});
