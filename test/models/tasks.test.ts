// Tasks beyond classification in TfjsTrainer (src/models/tfjs-trainer.ts): binary (sigmoid, AUC)
// and regression (MSE, MAE, R²), checked against values computed here from the model's own
// predictions; and the metric functions (src/models/metrics.ts) against hand-worked cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/models/backend.js';
import { TfjsTrainer, createTfjsTrainer } from '../../src/models/tfjs-trainer.js';
import { createModel } from '../../src/models/zoo.js';
import { aucRoc, rSquaredFromSse } from '../../src/models/metrics.js';
import { makeRegressionDataset, type Dataset } from '../../src/data/dataset.js';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';

await initBackend();

function linearData(n: number, f: number, t: number, seed: number, noise = 0.1): Dataset {
  const rng = new Rng(seed);
  const w = Array.from({ length: f * t }, () => new Rng('w').stream(0).normal());
  const x = new Float32Array(n * f).map(() => rng.normal());
  const y = new Float32Array(n * t);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < t; k++) {
      let s = 1.5 * (k + 1);
      for (let j = 0; j < f; j++) s += x[i * f + j] * w[j * t + k];
      y[i * t + k] = s + noise * rng.normal();
    }
  }
  return makeRegressionDataset(x, y, f, t);
}

function binaryData(n: number, f: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * f).map(() => rng.normal());
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = x[i * f] + 0.5 * x[i * f + 1] + 0.3 * rng.normal() > 0 ? 1 : 0;
  return { x, y, numFeatures: f, numClasses: 2 };
}

function predictions(t: TfjsTrainer, d: Dataset): Float32Array {
  return tf.tidy(() => (t.model.predict(tf.tensor2d(d.x, [d.y.length, d.numFeatures])) as tf.Tensor).dataSync() as Float32Array);
}

test('aucRoc: perfect, reversed, all tied, and a hand-worked case with a tie', () => {
  assert.equal(aucRoc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
  assert.equal(aucRoc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]), 0);
  assert.equal(aucRoc([0.5, 0.5, 0.5], [0, 1, 1]), 0.5);
  // Pairs (pos, neg): (0.4 vs 0.1 ✓), (0.4 vs 0.4 ½), (0.35 vs 0.1 ✓), (0.35 vs 0.4 ✗) → 2.5 / 4.
  assert.equal(aucRoc([0.1, 0.4, 0.35, 0.4], [0, 0, 1, 1]), 0.625);
  assert.equal(aucRoc([0.3, 0.7], [1, 1]), 0.5, 'one class only');
});

test('rSquaredFromSse: 1 for a perfect fit, 0 for predicting the mean, per-target SST summed', () => {
  const t = Float32Array.from([1, 10, 2, 20, 3, 30]); // two targets
  assert.equal(rSquaredFromSse(0, t, 2), 1);
  const sst = 2 + 200; // (1−2)²+(2−2)²+(3−2)² and (10−20)²+0+(30−20)²
  assert.equal(rSquaredFromSse(sst, t, 2), 0);
  assert.ok(Math.abs(rSquaredFromSse(50.5, t, 2) - 0.75) < 1e-12);
});

test('regression: linear regression learns y = Xw + b; mse, mae and r2 agree with the predictions', async () => {
  const train = linearData(400, 5, 1, 1);
  const testSet = linearData(200, 5, 1, 2);
  const t = await createTfjsTrainer('logreg', 5, 1, { task: 'regression', seed: 1 });
  try {
    assert.equal(t.task, 'regression');
    const before = await t.evaluate(testSet);
    const fit = await t.fit(train, { epochs: 20, batchSize: 10, learningRate: 0.05, seed: 1 });
    assert.deepEqual(Object.keys(fit.metrics).sort(), ['loss', 'mae', 'mse']);
    const after = await t.evaluate(testSet);
    assert.deepEqual(Object.keys(after.metrics).sort(), ['loss', 'mae', 'mse', 'r2']);
    assert.ok(after.metrics.r2 > 0.98 && before.metrics.r2 < 0.5, `r2 ${before.metrics.r2} → ${after.metrics.r2}`);
    const p = predictions(t, testSet);
    let sse = 0;
    let sae = 0;
    for (let i = 0; i < p.length; i++) {
      sse += (p[i] - testSet.targets![i]) ** 2;
      sae += Math.abs(p[i] - testSet.targets![i]);
    }
    assert.ok(Math.abs(after.metrics.mse - sse / p.length) < 1e-4 * (1 + sse / p.length));
    assert.ok(Math.abs(after.metrics.mae - sae / p.length) < 1e-4);
    assert.ok(Math.abs(after.metrics.r2 - rSquaredFromSse(sse, testSet.targets!, 1)) < 1e-4);
    assert.equal(after.loss, after.metrics.mse);
  } finally {
    t.dispose();
  }
});

test('regression with two targets on the 2NN: the loss is the mean over targets', async () => {
  const train = linearData(300, 4, 2, 3);
  const t = await createTfjsTrainer('2nn', 4, 2, { task: 'regression', seed: 2 });
  try {
    await t.fit(train, { epochs: 10, batchSize: 10, learningRate: 0.01, seed: 1 });
    const e = await t.evaluate(train);
    const p = predictions(t, train);
    let sse = 0;
    for (let i = 0; i < p.length; i++) sse += (p[i] - train.targets![i]) ** 2;
    assert.ok(Math.abs(e.metrics.mse - sse / p.length) < 1e-4 * (1 + e.metrics.mse), `${e.metrics.mse} vs ${sse / p.length}`);
    assert.ok(e.metrics.r2 > 0.9, `r2 ${e.metrics.r2}`);
  } finally {
    t.dispose();
  }
});

test('binary: a sigmoid model learns; loss is the mean binary cross-entropy and auc matches its scores', async () => {
  const train = binaryData(400, 3, 4);
  const testSet = binaryData(200, 3, 5);
  const t = await createTfjsTrainer('logreg', 3, 1, { task: 'binary', seed: 3 });
  try {
    assert.equal(t.task, 'binary');
    assert.equal(t.numClasses, 2);
    await t.fit(train, { epochs: 10, batchSize: 10, learningRate: 0.1, seed: 1 });
    const e = await t.evaluate(testSet, { batchSize: 64 });
    assert.deepEqual(Object.keys(e.metrics).sort(), ['accuracy', 'auc', 'loss']);
    const p = predictions(t, testSet); // sigmoid probabilities
    let bce = 0;
    let correct = 0;
    for (let i = 0; i < p.length; i++) {
      const y = testSet.y[i];
      bce -= y * Math.log(p[i]) + (1 - y) * Math.log(1 - p[i]);
      if ((p[i] > 0.5 ? 1 : 0) === y) correct++;
    }
    assert.ok(Math.abs(e.loss - bce / p.length) < 1e-4, `${e.loss} vs ${bce / p.length}`);
    assert.equal(e.metrics.accuracy, correct / p.length);
    assert.ok(Math.abs(e.metrics.auc - aucRoc(p, testSet.y)) < 1e-6);
    assert.ok(e.metrics.auc > 0.9 && e.metrics.accuracy > 0.8, JSON.stringify(e.metrics));
  } finally {
    t.dispose();
  }
});

test('task mismatches are refused with what was expected', async () => {
  const labelled = binaryData(20, 3, 6);
  const reg = await createTfjsTrainer('logreg', 3, 1, { task: 'regression' });
  const cls = await createTfjsTrainer('logreg', 3, 2);
  try {
    await assert.rejects(reg.fit(labelled, { epochs: 1, batchSize: 5, learningRate: 0.1 }), (e) => isFederaError(e, 'invalid_argument') && /float targets/.test((e as Error).message));
    await assert.rejects(cls.evaluate(linearData(10, 3, 1, 1)), (e) => isFederaError(e, 'invalid_argument') && /use task 'regression'/.test((e as Error).message));
    await assert.rejects(reg.evaluate(linearData(10, 3, 2, 1)), (e) => isFederaError(e, 'invalid_argument') && /2 target\(s\).*1 output/.test((e as Error).message));
    await assert.rejects(
      reg.fit(linearData(10, 3, 1, 1), { epochs: 1, batchSize: 5, learningRate: 0.1, dpSgd: { l2NormClip: 1, noiseMultiplier: 1 } }),
      (e) => isFederaError(e, 'unsupported') && /DP-SGD/.test((e as Error).message),
    );
  } finally {
    reg.dispose();
    cls.dispose();
  }
  const two = createModel('logreg', 3, 2).model;
  assert.throws(() => new TfjsTrainer(two, { task: 'binary' }), (e) => isFederaError(e, 'unsupported') && /one \(sigmoid\) output/.test((e as Error).message));
  two.dispose();
  const sig = createModel('logreg', 3, 1, { task: 'binary' }).model;
  assert.throws(() => new TfjsTrainer(sig, { task: 'regression' }), (e) => isFederaError(e, 'unsupported') && /"sigmoid".*regression model's output must be linear/.test((e as Error).message));
  sig.dispose();
});

test('the task is inferred from the output layer when not given', () => {
  for (const [task, units, want] of [['binary', 1, 'binary'], ['regression', 1, 'regression'], ['classification', 3, 'classification']] as const) {
    const t = new TfjsTrainer(createModel('logreg', 3, units, { task }).model);
    assert.equal(t.task, want);
    t.dispose();
  }
});
