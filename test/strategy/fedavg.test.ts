// Tests for FedAvg (src/strategy/fedavg.ts). Expected values are worked out by hand in comments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FedAvg } from '../../src/strategy/fedavg.js';
import type { EvaluateResult, TrainResult } from '../../src/strategy/strategy.js';
import { ParamLayout, makeParams, type Params } from '../../src/core/params.js';
import type { FederaErrorCode } from '../../src/core/errors.js';
import { throwsCode } from '../helpers/assertions.js';


const LAYOUT = ParamLayout.fromShapes([{ name: 'w', shape: [2] }]);
const params = (values: number[]): Params => makeParams(LAYOUT, Float32Array.from(values));
const result = (clientId: string, update: number[], numExamples: number, metrics: Record<string, number> = {}): TrainResult => ({
  clientId,
  update: Float32Array.from(update),
  numExamples,
  metrics,
});
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

// Global x = [1, −2]; three clients:
//   c1: u = [ 1,   2  ], n = 10, loss 0.5
//   c2: u = [−1,   0.5], n = 30, loss 1.0
//   c3: u = [ 0.5, −1 ], n = 60, loss 2.0
// Σn = 100
// Σnu[0] = 10·1 + 30·(−1) + 60·0.5   = 10 − 30 + 30 = 10   → mean 10/100  = 0.1
// Σnu[1] = 10·2 + 30·0.5  + 60·(−1)  = 20 + 15 − 60 = −25  → mean −25/100 = −0.25
// new global = [1 + 0.1, −2 − 0.25] = [1.1, −2.25]
// loss = (10·0.5 + 30·1 + 60·2)/100 = (5 + 30 + 120)/100 = 1.55
const GLOBAL = [1, -2];
const C1 = result('c1', [1, 2], 10, { loss: 0.5 });
const C2 = result('c2', [-1, 0.5], 30, { loss: 1.0 });
const C3 = result('c3', [0.5, -1], 60, { loss: 2.0 });

test('FedAvg: new global = global + Σ nᵢuᵢ / Σ nᵢ, and example-weighted loss', () => {
  const s = new FedAvg();
  assert.equal(s.name, 'fedavg');
  const global = params(GLOBAL);
  const agg = s.aggregateTrain(1, global);
  assert.equal(agg.accepted, 0);
  agg.add(C1);
  agg.add(C2);
  agg.add(C3);
  assert.equal(agg.accepted, 3);
  const out = agg.finish();
  assert.ok(out.params instanceof Float32Array);
  assert.deepEqual(out.params, Float32Array.from([Math.fround(1.1), -2.25]));
  assert.deepEqual(out.metrics, { loss: 1.55 });
  assert.deepEqual(global.data, Float32Array.from(GLOBAL), 'the global model passed in is not modified');
  assert.notEqual(out.params, global.data);
});

test('FedAvg: the order of arrival does not change the result here (exact arithmetic)', () => {
  const s = new FedAvg();
  const agg = s.aggregateTrain(1, params(GLOBAL));
  agg.add(C3);
  agg.add(C1);
  agg.add(C2);
  assert.deepEqual(agg.finish().params, Float32Array.from([Math.fround(1.1), -2.25]));
});

test("FedAvg: weighting 'uniform' ignores example counts", () => {
  // mean u[0] = (1 − 1 + 0.5)/3 = 0.5/3 = 1/6;  mean u[1] = (2 + 0.5 − 1)/3 = 1.5/3 = 0.5
  // new global = [1 + 1/6, −2 + 0.5] = [7/6, −1.5];  loss = (0.5 + 1 + 2)/3 = 3.5/3 = 7/6
  const s = new FedAvg({ weighting: 'uniform' });
  const agg = s.aggregateTrain(1, params(GLOBAL));
  agg.add(C1);
  agg.add(C2);
  agg.add(C3);
  const out = agg.finish();
  assert.deepEqual(out.params, Float32Array.from([Math.fround(7 / 6), -1.5]));
  assert.ok(Math.abs(out.metrics.loss - 7 / 6) < 1e-15, `loss ${out.metrics.loss}`);
  // 'examples' is the default and can be named explicitly.
  const ex = new FedAvg({ weighting: 'examples' }).aggregateTrain(1, params(GLOBAL));
  ex.add(C1);
  ex.add(C2);
  ex.add(C3);
  assert.deepEqual(ex.finish().params, Float32Array.from([Math.fround(1.1), -2.25]));
  throwsCode(() => new FedAvg({ weighting: 'median' as never }), 'invalid_config');
});

test('FedAvg: metrics are example-weighted per key (a key only some clients report)', () => {
  // accuracy only from c1 (n = 10, 0.9) and c3 (n = 60, 0.3): (9 + 18)/70 = 27/70
  const s = new FedAvg();
  const agg = s.aggregateTrain(1, params(GLOBAL));
  agg.add({ ...C1, metrics: { loss: 0.5, accuracy: 0.9 } });
  agg.add(C2);
  agg.add({ ...C3, metrics: { loss: 2.0, accuracy: 0.3 } });
  const { metrics } = agg.finish();
  assert.equal(metrics.loss, 1.55);
  assert.ok(Math.abs(metrics.accuracy - 27 / 70) < 1e-15, `accuracy ${metrics.accuracy}`);
  assert.deepEqual(Object.keys(metrics).sort(), ['accuracy', 'loss']);
});

test('FedAvg: a rejected update leaves the round as if it had not been sent', () => {
  const reference = (() => {
    const agg = new FedAvg().aggregateTrain(1, params(GLOBAL));
    agg.add(C1);
    agg.add(C2);
    agg.add(C3);
    return agg.finish();
  })();
  const bad: TrainResult[] = [
    result('nan', [NaN, 0], 1000, { loss: 99 }),
    result('inf', [0, -Infinity], 1000, { loss: 99 }),
    result('overflow', [3e38, 0], 1000, { loss: 99 }), // 1000 · 3e38 overflows float32
    result('short', [1], 1000, { loss: 99 }),
    result('zero', [5, 5], 0, { loss: 99 }),
    result('negative', [5, 5], -3, { loss: 99 }),
    result('nan-count', [5, 5], NaN, { loss: 99 }),
  ];
  const codes: FederaErrorCode[] = ['non_finite', 'non_finite', 'non_finite', 'shape_mismatch', 'invalid_argument', 'invalid_argument', 'invalid_argument'];
  const s = new FedAvg();
  const agg = s.aggregateTrain(1, params(GLOBAL));
  agg.add(C1);
  bad.forEach((r, i) => throwsCode(() => agg.add(r), codes[i], r.clientId));
  agg.add(C2);
  throwsCode(() => agg.add(bad[0]), 'non_finite', 'index 0');
  agg.add(C3);
  assert.equal(agg.accepted, 3);
  const out = agg.finish();
  assert.equal(bits(out.params), bits(reference.params));
  assert.deepEqual(out.metrics, reference.metrics);
  assert.deepEqual(out.metrics, { loss: 1.55 });
});

test('FedAvg: finish() with nothing accepted → insufficient_results', () => {
  const s = new FedAvg();
  throwsCode(() => s.aggregateTrain(4, params(GLOBAL)).finish(), 'insufficient_results', 'round 4');
  const agg = s.aggregateTrain(5, params(GLOBAL));
  throwsCode(() => agg.add(result('nan', [NaN, NaN], 10)), 'non_finite');
  throwsCode(() => agg.add(result('zero', [1, 1], 0)), 'invalid_argument');
  assert.equal(agg.accepted, 0);
  throwsCode(() => agg.finish(), 'insufficient_results');
});

test('FedAvg: consecutive rounds start from an empty sum', () => {
  const s = new FedAvg();
  const r1 = s.aggregateTrain(1, params(GLOBAL));
  r1.add(C1);
  r1.add(C2);
  r1.add(C3);
  const g1 = r1.finish().params; // [1.1, −2.25]
  // Round 2: one client, u = [0.25, 0.5], n = 7 → g2 = g1 + u = [f32(1.1) + 0.25, −1.75]
  const r2 = s.aggregateTrain(2, makeParams(LAYOUT, g1));
  assert.equal(r2.accepted, 0);
  r2.add(result('c9', [0.25, 0.5], 7, { loss: 3 }));
  const out = r2.finish();
  assert.deepEqual(out.params, Float32Array.from([Math.fround(Math.fround(1.1) + 0.25), -1.75]));
  assert.deepEqual(out.metrics, { loss: 3 });
  // A model of another size gets a fresh sum of the right size.
  const big = ParamLayout.fromShapes([{ name: 'w', shape: [3] }]);
  const r3 = s.aggregateTrain(3, makeParams(big, Float32Array.from([0, 0, 0])));
  r3.add({ clientId: 'c', update: Float32Array.from([1, 2, 3]), numExamples: 2, metrics: {} });
  assert.deepEqual(r3.finish().params, Float32Array.from([1, 2, 3]));
});

test('FedAvg: configureTrain / configureEvaluate return the configured settings', () => {
  const g = params(GLOBAL);
  assert.deepEqual(new FedAvg().configureTrain(1, g), {});
  assert.deepEqual(new FedAvg().configureEvaluate(1, g), {});
  const trainConfig = { epochs: 2, learningRate: 0.1, optimizer: 'sgd', shuffle: true };
  const s = new FedAvg({ trainConfig, evaluateConfig: { batchSize: 64 } });
  const c = s.configureTrain(3, g);
  assert.deepEqual(c, trainConfig);
  assert.notEqual(c, trainConfig, 'a copy, so callers cannot change the strategy options');
  (c as Record<string, unknown>).epochs = 99;
  assert.equal(s.configureTrain(4, g).epochs, 2);
  assert.deepEqual(s.configureEvaluate(3, g), { batchSize: 64 });
  // Function form: called with the round.
  const rounds: number[] = [];
  const f = new FedAvg({
    trainConfig: (round) => {
      rounds.push(round);
      return { epochs: round, learningRate: 0.1 / round };
    },
    evaluateConfig: (round) => ({ batchSize: 32 * round }),
  });
  assert.deepEqual(f.configureTrain(1, g), { epochs: 1, learningRate: 0.1 });
  assert.deepEqual(f.configureTrain(4, g), { epochs: 4, learningRate: 0.025 });
  assert.deepEqual(rounds, [1, 4]);
  assert.deepEqual(f.configureEvaluate(2, g), { batchSize: 64 });
});

test('FedAvg: the central evaluate function is exposed', () => {
  const evaluate = async () => ({ loss: 0, metrics: {} });
  assert.equal(new FedAvg({ evaluate }).evaluate, evaluate);
  assert.equal(new FedAvg().evaluate, undefined);
});

test('FedAvg: aggregateEvaluate is example-weighted', () => {
  // e1: loss 0.5, n 10, accuracy 0.8;  e2: loss 1.0, n 30, accuracy 0.6;  e3: loss 2.0, n 60, accuracy 0.5
  // loss     = (10·0.5 + 30·1.0 + 60·2.0)/100 = (5 + 30 + 120)/100 = 1.55
  // accuracy = (10·0.8 + 30·0.6 + 60·0.5)/100 = (8 + 18 + 30)/100 = 0.56
  // e4 reports 0 examples: it carries no weight.
  const results: EvaluateResult[] = [
    { clientId: 'e1', loss: 0.5, numExamples: 10, metrics: { accuracy: 0.8 } },
    { clientId: 'e2', loss: 1.0, numExamples: 30, metrics: { accuracy: 0.6 } },
    { clientId: 'e3', loss: 2.0, numExamples: 60, metrics: { accuracy: 0.5 } },
    { clientId: 'e4', loss: 50, numExamples: 0, metrics: { accuracy: 0 } },
  ];
  const out = new FedAvg().aggregateEvaluate(1, results);
  assert.equal(out.numExamples, 100);
  assert.ok(Math.abs(out.loss - 1.55) < 1e-15, `loss ${out.loss}`);
  assert.ok(Math.abs(out.metrics.accuracy - 0.56) < 1e-15, `accuracy ${out.metrics.accuracy}`);
  assert.deepEqual(Object.keys(out.metrics), ['accuracy']);
});

test('FedAvg: evaluation with zero total examples → insufficient_results', () => {
  const s = new FedAvg();
  throwsCode(() => s.aggregateEvaluate(1, []), 'insufficient_results');
  throwsCode(() => s.aggregateEvaluate(1, [{ clientId: 'a', loss: 1, numExamples: 0, metrics: {} }]), 'insufficient_results');
});
