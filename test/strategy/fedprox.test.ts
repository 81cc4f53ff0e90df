// Tests for FedProx (src/strategy/fedprox.ts): FedAvg aggregation plus proximalMu in the train config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FedProx } from '../../src/strategy/fedprox.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import type { Strategy, TrainResult } from '../../src/strategy/strategy.js';
import { ParamLayout, makeParams, type Params } from '../../src/core/params.js';
import { throwsCode } from '../helpers/assertions.js';


const LAYOUT = ParamLayout.fromShapes([{ name: 'w', shape: [2] }]);
const params = (values: number[]): Params => makeParams(LAYOUT, Float32Array.from(values));
const result = (clientId: string, update: number[], numExamples: number, loss: number): TrainResult => ({
  clientId,
  update: Float32Array.from(update),
  numExamples,
  metrics: { loss },
});
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

test('FedProx: configureTrain sends proximalMu = mu with the train config', () => {
  const g = params([0, 0]);
  const s = new FedProx({ mu: 0.01 });
  assert.equal(s.name, 'fedprox');
  assert.equal(s.mu, 0.01);
  assert.deepEqual(s.configureTrain(1, g), { proximalMu: 0.01 });
  // Merged with the object form ...
  const withConfig = new FedProx({ mu: 0.1, trainConfig: { epochs: 3, learningRate: 0.05 } });
  assert.deepEqual(withConfig.configureTrain(2, g), { epochs: 3, learningRate: 0.05, proximalMu: 0.1 });
  // ... and the function form, called with the round.
  const f = new FedProx({ mu: 1, trainConfig: (round) => ({ epochs: round }) });
  assert.deepEqual(f.configureTrain(5, g), { epochs: 5, proximalMu: 1 });
  // mu wins over a proximalMu in trainConfig: the server's mu is the one clients must use.
  const clash = new FedProx({ mu: 0.5, trainConfig: { proximalMu: 7 } });
  assert.equal(clash.configureTrain(1, g).proximalMu, 0.5);
  // mu = 0 is allowed (FedProx reduces to FedAvg) and is still sent.
  assert.deepEqual(new FedProx({ mu: 0 }).configureTrain(1, g), { proximalMu: 0 });
  // The evaluate config carries no mu.
  assert.deepEqual(new FedProx({ mu: 0.1, evaluateConfig: { batchSize: 8 } }).configureEvaluate(1, g), { batchSize: 8 });
});

test('FedProx: aggregation is FedAvg aggregation', () => {
  // Global [0.5, 0.5]; clients u = [1, −1] n = 1 and u = [−1, 3] n = 3:
  //   Σnu = [1 − 3, −1 + 9] = [−2, 8], Σn = 4 → mean [−0.5, 2] → new global [0, 2.5]
  //   loss = (1·4 + 3·8)/4 = 28/4 = 7
  const run = (s: Strategy, byExamples = true) => {
    const agg = s.aggregateTrain(1, params([0.5, 0.5]));
    agg.add(result('a', [1, -1], 1, 4));
    throwsCode(() => agg.add(result('bad', [NaN, 0], 5, 0)), 'non_finite'); // rejected as in FedAvg
    if (byExamples) throwsCode(() => agg.add(result('empty', [1, 1], 0, 0)), 'invalid_argument');
    agg.add(result('b', [-1, 3], 3, 8));
    return agg.finish();
  };
  const prox = run(new FedProx({ mu: 0.3 }));
  const avg = run(new FedAvg());
  assert.deepEqual(prox.params, Float32Array.from([0, 2.5]));
  assert.deepEqual(prox.metrics, { loss: 7 });
  assert.equal(bits(prox.params), bits(avg.params));
  assert.deepEqual(prox.metrics, avg.metrics);
  // Uniform weighting is honoured too: mean [0, 1] → [0.5, 1.5].
  const uni = run(new FedProx({ mu: 0.3, weighting: 'uniform' }), false);
  assert.deepEqual(uni.params, Float32Array.from([0.5, 1.5]));
  // And evaluation.
  const ev = new FedProx({ mu: 1 }).aggregateEvaluate(1, [
    { clientId: 'a', loss: 1, numExamples: 1, metrics: {} },
    { clientId: 'b', loss: 3, numExamples: 3, metrics: {} },
  ]);
  assert.equal(ev.loss, 2.5); // (1 + 9)/4
});

test('FedProx: mu < 0, NaN or infinite → invalid_config', () => {
  for (const mu of [-0.1, -1, NaN, Infinity, -Infinity]) throwsCode(() => new FedProx({ mu }), 'invalid_config', 'mu');
  throwsCode(() => new FedProx({} as never), 'invalid_config');
  throwsCode(() => new FedProx({ mu: 0.1, weighting: 'median' as never }), 'invalid_config');
});
