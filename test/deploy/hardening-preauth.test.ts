// Issue 13, finding 3: before authentication a peer cannot make the server buffer more than the
// 64 KiB pre-auth limit, cannot hold connections open without finishing the handshake, and cannot
// open more than `server.maxConnectionsPerAddress` connections. Over a real server process and wss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { createIdentity, nodeSigner } from '../../src/node/identity.js';
import { PREAUTH_MAX_FRAME_BYTES } from '../../src/wire/protocol.js';
import { raiseMaxPayload, receiverMaxPayload } from '../../src/server/admission.js';
import { makeSelfSignedCertificate, type TestCertificate } from './helpers/tls.js';
import { RawConnection } from './helpers/raw.js';
import { federa, httpJson, serverAddress, waitFor, type Proc } from './helpers/procs.js';
import { within } from '../helpers/deadline.js';

const MiB = 1024 * 1024;

function startServer(dir: string, cert: TestCertificate, name: string, server: Record<string, unknown>, procs: Proc[]): Promise<{ url: string; httpUrl: string; port: number }> {
  const configFile = join(dir, `${name}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      name,
      model: 'logreg',
      input: { numFeatures: 4, numClasses: 2 },
      rounds: 1,
      clientsPerRound: 2,
      evaluation: { federatedEvery: 0, centralEvery: 0 },
      server: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile }, database: join(dir, `${name}.db`), enrollmentTokens: ['tok-big-frames-xx'], minClients: 2, ...server },
    }),
  );
  const p = federa(name, ['server', '--config', configFile], { logFile: join(dir, 'processes.log') });
  procs.push(p);
  return serverAddress(p);
}

/** Upgrades a TLS socket to a WebSocket by hand and announces one masked binary message of `bytes`. */
function rawUpgrade(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      s.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
      else resolve(s);
    };
    s.on('data', onData);
    s.on('error', reject);
  });
}

/** Sends one WebSocket binary message of `bytes` zero bytes (zero mask: the payload is sent as is) in 1 MiB writes. */
async function sendHugeMessage(s: TLSSocket, bytes: number): Promise<number> {
  const header = Buffer.alloc(14);
  header[0] = 0x82; // FIN, binary
  header[1] = 0x80 | 127; // masked, 64-bit length
  header.writeBigUInt64BE(BigInt(bytes), 2); // mask key (bytes 10–13) stays zero
  const chunk = Buffer.alloc(MiB);
  let sent = 0;
  const write = (b: Buffer) => new Promise<boolean>((resolve) => {
    if (s.destroyed || !s.writable) return resolve(false);
    if (s.write(b)) return resolve(true);
    const done = () => {
      s.off('drain', done);
      s.off('close', done);
      resolve(!s.destroyed);
    };
    s.once('drain', done);
    s.once('close', done);
  });
  if (!(await write(header))) return sent;
  while (sent < bytes) {
    if (!(await write(chunk))) break;
    sent += chunk.length;
  }
  return sent;
}

function closedWithin(s: Socket, ms: number, what: string): Promise<void> {
  if (s.destroyed) return Promise.resolve();
  return within(new Promise<void>((r) => s.once('close', () => r())), ms, what);
}

test('the ws layer keeps a per-socket payload limit where raiseMaxPayload sets it (fails when a ws release moves it)', { timeout: 30_000 }, async (t) => {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, maxPayload: 1000 });
  t.after(() => {
    wss.close();
    http.close();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const port = (http.address() as { port: number }).port;
  const received: number[] = [];
  const server = new Promise<WebSocket>((resolve) =>
    wss.on('connection', (ws) => {
      ws.on('error', () => {}); // the refused message below
      ws.on('message', (d: Buffer) => received.push(d.length));
      resolve(ws);
    }),
  );
  const small = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((r) => small.once('open', r));
  const s1 = await server;
  assert.equal(receiverMaxPayload(s1), 1000, 'ws keeps the server maxPayload in _receiver._maxPayload');
  raiseMaxPayload(s1, 5000);
  small.send(Buffer.alloc(4000));
  await waitFor('the raised socket to take a 4000-byte message', () => received.includes(4000), 10_000);
  // A socket whose limit was not raised refuses the same message with 1009.
  const other = new Promise<WebSocket>((resolve) => wss.once('connection', (ws) => resolve(ws.on('error', () => {}))));
  const big = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((r) => big.once('open', r));
  await other;
  const closed = new Promise<number>((r) => big.once('close', (code) => r(code)));
  big.send(Buffer.alloc(4000));
  assert.equal(await within(closed, 10_000, 'the unraised socket to close'), 1009);
  small.close();
});

test('pre-auth: 16 peers × 60 MiB cannot grow the server; idle sockets close at the deadline; per-address limit', { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-hardening-preauth-'));
  const procs: Proc[] = [];
  const sockets: Socket[] = [];
  t.after(() => {
    sockets.forEach((s) => s.destroy());
    procs.forEach((p) => p.kill());
  });
  const cert = makeSelfSignedCertificate(dir);
  const ca = cert.certPem;
  const a = await startServer(dir, cert, 'preauth', { handshakeTimeoutMs: 60_000, maxMessageBytes: 64 * MiB }, procs);
  const rss = async () => Number((await httpJson(`${a.httpUrl}/health`, { ca })).body.rssBytes);

  // --- 16 unauthenticated peers, each announcing and sending a 60 MiB message ------------------
  const before = await rss();
  let peak = before;
  let sending = true;
  const sampler = (async () => {
    while (sending) {
      peak = Math.max(peak, await rss());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const peers = await Promise.all(Array.from({ length: 16 }, () => rawUpgrade(a.port, ca)));
  sockets.push(...peers);
  const sent = await Promise.all(peers.map((s) => sendHugeMessage(s, 60 * MiB)));
  await Promise.all(peers.map((s) => closedWithin(s, 60_000, 'the server to close an oversized pre-auth message')));
  peak = Math.max(peak, await rss());
  sending = false;
  await sampler;
  const growthMiB = (peak - before) / MiB;
  process.stderr.write(`hardening-preauth: server RSS ${(before / MiB).toFixed(0)} MiB before, peak ${(peak / MiB).toFixed(0)} MiB (+${growthMiB.toFixed(0)} MiB); peers sent ${sent.map((b) => (b / MiB).toFixed(0)).join(',')} MiB before the close\n`);
  assert.ok(growthMiB < 150, `16 × 60 MiB pre-auth messages grew the server by ${growthMiB.toFixed(0)} MiB`);
  // The refusal is the WebSocket layer's 1009 (message too big), answered before buffering.
  {
    const c = await RawConnection.open(a.url, { ca });
    await c.next('challenge');
    c.send(new Uint8Array(PREAUTH_MAX_FRAME_BYTES + 1));
    assert.equal((await c.closed).code, 1009);
  }
  // After its hello verified, a client may send frames up to server.maxMessageBytes.
  {
    const c = await RawConnection.open(a.url, { ca });
    const signer = nodeSigner(createIdentity('big-frames').privateKey);
    assert.ok((await c.hello('big-frames', signer, { token: 'tok-big-frames-xx' })).welcome);
    await c.sendFrame({ kind: 'reply', runId: 'preauth', round: 0, clientId: 'big-frames', requestId: 77, type: 'train_result', body: { pad: new Uint8Array(2 * MiB) } }, signer);
    assert.equal((await c.notice()).code, 'unexpected_reply', 'a 2 MiB frame after authentication reaches the protocol');
    assert.equal(c.isClosed, false);
    c.close();
  }

  // --- Per-address limit: the 101st connection from one address is refused -------------------
  const idle: Socket[] = [];
  for (let i = 0; i < 100; i++) {
    const s = netConnect({ host: '127.0.0.1', port: a.port });
    await within(new Promise((r, j) => s.once('connect', r).once('error', j)), 10_000, 'a TCP connection');
    idle.push(s);
  }
  sockets.push(...idle);
  const tlsAttempt = () =>
    new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: a.port, ca, servername: 'localhost' }, () => {
        resolve('connected');
        s.destroy();
      });
      s.on('error', () => resolve('refused'));
      s.on('close', () => resolve('refused'));
      sockets.push(s);
    });
  assert.equal(await within(tlsAttempt(), 20_000, 'the 101st connection'), 'refused');
  assert.ok(idle.every((s) => !s.destroyed), 'the first 100 connections stay open');
  idle[0].destroy();
  await waitFor('a freed slot to admit a connection again', async () => (await tlsAttempt()) === 'connected', 20_000, 200);

  // --- Handshake deadline: idle TCP, TLS without HTTP, and a WebSocket without hello are closed ---
  const b = await startServer(dir, cert, 'deadline', { handshakeTimeoutMs: 1500 }, procs);
  const tcp = netConnect({ host: '127.0.0.1', port: b.port });
  const tls = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: b.port, ca, servername: 'localhost' }, () => resolve(s));
    s.on('error', reject);
  });
  const ws = await rawUpgrade(b.port, ca);
  sockets.push(tcp, tls, ws);
  await closedWithin(tcp, 30_000, 'the server to close an idle TCP connection');
  await closedWithin(tls, 30_000, 'the server to close a TLS connection that sent nothing');
  await closedWithin(ws, 30_000, 'the server to close a WebSocket that never sent a hello');
  // The default limit after authentication is what the largest honest reply needs: 8 bytes per
  // parameter + 4 MiB (the logistic regression here has 10). The WELCOME announces it; a frame
  // over it is refused by the WebSocket layer (1009) before it is buffered; one under it is used.
  {
    const limit = 8 * 10 + 4 * MiB;
    const c = await RawConnection.open(b.url, { ca });
    const signer = nodeSigner(createIdentity('big-frames').privateKey);
    const { welcome } = await c.hello('big-frames', signer, { token: 'tok-big-frames-xx' });
    assert.equal(welcome?.body.maxFrameBytes, limit);
    await c.sendFrame({ kind: 'reply', runId: 'deadline', round: 0, clientId: 'big-frames', requestId: 77, type: 'train_result', body: { pad: new Uint8Array(limit - 4096) } }, signer);
    assert.equal((await c.notice()).code, 'unexpected_reply', 'a frame under the limit reaches the protocol');
    await c.sendFrame({ kind: 'reply', runId: 'deadline', round: 0, clientId: 'big-frames', requestId: 78, type: 'error', body: { code: 'x', message: 'm'.repeat(20 * MiB) } }, signer);
    assert.equal((await c.closed).code, 1009, 'a 20 MiB error string is refused before it is buffered');
    await waitFor('the refusal to be counted on /metrics', async () => /federa_rejected_frames_total\{reason="payload_too_large"\} [1-9]/.test((await httpJson(`${b.httpUrl}/metrics`, { ca })).text), 10_000, 200);
  }
  // The server itself is fine and serves HTTP (a request settles the deadline).
  assert.equal((await httpJson(`${b.httpUrl}/health`, { ca })).body.status, 'ok');
  assert.equal((await httpJson(`${a.httpUrl}/health`, { ca })).body.status, 'ok');
});
