// Tests for the server optimizers: FedAdam, FedYogi, FedAdagrad (src/strategy/fedopt.ts and
// subclasses) and FedAvgM (src/strategy/fedavgm.ts), over two rounds, against values worked out by
// hand from the formulas in the file headers:
//
//   Δ = example-weighted mean client update
//   m ← β1·m + (1 − β1)·Δ,   m₋₁ = 0
//   v ← FedAdam:    β2·v + (1 − β2)·Δ²
//       FedYogi:    v − (1 − β2)·Δ²·sign(v − Δ²)
//       FedAdagrad: v + Δ²                                  v₋₁ = τ²
//   x ← x + η·m/(√v + τ)        (FedAdam with biasCorrection: η·√(1−β2ᵗ)/(1−β1ᵗ))
//   FedAvgM: m ← β·m + Δ; x ← x + η·m
//
// Hyperparameters τ = 0.5 (so v₋₁ = 0.25), β1 = 0.5, β2 = 0.75, η = 1: every m, v and Δ below
// is a dyadic fraction, exact in float32, so the only rounding is in x (√ and ÷).
//
// Float32 tolerance: parameters come back as float32 (24-bit significand, relative rounding
// ≤ 2^-24 ≈ 6e-8 per rounding, and x₁ is rounded once more before round 2), so results are
// compared with the float64 hand value within 1e-6·max(1, |expected|) — 16× the float32 unit
// roundoff, yet 1000× smaller than what any slip in the formula (wrong β, missing τ, sign of a
// Yogi term, missed bias correction) changes here. Values that are exact are compared exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FedAdam } from '../../src/strategy/fedadam.js';
import { FedYogi } from '../../src/strategy/fedyogi.js';
import { FedAdagrad } from '../../src/strategy/fedadagrad.js';
import { FedAvgM } from '../../src/strategy/fedavgm.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import type { AggregatedTrain, Strategy, StrategyState, TrainResult } from '../../src/strategy/strategy.js';
import { ParamLayout, makeParams } from '../../src/core/params.js';
import { throwsCode } from '../helpers/assertions.js';


const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

function client(clientId: string, update: number[], numExamples: number, loss = 1): TrainResult {
  return { clientId, update: Float32Array.from(update), numExamples, metrics: { loss } };
}

/** One round: aggregate `results` against global `x`. */
function round(s: Strategy, r: number, x: ArrayLike<number>, results: TrainResult[]): AggregatedTrain {
  const layout = ParamLayout.fromShapes([{ name: 'w', shape: [x.length] }]);
  const global = makeParams(layout, Float32Array.from(x));
  const before = global.data.slice();
  const agg = s.aggregateTrain(r, global);
  for (const res of results) agg.add(res);
  const out = agg.finish();
  assert.deepEqual(global.data, before, 'the global model passed in is not modified');
  return out;
}

/** Float32 result vs float64 hand value, within 1e-6 relative (see the header). */
function assertF32(actual: Float32Array, expected: number[], label: string): void {
  assert.ok(actual instanceof Float32Array, `${label}: not a Float32Array`);
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tol = 1e-6 * Math.max(1, Math.abs(expected[i]));
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${label}[${i}]: got ${actual[i]}, expected ${expected[i]} (±${tol})`);
  }
}

const HYPER = { tau: 0.5, beta1: 0.5, beta2: 0.75, serverLearningRate: 1 } as const;

// ---- FedAdam ---------------------------------------------------------------------------------

// x₀ = [1, 2, 3]
// Round 1: clients u = [2, 1, 1] (n = 1) and u = [0, −1, 1] (n = 3)
//   Δ₁ = ([2, 1, 1] + 3·[0, −1, 1]) / 4 = [2, −2, 4]/4 = [0.5, −0.5, 1]
//   m₁ = 0.5·0 + 0.5·Δ₁ = [0.25, −0.25, 0.5]
//   v₁ = 0.75·0.25 + 0.25·Δ₁² = 0.1875 + 0.25·[0.25, 0.25, 1] = [0.25, 0.25, 0.4375]
//   x₁ = x₀ + m₁/(√v₁ + 0.5) = [1 + 0.25/1, 2 − 0.25/1, 3 + 0.5/(√0.4375 + 0.5)]
//      = [1.25, 1.75, 3.4305008…]
// Round 2: one client u = [0.5, 0.5, −1] (n = 5) → Δ₂ = [0.5, 0.5, −1]
//   m₂ = 0.5·m₁ + 0.5·Δ₂ = [0.125 + 0.25, −0.125 + 0.25, 0.25 − 0.5] = [0.375, 0.125, −0.25]
//   v₂ = 0.75·v₁ + 0.25·Δ₂² = [0.1875 + 0.0625, 0.1875 + 0.0625, 0.328125 + 0.25]
//      = [0.25, 0.25, 0.578125]
//   x₂ = x₁ + m₂/(√v₂ + 0.5) = [1.25 + 0.375, 1.75 + 0.125, x₁[2] − 0.25/(√0.578125 + 0.5)]
//      = [1.625, 1.875, 3.4305008… − 0.1995…]
const ADAM_X0 = [1, 2, 3];
const ADAM_R1 = [client('a', [2, 1, 1], 1, 1), client('b', [0, -1, 1], 3, 3)];
const ADAM_R2 = [client('c', [0.5, 0.5, -1], 5, 2)];
const ADAM_X1 = [1.25, 1.75, 3 + 0.5 / (Math.sqrt(0.4375) + 0.5)];
const ADAM_X2 = [1.625, 1.875, ADAM_X1[2] - 0.25 / (Math.sqrt(0.578125) + 0.5)];

test('FedAdam: two rounds by hand (τ = 0.5, β1 = 0.5, β2 = 0.75, η = 1)', () => {
  const s = new FedAdam(HYPER);
  assert.equal(s.name, 'fedadam');
  const r1 = round(s, 1, ADAM_X0, ADAM_R1);
  assertF32(r1.params, ADAM_X1, 'x₁');
  assert.equal(r1.params[0], 1.25);
  assert.equal(r1.params[1], 1.75);
  assert.deepEqual(r1.metrics, { loss: 2.5 }); // (1·1 + 3·3)/4
  assert.deepEqual(s.getState(), { steps: 1, m: Float32Array.from([0.25, -0.25, 0.5]), v: Float32Array.from([0.25, 0.25, 0.4375]) });
  const r2 = round(s, 2, r1.params, ADAM_R2);
  assertF32(r2.params, ADAM_X2, 'x₂');
  assert.equal(r2.params[0], 1.625);
  assert.equal(r2.params[1], 1.875);
  assert.deepEqual(s.getState(), { steps: 2, m: Float32Array.from([0.375, 0.125, -0.25]), v: Float32Array.from([0.25, 0.25, 0.578125]) });
});

test('FedAdam with biasCorrection: η·√(1 − β2ᵗ)/(1 − β1ᵗ)', () => {
  // t = 1: √(1 − 0.75)/(1 − 0.5) = 0.5/0.5 = 1            → x₁ exactly as without correction
  // t = 2: √(1 − 0.5625)/(1 − 0.25) = √0.4375/0.75 ≈ 0.8819
  //   x₂ = x₁ + c₂·m₂/(√v₂ + 0.5) = [1.25 + 0.375·c₂, 1.75 + 0.125·c₂, x₁[2] − 0.25·c₂/(√0.578125 + 0.5)]
  const c2 = Math.sqrt(0.4375) / 0.75;
  const s = new FedAdam({ ...HYPER, biasCorrection: true });
  assert.equal(s.biasCorrection, true);
  const r1 = round(s, 1, ADAM_X0, ADAM_R1);
  const plain = round(new FedAdam(HYPER), 1, ADAM_X0, ADAM_R1);
  assert.equal(bits(r1.params), bits(plain.params));
  const r2 = round(s, 2, r1.params, ADAM_R2);
  assertF32(r2.params, [1.25 + 0.375 * c2, 1.75 + 0.125 * c2, ADAM_X1[2] - (0.25 * c2) / (Math.sqrt(0.578125) + 0.5)], 'x₂ (bias-corrected)');
  // It really differs from the uncorrected step (by 0.375·(1 − c₂) ≈ 0.044 in the first entry).
  assert.ok(Math.abs(r2.params[0] - 1.625) > 0.04);
});

// ---- FedYogi ---------------------------------------------------------------------------------

// x₀ = [0, 0, 0, 0], v₀ = τ² = 0.25
// Round 1: Δ₁ = [0.25, 1, 0.5, 0] (one client, n = 2);  Δ₁² = [0.0625, 1, 0.25, 0]
//   m₁ = 0.5·Δ₁ = [0.125, 0.5, 0.25, 0]
//   v₁[0]: v = 0.25 > Δ² = 0.0625 → sign +1 → 0.25 − 0.25·0.0625 = 0.234375
//   v₁[1]: v = 0.25 < Δ² = 1      → sign −1 → 0.25 + 0.25·1      = 0.5
//   v₁[2]: v = 0.25 = Δ² = 0.25   → sign 0  → 0.25
//   v₁[3]: Δ² = 0                 →            0.25 − 0           = 0.25
//   (FedAdam would give v₁[1] = 0.1875 + 0.25 = 0.4375 and v₁[0] = 0.1875 + 0.015625 = 0.203125.)
//   x₁ = [0.125/(√0.234375 + 0.5), 0.5/(√0.5 + 0.5), 0.25/(0.5 + 0.5), 0] = [0.1284…, 0.4142…, 0.25, 0]
// Round 2: Δ₂ = [0.25, 0.5, −0.5, 1];  Δ₂² = [0.0625, 0.25, 0.25, 1]
//   m₂ = 0.5·m₁ + 0.5·Δ₂ = [0.0625 + 0.125, 0.25 + 0.25, 0.125 − 0.25, 0 + 0.5] = [0.1875, 0.5, −0.125, 0.5]
//   v₂[0]: 0.234375 > 0.0625 → 0.234375 − 0.015625 = 0.21875
//   v₂[1]: 0.5 > 0.25        → 0.5 − 0.0625        = 0.4375   (v went up in round 1, down now)
//   v₂[2]: 0.25 = 0.25       → 0.25
//   v₂[3]: 0.25 < 1          → 0.25 + 0.25         = 0.5
//   x₂ = x₁ + [0.1875/(√0.21875 + 0.5), 0.5/(√0.4375 + 0.5), −0.125/(0.5 + 0.5), 0.5/(√0.5 + 0.5)]
//   x₂[2] = 0.25 − 0.125 = 0.125 (exact)
test('FedYogi: two rounds by hand, with v > Δ², v < Δ² and v = Δ²', () => {
  const s = new FedYogi(HYPER);
  assert.equal(s.name, 'fedyogi');
  const x1 = [0.125 / (Math.sqrt(0.234375) + 0.5), 0.5 / (Math.sqrt(0.5) + 0.5), 0.25, 0];
  const r1 = round(s, 1, [0, 0, 0, 0], [client('a', [0.25, 1, 0.5, 0], 2)]);
  assertF32(r1.params, x1, 'x₁');
  assert.equal(r1.params[2], 0.25);
  assert.equal(r1.params[3], 0);
  assert.deepEqual(s.getState(), { steps: 1, m: Float32Array.from([0.125, 0.5, 0.25, 0]), v: Float32Array.from([0.234375, 0.5, 0.25, 0.25]) });
  const r2 = round(s, 2, r1.params, [client('a', [0.25, 0.5, -0.5, 1], 2)]);
  const x2 = [
    x1[0] + 0.1875 / (Math.sqrt(0.21875) + 0.5),
    x1[1] + 0.5 / (Math.sqrt(0.4375) + 0.5),
    0.125,
    0.5 / (Math.sqrt(0.5) + 0.5),
  ];
  assertF32(r2.params, x2, 'x₂');
  assert.equal(r2.params[2], 0.125);
  assert.deepEqual(s.getState(), { steps: 2, m: Float32Array.from([0.1875, 0.5, -0.125, 0.5]), v: Float32Array.from([0.21875, 0.4375, 0.25, 0.5]) });
});

// ---- FedAdagrad ------------------------------------------------------------------------------

// x₀ = [1, 1, 1], v₀ = 0.25 (β2 plays no part)
// Round 1: Δ₁ = [0.5, −1, 0]
//   m₁ = [0.25, −0.5, 0];  v₁ = 0.25 + Δ₁² = [0.5, 1.25, 0.25]
//   x₁ = [1 + 0.25/(√0.5 + 0.5), 1 − 0.5/(√1.25 + 0.5), 1]
// Round 2: Δ₂ = [0.5, 1, 2]
//   m₂ = 0.5·m₁ + 0.5·Δ₂ = [0.125 + 0.25, −0.25 + 0.5, 0 + 1] = [0.375, 0.25, 1]
//   v₂ = v₁ + Δ₂² = [0.5 + 0.25, 1.25 + 1, 0.25 + 4] = [0.75, 2.25, 4.25]
//   x₂ = x₁ + [0.375/(√0.75 + 0.5), 0.25/(1.5 + 0.5) = 0.125, 1/(√4.25 + 0.5)]
test('FedAdagrad: two rounds by hand', () => {
  for (const beta2 of [0.75, 0.1]) {
    const s = new FedAdagrad({ ...HYPER, beta2 });
    assert.equal(s.name, 'fedadagrad');
    const x1 = [1 + 0.25 / (Math.sqrt(0.5) + 0.5), 1 - 0.5 / (Math.sqrt(1.25) + 0.5), 1];
    // Δ₁ from two clients: ([1, −2, 0]·1 + [0, 0, 0]·1)/2 = [0.5, −1, 0]
    const r1 = round(s, 1, [1, 1, 1], [client('a', [1, -2, 0], 1), client('b', [0, 0, 0], 1)]);
    assertF32(r1.params, x1, 'x₁');
    assert.equal(r1.params[2], 1);
    const r2 = round(s, 2, r1.params, [client('a', [0.5, 1, 2], 4)]);
    assertF32(r2.params, [x1[0] + 0.375 / (Math.sqrt(0.75) + 0.5), x1[1] + 0.125, 1 + 1 / (Math.sqrt(4.25) + 0.5)], 'x₂');
    assert.deepEqual(s.getState(), { steps: 2, m: Float32Array.from([0.375, 0.25, 1]), v: Float32Array.from([0.75, 2.25, 4.25]) });
  }
});

// ---- FedAvgM ---------------------------------------------------------------------------------

// β = 0.5, η = 0.5, x₀ = [1, −1]
// Round 1: Δ₁ = [1, −2]:  m₁ = 0.5·0 + Δ₁ = [1, −2];  x₁ = x₀ + 0.5·m₁ = [1 + 0.5, −1 − 1] = [1.5, −2]
// Round 2: Δ₂ = [0.5, 1]: m₂ = 0.5·[1, −2] + [0.5, 1] = [1, 0];  x₂ = [1.5 + 0.5, −2 + 0] = [2, −2]
test('FedAvgM: two rounds by hand (β = 0.5, η = 0.5)', () => {
  const s = new FedAvgM({ momentum: 0.5, serverLearningRate: 0.5 });
  assert.equal(s.name, 'fedavgm');
  assert.deepEqual(s.getState(), {});
  // Δ₁ = ([3, −6]·1 + [0, 0]·2)/3 = [1, −2]
  const r1 = round(s, 1, [1, -1], [client('a', [3, -6], 1, 4), client('b', [0, 0], 2, 1)]);
  assert.deepEqual(r1.params, Float32Array.from([1.5, -2]));
  assert.deepEqual(r1.metrics, { loss: 2 }); // (4 + 2)/3
  assert.deepEqual(s.getState(), { m: Float32Array.from([1, -2]) });
  const r2 = round(s, 2, r1.params, [client('a', [0.5, 1], 10)]);
  assert.deepEqual(r2.params, Float32Array.from([2, -2]));
  assert.deepEqual(s.getState(), { m: Float32Array.from([1, 0]) });
});

test('FedAvgM with β = 0 and η = 1 is FedAvg (up to one float32 rounding)', () => {
  // FedAvg rounds x + Σwu/Σw to float32 once; FedAvgM first rounds Δ = Σwu/Σw to float32, then
  // x + Δ: a double rounding, so results may differ by one float32 ulp (≤ 2^-23·|x|), no more.
  const updates = [client('a', [0.3, -1.7], 13), client('b', [2.2, 0.1], 29), client('c', [-0.9, 0.4], 7)];
  let xm: ArrayLike<number> = [0.1, 0.2];
  let xa: ArrayLike<number> = [0.1, 0.2];
  const m = new FedAvgM({ momentum: 0, serverLearningRate: 1 });
  const a = new FedAvg();
  for (let r = 1; r <= 2; r++) {
    const pm = round(m, r, xm, updates).params;
    const pa = round(a, r, xa, updates).params;
    for (let i = 0; i < pa.length; i++) {
      assert.ok(Math.abs(pm[i] - pa[i]) <= 2 ** -23 * Math.abs(pa[i]), `round ${r}[${i}]: ${pm[i]} vs ${pa[i]}`);
    }
    xm = pm;
    xa = pa;
  }
});

// ---- State round trip ------------------------------------------------------------------------

const OPTIMIZERS: Array<[string, () => Strategy & { getState(): StrategyState; setState(s: StrategyState): void }]> = [
  ['FedAdam (bias-corrected)', () => new FedAdam({ ...HYPER, biasCorrection: true })],
  ['FedYogi', () => new FedYogi(HYPER)],
  ['FedAdagrad', () => new FedAdagrad(HYPER)],
  ['FedAvgM', () => new FedAvgM({ momentum: 0.5, serverLearningRate: 0.5 })],
];

for (const [name, make] of OPTIMIZERS) {
  test(`${name}: getState/setState into a fresh instance continues bit for bit`, () => {
    const x0 = [0.3, -0.7, 1.1];
    const round1 = [client('a', [0.21, -0.5, 0.9], 3), client('b', [-0.4, 0.25, 0.3], 5)];
    const round2 = [client('a', [0.6, 0.1, -0.35], 2), client('c', [0.05, -0.8, 0.2], 9)];
    const original = make();
    const x1 = round(original, 1, x0, round1).params;
    const state = original.getState();
    const restored = make();
    restored.setState(state);
    // The state handed out and taken in are copies: scribbling on them changes nothing.
    for (const value of Object.values(state)) if (value instanceof Float32Array) value.fill(123);
    const a = round(original, 2, x1, round2).params;
    const b = round(restored, 2, x1, round2).params;
    assert.equal(bits(b), bits(a));
    assert.deepEqual(restored.getState(), original.getState());
    // Without the state the next round differs, so the comparison above is not vacuous.
    const fresh = round(make(), 2, x1, round2).params;
    assert.notEqual(bits(fresh), bits(a));
  });
}

test('FedAdam: the step count is part of the state (bias correction)', () => {
  const s = new FedAdam({ ...HYPER, biasCorrection: true });
  const x1 = round(s, 1, ADAM_X0, ADAM_R1).params;
  const state = s.getState();
  assert.equal(state.steps, 1);
  const right = new FedAdam({ ...HYPER, biasCorrection: true });
  right.setState(state);
  const wrong = new FedAdam({ ...HYPER, biasCorrection: true });
  wrong.setState({ ...state, steps: 0 }); // next step would be t = 1 again: no correction
  const a = round(right, 2, x1, ADAM_R2).params;
  const b = round(wrong, 2, x1, ADAM_R2).params;
  assertF32(b, ADAM_X2, 'x₂ with t reset to 1'); // the uncorrected values
  assert.notEqual(bits(a), bits(b));
});

test('setState rejects malformed state with invalid_argument and keeps the old state', () => {
  const s = new FedYogi(HYPER);
  round(s, 1, [0, 0, 0, 0], [client('a', [0.25, 1, 0.5, 0], 2)]);
  const good = s.getState();
  const m = Float32Array.from([1, 2, 3, 4]);
  const v = Float32Array.from([1, 1, 1, 1]);
  const bad: StrategyState[] = [
    {},
    { steps: NaN, m, v },
    { steps: -1, m, v },
    { steps: 1.5, m, v },
    { steps: 1, m: [1, 2, 3, 4] as never, v },
    { steps: 1, m, v: new Float64Array(4) as never },
    { steps: 1, m }, // v missing
    { steps: 1, v }, // m missing
    { steps: 1, m, v: new Float32Array(3) }, // lengths differ
  ];
  for (const state of bad) throwsCode(() => s.setState(state), 'invalid_argument');
  assert.deepEqual(s.getState(), good);
  s.setState({ steps: 0 }); // no moments yet: a valid "fresh" state
  assert.deepEqual(s.getState(), { steps: 0 });
  const avgm = new FedAvgM();
  throwsCode(() => avgm.setState({ m: [1, 2] as never }), 'invalid_argument');
  avgm.setState({});
  assert.deepEqual(avgm.getState(), {});
});

// ---- Hyperparameters -------------------------------------------------------------------------

test('defaults', () => {
  const adam = new FedAdam();
  assert.equal(adam.serverLearningRate, 0.1);
  assert.equal(adam.beta1, 0.9);
  assert.equal(adam.beta2, 0.99);
  assert.equal(adam.tau, 1e-9);
  assert.equal(adam.biasCorrection, false);
  const avgm = new FedAvgM();
  assert.equal(avgm.serverLearningRate, 1);
  assert.equal(avgm.momentum, 0.9);
  // β1 = 0 is allowed: m is then the latest Δ.
  assert.equal(new FedYogi({ beta1: 0 }).beta1, 0);
});

test('invalid hyperparameters → invalid_config', () => {
  for (const Opt of [FedAdam, FedYogi, FedAdagrad]) {
    for (const bad of [
      { beta1: 1 },
      { beta1: -0.1 },
      { beta1: NaN },
      { beta2: 1 },
      { beta2: 1.5 },
      { tau: 0 },
      { tau: -1 },
      { tau: NaN },
      { tau: Infinity },
      { serverLearningRate: -1 },
      { serverLearningRate: 0 },
      { serverLearningRate: NaN },
      { serverLearningRate: Infinity },
      { weighting: 'median' as never },
    ]) {
      throwsCode(() => new Opt(bad), 'invalid_config', Object.keys(bad)[0]);
    }
  }
  for (const bad of [{ momentum: 1 }, { momentum: -0.5 }, { momentum: NaN }, { serverLearningRate: -1 }, { serverLearningRate: 0 }, { serverLearningRate: NaN }]) {
    throwsCode(() => new FedAvgM(bad), 'invalid_config', Object.keys(bad)[0]);
  }
});

test('a round with no accepted result leaves the optimizer state untouched', () => {
  const s = new FedAdam(HYPER);
  round(s, 1, ADAM_X0, ADAM_R1);
  const before = s.getState();
  const agg = s.aggregateTrain(2, makeParams(ParamLayout.fromShapes([{ name: 'w', shape: [3] }]), Float32Array.from(ADAM_X1)));
  throwsCode(() => agg.add(client('bad', [NaN, 0, 0], 1)), 'non_finite');
  throwsCode(() => agg.finish(), 'insufficient_results');
  assert.deepEqual(s.getState(), before);
});
