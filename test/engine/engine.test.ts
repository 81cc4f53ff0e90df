import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundEngine } from '../../src/engine/engine.js';
import { withoutTiming } from '../../src/core/records.js';
import { InMemoryGrid, type MessageHandler } from '../../src/transport/memory.js';
import { ClientRuntime } from '../../src/client/runtime.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { makeParams, ParamLayout } from '../../src/core/params.js';
import { MemoryLogger } from '../../src/core/log.js';
import type { MessageBase, TrainReply } from '../../src/core/messages.js';
import { VirtualClientHost } from '../../src/sim/virtual-clients.js';
import { FakeTrainer, sizedDataset } from '../helpers/fake-trainer.js';

const D = 4;
const layout = ParamLayout.fromShapes([{ name: 'w', shape: [D] }]);
const zeros = () => makeParams(layout, new Float32Array(D));

/** Clients c0..c(n-1); client i has (i+1)·10 examples and target i+1; lr 0.5, 1 epoch ⇒ update = 0.5·(target − w). */
function runtimes(n: number, overrides: Record<string, MessageHandler> = {}): Map<string, MessageHandler> {
  const m = new Map<string, MessageHandler>();
  for (let i = 0; i < n; i++) {
    const id = `c${i}`;
    const rt = new ClientRuntime({ clientId: id, trainer: new FakeTrainer(D, i + 1), data: { train: sizedDataset((i + 1) * 10), validation: sizedDataset(5) } });
    m.set(id, overrides[id] ?? ((msg) => rt.handle(msg)));
  }
  return m;
}

const trainConfig = { epochs: 1, batchSize: 1, learningRate: 0.5 };

test('one round of FedAvg over all clients gives the example-weighted mean update', async () => {
  const engine = new RoundEngine({
    grid: new InMemoryGrid(runtimes(3)),
    strategy: new FedAvg({ trainConfig }),
    initialParams: zeros(),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: 3 },
    evaluation: false,
  });
  const { params, history } = await engine.run();
  // updates 0.5·1, 0.5·2, 0.5·3 with weights 10, 20, 30: (5 + 20 + 45) / 60 = 70/60
  for (const v of params.data) assert.ok(Math.abs(v - 70 / 60) < 1e-6, `got ${v}`);
  assert.equal(history.length, 1);
  assert.equal(history[0].status, 'completed');
  assert.deepEqual([...history[0].selected].sort(), ['c0', 'c1', 'c2']);
  assert.deepEqual(history[0].failed, []);
  assert.ok(history[0].bytes.down >= 3 * D * 4 && history[0].bytes.up >= 3 * D * 4, JSON.stringify(history[0].bytes));
  // train loss: client i ends at 0.5·t, loss = D·(0.5t)², weighted by examples
  const expectedLoss = (10 * D * 0.25 + 20 * D * 1 + 30 * D * 2.25) / 60;
  assert.ok(Math.abs(history[0].train!.loss! - expectedLoss) < 1e-9);
});

test('a client that throws, one with a wrong-length update and one with NaN are excluded; the round completes', async () => {
  const logger = new MemoryLogger();
  const bad = (make: (m: MessageBase) => MessageBase): MessageHandler => async (m) => make(m);
  const overrides: Record<string, MessageHandler> = {
    c3: (m) =>
      new ClientRuntime({
        clientId: 'c3',
        trainer: new FakeTrainer(D, 1, () => {
          throw new Error('GPU on fire');
        }),
        data: { train: sizedDataset(10) },
      }).handle(m),
    c4: bad((m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(D + 1), numExamples: 10, metrics: {} }) as TrainReply),
    c5: bad((m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: Float32Array.from([0, NaN, 0, 0]), numExamples: 10, metrics: {} }) as TrainReply),
    c6: bad((m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: Float32Array.from([0, Infinity, 0, 0]), numExamples: 10, metrics: {} }) as TrainReply),
  };
  const engine = new RoundEngine({
    grid: new InMemoryGrid(runtimes(7, overrides)),
    strategy: new FedAvg({ trainConfig }),
    initialParams: zeros(),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: 7 },
    evaluation: false,
    logger,
  });
  const { params, history } = await engine.run();
  const r = history[0];
  assert.equal(r.status, 'completed');
  assert.deepEqual([...r.succeeded].sort(), ['c0', 'c1', 'c2']);
  const byClient = Object.fromEntries(r.failed.map((f) => [f.clientId, f]));
  assert.match(byClient.c3.code, /^client_error:/);
  assert.match(byClient.c3.reason, /GPU on fire/);
  assert.equal(byClient.c4.code, 'rejected:shape_mismatch');
  assert.match(byClient.c4.reason, /expected 4 values, got 5/);
  assert.equal(byClient.c5.code, 'rejected:non_finite');
  assert.match(byClient.c5.reason, /index 1/);
  assert.equal(byClient.c6.code, 'rejected:non_finite');
  // Same as the clean 3-client round.
  for (const v of params.data) assert.ok(Math.abs(v - 70 / 60) < 1e-6);
  const warned = logger.entries.filter((e) => e.level === 'warn' && e.message === 'client failed').map((e) => (e.fields as { clientId: string }).clientId);
  assert.deepEqual(warned.sort(), ['c3', 'c4', 'c5', 'c6']);
});

test('too few usable results: the round is skipped with a clear log line and the model is unchanged', async () => {
  const logger = new MemoryLogger();
  const fail: MessageHandler = async () => {
    throw new Error('connection reset');
  };
  const engine = new RoundEngine({
    grid: new InMemoryGrid(runtimes(3, { c1: fail, c2: fail })),
    strategy: new FedAvg({ trainConfig }),
    initialParams: makeParams(layout, Float32Array.from([1, 2, 3, 4])),
    rounds: 2,
    seed: 1,
    sampling: { fraction: 1, minClients: 3 },
    minResults: 2,
    evaluation: false,
    logger,
  });
  const { params, history } = await engine.run();
  assert.deepEqual([...params.data], [1, 2, 3, 4]);
  assert.equal(history.length, 2);
  for (const r of history) {
    assert.equal(r.status, 'skipped');
    assert.match(r.reason!, /1 of 3 selected clients returned a usable result; at least 2 required/);
    assert.equal(r.train, undefined);
  }
  assert.ok(logger.entries.some((e) => e.level === 'warn' && /round 1 skipped: .*global model unchanged/.test(e.message)));
});

test('a client slower than the deadline is recorded as timed out and the others are aggregated', async () => {
  const slow: MessageHandler = () => new Promise(() => {}); // never answers
  const engine = new RoundEngine({
    grid: new InMemoryGrid(runtimes(3, { c2: slow })),
    strategy: new FedAvg({ trainConfig }),
    initialParams: zeros(),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: 3 },
    roundTimeoutMs: 100,
    evaluation: false,
  });
  const { params, history } = await engine.run();
  const r = history[0];
  assert.equal(r.status, 'completed');
  assert.deepEqual(r.failed.map((f) => [f.clientId, f.code]), [['c2', 'timeout']]);
  // c0 (10 ex, update 0.5) and c1 (20 ex, update 1): 25/30
  for (const v of params.data) assert.ok(Math.abs(v - 25 / 30) < 1e-6);
});

test('over-selection closes the round after k accepted results and records the rest as dropped', async () => {
  const engine = new RoundEngine({
    grid: new InMemoryGrid(runtimes(10)),
    strategy: new FedAvg({ trainConfig }),
    initialParams: zeros(),
    rounds: 1,
    seed: 3,
    sampling: { fraction: 0.3, minClients: 1 },
    overSelection: 0.5, // k = 3, select ⌈4.5⌉ = 5
    evaluation: false,
  });
  const { history } = await engine.run();
  const r = history[0];
  assert.equal(r.selected.length, 5);
  assert.equal(r.succeeded.length, 3);
  assert.equal(r.dropped.length + r.failed.length, 2);
});

test('sampling is seeded: same seed same clients, fraction and minimum respected', async () => {
  const selectedWith = async (seed: number) => {
    const engine = new RoundEngine({
      grid: new InMemoryGrid(runtimes(20)),
      strategy: new FedAvg({ trainConfig }),
      initialParams: zeros(),
      rounds: 3,
      seed,
      sampling: { fraction: 0.1, minClients: 3 },
      evaluation: false,
    });
    const { history } = await engine.run();
    return history.map((r) => r.selected);
  };
  const a = await selectedWith(7);
  const b = await selectedWith(7);
  const c = await selectedWith(8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  for (const s of a) {
    assert.equal(s.length, 3); // ⌈0.1·20⌉ = 2 < minClients 3
    assert.equal(new Set(s).size, 3);
  }
});

test('federated evaluation is weighted by examples; same seed gives an identical history and bitwise-identical parameters', async () => {
  const run = async () => {
    const host = new VirtualClientHost({
      clients: 12,
      data: (_id, i) => ({ train: sizedDataset(5 + i), validation: sizedDataset(1 + (i % 3)) }),
      createTrainer: () => new FakeTrainer(D, 2),
    });
    const after: Float32Array[] = [];
    const engine = new RoundEngine({
      grid: new InMemoryGrid(host),
      strategy: new FedAvg({ trainConfig }),
      initialParams: zeros(),
      rounds: 3,
      seed: 'same',
      sampling: { fraction: 0.25, minClients: 2 },
      evaluation: { fraction: 0.5 },
      onRound: (_r, p) => {
        after.push(p.data.slice());
      },
    });
    return { ...(await engine.run()), after };
  };
  const a = await run();
  const b = await run();
  assert.deepEqual(a.history.map(withoutTiming), b.history.map(withoutTiming));
  assert.deepEqual(Buffer.from(a.params.data.buffer), Buffer.from(b.params.data.buffer));
  for (const [i, r] of a.history.entries()) {
    const fe = r.federatedEvaluation!;
    assert.equal(fe.clients, 6);
    // Every client evaluates the same global model and FakeTrainer's loss is |mean(w)|, so the
    // example-weighted mean equals that value; accuracy likewise 1/(1+|mean|).
    const g = a.after[i];
    const m = Math.abs(g.reduce((x, y) => x + y, 0) / g.length);
    assert.ok(m > 0);
    assert.ok(Math.abs(fe.loss - m) < 1e-6, `${fe.loss} vs ${m}`);
    assert.ok(Math.abs(fe.metrics.accuracy - 1 / (1 + m)) < 1e-6);
    // validation sizes are 1..3 per client: between 6 and 18 examples for 6 clients
    assert.ok(fe.numExamples >= 6 && fe.numExamples <= 18);
  }
});

test('10,000 registered virtual clients: only the selected ones are ever materialised, one at a time', async () => {
  let trainersMade = 0;
  const host = new VirtualClientHost({
    clients: 10_000,
    data: () => ({ train: sizedDataset(3) }),
    createTrainer: () => {
      trainersMade++;
      return new FakeTrainer(D, 1);
    },
  });
  const engine = new RoundEngine({
    grid: new InMemoryGrid(host),
    strategy: new FedAvg({ trainConfig }),
    initialParams: zeros(),
    rounds: 2,
    seed: 5,
    sampling: { fraction: 0.001, minClients: 10 },
    evaluation: false,
  });
  const { history } = await engine.run();
  assert.equal(history[0].selected.length, 10);
  assert.equal(host.materialised, 20);
  assert.equal(host.peakLive, 1);
  assert.equal(host.liveClients, 0);
  assert.equal(trainersMade, 1);
});

test('a strategy whose aggregate overflows to a non-finite value leaves the model unchanged', async () => {
  const huge: MessageHandler = async (m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(D).fill(3e38), numExamples: 1, metrics: {} }) as TrainReply;
  const engine = new RoundEngine({
    grid: new InMemoryGrid(new Map([['a', huge], ['b', huge]])),
    strategy: new FedAvg({ trainConfig }),
    initialParams: makeParams(layout, new Float32Array(D).fill(3e38)),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: 2 },
    evaluation: false,
  });
  const { params, history } = await engine.run();
  // Each update overflows float32 when added to the running sum or to the model: nothing usable.
  assert.equal(history[0].status, 'skipped');
  assert.ok(params.data.every((v) => v === Math.fround(3e38)));
});

test('bad engine configuration is rejected with the field named', () => {
  const base = { grid: new InMemoryGrid(runtimes(1)), strategy: new FedAvg(), initialParams: zeros(), rounds: 1, seed: 1 };
  assert.throws(() => new RoundEngine({ ...base, rounds: -1 }), /rounds must be an integer ≥ 0/);
  assert.throws(() => new RoundEngine({ ...base, sampling: { fraction: 1.5 } }), /sampling.fraction must be in \(0, 1\]/);
  assert.throws(() => new RoundEngine({ ...base, minResults: 0 }), /minResults must be an integer ≥ 1/);
  assert.throws(() => new RoundEngine({ ...base, sampling: { minClients: 0 } }), /sampling.minClients must be an integer ≥ 1/);
});

test('server layers rewrite every instruction and reply; a layer that throws rejects that client', async () => {
  const seen: string[] = [];
  const host = new VirtualClientHost({
    clients: 3,
    data: (_id, i) => ({ train: sizedDataset(10 * (i + 1)) }),
    createTrainer: () => new FakeTrainer(D, 1),
    // Client half: records the marker the server layer put into the config.
    layers: [
      (next) => async (m) => {
        seen.push(String((m as { config?: Record<string, unknown> }).config?.marker));
        return next(m);
      },
    ],
  });
  const engine = new RoundEngine({
    grid: new InMemoryGrid(host),
    strategy: new FedAvg({ trainConfig }),
    initialParams: zeros(),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: 3 },
    evaluation: false,
    serverLayers: [
      {
        name: 'double',
        outgoing: (m) => ({ ...m, config: { ...(m as unknown as { config: object }).config, marker: 'x' } }) as MessageBase,
        incoming: (r, ctx) => {
          if (ctx.clientId === 'client-2') throw new Error('cannot decode');
          const t = r as TrainReply;
          return { ...t, update: t.update.map((v) => 2 * v) } as TrainReply;
        },
      },
    ],
  });
  const { params, history } = await engine.run();
  assert.deepEqual(seen, ['x', 'x', 'x']);
  assert.deepEqual(history[0].failed.map((f) => [f.clientId, f.code]), [['client-2', 'rejected:error']]);
  // client-0 (10 ex) and client-1 (20 ex) both update by 0.5, doubled to 1.0.
  for (const v of params.data) assert.ok(Math.abs(v - 1) < 1e-6);
});

test('a virtual client keeps its layer state across rounds although it is re-materialised', async () => {
  const host = new VirtualClientHost({
    clients: 2,
    data: () => ({ train: sizedDataset(4) }),
    createTrainer: () => new FakeTrainer(D, 1),
    layers: (clientId) => [
      (next, info) => async (m) => {
        const n = ((info.state.get('calls') as number | undefined) ?? 0) + 1;
        info.state.set('calls', n);
        const r = (await next(m)) as TrainReply;
        return { ...r, metrics: { ...r.metrics, calls: n, isClient1: clientId === 'client-1' ? 1 : 0 } } as TrainReply;
      },
    ],
  });
  const engine = new RoundEngine({
    grid: new InMemoryGrid(host),
    strategy: new FedAvg({ trainConfig }),
    initialParams: zeros(),
    rounds: 3,
    seed: 1,
    sampling: { fraction: 1, minClients: 2 },
    evaluation: false,
  });
  const { history } = await engine.run();
  assert.deepEqual(history.map((r) => r.train?.metrics.calls), [1, 2, 3]);
  assert.equal(history[0].train?.metrics.isClient1, 0.5);
  assert.equal(host.materialised, 6);
});
