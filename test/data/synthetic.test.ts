// Synthetic(α, β) (src/data/synthetic.ts): the FedProx generator's rule, sizes, seeding, and its
// heterogeneity growing with β (data) and vanishing for the IID variant (model).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { synthetic, parseSyntheticSpec } from '../../src/data/synthetic.js';
import { isFederaError } from '../../src/core/errors.js';

test('every label is argmax(x·W_k + b_k) of its own client’s model', () => {
  const s = synthetic({ alpha: 1, beta: 1, numClients: 5, seed: 1, testFraction: 0.2 });
  let checked = 0;
  s.partitions.forEach((p, k) => {
    const { w, b } = s.models[k];
    for (const i of p) {
      const logits = Array.from(b);
      for (let j = 0; j < 60; j++) for (let c = 0; c < 10; c++) logits[c] += s.train.x[i * 60 + j] * w[j * 10 + c];
      // float32 storage of x can flip a near-tie; count exact agreement over all.
      if (logits.indexOf(Math.max(...logits)) === s.train.y[i]) checked++;
    }
  });
  assert.ok(checked >= 0.995 * s.train.y.length, `${checked} of ${s.train.y.length}`);
});

test('client sizes: ⌊lognormal(4, 2)⌋ + 50, 90/10 train/test per client, seeded', () => {
  const a = synthetic({ alpha: 0.5, beta: 0.5, seed: 3 });
  const b = synthetic({ alpha: 0.5, beta: 0.5, seed: 3 });
  const c = synthetic({ alpha: 0.5, beta: 0.5, seed: 4 });
  assert.equal(a.partitions.length, 30);
  const sizes = a.partitions.map((p, k) => p.length + a.testPartitions[k].length);
  assert.ok(sizes.every((n) => n >= 50));
  const logs = sizes.map((n) => Math.log(Math.max(1, n - 50)));
  const mean = logs.reduce((x, y) => x + y, 0) / logs.length;
  assert.ok(mean > 2 && mean < 6, `mean log size ${mean}`);
  a.partitions.forEach((p, k) => assert.equal(a.testPartitions[k].length, Math.round((p.length + a.testPartitions[k].length) * 0.1)));
  assert.deepEqual(a.train.x, b.train.x);
  assert.deepEqual(a.train.y, b.train.y);
  assert.notDeepEqual(a.train.y, c.train.y);
});

/** Standard deviation across clients of their mean feature value. */
function featureMeanSpread(s: ReturnType<typeof synthetic>): number {
  const means = s.partitions.map((p) => {
    let t = 0;
    for (const i of p) for (let j = 0; j < 60; j++) t += s.train.x[i * 60 + j];
    return t / (p.length * 60);
  });
  const m = means.reduce((a, b) => a + b, 0) / means.length;
  return Math.sqrt(means.reduce((a, b) => a + (b - m) ** 2, 0) / means.length);
}

test('β moves the clients’ feature distributions apart; the IID variant shares one model', () => {
  const opts = { numClients: 20, samplesPerClient: 100, seed: 5 };
  const s0 = featureMeanSpread(synthetic({ alpha: 0, beta: 0, ...opts }));
  const s1 = featureMeanSpread(synthetic({ alpha: 0, beta: 1, ...opts }));
  const s4 = featureMeanSpread(synthetic({ alpha: 0, beta: 4, ...opts }));
  assert.ok(s0 < s1 && s1 < s4, `spread ${s0} < ${s1} < ${s4}`);
  assert.ok(s4 > 2, `β = 4 spreads client means by ~4, got ${s4}`);
  const iid = synthetic({ alpha: 3, beta: 3, iid: true, ...opts });
  assert.ok(iid.models.every((m) => m.w === iid.models[0].w));
  assert.ok(featureMeanSpread(iid) < 0.1);
});

test('spec parsing and option errors', () => {
  assert.deepEqual(parseSyntheticSpec('1,1'), { alpha: 1, beta: 1 });
  assert.deepEqual(parseSyntheticSpec('0.5, 0'), { alpha: 0.5, beta: 0 });
  assert.deepEqual(parseSyntheticSpec('iid'), { alpha: 0, beta: 0, iid: true });
  assert.throws(() => parseSyntheticSpec('1'), (e) => isFederaError(e, 'invalid_config') && /"α,β"/.test((e as Error).message));
  assert.throws(() => synthetic({ alpha: -1, beta: 0 }), (e) => isFederaError(e, 'invalid_config') && /alpha must be a finite number ≥ 0, got -1/.test((e as Error).message));
});
