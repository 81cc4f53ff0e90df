// Tests for the model zoo (src/models/zoo.ts): sizes, stable names, seeded initialisation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/models/backend.js';
import { createModel, initParameters, logisticRegression, mlp2nn } from '../../src/models/zoo.js';
import { ParamLayout } from '../../src/core/params.js';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';

await initBackend();

function shapes(model: tf.LayersModel): Array<[string, number[]]> {
  return model.weights.map((w) => [w.originalName, w.shape as number[]]);
}

test('2NN is 784-200-200-10 with 199,210 parameters', () => {
  const z = mlp2nn();
  try {
    assert.equal(z.numParameters, 199_210);
    assert.equal(z.name, '2nn');
    assert.deepEqual(shapes(z.model), [
      ['dense_1/kernel', [784, 200]],
      ['dense_1/bias', [200]],
      ['dense_2/kernel', [200, 200]],
      ['dense_2/bias', [200]],
      ['dense_3/kernel', [200, 10]],
      ['dense_3/bias', [10]],
    ]);
    const last = z.model.layers[z.model.layers.length - 1];
    assert.equal(last.getClassName(), 'Activation');
    assert.equal((last.getConfig() as { activation: string }).activation, 'softmax');
  } finally {
    z.model.dispose();
  }
});

test('logistic regression 784→10 has 7,850 parameters', () => {
  const z = logisticRegression(784, 10);
  try {
    assert.equal(z.numParameters, 7_850);
    assert.deepEqual(shapes(z.model), [
      ['dense_1/kernel', [784, 10]],
      ['dense_1/bias', [10]],
    ]);
  } finally {
    z.model.dispose();
  }
});

test('layer names do not depend on how many models were built before', () => {
  const a = createModel('2nn', 30, 4);
  const b = createModel('2nn', 30, 4);
  try {
    assert.deepEqual(shapes(a.model), shapes(b.model));
    assert.deepEqual(a.model.layers.map((l) => l.name), b.model.layers.map((l) => l.name));
  } finally {
    a.model.dispose();
    b.model.dispose();
  }
});

test('createModel rejects unknown names and bad sizes', () => {
  assert.throws(() => createModel('resnet' as never, 784, 10), (e) => isFederaError(e, 'invalid_argument') && /model/.test(e.message));
  assert.throws(() => logisticRegression(0, 10), (e) => isFederaError(e, 'invalid_argument') && /numFeatures/.test(e.message));
  assert.throws(() => mlp2nn(784, 200, 1), (e) => isFederaError(e, 'invalid_argument') && /numClasses/.test(e.message));
  assert.throws(() => mlp2nn(784, 2.5, 10), (e) => isFederaError(e, 'invalid_argument') && /hidden/.test(e.message));
});

test('initParameters: seeded Glorot-uniform kernels, zero biases', () => {
  const layout = ParamLayout.fromShapes([
    { name: 'dense_1/kernel', shape: [784, 200] },
    { name: 'dense_1/bias', shape: [200] },
    { name: 'dense_2/kernel', shape: [200, 10] },
    { name: 'dense_2/bias', shape: [10] },
  ]);
  const p = initParameters(layout, new Rng(7).stream('init'));
  const q = initParameters(layout, new Rng(7).stream('init'));
  const r = initParameters(layout, new Rng(8).stream('init'));
  assert.deepEqual(p, q, 'same seed, same parameters');
  assert.notDeepEqual(p, r, 'another seed, other parameters');

  for (const [name, fanIn, fanOut] of [['dense_1/kernel', 784, 200], ['dense_2/kernel', 200, 10]] as const) {
    const v = layout.view(p, name);
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    let max = 0, sum = 0, sumSq = 0;
    for (const x of v) {
      max = Math.max(max, Math.abs(x));
      sum += x;
      sumSq += x * x;
    }
    assert.ok(max <= limit, `${name}: |w| ≤ ${limit}, got ${max}`);
    assert.ok(max > 0.95 * limit, `${name}: values fill the range (max ${max}, limit ${limit})`);
    // Uniform(-l, l): mean 0, variance l²/3.
    const mean = sum / v.length, variance = sumSq / v.length - mean * mean;
    assert.ok(Math.abs(mean) < 0.05 * limit, `${name}: mean ${mean}`);
    assert.ok(Math.abs(variance / (limit * limit / 3) - 1) < 0.1, `${name}: variance ${variance} vs ${limit * limit / 3}`);
  }
  assert.ok(layout.view(p, 'dense_1/bias').every((x) => x === 0));
  assert.ok(layout.view(p, 'dense_2/bias').every((x) => x === 0));
});

test('initParameters: a tensor’s values depend on its name, not its position', () => {
  const a = ParamLayout.fromShapes([{ name: 'k', shape: [5, 4] }, { name: 'j', shape: [3, 3] }]);
  const b = ParamLayout.fromShapes([{ name: 'extra', shape: [2, 2] }, { name: 'k', shape: [5, 4] }]);
  const pa = initParameters(a, new Rng(1));
  const pb = initParameters(b, new Rng(1));
  assert.deepEqual(a.view(pa, 'k'), b.view(pb, 'k'));
});

test("McMahan et al.'s MNIST CNN has 1,663,370 parameters in the paper's layout", () => {
  const z = createModel('cnn', 784, 10);
  try {
    assert.equal(z.numParameters, 1_663_370);
    assert.deepEqual(shapes(z.model), [
      ['conv_1/kernel', [5, 5, 1, 32]],
      ['conv_1/bias', [32]],
      ['conv_2/kernel', [5, 5, 32, 64]],
      ['conv_2/bias', [64]],
      ['dense_1/kernel', [3136, 512]],
      ['dense_1/bias', [512]],
      ['dense_2/kernel', [512, 10]],
      ['dense_2/bias', [10]],
    ]);
    assert.deepEqual(z.model.inputs[0].shape, [null, 784], 'takes flat features like the dense models');
  } finally {
    z.model.dispose();
  }
});

test('the CIFAR-style CNN takes 32×32×3 and has 188,810 parameters', () => {
  const z = createModel('cifar-cnn', 3072, 10);
  try {
    assert.equal(z.numParameters, 188_810);
    assert.deepEqual(z.model.outputs[0].shape, [null, 10]);
  } finally {
    z.model.dispose();
  }
});

test('conv models refuse features that are not an image of the right channel count', () => {
  assert.throws(() => createModel('cnn', 785, 10), (e) => isFederaError(e, 'invalid_argument') && /785 features/.test((e as Error).message));
  assert.throws(() => createModel('cifar-cnn', 784, 10), (e) => isFederaError(e, 'invalid_argument') && /3 channel/.test((e as Error).message));
  assert.throws(() => createModel('cnn', 784, 10, { inputShape: [28, 27, 1] }), (e) => isFederaError(e, 'invalid_argument') && /inputShape|input shape/.test((e as Error).message));
  const z = createModel('cnn', 24 * 20, 4, { inputShape: [24, 20, 1] });
  z.model.dispose();
});
