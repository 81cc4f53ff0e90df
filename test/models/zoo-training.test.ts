// Every zoo model trains on the wasm backend without leaking tensors (5 rounds of
// set/fit/get/evaluate, as the federated loop does), and the conv models learn a toy task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/models/backend.js';
import { createTfjsTrainer } from '../../src/models/tfjs-trainer.js';
import { ZOO_MODELS, type ModelName } from '../../src/models/zoo.js';
import { Rng } from '../../src/core/rng.js';
import type { Dataset } from '../../src/data/dataset.js';

await initBackend('wasm');

/** Images whose class is which quadrant holds a bright square (learnable by a CNN in a few steps). */
function quadrants(n: number, side: number, channels: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const f = side * side * channels;
  const x = new Float32Array(n * f);
  const y = new Int32Array(n);
  const half = side / 2;
  for (let i = 0; i < n; i++) {
    const c = rng.int(4);
    y[i] = c;
    const r0 = c < 2 ? 0 : half;
    const c0 = c % 2 ? half : 0;
    for (let r = 0; r < side; r++) {
      for (let col = 0; col < side; col++) {
        const on = r >= r0 + 2 && r < r0 + half - 2 && col >= c0 + 2 && col < c0 + half - 2;
        for (let ch = 0; ch < channels; ch++) x[i * f + (r * side + col) * channels + ch] = (on ? 1 : 0) + 0.1 * rng.next();
      }
    }
  }
  return { x, y, numFeatures: f, numClasses: 4 };
}

/** Next-token windows over a cyclic sequence 0, 1, …, period−1, 0, …: each token fixes the next. */
function cyclicTokens(n: number, seqLength: number, period: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * seqLength);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const start = rng.int(period);
    for (let j = 0; j < seqLength; j++) x[i * seqLength + j] = (start + j) % period;
    y[i] = (start + seqLength) % period;
  }
  return { x, y, numFeatures: seqLength, numClasses: period };
}

const FEATURES: Record<ModelName, number> = { logreg: 64, '2nn': 64, cnn: 16 * 16, 'cifar-cnn': 16 * 16 * 3, lstm: 6 };

function dataFor(name: ModelName, n: number, seed: number): Dataset {
  if (name === 'lstm') return cyclicTokens(n, 6, 4, seed);
  if (name === 'cnn' || name === 'cifar-cnn') return quadrants(n, 16, name === 'cifar-cnn' ? 3 : 1, seed);
  return quadrants(n, 8, 1, seed);
}

for (const { name } of ZOO_MODELS) {
  test(`${name}: no tensor leak over 5 rounds; dispose frees everything`, async () => {
    const before = tf.memory().numTensors;
    const f = FEATURES[name];
    const data = dataFor(name, 23, 1);
    assert.equal(data.numFeatures, f);
    const t = await createTfjsTrainer(name, f, 4, { seed: 1 }); // 4 classes (tokens for lstm)
    const afterCreate = tf.memory().numTensors;
    let params = t.getParameters();
    const counts: number[] = [];
    for (let round = 0; round < 5; round++) {
      t.setParameters(params);
      await t.fit(data, { epochs: 1, batchSize: 10, learningRate: 0.05, proximalMu: round % 2 ? 0.1 : 0, seed: round });
      params = t.getParameters();
      await t.evaluate(data, { batchSize: 16 });
      counts.push(tf.memory().numTensors);
    }
    assert.deepEqual(counts, new Array(5).fill(afterCreate), `numTensors after create ${afterCreate}, after each round ${counts}`);
    t.dispose();
    assert.equal(tf.memory().numTensors, before, 'dispose frees the model');
  });
}

for (const name of ['cnn', 'cifar-cnn', 'lstm'] as const) {
  test(`${name} learns a toy ${name === 'lstm' ? 'next-token' : 'image'} task on wasm`, async () => {
    const train = dataFor(name, 120, 2);
    const testSet = dataFor(name, 60, 3);
    const t = await createTfjsTrainer(name, train.numFeatures, 4, { seed: 3 });
    try {
      const start = await t.evaluate(testSet);
      const lr = name === 'lstm' ? 0.5 : 0.05;
      for (let e = 0; e < (name === 'lstm' ? 8 : 3); e++) await t.fit(train, { epochs: 1, batchSize: 10, learningRate: lr, seed: e });
      const end = await t.evaluate(testSet);
      assert.ok(end.loss < start.loss * 0.5, `loss ${start.loss} → ${end.loss}`);
      assert.ok(end.metrics.accuracy >= 0.9, `accuracy ${end.metrics.accuracy}`);
    } finally {
      t.dispose();
    }
  });
}
