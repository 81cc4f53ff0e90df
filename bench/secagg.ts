/**
 * Cost of secure aggregation against plain FedAvg, measured in the same run: one round of n
 * in-process clients (virtual clients, in-memory grid, the round engine) whose trainer adds a
 * fixed update (no ML), for SecAgg (complete graph) and SecAgg+ (sparse graph), n clients, d
 * parameters.
 *
 *  client s      compute per client: time inside the client's handler over all stages (the same
 *                trivial trainer included in both workflows); "masking" is that time minus the trainer's.
 *  server s      the round's wall time minus the clients' handler time minus this bench's byte
 *                counting: the workflow, the strategy, the in-memory transport's copies.
 *  bytes/client  real frame sizes from the wire codec (src/wire/codec.ts), up and down, averaged.
 *
 * Prints one JSON line per measurement, then a table.
 *   npm run bench:secagg                       n ∈ {10, 100, 500}, d ∈ {10^4, 10^5} (~3 min)
 *   npm run bench:secagg -- --full             and d = 10^6 (~10 min on 2 cores)
 *   npm run bench:secagg -- --quick            n ∈ {10, 100}, d = 10^4
 *   npm run bench:secagg -- --n 100 --d 100000 --mode secagg+ --dropout 0.1
 *   npm run bench:secagg -- --bonawitz         upload per client at n = 2^10, d = 2^20 (the paper's setting)
 */
import { parseArgs } from 'node:util';
import { ParamLayout, makeParams } from '../src/core/params.js';
import type { MessageBase } from '../src/core/messages.js';
import type { Trainer } from '../src/client/trainer.js';
import type { ClientLayer } from '../src/client/runtime.js';
import type { Dataset } from '../src/data/dataset.js';
import { RoundEngine } from '../src/engine/engine.js';
import type { Grid, GridReply } from '../src/engine/grid.js';
import { FederatedTrainWorkflow, type TrainWorkflow } from '../src/engine/workflow.js';
import { InMemoryGrid } from '../src/transport/memory.js';
import { VirtualClientHost } from '../src/sim/virtual-clients.js';
import { FedAvg } from '../src/strategy/fedavg.js';
import { encodeFrame, messageBody } from '../src/wire/codec.js';
import { SecAggWorkflow, secAggClientLayer, resolveSecAgg, SECAGG_MESSAGES, type SecAggMode } from '../src/secagg/index.js';
import { KEY_BYTES } from '../src/secagg/primitives.js';
import { SEED_SHARE_BYTES, SHARE_CIPHERTEXT_BYTES } from '../src/secagg/protocol.js';
import { packMasked } from '../src/secagg/encoding.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    n: { type: 'string', multiple: true },
    d: { type: 'string', multiple: true },
    mode: { type: 'string', multiple: true },
    dropout: { type: 'string', default: '0' },
    bonawitz: { type: 'boolean', default: false },
  },
});

type Variant = 'fedavg' | SecAggMode;
const now = () => performance.now();

/** Adds base·(1 + i/1000) to the parameters: client i's update, O(d), no ML. */
class FixedUpdateTrainer implements Trainer {
  readonly layout: ParamLayout;
  private w: Float32Array;
  constructor(private readonly base: Float32Array) {
    this.layout = ParamLayout.fromShapes([{ name: 'w', shape: [base.length] }]);
    this.w = new Float32Array(base.length);
  }
  getParameters(out?: Float32Array): Float32Array {
    if (!out) return this.w.slice();
    out.set(this.w);
    return out;
  }
  setParameters(p: Float32Array): void {
    this.w.set(p);
  }
  async fit(data: Dataset) {
    const f = 1 + data.x[0] / 1000;
    for (let i = 0; i < this.w.length; i++) this.w[i] += this.base[i] * f;
    return { numExamples: 10 + data.x[0], metrics: { loss: 1 } };
  }
  async evaluate(data: Dataset) {
    return { loss: 0, numExamples: data.y.length, metrics: {} };
  }
  dispose(): void {}
}

/** Counts real frame bytes per message (the time it takes is subtracted from the server's). */
class MeteredGrid implements Grid {
  up = 0;
  down = 0;
  meterMs = 0;
  constructor(private readonly inner: Grid) {}
  availableClients() {
    return this.inner.availableClients();
  }
  async request(clientId: string, message: MessageBase, signal: AbortSignal): Promise<GridReply> {
    let t = now();
    this.down += frameBytes('instruction', message);
    this.meterMs += now() - t;
    const r = await this.inner.request(clientId, message, signal);
    t = now();
    this.up += frameBytes('reply', r.message);
    this.meterMs += now() - t;
    return r;
  }
}

function frameBytes(kind: 'instruction' | 'reply', m: MessageBase): number {
  return encodeFrame({ kind, runId: m.runId, round: m.round, requestId: 1, type: m.type, body: messageBody(m) }).length;
}

interface Measurement {
  clientMs: number;
  maskingMs: number;
  serverMs: number;
  up: number;
  down: number;
  completed: boolean;
  reason?: string;
}

async function measure(variant: Variant, n: number, d: number, dropout: number): Promise<Measurement> {
  const base = Float32Array.from({ length: d }, (_, i) => Math.sin(i) * 0.01);
  const ids = Array.from({ length: n }, (_, i) => `c${String(i).padStart(4, '0')}`);
  let handlerMs = 0;
  let trainerMs = 0;
  const outer: ClientLayer = (next) => async (m) => {
    const t = now();
    try {
      return await next(m);
    } finally {
      handlerMs += now() - t;
    }
  };
  const inner: ClientLayer = (next) => async (m) => {
    const t = now();
    try {
      return await next(m);
    } finally {
      trainerMs += now() - t;
    }
  };
  // Dropouts: these clients vanish after sharing their keys (the costly case for the server: it
  // reconstructs their mask keys and regenerates their pairwise masks).
  const dropped = new Set(ids.slice(0, Math.floor(dropout * n)));
  const vanish: ClientLayer = (next, info) => async (m) => {
    if (m.type === 'secagg_masked' && dropped.has(info.clientId)) throw new Error('dropped');
    return next(m);
  };
  const host = new VirtualClientHost({
    clients: ids,
    createTrainer: () => new FixedUpdateTrainer(base),
    data: (_id, i) => ({ train: { x: new Float32Array([i]), y: new Int32Array(1), numFeatures: 1, numClasses: 2 } }),
    layers: variant === 'fedavg' ? [outer, inner] : [outer, vanish, secAggClientLayer(), inner],
  });
  const grid = new MeteredGrid(new InMemoryGrid(host));
  const workflow: TrainWorkflow = variant === 'fedavg' ? new FederatedTrainWorkflow() : new SecAggWorkflow({ mode: variant, clippingRange: 1 });
  const engine = new RoundEngine({
    grid,
    strategy: new FedAvg(),
    initialParams: makeParams(new FixedUpdateTrainer(base).layout),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: n },
    evaluation: false,
    centralEvaluationEvery: 0,
    workflow,
  });
  const t = now();
  const record = await engine.runRound(1);
  const wall = now() - t;
  return {
    clientMs: handlerMs / n,
    maskingMs: (handlerMs - trainerMs) / n,
    serverMs: wall - handlerMs - grid.meterMs,
    up: grid.up / n,
    down: grid.down / n,
    completed: record.status === 'completed',
    reason: record.reason,
  };
}

/**
 * One client's upload in the setting of Bonawitz et al. 2017 (n = 2^10 clients, all surviving,
 * d = 2^20 values), without running 2^10 clients: the five replies the client layer sends, built
 * with their real field shapes and sizes (src/secagg/client-layer.ts) and encoded as signed wire
 * frames, against the plain FedAvg reply (float32) and the raw 16-bit input.
 */
function bonawitzUpload(): void {
  const n = 1024;
  const d = 2 ** 20;
  const peers = Array.from({ length: n - 1 }, (_, i) => `client-${String(i + 1).padStart(4, '0')}`);
  const base = { runId: 'bonawitz-2017', round: 1 };
  const signed = (m: MessageBase) => encodeFrame({ kind: 'reply', runId: m.runId, round: m.round, clientId: 'client-0000', requestId: 1, type: m.type, nonce: new Uint8Array(16), body: messageBody(m) }, { reserveSignature: true }).length;
  const fedavg = signed({ ...base, type: 'train_result', update: new Float32Array(d), numExamples: 600, metrics: { loss: 1 } } as MessageBase);
  const keysAndShares =
    signed({ ...base, type: SECAGG_MESSAGES.keys, encryptionKey: new Uint8Array(KEY_BYTES), maskKey: new Uint8Array(KEY_BYTES) } as MessageBase) +
    signed({ ...base, type: SECAGG_MESSAGES.shares, recipients: peers, ciphertexts: new Uint8Array(SHARE_CIPHERTEXT_BYTES * peers.length), seedCommitment: new Uint8Array(32) } as MessageBase) +
    signed({ ...base, type: SECAGG_MESSAGES.verifyResult, complaints: [] } as MessageBase) +
    signed({ ...base, type: SECAGG_MESSAGES.unmaskResult, seedShareOf: [...peers, 'client-0000'], seedShares: new Uint8Array(SEED_SHARE_BYTES * n), keyShareOf: [], keyShares: new Uint8Array(0) } as MessageBase);
  const raw16 = 2 * d;
  const rows = [26, 24, 16].map((bits) => {
    const masked = signed({ ...base, type: SECAGG_MESSAGES.maskedResult, masked: packMasked(new Uint32Array(d + 1), bits), metrics: { loss: 1 } } as MessageBase);
    const upload = masked + keysAndShares;
    const row = { bench: 'secagg-bonawitz', n, d, bits, upload_bytes: upload, masked_bytes: masked, keys_and_shares_bytes: keysAndShares, expansion_vs_16bit: +(upload / raw16).toFixed(3), ratio_vs_fedavg_float32: +(upload / fedavg).toFixed(3), fedavg_bytes: fedavg };
    console.log(JSON.stringify(row));
    return row;
  });
  console.log(`\nupload per client, n = 2^10, d = 2^20 (Bonawitz et al. 2017 report 1.73× the 16-bit data)`);
  console.log('bits  upload MB  × 16-bit data  × float32 FedAvg');
  for (const r of rows) console.log(`${String(r.bits).padStart(4)}  ${(r.upload_bytes / 1e6).toFixed(2).padStart(9)}  ${r.expansion_vs_16bit.toFixed(2).padStart(13)}  ${r.ratio_vs_fedavg_float32.toFixed(2).padStart(15)}`);
}

if (flags.bonawitz) {
  bonawitzUpload();
  process.exit(0);
}

const quick = flags.quick;
const ns = (flags.n ?? (quick ? ['10', '100'] : ['10', '100', '500'])).map(Number);
const ds = (flags.d ?? (quick ? ['10000'] : flags.full ? ['10000', '100000', '1000000'] : ['10000', '100000'])).map(Number);
const modes = (flags.mode ?? ['secagg', 'secagg+']) as SecAggMode[];
const dropout = Number(flags.dropout);
// Classic SecAgg is quadratic: run it up to n = 100 unless asked; SecAgg+ from n = 100.
const plan: Array<{ variant: SecAggMode; n: number; d: number }> = [];
for (const d of ds) for (const n of ns) for (const variant of modes) {
  if (!flags.mode && ((variant === 'secagg' && n > 100) || (variant === 'secagg+' && n < 100))) continue;
  plan.push({ variant, n, d });
}

const rows: Array<Record<string, number | string | boolean>> = [];
const plain = new Map<string, Measurement>();
for (const { variant, n, d } of plan) {
  const key = `${n}/${d}`;
  if (!plain.has(key)) plain.set(key, await measure('fedavg', n, d, 0));
  const p = plain.get(key)!;
  const s = await measure(variant, n, d, dropout);
  const r = resolveSecAgg({ mode: variant }, n);
  const row = {
    bench: 'secagg',
    variant,
    n,
    d,
    neighbours: r.degree,
    threshold: r.threshold,
    dropout,
    completed: s.completed,
    client_s: +(s.clientMs / 1000).toFixed(4),
    client_masking_s: +(s.maskingMs / 1000).toFixed(4),
    client_ratio: +(s.clientMs / p.clientMs).toFixed(2),
    server_s: +(s.serverMs / 1000).toFixed(3),
    server_ratio: +(s.serverMs / p.serverMs).toFixed(2),
    bytes_up: Math.round(s.up),
    bytes_down: Math.round(s.down),
    bytes_ratio: +((s.up + s.down) / (p.up + p.down)).toFixed(3),
    up_ratio: +(s.up / p.up).toFixed(3),
    fedavg_client_s: +(p.clientMs / 1000).toFixed(4),
    fedavg_server_s: +(p.serverMs / 1000).toFixed(3),
    fedavg_bytes_up: Math.round(p.up),
    fedavg_bytes_down: Math.round(p.down),
  };
  if (!s.completed) (row as Record<string, unknown>).reason = s.reason ?? '';
  rows.push(row);
  console.log(JSON.stringify(row));
}

const pad = (s: string, w: number) => s.padStart(w);
const header = ['variant', 'n', 'd', 'k', 't', 'client s', '(masking)', '×fedavg', 'server s', '×fedavg', 'up KB/client', 'down KB/client', 'bytes ×fedavg'];
const table = rows.map((r) => [
  String(r.variant),
  String(r.n),
  Number(r.d).toExponential(0).replace('e+', 'e'),
  String(r.neighbours),
  String(r.threshold),
  Number(r.client_s).toFixed(3),
  Number(r.client_masking_s).toFixed(3),
  Number(r.client_ratio).toFixed(1),
  Number(r.server_s).toFixed(2),
  Number(r.server_ratio).toFixed(1),
  (Number(r.bytes_up) / 1024).toFixed(0),
  (Number(r.bytes_down) / 1024).toFixed(0),
  Number(r.bytes_ratio).toFixed(3),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
console.log('\n' + header.map((h, i) => pad(h, widths[i])).join('  '));
for (const r of table) console.log(r.map((c, i) => pad(c, widths[i])).join('  '));
