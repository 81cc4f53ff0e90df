// L2 clipping and Gaussian noise: bounds and statistics at fixed seeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { l2Norm } from '../../src/core/kernels.js';
import { clipByL2Norm } from '../../src/privacy/clipping.js';
import { SecureGaussian, SeededGaussian, addGaussianNoise } from '../../src/privacy/noise.js';
import { throwsCode } from '../helpers/assertions.js';

function moments(x: ArrayLike<number>): { mean: number; std: number; kurtosis: number } {
  let m = 0;
  for (let i = 0; i < x.length; i++) m += x[i];
  m /= x.length;
  let m2 = 0, m4 = 0;
  for (let i = 0; i < x.length; i++) {
    const d = (x[i] - m) ** 2;
    m2 += d;
    m4 += d * d;
  }
  m2 /= x.length;
  m4 /= x.length;
  return { mean: m, std: Math.sqrt(m2), kurtosis: m4 / (m2 * m2) };
}

/**
 * Checks that `x` looks like n draws of N(0, std²): the sample standard deviation has standard
 * error std/√(2n), the mean std/√n, the kurtosis √(24/n); each is allowed 5 standard errors.
 */
function assertGaussian(x: ArrayLike<number>, std: number, what: string): void {
  const n = x.length;
  const s = moments(x);
  assert.ok(Math.abs(s.std / std - 1) <= 5 / Math.sqrt(2 * n), `${what}: std ${s.std} vs ${std}`);
  assert.ok(Math.abs(s.mean) <= (5 * std) / Math.sqrt(n), `${what}: mean ${s.mean}`);
  assert.ok(Math.abs(s.kurtosis - 3) <= 5 * Math.sqrt(24 / n), `${what}: kurtosis ${s.kurtosis}`);
}

test('clipping bounds every vector\'s norm by C, keeps its direction, and leaves short vectors alone', () => {
  const rng = new Rng('clip-test');
  for (let trial = 0; trial < 300; trial++) {
    const d = 1 + rng.int(3000);
    const scale = 10 ** (rng.next() * 8 - 4);
    const x = Float32Array.from({ length: d }, () => rng.normal() * scale);
    const before = x.slice();
    const C = [0.01, 1, 7.5][trial % 3];
    const { norm, clipped } = clipByL2Norm(x, C);
    assert.ok(Math.abs(norm - l2Norm(before)) <= 1e-12 * norm);
    const after = l2Norm(x);
    assert.ok(after <= C, `trial ${trial}: norm ${after} > C ${C}`);
    if (!clipped) {
      assert.ok(norm <= C);
      assert.deepEqual(x, before);
    } else {
      assert.ok(after >= C * (1 - 1e-5), `clipped norm ${after} should be ≈ C ${C}`);
      let dot = 0;
      for (let i = 0; i < d; i++) dot += x[i] * before[i];
      assert.ok(dot / (after * norm) > 1 - 1e-6, 'direction changed');
    }
  }
  throwsCode(() => clipByL2Norm(new Float32Array([1, Number.NaN]), 1), 'non_finite');
  throwsCode(() => clipByL2Norm(new Float32Array([1]), 0), 'invalid_config', 'clip norm');
});

test('seeded noise: empirical standard deviation matches σ·C (n = 200,000)', () => {
  const sigma = 1.3, C = 0.7;
  const x = new Float64Array(200_000);
  addGaussianNoise(x, sigma * C, new SeededGaussian(new Rng('noise-test')));
  assertGaussian(x, sigma * C, 'seeded');
  // Same seed, same noise; the noise is added, not assigned.
  const y = new Float64Array(200_000).fill(1);
  addGaussianNoise(y, sigma * C, new SeededGaussian(new Rng('noise-test')));
  assert.ok(y.every((v, i) => v === 1 + x[i] || Math.abs(v - 1 - x[i]) < 1e-12));
});

test('CSPRNG noise (crypto.getRandomValues + Box–Muller): standard normal statistics', () => {
  const g = new SecureGaussian();
  const x = new Float64Array(200_000);
  addGaussianNoise(x, 2.5, g);
  assertGaussian(x, 2.5, 'secure');
  // Tails are populated as a Gaussian's: P(|Z| > 3) = 0.0027 (binomial standard error 1.2e-4).
  let beyond = 0;
  for (const v of x) if (Math.abs(v) > 3 * 2.5) beyond++;
  assert.ok(Math.abs(beyond / x.length - 0.0026998) < 5 * 1.16e-4, `tail fraction ${beyond / x.length}`);
  // Single draws (used for the adaptive-clipping count noise) follow the same law.
  assertGaussian(Float64Array.from({ length: 100_000 }, () => g.normal()), 1, 'secure normal()');
  const seeded = new SeededGaussian(new Rng('single'));
  assertGaussian(Float64Array.from({ length: 100_000 }, () => seeded.normal()), 1, 'seeded normal()');
});

test('distributed noise: m clients adding N(0, σ²C²/m) each sum to the central N(0, σ²C²)', () => {
  const sigma = 1.1, C = 2, m = 16, d = 100_000;
  const sum = new Float64Array(d);
  for (let c = 0; c < m; c++) {
    const share = new Float32Array(d);
    addGaussianNoise(share, (sigma * C) / Math.sqrt(m), new SeededGaussian(new Rng('distributed').stream(c)));
    for (let i = 0; i < d; i++) sum[i] += share[i];
  }
  assertGaussian(sum, sigma * C, 'distributed sum');
  const central = new Float64Array(d);
  addGaussianNoise(central, sigma * C, new SeededGaussian(new Rng('central')));
  assertGaussian(central, sigma * C, 'central');
  // Both estimate the same σ·C: their ratio is within 5 standard errors of the difference.
  const ratio = moments(sum).std / moments(central).std;
  assert.ok(Math.abs(ratio - 1) <= 5 * Math.sqrt(2 / (2 * d)), `ratio ${ratio}`);
});
