import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compressionClientLayer, compressionServerLayer, compressionLayers, RESIDUAL_STATE_KEY, type EncodedTrainReply } from '../../src/compress/layers.js';
import { CompressionPipeline, decodePayload } from '../../src/compress/pipeline.js';
import { RoundEngine } from '../../src/engine/engine.js';
import { withoutTiming } from '../../src/core/records.js';
import type { ServerLayer } from '../../src/engine/server-layer.js';
import { InMemoryGrid, type MessageHandler } from '../../src/transport/memory.js';
import { ClientRuntime, type ClientLayer } from '../../src/client/runtime.js';
import type { FitOptions, FitOutcome, EvaluateOutcome } from '../../src/client/trainer.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { makeParams, ParamLayout } from '../../src/core/params.js';
import type { MessageBase, TrainInstruction, TrainReply } from '../../src/core/messages.js';
import { isFederaError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { Dataset } from '../../src/data/dataset.js';
import { FakeTrainer, VectorTrainer, sizedDataset } from '../helpers/fake-trainer.js';

const train = (round: number, params?: Float32Array): TrainInstruction => ({ type: 'train', runId: 'r', round, params: params ?? new Float32Array(5), config: {} });

/** A client layer driven by hand: the inner handler answers with the update we choose. */
function driven(uplink: string) {
  const state = new Map<string, unknown>();
  let next: Float32Array = new Float32Array(0);
  const inner: MessageHandler = async (m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: next.slice(), numExamples: 1, metrics: {} }) as TrainReply;
  const handler = compressionClientLayer({ uplink, seed: 1 })(inner, { clientId: 'c0', state });
  return {
    state,
    send: async (round: number, update: number[]) => {
      next = Float32Array.from(update);
      const reply = (await handler(train(round))) as EncodedTrainReply;
      assert.equal((reply as unknown as { update?: unknown }).update, undefined);
      assert.ok(reply.encoded instanceof Uint8Array, 'the reply carries encoded bytes');
      return decodePayload(reply.encoded);
    },
  };
}

test('error feedback carries exactly what top-k dropped into the next round', async () => {
  const c = driven('topk:k=2');
  const u1 = [5, -1, 0.5, 3, 0.25];
  assert.deepEqual(await c.send(1, u1), Float32Array.from([5, 0, 0, 3, 0]));
  const e1 = c.state.get(RESIDUAL_STATE_KEY) as Float32Array;
  assert.deepEqual(e1, Float32Array.from([0, -1, 0.5, 0, 0.25]));
  const u2 = [0, 2, 0.6, 0, -0.5];
  // Round 2 compresses u2 + e1 = [0, 1, 1.1, 0, −0.25] (in float32): keeps indices 1 and 2.
  const corrected = Float32Array.from(u2, (v, i) => v + e1[i]);
  assert.deepEqual(await c.send(2, u2), Float32Array.from([0, corrected[1], corrected[2], 0, 0]));
  assert.deepEqual(c.state.get(RESIDUAL_STATE_KEY), Float32Array.from([0, 0, 0, 0, corrected[4]]));
  // Without error feedback the dropped values are simply lost.
  const plain = driven('topk:k=2:ef=false');
  await plain.send(1, u1);
  assert.equal(plain.state.has(RESIDUAL_STATE_KEY), false);
  assert.deepEqual(await plain.send(2, u2), Float32Array.from([0, 2, 0.6, 0, 0]));
});

test('with quantization after top-k the residual is exactly the corrected update minus what the server decodes', async () => {
  const c = driven('topk:k=3,quantize:2,lossless');
  const rng = new Rng('ef-q');
  let residual: Float32Array = new Float32Array(40);
  for (let round = 1; round <= 4; round++) {
    const u = Float32Array.from({ length: 40 }, () => rng.normal());
    const corrected = Float32Array.from(u, (v, i) => v + residual[i]);
    const decoded = await c.send(round, [...u]);
    assert.equal(decoded.filter((v) => v !== 0).length <= 3, true);
    residual = c.state.get(RESIDUAL_STATE_KEY) as Float32Array;
    for (let i = 0; i < 40; i++) assert.equal(residual[i], Math.fround(corrected[i] - decoded[i]), `round ${round} i ${i}`);
  }
});

// ---- through the engine ----

const D = 2000;

/** Moves every weight toward sin(0.37·i + mean of the client's x) — different updates per client. */
class PatternTrainer extends VectorTrainer {
  constructor() {
    super(D);
  }
  async fit(data: Dataset, o: FitOptions): Promise<FitOutcome> {
    let s = 0;
    for (const v of data.x) s += v;
    s /= Math.max(1, data.x.length);
    let loss = 0;
    for (let i = 0; i < D; i++) {
      const t = Math.sin(0.37 * i + s);
      this.w[i] += o.learningRate * (t - this.w[i]);
      loss += (t - this.w[i]) ** 2;
    }
    return { numExamples: data.y.length, metrics: { loss: loss / D } };
  }
  async evaluate(data: Dataset): Promise<EvaluateOutcome> {
    return { loss: Math.abs(this.w[0]), numExamples: data.y.length, metrics: { accuracy: 0.5 } };
  }
}

async function simulate(compression?: { uplink: string; downlink: string }) {
  const n = 60;
  const data: Dataset = { x: Float32Array.from({ length: n }, (_, i) => i / 10), y: new Int32Array(n), numFeatures: 1, numClasses: 1 };
  const layers = compression ? compressionLayers({ ...compression, seed: 9 }) : undefined;
  return runSimulation({
    train: data,
    partitions: Array.from({ length: 6 }, (_, c) => Int32Array.from({ length: 10 }, (_, i) => c * 10 + i)),
    validationFraction: 0.2,
    createTrainer: () => new PatternTrainer(),
    initialParams: makeParams(ParamLayout.fromShapes([{ name: 'w', shape: [D] }])),
    strategy: new FedAvg({ trainConfig: { epochs: 1, batchSize: 1, learningRate: 0.5 } }),
    rounds: 4,
    seed: 3,
    sampling: { fraction: 0.5, minClients: 3 },
    layers: layers ? [layers.client] : undefined,
    serverLayers: layers ? [layers.server] : undefined,
  });
}

test('an engine run in simulation with uplink top-k + 8-bit + lossless and fp16 downlink: bytes measured, ratios reported, reproducible', async () => {
  const compression = { uplink: 'topk:0.1,quantize:8,lossless', downlink: 'fp16' };
  const plain = await simulate();
  const a = await simulate(compression);
  const b = await simulate(compression);
  assert.deepEqual(a.history.map(withoutTiming), b.history.map(withoutTiming));
  assert.deepEqual(a.params.data, b.params.data);
  assert.equal(a.history.length, 4);
  for (let r = 0; r < 4; r++) {
    const [h, p] = [a.history[r], plain.history[r]];
    assert.equal(h.status, 'completed');
    assert.deepEqual(h.failed, []);
    assert.deepEqual(h.selected, p.selected);
    const bytes = h.bytes;
    // Float32-equivalent downlink: exactly what the uncompressed run sent (same instructions, float32 params).
    assert.equal(bytes.downFloat32, p.bytes.down);
    assert.equal(bytes.downFloat32, p.bytes.downFloat32);
    // Uplink float32 size differs from the plain run's only by the digits of the metrics.
    assert.ok(Math.abs(bytes.upFloat32! - p.bytes.up) / p.bytes.up < 0.01, `${bytes.upFloat32} vs ${p.bytes.up}`);
    assert.equal(bytes.downRatio, bytes.downFloat32! / bytes.down);
    assert.equal(bytes.upRatio, bytes.upFloat32! / bytes.up);
    assert.ok(bytes.downRatio! > 1.9 && bytes.downRatio! <= 2, `down ratio ${bytes.downRatio}`);
    assert.ok(bytes.upRatio! > 8, `up ratio ${bytes.upRatio}`);
    assert.equal(p.bytes.upRatio, 1);
    assert.equal(p.bytes.downRatio, 1);
  }
  // Plumbing check: a lossless uplink (top-100%, float32 values) trains bitwise like float32, and
  // 8-bit uplink with an fp16 downlink stays within 2% of the float32 model.
  const dist = (x: Float32Array, y: Float32Array) => Math.sqrt(x.reduce((s, v, i) => s + (v - y[i]) ** 2, 0));
  const exact = await simulate({ uplink: 'topk:100%', downlink: '' });
  assert.deepEqual(exact.params.data, plain.params.data);
  const q8 = await simulate({ uplink: 'quantize:8', downlink: 'fp16' });
  const norm = dist(new Float32Array(D), plain.params.data);
  assert.ok(dist(q8.params.data, plain.params.data) < 0.02 * norm, `${dist(q8.params.data, plain.params.data)} vs ‖plain‖ ${norm}`);
});

const layout4 = ParamLayout.fromShapes([{ name: 'w', shape: [4] }]);

test('bad encoded updates exclude their client with malformed_message; the round completes with the others', async () => {
  const good = (id: string, target: number, examples: number): MessageHandler => {
    const rt = new ClientRuntime({ clientId: id, trainer: new FakeTrainer(4, target), data: { train: sizedDataset(examples) }, layers: [compressionClientLayer({ uplink: 'quantize:8', seed: 1 })] });
    return (m) => rt.handle(m);
  };
  const valid = new CompressionPipeline('quantize:8').encode(Float32Array.from([1, 2, 3, 4]), new Rng(1));
  const reply = (encoded: unknown, extra: object = {}): MessageHandler => async (m: MessageBase) =>
    ({ type: 'train_result', runId: m.runId, round: m.round, encoded, numExamples: 10, metrics: {}, ...extra }) as unknown as MessageBase;
  const tweak = (f: (c: Uint8Array, dv: DataView) => void) => {
    const c = valid.slice();
    f(c, new DataView(c.buffer));
    return c;
  };
  const handlers = new Map<string, MessageHandler>([
    ['c0', good('c0', 1, 10)],
    ['c1', good('c1', 2, 20)],
    ['c2', good('c2', 3, 30)],
    ['c3', reply(valid.slice(0, valid.length - 5))],
    ['c4', reply(tweak((c) => (c[2] = 7)))],
    ['c5', reply(new CompressionPipeline('quantize:8').encode(new Float32Array(5), new Rng(1)))],
    ['c6', reply(valid, { update: new Float32Array(4) })],
    ['c7', reply('AAAA')],
    ['c8', reply(tweak((c) => (c[9] = 5)))],
    ['c9', reply(new CompressionPipeline('topk:k=2').encode(Float32Array.from([1, 2, 3, 4])).fill(9, 12, 13))],
  ]);
  const engine = new RoundEngine({
    grid: new InMemoryGrid(handlers),
    strategy: new FedAvg({ trainConfig: { epochs: 1, batchSize: 1, learningRate: 0.5 } }),
    initialParams: makeParams(layout4),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: 10 },
    evaluation: false,
    serverLayers: [compressionServerLayer()],
  });
  const { params, history } = await engine.run();
  const h = history[0];
  assert.equal(h.status, 'completed');
  assert.deepEqual([...h.succeeded].sort(), ['c0', 'c1', 'c2']);
  const reasons = new Map(h.failed.map((f) => [f.clientId, f]));
  const expect: Record<string, RegExp> = {
    c3: /truncated/,
    c4: /unknown format version 7/,
    c5: /decodes to 5 values, expected 4/,
    c6: /both update and encoded/,
    c7: /expected a Uint8Array, got string/,
    c8: /bits = 5; must be 1, 2, 4 or 8/,
    c9: /keeps k = 9 of 4 values/,
  };
  for (const [id, pattern] of Object.entries(expect)) {
    const f = reasons.get(id);
    assert.ok(f, `${id} should have failed`);
    assert.equal(f.code, 'rejected:malformed_message', id);
    assert.match(f.reason, new RegExp(`train reply from client ${id}: encoded update: .*${pattern.source}`));
  }
  // The three good clients' updates (0.5, 1, 1.5; weights 10, 20, 30) are constant vectors, which 8-bit quantization keeps exactly.
  for (const v of params.data) assert.ok(Math.abs(v - 70 / 60) < 1e-6, `got ${v}`);
  // Accounting: each good reply carries a 32-byte payload for 4 floats (16 bytes): tiny vectors grow.
  assert.equal(h.bytes.upFloat32, h.bytes.up - 3 * 16);
});

test('a client refuses a corrupted downlink payload (client_error:malformed_message) and the round goes on', async () => {
  const handlers = new Map<string, MessageHandler>();
  for (let i = 0; i < 3; i++) {
    const id = `c${i}`;
    const rt = new ClientRuntime({ clientId: id, trainer: new FakeTrainer(4, i + 1), data: { train: sizedDataset(10) }, layers: [compressionClientLayer()] });
    handlers.set(id, (m) => rt.handle(m));
  }
  const corrupt: ServerLayer = {
    name: 'corrupt',
    outgoing: (m, ctx) => {
      const e = (m as unknown as { encoded: Uint8Array }).encoded;
      assert.ok(e instanceof Uint8Array, 'the compression layer ran first');
      return ctx.clientId === 'c1' ? ({ ...m, encoded: e.slice(0, 10) } as MessageBase) : m;
    },
  };
  const engine = new RoundEngine({
    grid: new InMemoryGrid(handlers),
    strategy: new FedAvg({ trainConfig: { epochs: 1, batchSize: 1, learningRate: 0.5 } }),
    initialParams: makeParams(layout4, Float32Array.from([0.5, -0.25, 1, 2])),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: 3 },
    evaluation: false,
    serverLayers: [compressionServerLayer({ downlink: 'fp16' }), corrupt],
  });
  const { history } = await engine.run();
  assert.equal(history[0].status, 'completed');
  assert.deepEqual([...history[0].succeeded].sort(), ['c0', 'c2']);
  assert.equal(history[0].failed[0].code, 'client_error:malformed_message');
  assert.match(history[0].failed[0].reason, /client c1 train \(round 1\): encoded params: truncated/);
});

test('layer configuration errors are invalid_config', () => {
  assert.throws(() => compressionServerLayer({ downlink: 'topk:0.1' }), (e) => isFederaError(e, 'invalid_config') && /downlink: topk is for updates/.test((e as Error).message));
  assert.throws(() => compressionClientLayer({ uplink: 'quantize:3' }), (e) => isFederaError(e, 'invalid_config') && /uplink\[0\] \(quantize\): bits/.test((e as Error).message));
  const layer: ClientLayer = compressionClientLayer({ uplink: [] });
  assert.equal(typeof layer, 'function');
});
