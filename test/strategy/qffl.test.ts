// q-FedAvg (src/aggregate/qffl.ts): the client half and the server half against hand-computed
// values of Li et al.'s update w ← w − Σδ/Σh; q = 0 is the equal-weight mean; the configs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation } from '../../src/sim/simulation.js';
import { AggregationStrategy } from '../../src/aggregate/pipeline.js';
import { createMeanStage } from '../../src/aggregate/mean.js';
import { createQfflStage, qfflClientLayer } from '../../src/aggregate/qffl.js';
import { createStrategy } from '../../src/strategy/registry.js';
import { parseSimulationConfig } from '../../src/config/rules.js';
import type { Dataset } from '../../src/data/dataset.js';
import type { EvaluateOutcome } from '../../src/client/trainer.js';
import { KnownUpdateTrainer, knownUpdateSimulation } from '../secagg/helpers/clients.js';

/** Known updates, and a known loss at the received model: F_k = 1 + k (client k's data carries k). */
class LossTrainer extends KnownUpdateTrainer {
  override async evaluate(data: Dataset): Promise<EvaluateOutcome> {
    return { loss: 1 + data.x[0], numExamples: data.y.length, metrics: {} };
  }
}

const updates = [Float32Array.from([0.2, -0.4]), Float32Array.from([-0.1, 0.3]), Float32Array.from([0.5, 0.0])];

async function oneRound(q: number, L: number) {
  const ids = ['c0', 'c1', 'c2'];
  const sim = knownUpdateSimulation(ids, updates, [4, 4, 4]);
  const r = await runSimulation({
    ...sim,
    createTrainer: () => new LossTrainer(updates),
    strategy: new AggregationStrategy(createStrategy({ name: 'qffl' }), [createQfflStage({ q, lipschitz: L }), createMeanStage({ weighting: 'uniform' })]),
    layers: [qfflClientLayer()],
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: 3 },
  });
  assert.equal(r.history[0].status, 'completed', r.history[0].reason);
  return r.params.data;
}

test('one round of q-FedAvg moves the model by exactly −Σδ/Σh (Li et al. 2020)', async () => {
  for (const [q, L] of [[1, 10], [2, 5], [0.5, 2]]) {
    // By hand: Δ_k = −L·u_k, δ_k = F^q·Δ_k, h_k = q·F^(q−1)·‖Δ_k‖² + L·F^q, F_k = 1 + k.
    let h = 0;
    const delta = [0, 0];
    updates.forEach((u, k) => {
      const F = 1 + k;
      const D = [-L * u[0], -L * u[1]];
      delta[0] += F ** q * D[0];
      delta[1] += F ** q * D[1];
      h += q * F ** (q - 1) * (D[0] ** 2 + D[1] ** 2) + L * F ** q;
    });
    const want = [-delta[0] / h, -delta[1] / h];
    const got = await oneRound(q, L);
    for (let j = 0; j < 2; j++) assert.ok(Math.abs(got[j] - want[j]) < 1e-6, `q ${q}, L ${L}, coordinate ${j}: ${got[j]} vs ${want[j]}`);
  }
});

test('q = 0 is the equal-weight mean of the updates', async () => {
  const got = await oneRound(0, 3);
  for (let j = 0; j < 2; j++) {
    const mean = updates.reduce((a, u) => a + u[j], 0) / 3;
    assert.ok(Math.abs(got[j] - mean) < 1e-6, `${got[j]} vs ${mean}`);
  }
});

test('an update without h is refused by the stage; configs: --strategy qffl --q, refusals with DP and robust rules', async () => {
  const stage = createQfflStage({ q: 1 });
  assert.throws(() => stage.update!({ clientId: 'x', update: new Float32Array(2), numExamples: 1, weight: 1, metrics: {} }, 1), /carries no valid qffl\.h .* needs qfflClientLayer\(\)/);
  assert.throws(() => createQfflStage({ q: -1 }), /q must be a finite number ≥ 0, got -1/);
  const config = stage.configure!(1, { learningRate: 0.25 });
  assert.equal(config['qffl.L'], 4, 'L = 1/lr by default');
  assert.equal(config['federa.initialLoss'], true);
  const base = { rounds: 1, clients: 10 };
  assert.equal(parseSimulationConfig({ ...base, strategy: { name: 'qffl', q: 5 } }).strategy.q, 5);
  assert.throws(() => parseSimulationConfig({ ...base, strategy: { name: 'fedavg', q: 5 } }), /strategy\.q is a q-FedAvg setting, but strategy\.name is "fedavg"/);
  assert.throws(() => parseSimulationConfig({ ...base, strategy: { name: 'qffl' }, privacy: { clipNorm: 1, noiseMultiplier: 1 } }), /strategy "qffl" weighs clients by their loss/);
  assert.throws(() => parseSimulationConfig({ ...base, strategy: { name: 'qffl' }, robust: { aggregator: 'median' } }), /strategy "qffl" reduces Σδ\/Σh itself/);
});

test('under secure aggregation q-FedAvg gets the same update from the masked sums (Σδ in the masked vector, Σh as a masked metric with its own range)', async () => {
  const { SecAggWorkflow, secAggClientLayer } = await import('../../src/secagg/index.js');
  const { createSecureSumStage } = await import('../../src/aggregate/secure-sum.js');
  const q = 1;
  const L = 50;
  const ids = ['c0', 'c1', 'c2'];
  const r = await runSimulation({
    ...knownUpdateSimulation(ids, updates, [4, 4, 4]),
    createTrainer: () => new LossTrainer(updates),
    strategy: new AggregationStrategy(createStrategy({ name: 'qffl' }), [createQfflStage({ q, lipschitz: L }), createSecureSumStage({ weighting: 'uniform', clippingRange: 256 })]),
    workflow: new SecAggWorkflow({ weighting: 'uniform', clippingRange: 256 }),
    layers: [secAggClientLayer({ randomness: 'seeded', seed: 1 }), qfflClientLayer()],
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: 3 },
  });
  assert.equal(r.history[0].status, 'completed', r.history[0].reason);
  const plain = await oneRound(q, L);
  // h_k here is 550–1,000, beyond the default ±64 of masked metrics: its own range keeps it exact.
  for (let j = 0; j < 2; j++) assert.ok(Math.abs(r.params.data[j] - plain[j]) < 1e-5, `coordinate ${j}: ${r.params.data[j]} vs ${plain[j]}`);
});
