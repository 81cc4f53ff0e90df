// The noise-swamps-signal warning: its noise norm against drawn Gaussian noise, and its verdict on
// the two settings measured in docs/privacy.md (README's old example wrecked the model; the bench's kept it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assessDpNoise, distributedDpWarning, DEFAULT_MAX_NOISE_TO_SIGNAL } from '../../src/privacy/utility.js';
import { calibrateNoiseMultiplier } from '../../src/privacy/accountant/calibrate.js';
import { SeededGaussian } from '../../src/privacy/noise.js';
import { Rng } from '../../src/core/rng.js';
import { throwsCode } from '../helpers/assertions.js';

const LOGREG = 784 * 10 + 10; // 7,850
const MLP_2NN = 784 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10; // 199,210 (two hidden layers of 200)

test('noise norm z·C·√d/m matches the norm of Gaussian noise actually drawn at std z·C/m', () => {
  const plan = { noiseMultiplier: 1.3, clipNorm: 0.7, clientsPerRound: 25, dimension: 20_000 };
  const a = assessDpNoise(plan);
  assert.ok(Math.abs(a.noiseStdPerCoordinate - (1.3 * 0.7) / 25) < 1e-15);
  const x = new Float64Array(plan.dimension);
  new SeededGaussian(new Rng(7).stream('t')).addTo(x, a.noiseStdPerCoordinate);
  let ss = 0;
  for (const v of x) ss += v * v;
  const drawn = Math.sqrt(ss);
  assert.ok(Math.abs(drawn / a.noiseNorm - 1) < 0.02, `drawn ${drawn} vs planned ${a.noiseNorm}`);
});

test("README's old DP example (100 clients, 10 per round, 2NN, C = 0.5, ε = 8 over 30 rounds) is flagged", () => {
  const z = calibrateNoiseMultiplier({ q: 0.1, steps: 30, delta: 1e-5, epsilon: 8 });
  const a = assessDpNoise({ noiseMultiplier: z, clipNorm: 0.5, clientsPerRound: 10, dimension: MLP_2NN });
  assert.equal(a.swamped, true);
  assert.ok(a.ratio > 25 && a.ratio < 40, `ratio ${a.ratio}`);
  assert.match(a.warning ?? '', /z·C\/m = 0\.78\d*·0\.5\/10/);
  assert.match(a.warning ?? '', /more clients per round \(about \d+/);
  // The suggested m really brings the ratio under the threshold.
  const m = Number(/about (\d+)/.exec(a.warning!)![1]);
  assert.equal(assessDpNoise({ noiseMultiplier: z, clipNorm: 0.5, clientsPerRound: m, dimension: MLP_2NN }).swamped, false);
  assert.equal(assessDpNoise({ noiseMultiplier: z, clipNorm: 0.5, clientsPerRound: m - 1, dimension: MLP_2NN }).swamped, true);
});

test("the privacy bench's settings (1,000 clients, 100 per round, logreg, 100 rounds) are not flagged at ε = 1, 3, 8", () => {
  for (const epsilon of [1, 3, 8]) {
    const z = calibrateNoiseMultiplier({ q: 0.1, steps: 100, delta: 1e-5, epsilon });
    const a = assessDpNoise({ noiseMultiplier: z, clipNorm: 0.5, clientsPerRound: 100, dimension: LOGREG });
    assert.equal(a.swamped, false, `ε = ${epsilon}: ratio ${a.ratio}`);
    assert.equal(a.warning, undefined);
  }
});

test('a small typical update norm is the signal (clipping cannot lengthen an update); a larger one is capped at C', () => {
  const base = { noiseMultiplier: 1, clipNorm: 1, clientsPerRound: 100, dimension: 10_000 };
  assert.equal(assessDpNoise(base).signalNorm, 1);
  assert.equal(assessDpNoise({ ...base, typicalUpdateNorm: 5 }).signalNorm, 1);
  const small = assessDpNoise({ ...base, typicalUpdateNorm: 0.05 });
  assert.equal(small.signalNorm, 0.05);
  assert.ok(Math.abs(small.ratio - 20) < 1e-9);
  assert.equal(small.swamped, 20 > DEFAULT_MAX_NOISE_TO_SIGNAL);
  assert.equal(assessDpNoise({ ...base, typicalUpdateNorm: 0.05 }, 25).swamped, false);
  assert.equal(assessDpNoise({ ...base, noiseMultiplier: 0 }).swamped, false);
});

test('bad plans are refused naming the field', () => {
  const base = { noiseMultiplier: 1, clipNorm: 1, clientsPerRound: 10, dimension: 100 };
  throwsCode(() => assessDpNoise({ ...base, clipNorm: 0 }), 'invalid_argument', 'clipNorm');
  throwsCode(() => assessDpNoise({ ...base, clientsPerRound: Number.NaN }), 'invalid_argument', 'clientsPerRound');
  throwsCode(() => assessDpNoise({ ...base, noiseMultiplier: -1 }), 'invalid_argument', 'noiseMultiplier');
  throwsCode(() => assessDpNoise({ ...base, typicalUpdateNorm: -2 }), 'invalid_argument', 'typicalUpdateNorm');
});

test('distributed noise without secure aggregation is warned about; with it, or in other modes, not', () => {
  assert.match(distributedDpWarning('distributed', false) ?? '', /does not hold against/);
  assert.equal(distributedDpWarning('distributed', true), undefined);
  assert.equal(distributedDpWarning('central', false), undefined);
  assert.equal(distributedDpWarning('local', false), undefined);
});
