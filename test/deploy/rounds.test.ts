// Round behaviour in deployment, with an in-process server and scripted clients over real
// WebSocket connections on 127.0.0.1 (no ML, so it is fast): over-selection (select ⌈k·(1+o)⌉,
// close after k, the rest dropped and told to cancel), the report deadline (stragglers fail with
// `timeout`), strategy state restored from a checkpoint, and the store's guarantees.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { isFederaError } from '../../src/core/errors.js';
import type { MessageBase, TrainInstruction } from '../../src/core/messages.js';
import { ParamLayout, makeParams } from '../../src/core/params.js';
import type { RoundRecord } from '../../src/core/records.js';
import { WireClient, type WebSocketLike } from '../../src/wire/client.js';
import { createIdentity, nodeFrameCrypto, nodeSigner } from '../../src/node/identity.js';
import { FederaServer, type ServerModel } from '../../src/server/server.js';
import { Store } from '../../src/server/store.js';
import { scriptedWireClient, toyModel as toyModelOf, toyServerConfig } from './helpers/scripted.js';

const D = 8;
const layout = ParamLayout.fromShapes([{ name: 'w', shape: [D] }]);
const toyModel = (): ServerModel => toyModelOf(D);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const serverConfig = toyServerConfig;

/** A client whose trainer moves every parameter 10% of the way to `target`, after `delayMs`. */
function scriptedClient(url: string, i: number, target: number, delayMs = 0, identity = createIdentity(`client-${i}`)) {
  const seen = { replies: 0, handled: 0 };
  const client = scriptedWireClient(url, {
    index: i,
    identity,
    train: async (ins) => {
      seen.handled++;
      if (delayMs) await sleep(delayMs);
      const update = new Float32Array(D);
      for (let j = 0; j < D; j++) update[j] = 0.1 * (target - ins.params[j]);
      return { type: 'train_result', runId: ins.runId, round: ins.round, update, numExamples: 10 + i, metrics: { loss: Math.abs(target - ins.params[0]) } } as MessageBase;
    },
    onReplySent: () => seen.replies++,
  });
  live.push(client);
  return { client, done: client.start(), seen };
}

// Clients stop with their test, even a failed one (a reconnecting client would keep the file alive).
const live: WireClient[] = [];
afterEach(() => live.splice(0).forEach((c) => c.stop()));

test('over-selection: ⌈k·(1+o)⌉ clients are asked, the round closes after k, the slow ones are dropped and cancelled', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-rounds-'));
  const server = new FederaServer(serverConfig(dir, { rounds: 2, clientsPerRound: 3 }, { overSelection: 0.5, minClients: 5 }), { model: toyModel(), processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  const fast = [0, 1, 2].map((i) => scriptedClient(url, i, 1));
  const slow = [3, 4].map((i) => scriptedClient(url, i, -1, 1500));
  const outcome = await server.done;
  assert.equal(outcome.status, 'completed');
  const history = server.history().rounds;
  for (const r of history) {
    assert.equal(r.status, 'completed');
    assert.equal(r.selected.length, 5, 'ceil(3 × 1.5) = 5 selected');
    assert.deepEqual([...r.succeeded].sort(), ['client-0', 'client-1', 'client-2']);
    assert.deepEqual([...r.dropped].sort(), ['client-3', 'client-4']);
    assert.equal(r.failed.length, 0);
  }
  await Promise.all([...fast, ...slow].map((c) => c.done));
  // The slow clients were told their work was no longer wanted: they sent no replies.
  for (const s of slow) assert.equal(s.seen.replies, 0, `a dropped client sent ${s.seen.replies} replies`);
  for (const f of fast) assert.equal(f.seen.replies, 2);
  // Only the fast clients' pull towards +1 shaped the model.
  const store = new Store(join(dir, 'server.db'));
  t.after(() => store.close());
  const params = store.latestCheckpoint('toy-run')!.params;
  assert.ok(Math.abs(params[0] - 0.19) < 1e-6, `params ${params[0]}`);
});

test('the report deadline drops stragglers with a timeout and the round completes with the others', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-rounds-'));
  const server = new FederaServer(serverConfig(dir, { rounds: 1, clientsPerRound: 3 }, { roundTimeoutMs: 700 }), { model: toyModel(), processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  const clients = [scriptedClient(url, 0, 1), scriptedClient(url, 1, 1), scriptedClient(url, 2, 1, 2500)];
  await server.done;
  const [r] = server.history().rounds as RoundRecord[];
  assert.equal(r.status, 'completed');
  assert.deepEqual([...r.succeeded].sort(), ['client-0', 'client-1']);
  assert.deepEqual(r.failed.map((f) => [f.clientId, f.code]), [['client-2', 'timeout']]);
  assert.match(r.failed[0].reason, /no reply within 700 ms/);
  await Promise.all(clients.map((c) => c.done));
  assert.equal(clients[2].seen.replies, 0);
});

test('a resumed run restores the strategy state from its checkpoint (FedAdam), matching an uninterrupted run bit for bit', { timeout: 60_000 }, async () => {
  const strategy = { name: 'fedadam', serverLearningRate: 0.1, tau: 0.01 };
  const identities = [0, 1, 2].map((i) => createIdentity(`client-${i}`));
  const runTo = async (dir: string, rounds: number) => {
    const server = new FederaServer(serverConfig(dir, { rounds, clientsPerRound: 3, strategy }, { deterministic: true }), { model: toyModel(), processMetrics: false });
    try {
      const { url } = await server.start();
      const clients = [0, 1, 2].map((i) => scriptedClient(url, i, i + 1, 0, identities[i]));
      const outcome = await server.done;
      await Promise.all(clients.map((c) => c.done));
      return outcome;
    } finally {
      await server.stop();
    }
  };
  const a = mkdtempSync(join(tmpdir(), 'federa-rounds-'));
  const b = mkdtempSync(join(tmpdir(), 'federa-rounds-'));
  await runTo(a, 4);
  await runTo(b, 2);
  const resumed = await runTo(b, 4); // same database, more rounds: rounds 3 and 4 run from the checkpoint
  assert.equal(resumed.resumedAt, 3);
  const sa = new Store(join(a, 'server.db'));
  const sb = new Store(join(b, 'server.db'));
  try {
    const pa = sa.latestCheckpoint('toy-run')!;
    const pb = sb.latestCheckpoint('toy-run')!;
    assert.equal(pb.round, 4);
    assert.ok(pb.strategyState && pb.strategyState.m instanceof Float32Array, 'FedAdam moments are checkpointed');
    assert.deepEqual(Array.from(pb.params), Array.from(pa.params));
    assert.deepEqual(sb.roundCounts('toy-run').map((r) => r.count), [1, 1, 1, 1]);
    assert.equal(sb.getRun('toy-run')?.status, 'completed');
  } finally {
    sa.close();
    sb.close();
  }
});

test('store: tokens are single-use and revocable, identities revocable, rounds recorded once, the last K checkpoints kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-store-'));
  const store = new Store(join(dir, 'db.sqlite'));
  try {
    store.addTokens(['alpha', 'beta'], 'config');
    store.addTokens(['alpha'], 'config'); // idempotent
    assert.equal(store.listTokens().length, 2);
    const key = createIdentity().publicKey;
    store.enroll('a', key, 'alpha');
    assert.deepEqual(store.lookup('a'), { publicKey: key, revoked: false });
    const refused = (fn: () => void, pattern: RegExp) => assert.throws(fn, (e: unknown) => isFederaError(e, 'unauthorized') && pattern.test(e.message));
    refused(() => store.enroll('b', key, 'alpha'), /already used/);
    refused(() => store.enroll('b', key, 'nope'), /unknown enrollment token/);
    refused(() => store.enroll('a', key, 'beta'), /already enrolled/);
    const [{ id, token }] = store.createTokens(1, 'x');
    assert.ok(store.revokeToken(id));
    refused(() => store.enroll('c', key, token), /revoked/);
    assert.equal(store.listTokens().find((t) => t.id === id)?.revokedAt !== null, true);
    assert.ok(store.revokeClient('a'));
    assert.equal(store.lookup('a')?.revoked, true);
    assert.equal(store.revokeClient('nobody'), false);

    store.createRun('r', { x: 1 }, 10);
    const record = (round: number): RoundRecord => ({ round, status: 'completed', selected: ['a'], succeeded: ['a'], failed: [], dropped: [], bytes: { down: 1, up: 2 }, timing: { totalMs: 1, trainMs: 1, evaluateMs: 0, centralEvaluateMs: 0 } }) as RoundRecord;
    for (let round = 1; round <= 5; round++) store.commitRound('r', record(round), new Float32Array([round, -round]), layout.toJSON(), { step: round, m: new Float32Array([round]) }, 3);
    assert.throws(() => store.commitRound('r', record(5), new Float32Array(2), layout.toJSON(), undefined, 3), /UNIQUE/);
    assert.deepEqual(store.checkpointRounds('r'), [3, 4, 5]);
    const cp = store.latestCheckpoint('r')!;
    assert.deepEqual(Array.from(cp.params), [5, -5]);
    assert.deepEqual(cp.strategyState, { step: 5, m: new Float32Array([5]) });
    assert.equal(store.getRun('r')?.lastRound, 5);
    assert.deepEqual(store.history('r').map((h) => h.round), [1, 2, 3, 4, 5]);
    assert.ok(store.metrics('r').some((m) => m.name === 'bytes.up' && m.value === 2));
  } finally {
    store.close();
  }
});

test('FederaClient: data from an ES module (a function of the model spec), a custom trainer, and a persistent identity file', { timeout: 60_000 }, async (t) => {
  const { writeFileSync, readFileSync, statSync } = await import('node:fs');
  const { FederaClient } = await import('../../src/node/client.js');
  const { FakeTrainer } = await import('../helpers/fake-trainer.js');
  const dir = mkdtempSync(join(tmpdir(), 'federa-client-module-'));
  const module = join(dir, 'data.mjs');
  writeFileSync(
    module,
    `export default function ({ clientId, model }) {
       const n = 40, f = model.numFeatures;
       return { x: new Float32Array(n * f).fill(clientId.length), y: Int32Array.from({ length: n }, (_, i) => i % model.numClasses), numFeatures: f, numClasses: model.numClasses };
     }\n`,
  );
  const server = new FederaServer(serverConfig(dir, { rounds: 2, clientsPerRound: 1, validationFraction: 0.25 }, {}), { model: toyModel(), processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  const seen: number[] = [];
  const trainSizes: number[] = [];
  const identity = join(dir, 'id.json');
  const client = new FederaClient({
    server: url,
    data: module,
    token: 'token-0',
    clientId: 'module-client',
    identity,
    createTrainer: (spec) => {
      assert.equal(spec.name, 'toy');
      const trainer = new FakeTrainer(D, 1);
      const fit = trainer.fit.bind(trainer);
      trainer.fit = (data, options) => {
        trainSizes.push(data.y.length);
        assert.equal(data.x[0], 'module-client'.length, 'the module got the client id');
        return fit(data, options);
      };
      return trainer;
    },
    onInstruction: (i) => seen.push(i.round),
  });
  const outcome = await client.start();
  assert.equal(outcome.reason, 'run_complete');
  assert.deepEqual(seen, [1, 2]);
  const [r1] = server.history().rounds;
  assert.deepEqual(r1.succeeded, ['module-client']);
  // 40 examples, a quarter held out for validation as the server's validationFraction says.
  assert.deepEqual(trainSizes, [30, 30]);
  const file = JSON.parse(readFileSync(identity, 'utf8'));
  assert.equal(file.clientId, 'module-client');
  assert.equal(file.enrolledWith.length, 1);
  assert.equal(statSync(identity).mode & 0o777, 0o600);
});

test('after a reconnect, a new instruction waits for the one still running on the same trainer', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-rounds-'));
  const server = new FederaServer(serverConfig(dir, { rounds: 2, clientsPerRound: 1 }, { roundTimeoutMs: 30_000 }), { model: toyModel(), processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  const identity = createIdentity('busy');
  let running = 0;
  let most = 0;
  let calls = 0;
  const client = new WireClient({
    url,
    connect: (u) => new WebSocket(u) as unknown as WebSocketLike,
    clientId: 'busy',
    signer: nodeSigner(identity.privateKey),
    crypto: nodeFrameCrypto,
    enrollmentToken: 'token-0',
    reconnect: { initialMs: 50, maxMs: 100 },
    onWelcome: () => async (m: MessageBase) => {
      running++;
      most = Math.max(most, running);
      if (++calls === 1) {
        // The connection drops while this instruction runs; the client reconnects and round 2's
        // instruction arrives on the new connection before this one is done.
        server.grid!.disconnect('busy', 4000, 'test: drop the connection', 'test');
        await sleep(800);
      }
      running--;
      const ins = m as TrainInstruction;
      return { type: 'train_result', runId: ins.runId, round: ins.round, update: new Float32Array(D), numExamples: 1, metrics: {} } as MessageBase;
    },
  });
  live.push(client);
  const done = client.start();
  await server.done;
  await done;
  const rounds = server.history().rounds;
  assert.equal(rounds[0].status, 'skipped', 'round 1 lost its only client');
  assert.equal(rounds[0].failed[0].code, 'disconnected');
  assert.equal(rounds[1].status, 'completed');
  assert.equal(calls, 2);
  assert.equal(most, 1, 'never two instructions at once');
});
