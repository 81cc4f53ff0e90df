// DP-FedAvg, robust aggregation and compression from the server config ([privacy], [robust],
// [compression]): ε recorded every
// round and carried across a server restart by the checkpoint (the accountant keeps counting),
// and the settings that cannot work refused before anything listens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageBase } from '../../src/core/messages.js';
import { createIdentity } from '../../src/node/identity.js';
import { rdpEpsilon } from '../../src/privacy/accountant/rdp.js';
import { FederaServer, type ServerModel } from '../../src/server/server.js';
import { planRun } from '../../src/run/plan.js';
import type { ServerConfig } from '../../src/config/schema.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { throwsCode } from '../helpers/assertions.js';
import { FakeTrainer } from '../helpers/fake-trainer.js';
import { FederaClient } from '../../src/node/client.js';
import { runWithClients, scriptedWireClient, toyModel as toyModelOf, toyServerConfig } from './helpers/scripted.js';

const D = 8;
const toyModel = (): ServerModel => toyModelOf(D);

function config(dir: string, extra: Record<string, unknown>, server: Record<string, unknown> = {}) {
  return toyServerConfig(dir, { name: 'dp-run', clientsPerRound: 2, ...extra }, server);
}

// Fixed-size sampling keeps this file's round counts exact; Poisson sampling has its own test below.
const privacy = { clipNorm: 1, noiseMultiplier: 1.1, populationSize: 3, sampling: 'fixed' };

test('[privacy] in the server config: ε every round, and a restarted server keeps counting from its checkpoint', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-dp-'));
  const identities = [0, 1, 2].map((i) => createIdentity(`client-${i}`));
  const runTo = async (rounds: number) => {
    const server = new FederaServer(config(dir, { rounds, privacy }), { model: toyModel(), processMetrics: false });
    let clients: ReturnType<typeof scriptedWireClient>[] = [];
    try {
      const { url } = await server.start();
      clients = [0, 1, 2].map((i) =>
        scriptedWireClient(url, {
          index: i,
          identity: identities[i],
          // Updates far longer than the clip norm: the server clips them to C = 1.
          train: (ins) => ({ type: 'train_result', runId: ins.runId, round: ins.round, update: new Float32Array(D).fill(i + 1), numExamples: 5, metrics: { loss: 1 } }) as MessageBase,
        }),
      );
      const done = clients.map((c) => c.start());
      const outcome = await server.done;
      clients.forEach((c) => c.stop());
      await Promise.allSettled(done);
      return { outcome, history: server.history().rounds, metrics: await server.metrics.text(), params: server.store.latestCheckpoint(server.runId)!.params };
    } finally {
      // Clients reconnect by themselves: stop them even when the run failed, or the file never exits.
      clients.forEach((c) => c.stop());
      await server.stop();
    }
  };
  const first = await runTo(2);
  assert.equal(first.outcome.status, 'completed');
  const resumed = await runTo(4); // the same database, more rounds: rounds 3 and 4 run from the checkpoint
  assert.equal(resumed.outcome.resumedAt, 3);
  assert.deepEqual(resumed.history.map((r) => r.status), ['completed', 'completed', 'completed', 'completed']);
  resumed.history.forEach((r, k) => {
    const want = rdpEpsilon(2 / 3, 1.1, k + 1, 1e-5).epsilon;
    assert.ok(r.privacy, `round ${r.round} has a privacy record`);
    assert.equal(r.privacy.steps, k + 1, `round ${r.round}: rounds charged`);
    assert.ok(Math.abs(r.privacy.epsilon - want) <= 1e-9 * want, `round ${r.round}: ε ${r.privacy.epsilon}, expected ${want}`);
  });
  const last = resumed.history[3].privacy!;
  assert.match(resumed.metrics, new RegExp(`^federa_privacy_epsilon ${last.epsilon.toString().replace('.', '\\.')}$`, 'm'), 'ε on /metrics');
  // The server clipped every update to norm C = 1: each round moves a coordinate by 1/√8 ≈ 0.35 on
  // average, plus noise of std σC/m = 0.55 (0.39 on the mean of the 8 coordinates over 4 rounds).
  // Unclipped, the mean of two of the updates 1, 2, 3 would move it by at least 1.5 a round.
  assert.ok(resumed.history.every((r) => r.privacy?.clipNorm === 1));
  const mean = resumed.params.reduce((a, v) => a + v, 0) / resumed.params.length;
  assert.ok(Math.abs(mean - 4 / Math.sqrt(8)) < 4 * 1.1 * 0.5 * Math.sqrt(4 / 8), `mean parameter ${mean} after 4 clipped rounds (unclipped: ≥ 6)`);
});

test('[privacy] in deployment samples Poisson from the CSPRNG: cohorts vary, only released rounds are charged', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-dp-poisson-'));
  const server = new FederaServer(config(dir, { rounds: 16, privacy: { clipNorm: 1, noiseMultiplier: 1.1, populationSize: 3 } }, { minClients: 3 }), { model: toyModel(), processMetrics: false });
  let clients: ReturnType<typeof scriptedWireClient>[] = [];
  try {
    const { url } = await server.start();
    clients = [0, 1, 2].map((i) =>
      scriptedWireClient(url, {
        index: i,
        identity: createIdentity(`poisson-${i}`),
        train: (ins) => ({ type: 'train_result', runId: ins.runId, round: ins.round, update: new Float32Array(D).fill(0.1), numExamples: 5, metrics: { loss: 1 } }) as MessageBase,
      }),
    );
    const outcome = await runWithClients(server, clients);
    assert.equal(outcome.status, 'completed');
    const history = server.history().rounds;
    assert.equal(history.length, 16);
    let charged = 0;
    for (const r of history) {
      if (r.status === 'skipped') {
        // An empty Poisson sample releases nothing.
        assert.equal(r.code, 'no_clients', r.reason);
        assert.equal(r.privacy, undefined);
        continue;
      }
      charged++;
      assert.equal(r.privacy!.samplingRate, 2 / 3);
      assert.equal(r.privacy!.steps, charged);
      assert.ok(r.selected.length >= 1 && r.selected.length <= 3);
    }
    // Some cohort differs from k = 2 but with probability (4/9)^16 ≈ 2·10⁻⁶ (binomial 3, 2/3).
    assert.ok(history.some((r) => r.selected.length !== 2), `cohorts: ${history.map((r) => r.selected.length).join(',')}`);
  } finally {
    clients.forEach((c) => c.stop());
    await server.stop();
  }
});

test('[privacy] and [robust] in the server config: what cannot work is refused with the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-dp-'));
  throwsCode(() => config(dir, { rounds: 2, privacy: { clipNorm: 1, noiseMultiplier: 1 } }), 'invalid_config', 'privacy.populationSize');
  throwsCode(() => config(dir, { rounds: 2, privacy: { populationSize: 3 } }), 'invalid_config', 'noiseMultiplier');
  throwsCode(() => config(dir, { rounds: 2, privacy, robust: { aggregator: 'median' } }), 'invalid_config', 'cannot be combined');
  throwsCode(() => config(dir, { rounds: 2, privacy }, { overSelection: 0.5 }), 'invalid_config', 'overSelection');
  throwsCode(() => config(dir, { rounds: 2, clientsPerRound: 5, privacy }), 'invalid_config', 'populationSize (3)');
  throwsCode(() => config(dir, { rounds: 2, robust: { aggregator: 'krum', f: 1 } }), 'invalid_config', 'needs at least');
  // A budget the plan would exceed is refused when the strategy is built, before the server listens.
  const planOf = (c: ServerConfig) => planRun(c, { population: c.privacy?.populationSize ?? c.clientsPerRound ?? 3, deployment: true });
  throwsCode(() => config(dir, { rounds: 50, privacy: { ...privacy, targetEpsilon: 1 } }), 'invalid_config', 'above the target');
  // Accepted settings build the defence around the strategy.
  assert.match(planOf(config(dir, { rounds: 2, privacy })).strategy.name, /^dp-/);
  assert.notEqual(planOf(config(dir, { rounds: 2, clientsPerRound: 3, robust: { aggregator: 'median' } })).strategy.name, 'fedavg');
});

test('[compression] in the server config: stock clients decode the fp16 model and send 8-bit updates the server announced', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-compress-'));
  const D2 = 4096;
  const server = new FederaServer(config(dir, { rounds: 2, local: { epochs: 1, batchSize: 10, learningRate: 0.5 }, compression: { uplink: 'quantize:8', downlink: 'fp16' } }), { model: toyModelOf(D2), processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  const received: Float32Array[] = [];
  const clients = [0, 1].map(
    (i) =>
      new FederaClient({
        server: url,
        data: { x: new Float32Array(40), y: new Int32Array(20), numFeatures: 2, numClasses: 2 },
        token: `token-${i}`,
        identity: createIdentity(`client-${i}`),
        // Moves every parameter halfway to 1 (client 0) or 3 (client 1) per epoch.
        createTrainer: () => {
          const trainer = new FakeTrainer(D2, 2 * i + 1);
          const set = trainer.setParameters.bind(trainer);
          trainer.setParameters = (p) => (received.push(p.slice()), set(p));
          return trainer;
        },
      }),
  );
  // Clients reconnect by themselves: stop them with the test, even a failed one, or the file never exits.
  t.after(() => clients.forEach((c) => c.stop()));
  const outcomes = await Promise.all(clients.map((c) => c.start()));
  assert.deepEqual(outcomes.map((o) => o.reason), ['run_complete', 'run_complete']);
  const rounds = server.history().rounds;
  assert.deepEqual(rounds.map((r) => r.status), ['completed', 'completed']);
  for (const r of rounds) {
    // 8-bit codes (plus per-chunk scales) instead of float32; fp16 instead of float32 downlink.
    assert.ok((r.bytes.upRatio ?? 0) > 3.5, `round ${r.round}: uplink ${r.bytes.upRatio}× smaller`);
    assert.ok((r.bytes.downRatio ?? 0) > 1.9, `round ${r.round}: downlink ${r.bytes.downRatio}× smaller`);
  }
  // The clients received the decoded model: after round 1 it is the mean of the two updates
  // (0.5 and 1.5, weights equal), 1.0 within fp16 and 8-bit quantization error.
  const second = received.find((p) => Math.abs(p[0]) > 0.1)!;
  assert.ok(second, 'a non-zero model reached a client');
  for (const v of second) assert.ok(Math.abs(v - 1) < 0.02, `parameter ${v} vs 1`);
});

test('[privacy] with [robust] normBound over wss: both clips apply (clipping only, so the move is exact)', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-dp-nb-'));
  const rounds = 3;
  const server = new FederaServer(
    config(dir, { rounds, clientsPerRound: 3, privacy: { clipNorm: 1, noiseMultiplier: 0, populationSize: 3, sampling: 'fixed' }, robust: { aggregator: 'mean', normBound: 0.5 } }),
    { model: toyModel(), processMetrics: false },
  );
  let clients: ReturnType<typeof scriptedWireClient>[] = [];
  try {
    const { url } = await server.start();
    clients = [0, 1, 2].map((i) =>
      scriptedWireClient(url, {
        index: i,
        identity: createIdentity(`nb-${i}`),
        train: (ins) => ({ type: 'train_result', runId: ins.runId, round: ins.round, update: new Float32Array(D).fill(i + 1), numExamples: 5, metrics: { loss: 1 } }) as MessageBase,
      }),
    );
    const outcome = await runWithClients(server, clients);
    assert.equal(outcome.status, 'completed');
    // Every update (norms 2.8, 5.7, 8.5) is clipped to the norm bound 0.5 < C = 1: each coordinate
    // of each moves by 0.5/√8, and so does their mean, every round.
    const step = 0.5 / Math.sqrt(D);
    for (const v of server.store.latestCheckpoint(server.runId)!.params) assert.ok(Math.abs(v - rounds * step) < 1e-5, `parameter ${v}, expected ${rounds * step}`);
    assert.ok(server.history().rounds.every((r) => r.privacy?.epsilon === null || r.privacy?.epsilon === Infinity), 'clipping only: no finite ε');
  } finally {
    clients.forEach((c) => c.stop());
    await server.stop();
  }
});
