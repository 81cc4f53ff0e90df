// Issue 13, finding 10, over the network: a malicious server, scripted from the wire protocol
// (challenge → hello → welcome → instructions; no federa server code), tries to weaken the
// sharing of a real federa client process (FederaClient over wss). The client refuses each
// request with an error reply that names the rule, and exits normally when the server ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:https';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeFrame, encodeFrame, frameMessage, messageBody, type DecodedFrame, type FrameInit } from '../../src/wire/codec.js';
import { challengeBody, welcomeBody } from '../../src/wire/protocol.js';
import { encodingFor } from '../../src/secagg/encoding.js';
import type { MessageBase } from '../../src/core/messages.js';
import { makeSelfSignedCertificate } from './helpers/tls.js';
import { ROOT, track } from './helpers/procs.js';
import { within } from '../helpers/deadline.js';
import { WSS_TEST as P } from '../secagg/helpers/wss-params.js';

const CLIENT = fileURLToPath(new URL('../secagg/helpers/wss-client.ts', import.meta.url));
const RUN = 'untrusted-run';

/** One connection of the malicious server: frames in, frames out, replies by request id. */
class ScriptedServerConnection {
  private frames: DecodedFrame[] = [];
  private waiters: Array<() => void> = [];
  private nextRequest = 1;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(decodeFrame(new Uint8Array(data)));
      for (const w of this.waiters.splice(0)) w();
    });
  }
  send(init: FrameInit): void {
    this.ws.send(encodeFrame({ runId: RUN, nonce: randomBytes(16), ...init }));
  }
  async next(kind: DecodedFrame['kind'], requestId?: number): Promise<DecodedFrame> {
    for (;;) {
      const i = this.frames.findIndex((f) => f.kind === kind && (requestId === undefined || f.requestId === requestId));
      if (i >= 0) return this.frames.splice(i, 1)[0];
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  /** Sends one instruction and returns the client's reply. */
  async request(message: Record<string, unknown>): Promise<MessageBase & Record<string, any>> {
    const requestId = this.nextRequest++;
    const { type, round, ...rest } = message as { type: string; round: number };
    this.send({ kind: 'instruction', round, requestId, type, body: messageBody({ type, runId: RUN, round, ...rest } as MessageBase) });
    return frameMessage(await this.next('reply', requestId)) as MessageBase & Record<string, any>;
  }
}

test('a malicious server asks a real client process for t = 1, 2t ≤ m, t > m and a lonely masked input: each is refused', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-untrusted-'));
  const cert = makeSelfSignedCertificate(dir);
  const https = createServer({ cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) });
  const wss = new WebSocketServer({ server: https });
  const connected = new Promise<ScriptedServerConnection>((resolve) => wss.once('connection', (ws) => resolve(new ScriptedServerConnection(ws))));
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  t.after(() => (wss.close(), https.close()));
  const port = (https.address() as { port: number }).port;

  const child = track(spawn(process.execPath, ['--import', 'tsx', CLIENT, `wss://127.0.0.1:${port}`, '0', 'any-token-0123456789', join(dir, 'client.json'), cert.certFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  const output: string[] = [];
  child.stdout.on('data', (c) => output.push(String(c)));
  child.stderr.on('data', (c) => output.push(String(c)));
  t.after(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

  const conn = await within(connected, 30_000, 'the client process to connect');
  conn.send({ kind: 'challenge', round: 0, body: challengeBody({ challenge: randomBytes(32), heartbeatMs: 0, maxFrameBytes: 1 << 24 }) });
  const hello = await within(conn.next('hello'), 30_000, 'the hello');
  assert.equal(hello.clientId, 'client-0');
  conn.send({ kind: 'welcome', round: 0, body: welcomeBody({ clientId: 'client-0', enrolled: true, heartbeatMs: 0, maxFrameBytes: 1 << 24, seed: 1, validationFraction: 0, model: { name: 'known-updates', numFeatures: 1, numClasses: 2, layout: [{ name: 'w', shape: [P.dimension] }] } }) });

  const enc = encodingFor(32, 1, 4);
  const setup = (round: number, threshold: number) => ({ type: 'secagg_setup', round, index: 1, threshold, vectorLength: P.dimension + 1, bits: 32, clipRange: 1, scale: enc.scale, weightScale: enc.weightScale, metricScale: enc.metricScale, secureMetrics: [], maxWeight: 10, weighting: 'uniform' });
  // Made-up peers: the server controls which neighbours a client is told about.
  const fakePeers = (n: number) => ({ peers: Array.from({ length: n }, (_, i) => `peer-${i}`), indices: Int32Array.from({ length: n }, (_, i) => i + 2), encryptionKeys: randomBytes(32 * n), maskKeys: randomBytes(32 * n) });
  const shareOf = (round: number, n: number) => ({ type: 'secagg_share', round, ...fakePeers(n) });

  // 1. t = 1: every share would be the secret itself.
  const r1 = await within(conn.request(setup(1, 1)), 20_000, 'the reply to setup t = 1');
  assert.equal(r1.type, 'error');
  assert.match(r1.message, /secagg_setup \(round 1\): refused: threshold t = 1; at least 2 shares/);

  // 2. 2t ≤ m: t = 2 with 3 peers (m = 4): two disjoint pairs could each reconstruct one secret.
  assert.equal((await conn.request(setup(2, 2))).type, 'secagg_keys');
  const r2 = await within(conn.request(shareOf(2, 3)), 20_000, 'the reply to share 2t ≤ m');
  assert.equal(r2.type, 'error');
  assert.match(r2.message, /refused: threshold t = 2 is not above half of the m = 4 shares/);

  // 3. t > m: t = 5 with 2 peers.
  assert.equal((await conn.request(setup(3, 5))).type, 'secagg_keys');
  const r3 = await conn.request(shareOf(3, 2));
  assert.match(r3.message, /refused: threshold t = 5 exceeds the m = 3 shares/);

  // 4. A masked input with fewer than t − 1 live peers: t = 3 of m = 4, then masking with none.
  assert.equal((await conn.request(setup(4, 3))).type, 'secagg_keys');
  const shares = await conn.request(shareOf(4, 3));
  assert.equal(shares.type, 'secagg_shares', shares.message);
  const verify = await conn.request({ type: 'secagg_verify', round: 4, senders: ['peer-0', 'peer-1', 'peer-2'], ciphertexts: randomBytes(3 * 124) });
  assert.equal(verify.type, 'secagg_verify_result');
  const r4 = await conn.request({ type: 'secagg_masked', round: 4, peers: [], params: new Float32Array(P.dimension), config: { seed: 1 } });
  assert.equal(r4.type, 'error');
  assert.match(r4.message, /refused: masked input asked with 0 live peer\(s\); threshold t = 3 needs at least 2/);

  // The client is still well: the server ends the run and it exits normally.
  conn.send({ kind: 'bye', round: 4, body: { reason: 'run_complete' } });
  conn.ws.close(4004, 'run complete');
  assert.equal(await within(exited, 30_000, 'the client process to exit'), 0, output.join('').slice(-1500));
});
