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

const FEATURES: Record<ModelName, number> = { logreg: 64, '2nn': 64, cnn: 16 * 16, 'cifar-cnn': 16 * 16 * 3 };

for (const { name } of ZOO_MODELS) {
  test(`${name}: no tensor leak over 5 rounds; dispose frees everything`, async () => {
    const before = tf.memory().numTensors;
    const f = FEATURES[name];
    const channels = name === 'cifar-cnn' ? 3 : 1;
    const data = name === 'cnn' || name === 'cifar-cnn' ? quadrants(23, 16, channels, 1) : quadrants(23, 8, 1, 1);
    assert.equal(data.numFeatures, f);
    const t = await createTfjsTrainer(name, f, 4, { seed: 1 });
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

for (const name of ['cnn', 'cifar-cnn'] as const) {
  test(`${name} learns a toy image task on wasm`, async () => {
    const channels = name === 'cifar-cnn' ? 3 : 1;
    const train = quadrants(120, 16, channels, 2);
    const testSet = quadrants(60, 16, channels, 3);
    const t = await createTfjsTrainer(name, train.numFeatures, 4, { seed: 3 });
    try {
      const start = await t.evaluate(testSet);
      for (let e = 0; e < 3; e++) await t.fit(train, { epochs: 1, batchSize: 10, learningRate: 0.05, seed: e });
      const end = await t.evaluate(testSet);
      assert.ok(end.loss < start.loss * 0.5, `loss ${start.loss} → ${end.loss}`);
      assert.ok(end.metrics.accuracy >= 0.9, `accuracy ${end.metrics.accuracy}`);
    } finally {
      t.dispose();
    }
  });
}
