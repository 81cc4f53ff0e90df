// Sample-level DP-SGD in the TF.js trainer: per-example clipping, noise per batch, no leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/models/backend.js';
import { TfjsTrainer } from '../../src/models/tfjs-trainer.js';
import { logisticRegression } from '../../src/models/zoo.js';
import { DpSgdTrainer, dpSgdEpsilon } from '../../src/models/dp-sgd.js';
import { computeEpsilon } from '../../src/privacy/accountant/calibrate.js';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';
import type { Dataset } from '../../src/data/dataset.js';

await initBackend();

function trainer(f: number, k: number): TfjsTrainer {
  const t = new TfjsTrainer(logisticRegression(f, k).model);
  t.setParameters(new Float32Array(t.layout.size)); // zero weights: a known start
  return t;
}

/** n copies of one example (so every per-example gradient is the same vector). */
function copies(n: number, f: number, scale: number): Dataset {
  const rng = new Rng('dp-sgd-example');
  const row = Float32Array.from({ length: f }, () => rng.normal() * scale);
  const x = new Float32Array(n * f);
  for (let i = 0; i < n; i++) x.set(row, i * f);
  return { x, y: new Int32Array(n).fill(1), numFeatures: f, numClasses: 3 };
}

function norm(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s);
}

function diff(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v - b[i]);
}

test('per-example clipping: one step moves the weights by lr·C when every example gradient exceeds C', async () => {
  const t = trainer(50, 3);
  const data = copies(8, 50, 30); // large inputs → gradient norms ≫ C
  const w0 = t.getParameters();
  await t.fit(data, { epochs: 1, batchSize: 8, learningRate: 1, seed: 1 });
  const plainStep = norm(diff(t.getParameters(), w0));
  t.setParameters(w0);
  await t.fit(data, { epochs: 1, batchSize: 8, learningRate: 1, seed: 1, dpSgd: { l2NormClip: 0.05, noiseMultiplier: 0 } });
  const dpStep = norm(diff(t.getParameters(), w0));
  assert.ok(plainStep > 10, `plain step ${plainStep} should be large`);
  // Identical examples: the mean of the clipped gradients has norm exactly C.
  assert.ok(Math.abs(dpStep - 0.05) < 1e-4, `DP step ${dpStep}`);
  t.dispose();
});

test('clipping is per example, not per batch: a batch step is the mean of the separately clipped gradients', async () => {
  // One example with a huge gradient (A) and 11 copies of one with a small gradient (B, below C).
  const f = 40, C = 2; // at zero weights the bias gradient alone has norm ≈ 0.82 (< C)
  const big = copies(1, f, 50);
  const small = copies(11, f, 0.01);
  const both: Dataset = { x: new Float32Array([...big.x, ...small.x]), y: new Int32Array([2, ...small.y]), numFeatures: f, numClasses: 3 };
  big.y[0] = 2;
  const t = trainer(f, 3);
  const w0 = t.getParameters();
  const step = async (data: Dataset, batchSize: number, dp: boolean) => {
    t.setParameters(w0);
    await t.fit(data, { epochs: 1, batchSize, learningRate: 1, seed: 4, ...(dp ? { dpSgd: { l2NormClip: C, noiseMultiplier: 0 } } : {}) });
    return diff(t.getParameters(), w0);
  };
  const clippedA = await step(big, 1, true); // −C·g_A/‖g_A‖
  const plainB = await step(small, 11, false); // −g_B (all 11 identical)
  assert.ok(Math.abs(norm(clippedA) - C) < 1e-5 && norm(plainB) < C, `‖A‖ ${norm(clippedA)}, ‖B‖ ${norm(plainB)}`);
  const mixed = await step(both, 12, true);
  // Per-example: (clip(g_A) + 11·g_B)/12. Clipping the batch mean instead would give ≈ clip(g_A).
  for (let i = 0; i < mixed.length; i++) {
    const expected = (clippedA[i] + 11 * plainB[i]) / 12;
    assert.ok(Math.abs(mixed[i] - expected) < 1e-6, `weight ${i}: ${mixed[i]} vs ${expected}`);
  }
  assert.ok(norm(mixed) <= C + 1e-6);
  t.dispose();
});

test('noise per batch: weight changes have standard deviation lr·σC/B (d = 4,010)', async () => {
  const t = trainer(400, 10);
  const data = copies(4, 400, 1);
  const w0 = t.getParameters();
  const sigma = 50, C = 0.02, B = 4;
  await t.fit({ ...data, numClasses: 10 }, { epochs: 1, batchSize: B, learningRate: 1, seed: 3, dpSgd: { l2NormClip: C, noiseMultiplier: sigma, noise: 'seeded' } });
  const d = diff(t.getParameters(), w0);
  const std = norm(d) / Math.sqrt(d.length);
  // Relative standard error of an empirical std over n values: 1/√(2n) = 1.1 %; allow 5 of them.
  // The clipped signal adds at most C/B = 0.005 in norm, negligible next to ‖noise‖ ≈ 16.
  assert.ok(Math.abs(std / ((sigma * C) / B) - 1) < 5 / Math.sqrt(2 * d.length), `std ${std} vs ${(sigma * C) / B}`);
  t.dispose();
});

test('seeded DP-SGD is reproducible; DpSgdTrainer applies the options to every fit; no tensors leak', async () => {
  const rng = new Rng('blobs');
  const n = 60, f = 10;
  const x = Float32Array.from({ length: n * f }, () => rng.normal());
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  for (let i = 0; i < n; i++) x[i * f + y[i]] += 3;
  const data: Dataset = { x, y, numFeatures: f, numClasses: 3 };
  const dp = { l2NormClip: 1, noiseMultiplier: 0.5, noise: 'seeded' as const };
  const a = trainer(f, 3);
  const b = new DpSgdTrainer(trainer(f, 3), dp);
  const before = tf.memory().numTensors;
  const ra = await a.fit(data, { epochs: 5, batchSize: 6, learningRate: 0.5, seed: 7, dpSgd: dp });
  await b.fit(data, { epochs: 5, batchSize: 6, learningRate: 0.5, seed: 7 });
  assert.equal(tf.memory().numTensors, before, 'DP-SGD leaked tensors');
  assert.deepEqual(a.getParameters(), b.getParameters());
  assert.ok(ra.metrics.accuracy > 0.8, `accuracy ${ra.metrics.accuracy}`);
  const c = trainer(f, 3);
  await c.fit(data, { epochs: 5, batchSize: 6, learningRate: 0.5, seed: 8, dpSgd: dp });
  assert.notDeepEqual(a.getParameters(), c.getParameters());
  for (const t of [a, b, c]) t.dispose();
});

test('bad DP-SGD options are refused naming the field; sample-level ε from q = B/n and the steps taken', async () => {
  const t = trainer(4, 3);
  const data = copies(4, 4, 1);
  for (const [dp, field] of [
    [{ l2NormClip: 0, noiseMultiplier: 1 }, 'dpSgd.l2NormClip'],
    [{ l2NormClip: 1, noiseMultiplier: -1 }, 'dpSgd.noiseMultiplier'],
    [{ l2NormClip: 1, noiseMultiplier: 1, noise: 'pseudo' }, 'dpSgd.noise'],
  ] as const) {
    await assert.rejects(t.fit(data, { epochs: 1, batchSize: 2, learningRate: 0.1, dpSgd: dp as never }), (e: unknown) => isFederaError(e, 'invalid_argument') && e.details?.field === field);
  }
  t.dispose();
  const eps = dpSgdEpsilon({ datasetSize: 600, batchSize: 32, epochs: 2, noiseMultiplier: 1.1, rounds: 5, delta: 1e-5 });
  assert.equal(eps, computeEpsilon({ q: 32 / 600, sigma: 1.1, steps: 19 * 2 * 5, delta: 1e-5 }));
});

test('vectorised per-example gradients (dense stacks) give the same step as microbatches of one', async () => {
  const { mlp2nn } = await import('../../src/models/zoo.js');
  const rng = new Rng('vectorised');
  const f = 30, n = 20;
  const data: Dataset = { x: Float32Array.from({ length: n * f }, () => rng.normal() * 3), y: Int32Array.from({ length: n }, (_, i) => i % 4), numFeatures: f, numClasses: 4 };
  for (const make of [() => mlp2nn(f, 16, 4).model, () => logisticRegression(f, 4).model]) {
    const t = new TfjsTrainer(make());
    const init = new Rng('init');
    const w0 = Float32Array.from({ length: t.layout.size }, () => init.normal() * 0.3);
    const after = async (perExampleGradients: 'auto' | 'microbatch') => {
      t.setParameters(w0);
      const r = await t.fit(data, { epochs: 2, batchSize: 5, learningRate: 0.5, seed: 9, dpSgd: { l2NormClip: 0.5, noiseMultiplier: 0.3, noise: 'seeded', perExampleGradients } });
      return { w: t.getParameters(), loss: r.metrics.loss };
    };
    const v = await after('auto');
    const m = await after('microbatch');
    let worst = 0;
    for (let i = 0; i < v.w.length; i++) worst = Math.max(worst, Math.abs(v.w[i] - m.w[i]));
    assert.ok(worst < 1e-5, `max weight difference ${worst}`);
    assert.ok(Math.abs(v.loss - m.loss) < 1e-5 * Math.max(1, m.loss));
    assert.ok(norm(diff(v.w, w0)) > 0.01, 'training moved the weights');
    t.dispose();
  }
});
