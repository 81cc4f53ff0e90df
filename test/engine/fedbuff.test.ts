// FedBuff (src/engine/fedbuff.ts) in simulation on the device clock: the staleness functions, the
// buffer applied exactly as η·Σ s(τₖ)·Δₖ / K with each upload's τ from the version it trained on,
// versions that advance without waiting for stragglers, the same seed giving the same history,
// and the configs' refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FedBuffWorkflow, stalenessWeight } from '../../src/engine/fedbuff.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { AggregationStrategy } from '../../src/aggregate/pipeline.js';
import { createMeanStage } from '../../src/aggregate/mean.js';
import { createStrategy } from '../../src/strategy/registry.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { withoutTiming, type RoundRecord } from '../../src/core/records.js';
import { parseServerConfig, parseSimulationConfig } from '../../src/config/rules.js';
import { knownUpdateSimulation, knownUpdates } from '../secagg/helpers/clients.js';
import { readmeCommand, runReadmeCommand } from '../helpers/readme.js';

test('staleness functions: constant, polynomial (1+τ)^−a, hinge', () => {
  assert.equal(stalenessWeight({ staleness: 'constant' })(7), 1);
  const poly = stalenessWeight({});
  assert.equal(poly(0), 1);
  assert.equal(poly(3), 0.5, 'a = 0.5 by default: (1 + 3)^−0.5');
  assert.equal(stalenessWeight({ staleness: 'polynomial', stalenessExponent: 2 })(1), 0.25);
  const hinge = stalenessWeight({ staleness: 'hinge', stalenessExponent: 0.5, hingeStaleness: 4 });
  assert.equal(hinge(4), 1);
  assert.equal(hinge(6), 1 / (0.5 * 2 + 1));
  assert.throws(() => stalenessWeight({ staleness: 'hinge', stalenessExponent: 0 }), /slope a\) must be a finite number > 0/);
  assert.throws(() => new FedBuffWorkflow({ bufferSize: 0 }), /bufferSize must be an integer ≥ 1, got 0/);
});

const N = 16;
const D = 8;
const ids = Array.from({ length: N }, (_, i) => `c${String(i).padStart(2, '0')}`);
const updates = knownUpdates(N, D, 3, 1);

function fedbuffRun(options: { bufferSize: number; concurrency: number; eta: number; rounds: number; seed?: number; devices?: Parameters<typeof runSimulation>[0]['devices'] }) {
  return runSimulation({
    ...knownUpdateSimulation(ids, updates, Array.from({ length: N }, () => 10)),
    strategy: new AggregationStrategy(createStrategy({ name: 'fedbuff', serverLearningRate: options.eta }), [createMeanStage({ weighting: 'uniform' })]),
    workflow: new FedBuffWorkflow({ bufferSize: options.bufferSize, concurrency: options.concurrency }),
    rounds: options.rounds,
    seed: options.seed ?? 4,
    devices: options.devices ?? { kind: 'lognormal', speed: 5, speedSigma: 1, stragglerFraction: 0.25, stragglerSlowdown: 8 },
  });
}

const bufferOf = (r: RoundRecord) => r.events!.find((e) => e.kind === 'fedbuff-buffer') as unknown as { version: number; staleness: number[]; weights: number[] };

test('each buffer moves the model by η·Σ s(τₖ)·Δₖ / K, τₖ from the version each upload was trained on', async () => {
  const eta = 0.7;
  const K = 4;
  const result = await fedbuffRun({ bufferSize: K, concurrency: 6, eta, rounds: 12 });
  const history = result.history;
  assert.ok(history.every((h) => h.status === 'completed'), JSON.stringify(history.map((h) => h.reason)));
  // Replay the buffers: with known updates Δ = updates[client] whatever the model.
  const w = new Float64Array(D);
  let stale = 0;
  for (const h of history) {
    const buffer = bufferOf(h);
    assert.equal(buffer.version, h.round - 1);
    assert.equal(h.succeeded.length, K);
    assert.equal(buffer.staleness.length, K);
    for (let k = 0; k < K; k++) {
      const s = (1 + buffer.staleness[k]) ** -0.5;
      assert.ok(Math.abs(buffer.weights[k] - s) < 1e-12);
      const u = updates[ids.indexOf(h.succeeded[k])];
      for (let j = 0; j < D; j++) w[j] += (eta * Math.fround(u[j] * s)) / K;
      stale += buffer.staleness[k];
    }
    assert.equal(h.train?.metrics.staleness_max, Math.max(...buffer.staleness));
  }
  for (let j = 0; j < D; j++) assert.ok(Math.abs(result.params.data[j] - w[j]) < 1e-5, `coordinate ${j}: ${result.params.data[j]} vs ${w[j]}`);
  assert.ok(stale > 0, 'with 6 clients training for buffers of 4, some uploads are stale');
  // The same seed: the same buffers, staleness and simulated time.
  const again = await fedbuffRun({ bufferSize: K, concurrency: 6, eta, rounds: 12 });
  assert.deepEqual(again.history.map(withoutTiming), history.map(withoutTiming));
  assert.deepEqual(again.params.data, result.params.data);
});

test('versions advance without waiting for stragglers: buffers close in a fraction of a synchronous round\'s simulated time', async () => {
  const devices = { kind: 'lognormal' as const, speed: 5, speedSigma: 0.3, stragglerFraction: 0.25, stragglerSlowdown: 20 };
  const buffered = await fedbuffRun({ bufferSize: 4, concurrency: 8, eta: 1, rounds: 10, devices });
  const sync = await runSimulation({
    ...knownUpdateSimulation(ids, updates, Array.from({ length: N }, () => 10)),
    strategy: new FedAvg(),
    rounds: 10,
    seed: 4,
    sampling: { fraction: 1, minClients: 4, maxClients: 4 },
    devices,
  });
  const per = (h: readonly RoundRecord[]) => h.at(-1)!.simulatedTime! / h.length;
  console.log(`# simulated seconds per version: FedBuff ${per(buffered.history).toFixed(2)}, synchronous FedAvg ${per(sync.history).toFixed(2)}`);
  assert.ok(per(buffered.history) < 0.5 * per(sync.history), `${per(buffered.history)} vs ${per(sync.history)}`);
  // Stragglers' uploads still count, later and down-weighted.
  assert.ok(buffered.history.some((h) => bufferOf(h).staleness.some((t) => t >= 2)));
});

test('configs: --strategy fedbuff with its keys; FedBuff settings without it, and FedBuff with secagg or robust rules, are refused naming the fields', () => {
  const base = { rounds: 2, clients: 10 };
  const c = parseSimulationConfig({ ...base, strategy: { name: 'fedbuff', bufferSize: 5, concurrency: 8, staleness: 'hinge', stalenessExponent: 2, hingeStaleness: 3 } });
  assert.equal(c.strategy.bufferSize, 5);
  assert.throws(() => parseSimulationConfig({ ...base, strategy: { name: 'fedavg', bufferSize: 5 } }), /strategy\.bufferSize is a FedBuff setting, but strategy\.name is "fedavg"; set strategy\.name = "fedbuff" \(--strategy fedbuff\)/);
  assert.throws(() => parseSimulationConfig({ ...base, strategy: { name: 'fedbuff' }, secagg: { mode: 'secagg' } }), /strategy "fedbuff" with secure aggregation is not available yet/);
  assert.throws(() => parseServerConfig({ rounds: 1, input: { numFeatures: 4, numClasses: 2 }, strategy: { name: 'fedbuff' }, robust: { aggregator: 'median' } }), /strategy "fedbuff" applies staleness-weighted means/);
});

test("the README's FedBuff command, exactly as written: buffers of 10 from 50 clients training at once", { timeout: 120_000 }, async () => {
  const r = await runReadmeCommand(readmeCommand('--strategy fedbuff'));
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /strategy {2}fedbuff, 40 rounds/);
  assert.match(r.stdout, /fedbuff {3}buffer K = 10, concurrency 50, staleness polynomial/);
  assert.match(r.stdout, /rounds completed +40 of 40/);
  const accuracy = Number(/final test accuracy +(\d\.\d+)/.exec(r.stdout)?.[1]);
  assert.ok(accuracy > 0.8, `accuracy ${accuracy}`);
});

test('FedBuff with central DP: each buffer is one Gaussian release over K clipped uploads, charged at q = 1; the noise on the model is z·C/K', async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { simulate } = await import('../../src/cli/simulate.js');
  const { computeEpsilon } = await import('../../src/privacy/accountant/calibrate.js');
  const sink = { write: () => true };
  const K = 20;
  const C = 0.5;
  const config = (noiseMultiplier: number, rounds: number) =>
    parseSimulationConfig({
      name: 'fedbuff-dp',
      seed: 8,
      model: 'logreg',
      clients: 100,
      rounds,
      partition: { kind: 'iid' },
      strategy: { name: 'fedbuff', bufferSize: K, concurrency: 40 },
      devices: { kind: 'lognormal' },
      privacy: { mode: 'central', clipNorm: C, noiseMultiplier },
      evaluation: { federatedEvery: 0, centralEvery: rounds },
      output: mkdtempSync(join(tmpdir(), 'federa-fedbuff-dp-')),
    });
  const noisy = await simulate(config(1, 1), { out: sink, progress: false });
  const clipped = await simulate(config(0, 1), { out: sink, progress: false });
  let sq = 0;
  for (let j = 0; j < noisy.params.length; j++) sq += (noisy.params[j] - clipped.params[j]) ** 2;
  const std = Math.sqrt(sq / noisy.params.length);
  assert.ok(Math.abs(std / (C / K) - 1) < 0.05, `noise std on the model ${std}, expected z·C/K = ${C / K}`);
  const run = await simulate(config(1, 5), { out: sink, progress: false });
  assert.ok(run.history.every((h) => h.status === 'completed'));
  run.history.forEach((h, i) => {
    assert.equal(h.privacy!.samplingRate, 1);
    assert.ok(Math.abs(h.privacy!.epsilon - computeEpsilon({ q: 1, sigma: 1, steps: i + 1, delta: 1e-5 })) < 1e-9, `round ${h.round}: ε ${h.privacy!.epsilon}`);
  });
  assert.throws(() => parseSimulationConfig({ rounds: 2, clients: 10, strategy: { name: 'fedbuff' }, privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1 } }), /strategy "fedbuff" with privacy\.mode "distributed": the staleness weights s\(τ\) ≤ 1 would scale each client's noise below what the accountant charges/);
});

test('federated evaluation asks only the clients that are not training for FedBuff', async () => {
  const r = await runSimulation({
    ...knownUpdateSimulation(ids, updates, Array.from({ length: N }, () => 10)),
    validationFraction: 0.3,
    strategy: new AggregationStrategy(createStrategy({ name: 'fedbuff' }), [createMeanStage({ weighting: 'uniform' })]),
    workflow: new FedBuffWorkflow({ bufferSize: 4, concurrency: N - 3 }),
    rounds: 5,
    seed: 4,
    evaluation: { every: 1, fraction: 1 },
    devices: { kind: 'lognormal' },
  });
  for (const h of r.history) {
    assert.equal(h.train?.metrics.training_clients, N - 3);
    assert.equal(h.federatedEvaluation?.clients, 3, `round ${h.round}: ${h.federatedEvaluation?.clients} clients evaluated`);
  }
});

test('a skipped round does not advance the model version: the clients still training are not counted staler', async () => {
  const real = new AggregationStrategy(createStrategy({ name: 'fedbuff' }), [createMeanStage({ weighting: 'uniform' })]);
  // Round 2's aggregation fails: the round is skipped and the model stays version 1.
  const failing = Object.create(real) as typeof real;
  failing.aggregateTrain = (round, global) => {
    const a = real.aggregateTrain(round, global);
    if (round !== 2) return a;
    return { ...a, add: (u) => a.add(u), get accepted() { return a.accepted; }, finish: () => { a.discard?.(); throw new Error('injected failure'); } } as typeof a;
  };
  const r = await runSimulation({
    ...knownUpdateSimulation(ids, updates, Array.from({ length: N }, () => 10)),
    strategy: failing,
    workflow: new FedBuffWorkflow({ bufferSize: 3, concurrency: 8 }),
    rounds: 4,
    seed: 4,
    devices: { kind: 'lognormal' },
  });
  assert.deepEqual(r.history.map((h) => h.status), ['completed', 'skipped', 'completed', 'completed']);
  assert.deepEqual([1, 3, 4].map((n) => bufferOf(r.history[n - 1]).version), [0, 1, 2]);
});
