import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageBase, TrainReply, EvaluateReply } from '../../src/core/messages.js';
import { Rng } from '../../src/core/rng.js';
import type { ClientLayer, MessageHandler } from '../../src/client/runtime.js';
import type { Trainer } from '../../src/client/trainer.js';
import type { Dataset } from '../../src/data/dataset.js';
import {
  applyTrigger,
  backdoorSuccessRate,
  chooseMalicious,
  flipLabels,
  gaussianNoiseLayer,
  planAttack,
  poisonBackdoor,
  scaleLayer,
  signFlipLayer,
  triggeredTestSet,
} from '../../src/robust/attacks.js';
import { normBoundLayer } from '../../src/robust/norm-bound.js';

const ids = Array.from({ length: 100 }, (_, i) => `client-${String(i).padStart(2, '0')}`);

/** A client handler whose train reply carries `update` (a fresh copy each time). */
function replying(update: number[]): MessageHandler {
  return async (m: MessageBase) =>
    m.type === 'train'
      ? ({ type: 'train_result', runId: m.runId, round: m.round, update: Float32Array.from(update), numExamples: 5, metrics: { loss: 1 } } as TrainReply)
      : ({ type: 'evaluate_result', runId: m.runId, round: m.round, loss: 0.5, numExamples: 5, metrics: {} } as EvaluateReply);
}

async function send(layer: ClientLayer, update: number[], round = 1, clientId = 'c', type = 'train'): Promise<MessageBase> {
  const h = layer(replying(update), { clientId, state: new Map() });
  return h({ type, runId: 'r', round } as MessageBase);
}

const upd = (m: MessageBase) => [...(m as TrainReply).update];

test('sign flipping negates the update (and scales it when asked); other messages pass through', async () => {
  assert.deepEqual(upd(await send(signFlipLayer(), [1, -2, 3.5])), [-1, 2, -3.5]);
  assert.deepEqual(upd(await send(signFlipLayer(4), [1, -2, 3.5])), [-4, 8, -14]);
  const ev = await send(signFlipLayer(), [1], 1, 'c', 'evaluate');
  assert.equal(ev.type, 'evaluate_result');
  assert.throws(() => signFlipLayer(0), /scale must be a finite number > 0/);
});

test('the scaling attack multiplies the update by its factor', async () => {
  assert.deepEqual(upd(await send(scaleLayer(10), [1, -2, 0.5])), [10, -20, 5]);
  assert.throws(() => scaleLayer(NaN), /factor must be a finite number/);
});

test('the Gaussian attack replaces the update with seeded N(0, σ²) noise', async () => {
  const d = 20000;
  const honest = new Array(d).fill(1);
  const layer = gaussianNoiseLayer(2, 7);
  const a = upd(await send(layer, honest, 3, 'c1'));
  const again = upd(await send(gaussianNoiseLayer(2, 7), honest, 3, 'c1'));
  assert.deepEqual(a, again, 'same seed, client and round: same noise');
  assert.notDeepEqual(upd(await send(layer, honest, 4, 'c1')), a, 'another round: other noise');
  assert.notDeepEqual(upd(await send(layer, honest, 3, 'c2')), a, 'another client: other noise');
  const mean = a.reduce((s, x) => s + x, 0) / d;
  const std = Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / d);
  // Standard errors: mean 2/√20000 ≈ 0.014, std ≈ 0.01; the honest update (all 1) is gone.
  assert.ok(Math.abs(mean) < 0.07, `mean ${mean}`);
  assert.ok(Math.abs(std - 2) < 0.06, `std ${std}`);
});

test('client-side norm bounding clips a large update to the bound and leaves small ones alone', async () => {
  assert.deepEqual(upd(await send(normBoundLayer(2), [3, 4])).map((x) => Math.round(x * 1e6) / 1e6), [1.2, 1.6]);
  assert.deepEqual(upd(await send(normBoundLayer(2), [0.5, 0.5])), [0.5, 0.5]);
  assert.throws(() => normBoundLayer(0), /norm bound/);
});

test('malicious clients: round(fraction · N) of them, chosen by the seed, sorted', () => {
  const a = chooseMalicious(ids, 0.2, 1);
  assert.equal(a.length, 20);
  assert.equal(new Set(a).size, 20);
  assert.deepEqual(a, [...a].sort());
  assert.deepEqual(chooseMalicious(ids, 0.2, 1), a);
  assert.notDeepEqual(chooseMalicious(ids, 0.2, 2), a);
  assert.deepEqual(chooseMalicious(ids, 0, 1), []);
  assert.equal(chooseMalicious(ids, 0.3, 1).length, 30);
  assert.equal(chooseMalicious(ids.slice(0, 7), 0.5, 1).length, 4);
  assert.throws(() => chooseMalicious(ids, 1.5, 1), /fraction must be in \[0, 1\]/);
});

test('model-poisoning attacks only wrap malicious clients', () => {
  const plan = planAttack({ kind: 'sign-flip', fraction: 0.1 }, ids, 5);
  assert.equal(plan.malicious.length, 10);
  for (const [i, id] of ids.entries()) assert.equal(plan.layers(id, i).length, plan.malicious.includes(id) ? 1 : 0);
  assert.match(plan.description, /sign-flip: 10 of 100 clients malicious \(update ← −1·update\)/);
  assert.throws(() => planAttack({ kind: 'nope' as never, fraction: 0.1 }, ids, 5), /attack\.kind must be one of/);
});

/** Toy 4×4 grey images, one per example, pixel values i/100 (so every pixel is distinct and < 1). */
function images(n: number, labels?: number[]): Dataset {
  const x = Float32Array.from({ length: n * 16 }, (_, i) => (i % 97) / 100);
  const y = Int32Array.from({ length: n }, (_, i) => (labels ? labels[i] : i % 10));
  return { x, y, numFeatures: 16, numClasses: 10, featureShape: [4, 4, 1] };
}

test('label flipping changes labels (y → 9 − y) only for malicious clients, and only their training split', () => {
  const plan = planAttack({ kind: 'label-flip', fraction: 0.3 }, ids, 9);
  const data = { train: images(10), validation: images(3) };
  for (const [i, id] of ids.entries()) {
    assert.equal(plan.layers(id, i).length, 0);
    const out = plan.poisonData(id, i, data);
    if (plan.malicious.includes(id)) {
      assert.deepEqual([...out.train.y], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      assert.equal(out.train.x, data.train.x, 'features untouched');
      assert.equal(out.validation, data.validation);
    } else assert.equal(out, data);
  }
  assert.deepEqual([...data.train.y], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'the original is not modified');
  assert.deepEqual([...flipLabels({ ...images(3), numClasses: 3, y: Int32Array.from([0, 1, 2]) }).y], [2, 1, 0]);
});

const PATCH = [10, 11, 14, 15]; // bottom-right 2×2 of a 4×4 image

test('the backdoor writes the patch into a fraction of a client\'s images and relabels them to the target', () => {
  const d = images(10);
  const p = poisonBackdoor(d, 0.5, new Rng(3), { size: 2, target: 7 });
  const poisoned: number[] = [];
  for (let i = 0; i < 10; i++) {
    const img = p.x.subarray(i * 16, (i + 1) * 16);
    const orig = d.x.subarray(i * 16, (i + 1) * 16);
    const patched = PATCH.every((k) => img[k] === 1);
    if (patched) {
      poisoned.push(i);
      assert.equal(p.y[i], 7);
      for (let k = 0; k < 16; k++) if (!PATCH.includes(k)) assert.equal(img[k], orig[k], 'only the patch changes');
    } else {
      assert.deepEqual(img, orig);
      assert.equal(p.y[i], d.y[i]);
    }
  }
  assert.equal(poisoned.length, 5);
  assert.deepEqual(poisonBackdoor(d, 0.5, new Rng(3), { size: 2, target: 7 }), p, 'seeded');
  assert.ok(d.x.every((v) => v < 1), 'the original is not modified');
  // Default: 3×3, white (1), bottom-right, target 0; in place on one example.
  const x = images(2).x.slice();
  applyTrigger(x, 1, images(2));
  const one = [5, 6, 7, 9, 10, 11, 13, 14, 15].map((k) => 16 + k);
  for (let k = 0; k < 32; k++) assert.equal(x[k] === 1, one.includes(k), `pixel ${k}`);
  assert.throws(() => poisonBackdoor({ ...d, featureShape: undefined }, 0.5, new Rng(1)), /backdoor: the data must be images/);
  assert.throws(() => poisonBackdoor(d, 0, new Rng(1)), /poisonFraction must be in \(0, 1\]/);
});

test('the triggered test set holds the non-target test images, patched and labelled with the target', async () => {
  const test_ = images(10, [0, 1, 2, 0, 4, 5, 0, 7, 8, 9]);
  const t = triggeredTestSet(test_, { size: 2, target: 0 });
  assert.equal(t.y.length, 7);
  assert.ok(t.y.every((v) => v === 0));
  for (let i = 0; i < 7; i++) for (const k of PATCH) assert.equal(t.x[i * 16 + k], 1);
  // Example 1 of the original is the first kept one.
  assert.deepEqual([...t.x.subarray(0, 10)], [...test_.x.subarray(16, 26)]);
  // The success rate is the trainer's accuracy on that set.
  const trainer = { evaluate: async (d: Dataset) => ({ loss: 0, numExamples: d.y.length, metrics: { accuracy: 0.25 } }) } as unknown as Trainer;
  assert.equal(await backdoorSuccessRate(trainer, t), 0.25);
});

test('the backdoor plan poisons only malicious clients\' training data', () => {
  const plan = planAttack({ kind: 'backdoor', fraction: 0.2, poisonFraction: 1, patchSize: 2, target: 3 }, ids, 4);
  assert.deepEqual(plan.trigger, { size: 2, target: 3 });
  const data = { train: images(6), validation: images(2) };
  for (const [i, id] of ids.entries()) {
    const out = plan.poisonData(id, i, data);
    if (!plan.malicious.includes(id)) assert.equal(out, data);
    else {
      assert.ok(out.train.y.every((v) => v === 3));
      assert.equal(out.validation, data.validation);
    }
  }
});
