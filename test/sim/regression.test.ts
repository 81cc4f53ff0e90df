// Regression end to end in simulation: a CSV with a float target and a hospital column (natural
// partition), TfjsTrainer with task 'regression', FedAvg with central evaluation. R² is in the
// history and rises; the same seed gives the same history and bitwise-identical parameters; and
// robust aggregation, update compression and DP-FedAvg run on it unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/models/backend.js';
import { createTfjsTrainer, type TfjsTrainer } from '../../src/models/tfjs-trainer.js';
import { parseCsv } from '../../src/data/csv.js';
import { partitionNatural } from '../../src/data/partition.js';
import { subset, type Dataset } from '../../src/data/dataset.js';
import { runSimulation, type SimulationOptions } from '../../src/sim/simulation.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { RobustStrategy } from '../../src/aggregate/robust-strategy.js';
import { CoordinateMedian } from '../../src/robust/median.js';
import { compressionLayers } from '../../src/compress/layers.js';
import { DpFedAvg } from '../../src/aggregate/dp-fedavg.js';
import { dpClientLayer } from '../../src/privacy/client-layer.js';
import { makeParams, type Params } from '../../src/core/params.js';
import { withoutTiming } from '../../src/core/records.js';
import { Rng } from '../../src/core/rng.js';
import type { Strategy } from '../../src/strategy/strategy.js';

await initBackend('wasm');

/** A hospital-cost CSV: cost = 3·age/50 + 2·bmi/25 − stay/5 + a per-hospital offset + noise. */
function hospitalCsv(rows: number, seed: number): string {
  const rng = new Rng(seed);
  const lines = ['hospital,age,bmi,stay,cost'];
  for (let i = 0; i < rows; i++) {
    const h = rng.int(6);
    const age = 20 + 60 * rng.next();
    const bmi = 17 + 18 * rng.next();
    const stay = 1 + rng.int(10);
    const cost = (3 * age) / 50 + (2 * bmi) / 25 - stay / 5 + 0.1 * (h - 2.5) + 0.1 * rng.normal();
    lines.push(`h${h},${(age / 50).toFixed(4)},${(bmi / 25).toFixed(4)},${(stay / 5).toFixed(3)},${cost.toFixed(5)}`);
  }
  return lines.join('\n');
}

const csv = parseCsv(hospitalCsv(900, 1), { targetColumns: ['cost'], groupColumn: 'hospital', source: 'hospitals.csv' });
const { partitions, groupNames } = partitionNatural(csv.groups!);
const testSet: Dataset = parseCsv(hospitalCsv(300, 2), { targetColumns: ['cost'], groupColumn: 'hospital' }).dataset;

async function simulate(seed: number, variant: 'plain' | 'median' | 'compressed' | 'dp' = 'plain') {
  const trainerOptions = { task: 'regression' as const, seed };
  const server: TfjsTrainer = await createTfjsTrainer('2nn', 3, 1, trainerOptions);
  const evaluate = async (_round: number, params: Params) => {
    server.setParameters(params.data);
    const r = await server.evaluate(testSet);
    return { loss: r.loss, metrics: r.metrics };
  };
  const trainConfig = { epochs: 2, batchSize: 10, learningRate: 0.02 };
  let strategy: Strategy = new FedAvg({ trainConfig, evaluate });
  const extra: Partial<SimulationOptions> = {};
  if (variant === 'median') strategy = new RobustStrategy(new FedAvg({ trainConfig, evaluate }), { aggregator: new CoordinateMedian() });
  if (variant === 'compressed') {
    const layers = compressionLayers({ uplink: 'quantize:8', downlink: 'fp16', seed: 4 });
    Object.assign(extra, { layers: [layers.client], serverLayers: [layers.server] });
  }
  if (variant === 'dp') {
    strategy = new DpFedAvg(new FedAvg({ trainConfig, evaluate }), {
      clipNorm: 5,
      noiseMultiplier: 0.01,
      delta: 1e-5,
      populationSize: partitions.length,
      clientsPerRound: partitions.length,
      noiseRng: new Rng(seed).stream('dp'),
    });
    Object.assign(extra, { layers: [dpClientLayer({ noise: 'seeded' })] });
  }
  try {
    return await runSimulation({
      train: csv.dataset,
      partitions,
      clientIds: groupNames,
      createTrainer: () => createTfjsTrainer('2nn', 3, 1, trainerOptions),
      initialParams: makeParams(server.layout, server.getParameters()),
      strategy,
      rounds: 6,
      seed,
      sampling: { fraction: 1, minClients: partitions.length },
      ...extra,
    });
  } finally {
    server.dispose();
  }
}

test('FedAvg regression: R² in the history rises above 0.9; train/eval metrics have regression names', { timeout: 120_000 }, async () => {
  assert.equal(partitions.length, 6, 'one client per hospital');
  const run = await simulate(7);
  const r2 = [run.initialEvaluation!.metrics.r2, ...run.history.map((h) => h.centralEvaluation!.metrics.r2)];
  assert.ok(r2[0] < 0.5, `initial R² ${r2[0]}`);
  assert.ok(r2[r2.length - 1] > 0.9, `R² by round ${r2.map((v) => v.toFixed(3))}`);
  const last = run.history[run.history.length - 1];
  assert.equal(last.status, 'completed');
  assert.deepEqual(Object.keys(last.centralEvaluation!.metrics).sort(), ['loss', 'mae', 'mse', 'r2']);
  assert.ok(last.federatedEvaluation, 'federated evaluation ran');
  assert.ok(typeof last.federatedEvaluation!.metrics.r2 === 'number' && typeof last.federatedEvaluation!.metrics.mae === 'number');
  assert.equal(last.federatedEvaluation!.metrics.accuracy, undefined, 'no accuracy for a regression');
});

test('same seed, same regression run: identical history and bitwise-identical parameters', { timeout: 120_000 }, async () => {
  const a = await simulate(11);
  const b = await simulate(11);
  assert.deepEqual(a.history.map(withoutTiming), b.history.map(withoutTiming));
  assert.deepEqual(Buffer.from(a.params.data.buffer), Buffer.from(b.params.data.buffer));
  const c = await simulate(12);
  assert.notDeepEqual(Buffer.from(a.params.data.buffer), Buffer.from(c.params.data.buffer), 'another seed gives another run');
});

for (const variant of ['median', 'compressed', 'dp'] as const) {
  test(`regression with ${variant === 'median' ? 'coordinate-median aggregation' : variant === 'compressed' ? '8-bit uplink / fp16 downlink compression' : 'DP-FedAvg (clipping + seeded noise)'} still learns`, { timeout: 120_000 }, async () => {
    const run = await simulate(7, variant);
    for (const h of run.history) assert.equal(h.status, 'completed', h.reason);
    const r2 = run.history[run.history.length - 1].centralEvaluation!.metrics.r2;
    assert.ok(r2 > 0.8, `final R² ${r2}`);
  });
}

test('a regression client dataset keeps its targets through subset (the virtual clients cut them so)', () => {
  const s = subset(csv.dataset, partitions[0]);
  assert.equal(s.targets!.length, partitions[0].length);
  assert.equal(s.targets![0], csv.dataset.targets![partitions[0][0]]);
});
