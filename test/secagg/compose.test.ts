// Composition: distributed DP noise is added by each client before masking and DP-FedAvg gets the
// secure sum (its accounting sees how many clients are in it); config refusals; and `simulate`
// end to end with secure aggregation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeParams } from '../../src/core/params.js';
import type { MessageBase, TrainReply } from '../../src/core/messages.js';
import type { ClientLayer } from '../../src/client/runtime.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { DpFedAvg } from '../../src/aggregate/dp-fedavg.js';
import { dpClientLayer } from '../../src/privacy/client-layer.js';
import { Rng } from '../../src/core/rng.js';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { parseServerConfig } from '../../src/config/rules.js';
import { simulate } from '../../src/cli/simulate.js';
import { secAggClientLayer, SecAggWorkflow, sumErrorBound, type SecAggRoundResult } from '../../src/secagg/index.js';
import { KnownUpdateTrainer, dropAt, indexedData, knownUpdates } from './helpers/clients.js';
import { isFederaError } from '../../src/core/errors.js';

const N = 10;
const D = 200;

test('distributed DP inside secure aggregation: noise before masking, DP-FedAvg charges the clients in the sum', { timeout: 60_000 }, async () => {
  const updates = knownUpdates(N, D, 3, 0.2);
  const { train, partitions } = indexedData(Array.from({ length: N }, () => 10));
  // What each client's secagg layer gets from the DP layer (clipped and noised), seen on the client.
  const seen = new Map<number, Float32Array>();
  const spy = (i: number): ClientLayer => (next) => async (m: MessageBase) => {
    const r = await next(m);
    if (r.type === 'train_result') seen.set(i, (r as TrainReply).update.slice());
    return r;
  };
  // What leaves each client (outside the secagg layer): the masked reply's clear metrics.
  const clear: Array<Record<string, number>> = [];
  const wire: ClientLayer = (next) => async (m: MessageBase) => {
    const r = await next(m);
    if (r.type === 'secagg_masked_result') clear.push((r as unknown as { metrics: Record<string, number> }).metrics);
    return r;
  };
  const centered = new Map<number, number>();
  const dpSpy = (i: number): ClientLayer => (next) => async (m: MessageBase) => {
    const r = await next(m);
    if (r.type === 'train_result') centered.set(i, (r as TrainReply).metrics['dp.unclippedCentered']);
    return r;
  };
  const results: SecAggRoundResult[] = [];
  const sigma = 0.5;
  const adaptive = { targetQuantile: 0.5, clipLearningRate: 0.2, countNoiseMultiplier: 2 };
  const strategy = new DpFedAvg(new FedAvg(), { clipNorm: 1, noiseMultiplier: sigma, mode: 'distributed', adaptive, delta: 1e-5, populationSize: N, clientsPerRound: N, noiseRng: new Rng(1) });
  const initial = makeParams(new KnownUpdateTrainer(updates).layout);
  const run = await runSimulation({
    train,
    partitions,
    validationFraction: 0,
    createTrainer: () => new KnownUpdateTrainer(updates),
    initialParams: initial,
    strategy,
    layers: (_id, i) => [wire, ...(i === 3 || i === 6 ? [dropAt('secagg_masked')] : []), secAggClientLayer({ randomness: 'seeded', seed: 1 }), spy(i), dpSpy(i), dpClientLayer({ noise: 'seeded' })],
    workflow: new SecAggWorkflow({ clippingRange: 4, weighting: 'uniform', onResult: (r) => results.push(r) }),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: N },
    evaluation: false,
    centralEvaluationEvery: 0,
  });
  const record = run.history[0];
  assert.equal(record.status, 'completed', record.reason);
  assert.equal(seen.size, 8, 'the two dropped clients never trained');
  // Noise was added on the client: what the secagg layer masked is not the bare (clipped) update.
  const noisy = seen.get(0)!;
  assert.ok(Math.abs(noisy[0] - updates[0][0]) > 1e-4);
  // The server's result is Σ (noised updates) / m with m = 10 expected clients, within quantization.
  const bound = sumErrorBound(results[0].encoding, 8);
  for (let j = 0; j < D; j++) {
    let s = 0;
    for (const u of seen.values()) s += Math.max(-4, Math.min(4, u[j]));
    assert.ok(Math.abs(results[0].sum[j] - s) <= bound + 1e-6);
    assert.ok(Math.abs(run.params.data[j] - s / N) <= bound / N + 1e-6);
  }
  // The per-client DP indicators never travel in the clear: they were summed under the masks,
  // and adaptive clipping got their exact sum (within quantization): b̃ = Σ(b − ½ + noise)/m + ½.
  assert.equal(clear.length, 8);
  for (const m of clear) assert.deepEqual(Object.keys(m).filter((k) => k.startsWith('dp.')), []);
  const sumCentered = [...centered.values()].reduce((a, b) => a + b, 0);
  assert.equal(centered.size, 8);
  assert.ok(Math.abs(record.privacy!.unclippedFraction - (sumCentered / N + 0.5)) < 1e-6, `${record.privacy!.unclippedFraction} vs ${sumCentered / N + 0.5}`);
  // Eight clients' shares of noise: the round is charged σ·√(8/10).
  assert.ok(Math.abs(record.privacy!.noiseMultiplier - sigma * Math.sqrt(8 / 10)) < 1e-12, String(record.privacy?.noiseMultiplier));
});

function throwsCode(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => isFederaError(e) && e.code === code && message.test(e.message));
}

const base = (extra: Record<string, unknown>) => ({ clients: 20, clientsPerRound: 10, partition: { kind: 'iid' }, ...extra });

test('config: secagg settings that cannot work are refused with a clear reason', () => {
  throwsCode(() => parseSimulationConfig(base({ secagg: { threshold: 11 } })), 'invalid_config', /threshold = 11 exceeds the 10 shares/);
  throwsCode(() => parseSimulationConfig(base({ secagg: { threshold: 4 } })), 'invalid_config', /must exceed half/);
  throwsCode(() => parseSimulationConfig(base({ secagg: { bits: 4 } })), 'invalid_config', /bits = 4 is too small for 10 clients/);
  throwsCode(() => parseSimulationConfig(base({ secagg: {}, robust: { aggregator: 'median' } })), 'invalid_config', /robust aggregation .* secure aggregation hides/);
  throwsCode(() => parseSimulationConfig(base({ secagg: {}, compression: { uplink: 'quantize:8' } })), 'invalid_config', /uplink compression/);
  throwsCode(() => parseSimulationConfig(base({ secagg: {}, privacy: { mode: 'central', noiseMultiplier: 1 } })), 'invalid_config', /privacy.mode "central"/);
  throwsCode(() => parseSimulationConfig(base({ secagg: { weighting: 'examples' }, privacy: { mode: 'distributed', noiseMultiplier: 1 } })), 'invalid_config', /uniform/);
  throwsCode(() => parseSimulationConfig(base({ secagg: { mode: 'secagg+', neighbours: 4, threshold: 6 } })), 'invalid_config', /4 neighbours \+ the client itself/);
  throwsCode(() => parseSimulationConfig(base({ secagg: { mode: 'secagg++' } })), 'invalid_config', /secagg.mode/);
  const ok = parseSimulationConfig(base({ secagg: { mode: 'secagg+', neighbours: 4 }, privacy: { mode: 'distributed', noiseMultiplier: 1 } }));
  assert.equal(ok.secagg?.randomness, 'secure');
  const server = { seed: 1, model: 'logreg', input: { numFeatures: 2, numClasses: 2 }, clientsPerRound: 5 };
  throwsCode(() => parseServerConfig({ ...server, secagg: { threshold: 6 } }), 'invalid_config', /threshold = 6 exceeds the 5 shares/);
  throwsCode(() => parseServerConfig({ ...server, secagg: { randomness: 'seeded' } }), 'invalid_config', /randomness/);
  assert.equal(parseServerConfig({ ...server, secagg: { mode: 'secagg+' } }).secagg?.mode, 'secagg+');
});

test('simulate with secagg: rounds complete, the history notes secure aggregation, accuracy improves', { timeout: 90_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'federa-secagg-'));
  let text = '';
  const r = await simulate(
    parseSimulationConfig({
      name: 'secagg',
      seed: 4,
      model: 'logreg',
      clients: 10,
      clientsPerRound: 10,
      rounds: 2,
      partition: { kind: 'iid' },
      local: { epochs: 1, batchSize: 32, learningRate: 0.1 },
      evaluation: { federatedEvery: 0, centralEvery: 2 },
      output: out,
      secagg: { mode: 'secagg+', neighbours: 4, clippingRange: 2 },
    }),
    { out: { write: (s: string) => ((text += s), true) }, progress: false },
  );
  assert.match(text, /secagg\s+secagg\+/);
  assert.equal(r.history.length, 2);
  for (const h of r.history) {
    assert.equal(h.status, 'completed', h.reason);
    assert.equal(h.succeeded.length, 10);
    assert.ok(h.events?.some((e) => e.kind === 'secagg'));
  }
  assert.ok(r.finalAccuracy! > 0.5, `accuracy ${r.finalAccuracy}`);
});

test('a robust strategy handed to the secagg workflow directly: the round is skipped with the reason, the model kept', { timeout: 30_000 }, async () => {
  const { createRobustStrategy } = await import('../../src/aggregate/robust-strategy.js');
  const updates = knownUpdates(4, 10, 2);
  const { train, partitions } = indexedData([5, 5, 5, 5]);
  const initial = makeParams(new KnownUpdateTrainer(updates).layout);
  const run = await runSimulation({
    train,
    partitions,
    validationFraction: 0,
    createTrainer: () => new KnownUpdateTrainer(updates),
    initialParams: initial,
    strategy: createRobustStrategy(new FedAvg(), { aggregator: 'median' }),
    layers: [secAggClientLayer()],
    workflow: new SecAggWorkflow(),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: 4 },
    evaluation: false,
    centralEvaluationEvery: 0,
  });
  assert.equal(run.history[0].status, 'skipped');
  assert.match(run.history[0].reason!, /robustly, which secure aggregation hides/);
  assert.deepEqual(run.params.data, initial.data);
});

test('CLI flags: --secagg secagg+ --secagg-neighbours 4 --secagg-bits 24 fill the secagg section', async () => {
  const { buildSimulationConfig } = await import('../../src/cli/main.js');
  const c = buildSimulationConfig({ clients: 20, clientsPerRound: 10, secagg: 'secagg+', secaggNeighbours: 4, secaggBits: 24, secaggClip: 2 });
  assert.equal(c.secagg?.mode, 'secagg+');
  assert.equal(c.secagg?.neighbours, 4);
  assert.equal(c.secagg?.bits, 24);
  assert.equal(c.secagg?.clippingRange, 2);
  assert.equal(c.secagg?.enabled, true);
  throwsCode(() => buildSimulationConfig({ clients: 20, clientsPerRound: 10, secagg: 'secagg', secaggThreshold: 12 }), 'invalid_config', /threshold = 12 exceeds/);
});
