/**
 * Cost of federa's deployment transport, each figure beside a baseline measured in the same run.
 *  (a) One 1M-parameter update over loopback: wire bytes / (4·d), and the time from "encode and
 *      sign" on the client to "decoded, validated and signature-checked" on the server, as a ratio
 *      to a raw `ws` send of the same number of bytes (ws and wss).
 *  (b) Server memory (RSS) with 1,000 connected, authenticated, idle clients over wss.
 *  (c) Aggregation latency: from the last client's upload to that client receiving the next global
 *      model, for N = 2, 5, 10 clients and a 10,857-parameter MLP (FedAvg, SQLite checkpoint per
 *      round), with the server in its own process.
 * Prints one JSON line per measurement, then a table. `npm run bench:transport`
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { ParamLayout, makeParams } from '../src/core/params.js';
import type { MessageBase } from '../src/core/messages.js';
import { decodeFrame, encodeFrame } from '../src/wire/codec.js';
import { signFrame } from '../src/wire/crypto.js';
import { sequenceNonce } from '../src/wire/protocol.js';
import { WireClient, type WebSocketLike } from '../src/wire/client.js';
import { createIdentity, nodeFrameCrypto, nodeSigner, verifyFrameSync, ed25519PublicKey } from '../src/node/identity.js';
import { parseServerConfig } from '../src/config/rules.js';
import { FederaServer } from '../src/server/server.js';
import { makeSelfSignedCertificate } from '../test/deploy/helpers/tls.js';

const SELF = fileURLToPath(import.meta.url);
const rows: Array<Record<string, unknown>> = [];
const emit = (row: Record<string, unknown>) => {
  rows.push(row);
  console.log(JSON.stringify(row));
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REPEATS = Number(process.env.BENCH_REPEATS ?? 15);

/** 164 → 65 → 2 dense layers: 10,857 parameters. */
const MLP_LAYOUT = ParamLayout.fromShapes([
  { name: 'dense_1/kernel', shape: [164, 65] },
  { name: 'dense_1/bias', shape: [65] },
  { name: 'dense_2/kernel', shape: [65, 2] },
  { name: 'dense_2/bias', shape: [2] },
]);

// ---------------------------------------------------------------------------------------------
// (a) one update

async function listen(tls: { cert: string; key: string } | undefined): Promise<{ server: Server; wss: WebSocketServer; url: string }> {
  const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createHttpServer();
  const wss = new WebSocketServer({ server, maxPayload: 1 << 30, perMessageDeflate: false });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, wss, url: `${tls ? 'wss' : 'ws'}://127.0.0.1:${(server.address() as { port: number }).port}` };
}

async function benchOneUpdate(tls: { cert: string; key: string } | undefined): Promise<void> {
  const d = 1_000_000;
  const update = new Float32Array(d);
  for (let i = 0; i < d; i++) update[i] = Math.sin(i) * 1e-3;
  const identity = createIdentity('bench-client');
  const signer = nodeSigner(identity.privateKey);
  const key = ed25519PublicKey(identity.publicKey);
  const challenge = nodeFrameCrypto.randomBytes(32); // the connection's, as a server would send it
  const { server, wss, url } = await listen(tls);
  let onMessage: (data: Buffer) => void = () => {};
  wss.on('connection', (s) => s.on('message', (data: Buffer) => onMessage(data)));
  const ws = new WebSocket(url, { ca: tls?.cert, maxPayload: 1 << 30, perMessageDeflate: false });
  await new Promise((r) => ws.once('open', r));
  const pool = new Float32Array(d);
  const federaTimes: number[] = [];
  const rawTimes: number[] = [];
  let wireBytes = 0;
  for (let rep = 0; rep < REPEATS + 2; rep++) {
    // federa: encode + sign on the client, receive + decode (copy, finite check) + verify on the server.
    let t0 = performance.now();
    const got = new Promise<void>((resolve) => {
      onMessage = (data) => {
        const frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), { maxFrameBytes: 1 << 30, allocFloat32: () => pool });
        if (!verifyFrameSync(frame, key, challenge)) throw new Error('signature');
        resolve();
      };
    });
    const frame = encodeFrame({ kind: 'reply', runId: 'bench', round: rep + 1, clientId: 'bench-client', requestId: rep + 1, type: 'train_result', nonce: sequenceNonce(rep + 1), body: { update, numExamples: 600, metrics: { loss: 0.1, accuracy: 0.9 } } }, { reserveSignature: true });
    await signFrame(frame, signer, nodeFrameCrypto, challenge);
    ws.send(frame);
    await got;
    const federa = performance.now() - t0;
    wireBytes = frame.length;
    // Raw ws: the same number of bytes, no encoding, no checks.
    const raw = new Uint8Array(frame.length);
    t0 = performance.now();
    const gotRaw = new Promise<void>((resolve) => (onMessage = () => resolve()));
    ws.send(raw);
    await gotRaw;
    const rawMs = performance.now() - t0;
    if (rep >= 2) {
      federaTimes.push(federa);
      rawTimes.push(rawMs);
    }
  }
  ws.terminate();
  wss.close();
  server.close();
  emit({
    bench: 'one-update',
    transport: tls ? 'wss' : 'ws',
    d,
    wire_bytes: wireBytes,
    bytes_ratio: +(wireBytes / (4 * d)).toFixed(5),
    federa_ms: +median(federaTimes).toFixed(2),
    raw_ws_ms: +median(rawTimes).toFixed(2),
    time_ratio: +(median(federaTimes) / median(rawTimes)).toFixed(3),
  });
}

// ---------------------------------------------------------------------------------------------
// Server process for (b) and (c): a FederaServer with the 10,857-parameter MLP.

async function serverRole(configPath: string): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const config = parseServerConfig(JSON.parse(readFileSync(configPath, 'utf8')));
  const server = new FederaServer(config, {
    model: { spec: { name: 'mlp-10857', numFeatures: 164, numClasses: 2, layout: MLP_LAYOUT.toJSON() }, initialParams: makeParams(MLP_LAYOUT) },
    processMetrics: false,
  });
  const address = await server.start();
  process.stdout.write(JSON.stringify({ address }) + '\n');
  await server.done.catch(() => {});
  await server.stop();
  process.exit(0);
}

function startServer(config: Record<string, unknown>, dir: string): Promise<{ child: ChildProcess; url: string; httpUrl: string }> {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--role', 'server', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => {
      buf += c;
      const line = buf.split('\n').find((l) => l.startsWith('{"address"'));
      if (line) resolve({ child, ...(JSON.parse(line).address as { url: string; httpUrl: string }) });
    });
    child.on('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
}

async function getJson(url: string, ca?: string): Promise<any> {
  const { request } = await import(url.startsWith('https') ? 'node:https' : 'node:http');
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res: import('node:http').IncomingMessage) => {
      let t = '';
      res.on('data', (c) => (t += c));
      res.on('end', () => resolve(JSON.parse(t)));
    })
      .on('error', reject)
      .end();
  });
}

function fakeClient(url: string, i: number, ca: string | undefined, hooks: Partial<Pick<ConstructorParameters<typeof WireClient>[0], 'onInstruction' | 'onReplySent'>> = {}) {
  const identity = createIdentity(`client-${String(i).padStart(4, '0')}`);
  const client = new WireClient({
    url,
    connect: (u) => new WebSocket(u, { ca, perMessageDeflate: false }) as unknown as WebSocketLike,
    clientId: identity.clientId,
    signer: nodeSigner(identity.privateKey),
    crypto: nodeFrameCrypto,
    enrollmentToken: `token-${i}`,
    reconnect: { maxMs: 2000 },
    onWelcome: () => async (m: MessageBase) => {
      const params = (m as unknown as { params: Float32Array }).params;
      const update = new Float32Array(params.length).fill(1e-4 * (i + 1));
      return { type: 'train_result', runId: m.runId, round: m.round, update, numExamples: 100, metrics: { loss: 0.5 } } as MessageBase;
    },
    ...hooks,
  });
  return { client, done: client.start() };
}

// ---------------------------------------------------------------------------------------------
// (b) memory with 1,000 idle clients

async function benchIdleMemory(dir: string, cert: { certFile: string; keyFile: string; certPem: string }): Promise<void> {
  const n = Number(process.env.BENCH_IDLE_CLIENTS ?? 1000);
  const { child, url, httpUrl } = await startServer(
    {
      name: 'idle',
      rounds: 1,
      clientsPerRound: n + 1, // never reached: the clients stay idle
      model: 'logreg',
      input: { numFeatures: 164, numClasses: 2 },
      evaluation: { federatedEvery: 0, centralEvery: 0 },
      server: { port: 0, database: join(dir, 'idle.db'), tls: { cert: cert.certFile, key: cert.keyFile }, enrollmentTokens: Array.from({ length: n }, (_, i) => `token-${i}`), heartbeatMs: 10_000 },
    },
    dir,
  );
  try {
    await sleep(1000);
    const before = await getJson(`${httpUrl}/health`, cert.certPem);
    const clients: Array<ReturnType<typeof fakeClient>> = [];
    for (let i = 0; i < n; i++) {
      clients.push(fakeClient(url, i, cert.certPem));
      if (i % 50 === 49) await sleep(50);
    }
    let h = before;
    for (let t = 0; t < 600 && h.clients < n; t++) {
      await sleep(250);
      h = await getJson(`${httpUrl}/health`, cert.certPem);
    }
    await sleep(3000); // idle, heartbeats flowing
    const after = await getJson(`${httpUrl}/health`, cert.certPem);
    emit({ bench: 'idle-clients', clients: after.clients, transport: 'wss', rss_before_mb: +(before.rssBytes / 2 ** 20).toFixed(1), rss_mb: +(after.rssBytes / 2 ** 20).toFixed(1), per_client_kb: +((after.rssBytes - before.rssBytes) / 1024 / Math.max(1, after.clients)).toFixed(1), goal_mb: 300 });
    clients.forEach((c) => c.client.stop());
  } finally {
    child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// (c) aggregation latency

async function benchLatency(dir: string, n: number, rounds: number): Promise<void> {
  const { child, url } = await startServer(
    {
      name: `latency-${n}`,
      rounds,
      clientsPerRound: n,
      model: 'logreg',
      input: { numFeatures: 164, numClasses: 2 },
      evaluation: { federatedEvery: 0, centralEvery: 0 },
      server: { port: 0, database: join(dir, `latency-${n}.db`), enrollmentTokens: Array.from({ length: n }, (_, i) => `token-${i}`), minClients: n, heartbeatMs: 10_000 },
    },
    dir,
  );
  const sent = new Map<number, Array<{ client: number; at: number }>>();
  const received = new Map<string, number>();
  try {
    const clients = Array.from({ length: n }, (_, i) =>
      fakeClient(url, i, undefined, {
        onReplySent: (x) => {
          if (x.type !== 'train_result') return;
          const list = sent.get(x.round) ?? [];
          list.push({ client: i, at: x.at });
          sent.set(x.round, list);
        },
        onInstruction: (x) => {
          if (x.type === 'train') received.set(`${i}/${x.round}`, x.at);
        },
      }),
    );
    await Promise.all(clients.map((c) => c.done));
  } finally {
    child.kill('SIGKILL');
  }
  const latencies: number[] = [];
  for (let r = 1; r < rounds; r++) {
    const last = (sent.get(r) ?? []).reduce((a, b) => (b.at > a.at ? b : a), { client: -1, at: -Infinity });
    const next = received.get(`${last.client}/${r + 1}`);
    if (next !== undefined) latencies.push(next - last.at);
  }
  const disco: Record<number, string> = { 2: '8', 5: '≈20', 10: '39' };
  emit({ bench: 'aggregation-latency', n, d: MLP_LAYOUT.size, rounds: latencies.length, median_ms: +median(latencies).toFixed(2), min_ms: +Math.min(...latencies).toFixed(2), max_ms: +Math.max(...latencies).toFixed(2), disco_reference_ms: disco[n] });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'federa-bench-transport-'));
  const cert = makeSelfSignedCertificate(dir);
  await benchOneUpdate(undefined);
  await benchOneUpdate({ cert: cert.certPem, key: cert.keyPem });
  for (const n of [2, 5, 10]) await benchLatency(dir, n, Number(process.env.BENCH_ROUNDS ?? 21));
  await benchIdleMemory(dir, cert);

  console.log('\n| measurement | figure | baseline (same run) | ratio | goal |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    if (r.bench === 'one-update') {
      console.log(`| 1M-parameter update over ${r.transport}: bytes | ${r.wire_bytes} B | 4·d = ${4 * (r.d as number)} B | ${r.bytes_ratio} | ≤ 1.01 |`);
      console.log(`| 1M-parameter update over ${r.transport}: time | ${r.federa_ms} ms | raw ws send ${r.raw_ws_ms} ms | ${r.time_ratio} | ≤ 1.5 |`);
    } else if (r.bench === 'idle-clients') {
      console.log(`| server RSS, ${r.clients} idle clients (wss) | ${r.rss_mb} MB | ${r.rss_before_mb} MB with none | ${r.per_client_kb} KB/client | < 300 MB |`);
    } else {
      console.log(`| aggregation latency, N = ${r.n}, d = ${r.d} | ${r.median_ms} ms (median; ${r.min_ms}–${r.max_ms}) | DISCO ${r.disco_reference_ms} ms | | ≤ DISCO |`);
    }
  }
}

const roleAt = process.argv.indexOf('--role');
if (roleAt >= 0 && process.argv[roleAt + 1] === 'server') await serverRole(process.argv[roleAt + 2]);
else await main();
process.exit(0);
