// Acceptance: a fuzzer sends 10,000 random and mutated frames to a real server process; the server
// stays healthy (every /health probe answers "ok"), and the run — 3 client processes training the
// MNIST 2NN — still finishes with exactly the same-seed simulation's model.
//
// Phase A (9,500 frames) comes from an enrolled, authenticated fuzzer before the clients join:
// garbage, mutated frames, and mutated frames re-signed with the fuzzer's key (so they get past the
// signature check into the protocol logic). Phase B (500 frames) runs during the rounds, one
// unauthenticated connection per frame. Plain ws here: TLS is covered by the other deployment
// tests, and a TLS handshake per frame would only measure TLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { Rng } from '../../src/core/rng.js';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { simulate } from '../../src/cli/simulate.js';
import { encodeFrame, type FrameInit } from '../../src/wire/codec.js';
import { signingMessage } from '../../src/wire/crypto.js';
import { helloBody } from '../../src/wire/protocol.js';
import { createIdentity, nodeSigner, sha256 } from '../../src/node/identity.js';
import { Store } from '../../src/server/store.js';
import { writePartitionCsvs } from './helpers/data.js';
import { RawConnection, frameBytes } from './helpers/raw.js';
import { exitOf, federa, httpJson, serverAddress, waitFor, type Proc } from './helpers/procs.js';

const rng = new Rng('deploy-fuzz');
const int = (n: number) => Math.floor(rng.next() * n);
const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));

function mutate(seed: Uint8Array): Uint8Array {
  const b = Array.from(seed);
  const edits = 1 + int(4);
  for (let e = 0; e < edits; e++) {
    const at = int(b.length + 1);
    switch (int(6)) {
      case 0: b[Math.min(at, b.length - 1)] ^= 1 << int(8); break;
      case 1: b[Math.min(at, b.length - 1)] = int(256); break;
      case 2: b.splice(at, 1 + int(16)); break;
      case 3: b.splice(at, 0, ...randomBytes(1 + int(16))); break;
      case 4: b.splice(at, 0, ...b.slice(int(b.length), int(b.length) + int(64))); break;
      default: b.splice(at, 0, 0xff, 0xff, 0xff, 0xff, 0x0f); break;
    }
  }
  return new Uint8Array(b);
}

test('10,000 random and mutated frames: the server stays healthy and the run finishes with the correct model', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-deploy-fuzz-'));
  const logFile = join(dir, 'processes.log');
  const procs: Proc[] = [];
  const sockets: RawConnection[] = [];
  t.after(() => {
    sockets.forEach((s) => s.close());
    procs.forEach((p) => p.kill());
  });
  const run = { name: 'fuzz', seed: 21, model: '2nn' as const, rounds: 4, clientsPerRound: 3, local: { epochs: 1, batchSize: 20, learningRate: 0.1 } };
  const simConfig = parseSimulationConfig({ ...run, clients: 3, partition: { kind: 'iid' }, output: join(dir, 'sim') });
  const { files, ids } = writePartitionCsvs(simConfig, dir);
  const tokens = [...ids.map((id) => `tok-${id}`), 'tok-fuzzer'];
  const db = join(dir, 'server.db');
  const configFile = join(dir, 'run.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      ...run,
      dataset: { name: 'mnist' },
      server: { host: '127.0.0.1', port: 0, database: db, enrollmentTokens: tokens, minClients: 3, deterministic: true, rateLimit: { framesPerSecond: 1e6, burst: 1e6 }, maxViolations: 500 },
    }),
  );
  const server = federa('server', ['server', '--config', configFile], { logFile });
  procs.push(server);
  const { url, httpUrl } = await serverAddress(server);

  // Health probes all along (they also tell whether a round is training).
  let probes = 0;
  let training = false;
  const unhealthy: string[] = [];
  let probing = true;
  t.after(() => {
    probing = false; // a failed test must not leave the probe loop running
  });
  const prober = (async () => {
    while (probing) {
      try {
        const h = await httpJson(`${httpUrl}/health`);
        if (h.status !== 200 || h.body.status !== 'ok') unhealthy.push(h.text);
        training = h.body.phase === 'training';
        if (h.body.phase === 'completed') break; // the server exits next
      } catch (e) {
        // Once the run is complete the server exits: a refused probe then is no symptom.
        if (server.logs().some((l) => l.msg === 'run fuzz completed')) break;
        unhealthy.push(String(e));
      }
      probes++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  // Phase A: an authenticated fuzzer.
  const fuzzer = createIdentity('fuzzer');
  const signer = nodeSigner(fuzzer.privateKey);
  // Signed for the fuzzer's current connection, so that they get past the signature check.
  const resign = (unsigned: Uint8Array) => {
    const sig = signer.sign(signingMessage(conn!.challenge!, sha256(unsigned))) as Uint8Array;
    return new Uint8Array([...unsigned, 0x7a, 0x40, ...sig]);
  };
  const templates: FrameInit[] = [
    { kind: 'ping', runId: 'fuzz', round: 0, clientId: 'fuzzer' },
    { kind: 'reply', runId: 'fuzz', round: 1, clientId: 'fuzzer', requestId: 3, type: 'train_result', body: { update: new Float32Array(64).fill(0.5), numExamples: 5, metrics: { loss: 1 } } },
    { kind: 'reply', runId: 'fuzz', round: 0, clientId: 'fuzzer', requestId: 1, type: 'error', body: { code: 'x', message: 'y' } },
    { kind: 'hello', runId: 'fuzz', clientId: 'fuzzer', body: helloBody({ challenge: new Uint8Array(32), publicKey: signer.publicKey }) },
    { kind: 'instruction', runId: 'fuzz', round: 1, requestId: 9, type: 'train', body: { params: new Float32Array(16), config: { epochs: 1 } } },
    { kind: 'reply', runId: 'other', round: 0, clientId: 'client-0', requestId: 1, type: 'train_result', body: { update: new Float32Array(4) } },
  ];
  let sentA = 0;
  let connectionsA = 0;
  let conn: RawConnection | undefined;
  let round = 0; // of the connection's welcome: a ping may not claim an earlier one
  while (sentA < 9500) {
    if (!conn || conn.isClosed) {
      conn = await RawConnection.open(url);
      sockets.push(conn);
      connectionsA++;
      const r = await conn.hello('fuzzer', signer, connectionsA === 1 ? { token: 'tok-fuzzer' } : {});
      assert.ok(r.welcome, `the fuzzer authenticates: ${JSON.stringify(r.notice)}`);
      round = r.welcome.round;
    }
    for (let i = 0; i < 100 && sentA < 9500 && !conn.isClosed; i++) {
      const template = templates[int(templates.length)];
      // Mostly the connection's next nonce (accepted), sometimes a used one (a replay).
      const nonce = rng.next() < 0.9 ? conn.nextNonce() : new Uint8Array(16);
      const unsigned = encodeFrame({ ...template, nonce });
      let bytes: Uint8Array;
      switch (int(5)) {
        case 0: bytes = randomBytes(int(600)); break;
        case 1: bytes = mutate(await conn.frameBytes({ ...template, nonce }, signer)); break;
        case 2: bytes = resign(mutate(unsigned)); break;
        case 3: bytes = await conn.frameBytes({ ...template, nonce }, signer); break; // well-formed but wrong in context
        default: bytes = resign(unsigned.subarray(0, int(unsigned.length))); break;
      }
      conn.send(bytes);
      sentA++;
    }
    // Let the server catch up: a valid ping must come back as a pong (with the largest nonce: a
    // mutated, re-signed frame may have moved the connection's nonce anywhere).
    if (!conn.isClosed) {
      await conn.sendFrame({ kind: 'ping', runId: 'fuzz', round, clientId: 'fuzzer' }, signer, { nonce: new Uint8Array(16).fill(0xff) }).catch(() => {});
      await conn.next('pong', 30_000).catch(() => {});
      // Every later frame on this connection would be a replay: go on with a fresh connection.
      conn.close();
      conn = undefined;
    }
  }
  conn?.close();

  // The clients join; phase B runs during the rounds.
  const clients = ids.map((id, i) => federa(id, ['client', '--server', url, '--data', files[i], '--token', tokens[i], '--id', id, '--identity', join(dir, `${id}.json`), '--log-level', 'warn'], { logFile }));
  procs.push(...clients);
  await waitFor('round 1 to start', async () => (await httpJson(`${httpUrl}/api/status`)).body.phase === 'training', 120_000);
  const strangers = Array.from({ length: 8 }, () => createIdentity());
  let sentB = 0;
  let duringRun = 0;
  const preauth = async (): Promise<void> => {
    while (sentB < 500) {
      sentB++;
      const kind = int(6);
      const c = await RawConnection.open(url).catch(() => undefined);
      if (!c) continue;
      sockets.push(c);
      await c.next('challenge', 10_000).catch(() => {});
      const stranger = strangers[int(strangers.length)];
      const hello = encodeFrame({ kind: 'hello', runId: 'fuzz', clientId: stranger.clientId, nonce: randomBytes(16), body: helloBody({ challenge: randomBytes(32), publicKey: stranger.publicKey, enrollmentToken: 'guess' }) }, { reserveSignature: true });
      if (kind === 0) c.send(randomBytes(int(2000)));
      else if (kind === 1) c.send(mutate(hello));
      else if (kind === 2) c.send(await frameBytes({ kind: 'hello', runId: 'fuzz', clientId: stranger.clientId, nonce: randomBytes(16), body: helloBody({ challenge: randomBytes(32), publicKey: stranger.publicKey }) }, nodeSigner(stranger.privateKey)));
      else if (kind === 3) c.send(randomBytes(65_537 + int(10_000)));
      else if (kind === 4) c.ws.send(Buffer.from(randomBytes(int(100))).toString('latin1'));
      else c.send(mutate(encodeFrame({ ...templates[int(templates.length)], nonce: randomBytes(16) })));
      const closed = await c.closedWithin(10_000).catch(() => undefined);
      assert.ok(closed, 'the server closes a connection that sends a bad frame before authenticating');
      if (training) duringRun++;
      c.close();
    }
  };
  await Promise.all(Array.from({ length: 3 }, preauth));

  const serverExit = await exitOf(server, 240_000);
  probing = false;
  await prober;
  assert.equal(serverExit.code, 0, server.lines.slice(-20).join('\n'));
  for (const c of clients) assert.equal((await exitOf(c, 30_000)).code, 0, c.lines.slice(-10).join('\n'));
  assert.equal(sentA + sentB, 10_000);
  assert.deepEqual(unhealthy, []);
  assert.ok(probes >= 10, `only ${probes} health probes`);
  t.diagnostic(`phase A: 9,500 frames over ${connectionsA} authenticated connections; phase B: 500 frames, ${duringRun} of them while a round was training; ${probes} health probes, all ok`);
  assert.ok(duringRun > 250, `only ${duringRun} pre-auth frames arrived during the rounds`);

  const store = new Store(db);
  t.after(() => store.close());
  const history = store.history('fuzz');
  assert.deepEqual(history.map((r) => [r.round, r.status, r.succeeded.length, r.failed.length]), [1, 2, 3, 4].map((round) => [round, 'completed', 3, 0]));
  const sim = await simulate(simConfig, { out: { write: () => true }, progress: false });
  const params = store.latestCheckpoint('fuzz')!.params;
  assert.ok(Buffer.from(params.buffer).equals(Buffer.from(sim.params.buffer, sim.params.byteOffset, sim.params.byteLength)), 'the fuzzed deployment ends with the simulation\'s model, bit for bit');
});
