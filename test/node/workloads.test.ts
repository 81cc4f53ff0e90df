// resolveData / resolveModel (src/node/workloads.ts): every --data kind on small fixtures, every
// --model kind, and the errors a wrong combination gets.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import * as tf from '@tensorflow/tfjs';
import { resolveData, resolveModel, dataShapeOf, modelInputShape, DATA_CHOICES, MODEL_CHOICES } from '../../src/node/workloads.js';
import { initBackend } from '../../src/models/backend.js';
import { isFederaError } from '../../src/core/errors.js';

await initBackend('wasm');
const dir = mkdtempSync(join(tmpdir(), 'federa-workloads-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function idxBytes(dims: number[], values: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  out[2] = 0x08;
  out[3] = dims.length;
  const v = new DataView(out.buffer);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  out.set(values, 4 + 4 * dims.length);
  return out;
}

test('help lists every data and model kind', () => {
  assert.deepEqual(DATA_CHOICES.map((c) => c.spec.split(':')[0]), ['mnist', 'fashion-mnist', 'synthetic', 'idx', 'leaf', 'csv', 'images', 'text']);
  assert.deepEqual(MODEL_CHOICES.map((c) => c.spec), ['logreg', '2nn', 'cnn', 'cifar-cnn', 'lstm', '<path>/model.json']);
  assert.ok([...DATA_CHOICES, ...MODEL_CHOICES].every((c) => c.description.length > 10));
});

test('mnist, synthetic:1,1 (natural clients) and idx:<folder>', async () => {
  const m = await resolveData('mnist');
  assert.deepEqual([m.train.y.length, m.test.y.length], [8000, 2000]);
  const s = await resolveData('synthetic:1,1', { seed: 3 });
  assert.equal(s.natural!.partitions.length, 30);
  assert.equal(s.train.numFeatures, 60);
  const folder = join(dir, 'idx');
  mkdirSync(folder);
  writeFileSync(join(folder, 'train-images-idx3-ubyte'), idxBytes([10, 2, 2], Array.from({ length: 40 }, (_, i) => i)));
  writeFileSync(join(folder, 'train-labels-idx1-ubyte'), idxBytes([10], [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]));
  const d = await resolveData(`idx:${folder}`, { seed: 1 });
  assert.equal(d.train.y.length + d.test.y.length, 10);
  assert.equal(d.test.y.length, 2);
  const pair = await resolveData(`idx:${join(folder, 'train-images-idx3-ubyte')}`);
  assert.equal(pair.train.numFeatures, 4, 'a train-images file finds its labels sibling');
});

test('csv regression with a group column: float targets, natural partition of the train split', async () => {
  const lines = ['site,a,b,y'];
  for (let i = 0; i < 50; i++) lines.push(`s${i % 5},${i},${i % 7},${(2 * i + 1) / 10}`);
  writeFileSync(join(dir, 'r.csv'), lines.join('\n'));
  const d = await resolveData(`csv:${join(dir, 'r.csv')}`, { targetColumns: ['y'], groupColumn: 'site', seed: 2 });
  assert.equal(d.task, 'regression');
  assert.equal(d.train.y.length, 40);
  assert.equal(d.natural!.partitions.length, 5);
  assert.deepEqual(d.natural!.clientIds, ['s0', 's1', 's2', 's3', 's4']);
  assert.equal(d.natural!.partitions.reduce((a, p) => a + p.length, 0), 40);
  assert.deepEqual(dataShapeOf(d.train, 'regression'), { numFeatures: 2, numClasses: 1, task: 'regression', featureShape: undefined });
  await assert.rejects(resolveData(`csv:${join(dir, 'r.csv')}`, { task: 'regression' }), (e) => isFederaError(e, 'invalid_config') && /target column/.test((e as Error).message));
  await assert.rejects(resolveData('mnist', { task: 'regression' }), (e) => isFederaError(e, 'invalid_config') && /--task regression needs csv/.test((e as Error).message));
});

test('leaf:<folder> with train/ and test/, images:<folder> at the model input, text:<file>', async () => {
  const leaf = join(dir, 'leaf');
  for (const split of ['train', 'test']) {
    mkdirSync(join(leaf, split), { recursive: true });
    const users = ['u1', 'u2'];
    const user_data = Object.fromEntries(users.map((u, k) => [u, { x: [[k, 1], [k, 2], [k, 3]], y: [k, 1 - k, k] }]));
    writeFileSync(join(leaf, split, 'data.json'), JSON.stringify({ users, num_samples: [3, 3], user_data }));
  }
  const l = await resolveData(`leaf:${leaf}`);
  assert.deepEqual(l.natural!.clientIds, ['u1', 'u2']);
  assert.equal(l.test.y.length, 6);

  const images = join(dir, 'images');
  for (const c of ['cat', 'dog']) {
    mkdirSync(join(images, c), { recursive: true });
    for (let i = 0; i < 5; i++) {
      const p = new PNG({ width: 6, height: 6 });
      p.data.fill(c === 'cat' ? 40 : 220);
      writeFileSync(join(images, c, `${i}.png`), PNG.sync.write(p));
    }
  }
  const im = await resolveData(`images:${images}`, { inputShape: modelInputShape('cifar-cnn') });
  assert.deepEqual(im.train.featureShape, [32, 32, 3]);
  assert.deepEqual(im.classNames, ['cat', 'dog']);

  const text = join(dir, 'talk.jsonl');
  writeFileSync(text, ['{"user":"a","text":"hello there, general"}', '{"user":"b","text":"you are a bold one"}'].join('\n'));
  const t = await resolveData(`text:${text}`, { seqLength: 5, seed: 1 });
  assert.deepEqual(t.natural!.clientIds, ['a', 'b']);
  assert.equal(t.train.numClasses, t.vocabulary!.size);
  assert.equal(t.train.y.length + t.test.y.length, 'hello there, general'.length - 5 + 'you are a bold one'.length - 5);
});

test('unknown or incomplete --data values are refused', async () => {
  await assert.rejects(resolveData('cifar10'), (e) => isFederaError(e, 'invalid_config') && /unknown kind "cifar10"; expected one of mnist/.test((e as Error).message));
  await assert.rejects(resolveData('csv:'), (e) => isFederaError(e, 'invalid_config') && /needs a path/.test((e as Error).message));
  await assert.rejects(resolveData('synthetic:1'), (e) => isFederaError(e, 'invalid_config') && /"α,β"/.test((e as Error).message));
});

test('resolveModel: zoo names for the data shape, and a model.json path', async () => {
  const cnn = await resolveModel('cnn', { numFeatures: 784, numClasses: 10, featureShape: [28, 28, 1] }, { seed: 1 });
  assert.equal(cnn.initialParams.layout.size, 1_663_370);
  assert.match(cnn.description, /1,663,370 parameters/);
  const t = await cnn.createTrainer();
  assert.ok(t.layout.equals(cnn.initialParams.layout));
  t.dispose();
  const reg = await resolveModel('logreg', { numFeatures: 3, numClasses: 2, task: 'regression' });
  assert.equal(reg.spec.task, 'regression');
  assert.equal(reg.initialParams.layout.size, 8);

  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'softmax', name: 'out' })] });
  const folder = join(dir, 'mymodel');
  mkdirSync(folder);
  await m.save(tf.io.withSaveHandler(async (a) => (writeFileSync(join(folder, 'model.json'), JSON.stringify({ modelTopology: a.modelTopology })), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  m.dispose();
  const byo = await resolveModel(folder, { numFeatures: 3, numClasses: 2 }, { seed: 1 });
  assert.ok(byo.spec.architecture);
  const bt = await byo.createTrainer();
  assert.ok(bt.layout.equals(byo.initialParams.layout));
  bt.dispose();
  await assert.rejects(resolveModel('resnet', { numFeatures: 3, numClasses: 2 }), (e) => isFederaError(e, 'invalid_config') && /not a zoo model/.test((e as Error).message));
});
