// Acceptance: authentication, replay protection, run binding, revocation and bad input, against a
// real server process over wss. Every attack gets a NOTICE naming the reason (and the connection
// closed where the protocol says so); the server stays up, and a run with honest clients and a
// misbehaving one completes, the misbehaving client's failures recorded in the history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { makeDataset } from '../../src/data/dataset.js';
import type { MessageBase, TrainInstruction } from '../../src/core/messages.js';
import { PROTOCOL_VERSION } from '../../src/core/messages.js';
import { WireClient, type WebSocketLike } from '../../src/wire/client.js';
import { FederaClient } from '../../src/node/client.js';
import { createIdentity, nodeFrameCrypto, nodeSigner } from '../../src/node/identity.js';
import { WebSocket } from 'ws';
import { makeSelfSignedCertificate } from './helpers/tls.js';
import { RawConnection, frameBytes } from './helpers/raw.js';
import { exitOf, federa, httpJson, serverAddress, waitFor, type Proc } from './helpers/procs.js';

const ADMIN = 'admin-secret-0123456789abcdef';

function clinicData(seed: number) {
  const rng = new Rng(seed);
  const n = 120;
  const x = new Float32Array(n * 4);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let j = 0; j < 4; j++) x[i * 4 + j] = rng.next() + (y[i] ? 0.6 : -0.6);
  }
  return makeDataset(x, y, 4, 2);
}

test('the server rejects unauthenticated, forged, replayed, cross-run and malformed input and keeps running', { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-deploy-security-'));
  const logFile = join(dir, 'processes.log');
  const procs: Proc[] = [];
  const cleanups: Array<() => void> = [];
  t.after(() => {
    cleanups.forEach((f) => f());
    procs.forEach((p) => p.kill());
  });
  const cert = makeSelfSignedCertificate(dir);
  const tokens = { h0: 'tok-honest-0-xxxxxxxx', h1: 'tok-honest-1-xxxxxxxx', h2: 'tok-honest-2-xxxxxxxx', mallory: 'tok-mallory-xxxxxxxx', eve: 'tok-eve-xxxxxxxxxxxx' };
  const configFile = join(dir, 'run.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      name: 'secure',
      seed: 1,
      model: 'logreg',
      input: { numFeatures: 4, numClasses: 2 },
      rounds: 3,
      clientsPerRound: 4,
      local: { epochs: 1, batchSize: 10, learningRate: 0.1 },
      evaluation: { federatedEvery: 0, centralEvery: 0 },
      server: {
        host: '127.0.0.1',
        port: 0,
        tls: { cert: cert.certFile, key: cert.keyFile },
        database: join(dir, 'server.db'),
        enrollmentTokens: Object.values(tokens),
        adminToken: ADMIN,
        minClients: 4,
        maxMessageBytes: 1024 * 1024,
        roundTimeoutMs: 60_000,
      },
    }),
  );
  const server = federa('server', ['server', '--config', configFile], { logFile });
  procs.push(server);
  const { url, httpUrl } = await serverAddress(server);
  const ca = cert.certPem;
  const open = () => RawConnection.open(url, { ca });
  const healthy = async () => assert.equal((await httpJson(`${httpUrl}/health`, { ca })).body.status, 'ok');

  // --- Before authentication -------------------------------------------------------------------
  const stranger = nodeSigner(createIdentity('stranger').privateKey);
  {
    // A reply before any hello.
    const c = await open();
    await c.next('challenge');
    await c.sendFrame({ kind: 'reply', runId: 'secure', round: 1, clientId: 'stranger', requestId: 1, type: 'train_result', body: { numExamples: 1 } }, stranger);
    assert.equal((await c.notice()).code, 'unauthenticated');
    assert.equal((await c.closed).code, 4001);
  }
  {
    // Unknown identity, no token.
    const c = await open();
    const r = await c.hello('stranger', stranger);
    assert.equal(r.notice?.code, 'unknown_client');
    assert.equal((await c.closed).code, 4001);
  }
  {
    // A token that does not exist.
    const c = await open();
    assert.equal((await c.hello('stranger', stranger, { token: 'guessed-token' })).notice?.code, 'invalid_token');
  }
  {
    // A hello signed by another key than the one it presents.
    const c = await open();
    const other = createIdentity('other');
    assert.equal((await c.hello('stranger', stranger, { token: tokens.eve, publicKey: other.publicKey })).notice?.code, 'bad_signature');
  }
  {
    // A hello for another run.
    const c = await open();
    assert.equal((await c.hello('stranger', stranger, { token: tokens.eve, runId: 'other-run' })).notice?.code, 'wrong_run');
  }
  {
    // Wrong protocol version, garbage, a text frame and an oversized frame, each on its own connection.
    const version = await open();
    await version.next('challenge');
    const bytes = await frameBytes({ kind: 'hello', clientId: 'stranger', runId: 'secure', nonce: new Uint8Array(16) });
    assert.equal(bytes[0], 0x08);
    assert.equal(bytes[1], PROTOCOL_VERSION);
    bytes[1] = PROTOCOL_VERSION + 1;
    version.send(bytes);
    const n = await version.notice();
    assert.equal(n.code, 'malformed_message');
    assert.match(n.reason, new RegExp(`protocol version ${PROTOCOL_VERSION + 1} is not supported`));
    const garbage = await open();
    await garbage.next('challenge');
    garbage.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]));
    assert.equal((await garbage.notice()).code, 'malformed_message');
    const text = await open();
    await text.next('challenge');
    text.ws.send('{"type":"hello"}');
    assert.equal((await text.notice()).code, 'text_frame');
    const big = await open();
    await big.next('challenge');
    // Before authentication the WebSocket layer itself accepts only the 64 KiB pre-auth limit: it
    // refuses the message from its header with 1009, before buffering it (issue 13, finding 3).
    big.send(new Uint8Array(100_000));
    assert.equal((await big.closed).code, 1009);
  }

  // --- Eve enrolls, then misbehaves after authenticating -----------------------------------------
  const eve = createIdentity('eve');
  const eveSigner = nodeSigner(eve.privateKey);
  let capturedHello: Uint8Array;
  {
    const c = await open();
    const r = await c.hello('eve', eveSigner, { token: tokens.eve });
    assert.ok(r.welcome, `eve should enroll: ${JSON.stringify(r.notice)}`);
    capturedHello = r.hello;
    const round = r.welcome.round; // pings claim no round before the connection's first (wrong_round)
    // Signed by the wrong key.
    await c.sendFrame({ kind: 'ping', runId: 'secure', round, clientId: 'eve' }, stranger);
    let n = await c.notice();
    assert.equal(n.code, 'bad_signature');
    // Correctly signed, but for another run.
    await c.sendFrame({ kind: 'ping', runId: 'other-run', round, clientId: 'eve' }, eveSigner);
    assert.equal((await c.notice()).code, 'wrong_run');
    // Naming another client.
    await c.sendFrame({ kind: 'ping', runId: 'secure', round, clientId: 'client-0' }, eveSigner);
    assert.equal((await c.notice()).code, 'wrong_client');
    // Unsigned.
    await c.sendFrame({ kind: 'ping', runId: 'secure', round, clientId: 'eve' });
    assert.equal((await c.notice()).code, 'bad_signature');
    // A valid ping, then the very same bytes again: a replay.
    const ping = await c.sendFrame({ kind: 'ping', runId: 'secure', round, clientId: 'eve' }, eveSigner);
    await c.next('pong');
    c.send(ping);
    n = await c.notice();
    assert.equal(n.code, 'replay');
    // A signed, well-formed reply to a request that was never made.
    await c.sendFrame({ kind: 'reply', runId: 'secure', round: 0, clientId: 'eve', requestId: 77, type: 'train_result', body: { numExamples: 1 } }, eveSigner);
    assert.equal((await c.notice()).code, 'unexpected_reply');
    assert.equal(c.isClosed, false, 'a few rejected frames do not close the connection');
    c.close();
  }
  {
    // The captured hello, replayed on a new connection, does not answer that connection's challenge.
    const c = await open();
    await c.next('challenge');
    c.send(capturedHello!);
    assert.equal((await c.notice()).code, 'bad_challenge');
    assert.equal((await c.closed).code, 4001);
  }
  {
    // Someone else with eve's id and their own key.
    const c = await open();
    assert.equal((await c.hello('eve', stranger)).notice?.code, 'wrong_key');
    // Eve's token, used a second time by another identity.
    const d = await open();
    assert.equal((await d.hello('trudy', stranger, { token: tokens.eve })).notice?.code, 'invalid_token');
  }
  {
    // A flood: the rate limiter drops frames past the burst and closes the connection.
    const c = await open();
    const round = (await c.hello('eve', eveSigner)).welcome!.round;
    const frames = await Promise.all(Array.from({ length: 80 }, () => c.frameBytes({ kind: 'ping', runId: 'secure', round, clientId: 'eve' }, eveSigner)));
    for (const f of frames) c.send(f);
    const closed = await c.closed;
    assert.equal(closed.code, 4003, JSON.stringify(closed));
    assert.ok(c.frames.some((f) => f.kind === 'notice' && f.body.code === 'rate_limited'));
  }
  {
    // A frame over the authenticated size limit (1 MiB here) closes the connection with 1009.
    const c = await open();
    assert.ok((await c.hello('eve', eveSigner)).welcome);
    c.send(new Uint8Array(1024 * 1024 + 4096));
    assert.equal((await c.closed).code, 1009);
  }
  await healthy();

  // --- Admin API: tokens and revocation -------------------------------------------------------
  assert.equal((await httpJson(`${httpUrl}/admin/clients`, { ca })).status, 401);
  assert.equal((await httpJson(`${httpUrl}/admin/clients`, { ca, headers: { authorization: 'Bearer wrong-token' } })).status, 401);
  const auth = { authorization: `Bearer ${ADMIN}` };
  const listed = await httpJson(`${httpUrl}/admin/clients`, { ca, headers: auth });
  assert.equal(listed.status, 200);
  const eveRow = listed.body.clients.find((c: { id: string }) => c.id === 'eve');
  assert.ok(eveRow.violations >= 6, `eve's violations: ${eveRow.violations}`);
  const events = (await httpJson(`${httpUrl}/admin/clients/eve/events`, { ca, headers: auth })).body.events.map((e: { code: string }) => e.code);
  for (const code of ['bad_signature', 'wrong_run', 'wrong_client', 'replay', 'rate_limited']) assert.ok(events.includes(code), `eve's events lack ${code}: ${events}`);
  const made = await httpJson(`${httpUrl}/admin/tokens`, { ca, method: 'POST', headers: auth, body: { count: 1, note: 'to revoke' } });
  assert.equal(made.status, 201);
  const [{ id: tokenId, token: revokedToken }] = made.body.tokens;
  assert.equal((await httpJson(`${httpUrl}/admin/tokens/${tokenId}/revoke`, { ca, method: 'POST', headers: auth })).status, 200);
  {
    const c = await open();
    const r = await c.hello('stranger', stranger, { token: revokedToken });
    assert.equal(r.notice?.code, 'invalid_token');
    assert.match(r.notice!.reason, /revoked/);
  }
  {
    // Revoking eve closes her open connection and refuses her next one.
    const c = await open();
    assert.ok((await c.hello('eve', eveSigner)).welcome);
    assert.equal((await httpJson(`${httpUrl}/admin/clients/eve/revoke`, { ca, method: 'POST', headers: auth })).status, 200);
    assert.equal((await c.closed).code, 4001);
    const d = await open();
    assert.equal((await d.hello('eve', eveSigner)).notice?.code, 'revoked');
  }
  assert.equal(server.child.exitCode, null, 'the server is still running');
  await healthy();

  // --- A run with three honest clients and a client that sends bad updates ----------------------
  const honest = [0, 1, 2].map((i) =>
    new FederaClient({ server: url, data: clinicData(i), token: Object.values(tokens)[i], identity: createIdentity(`client-${i}`), ca, reconnect: { maxMs: 1000 } }),
  );
  const honestRuns = honest.map((c) => c.start());
  const mallory = createIdentity('mallory');
  const sent: string[] = [];
  const malloryClient = new WireClient({
    url,
    connect: (u) => new WebSocket(u, { ca }) as unknown as WebSocketLike,
    clientId: 'mallory',
    signer: nodeSigner(mallory.privateKey),
    crypto: nodeFrameCrypto,
    enrollmentToken: tokens.mallory,
    onWelcome: () => async (m: MessageBase) => {
      const ins = m as TrainInstruction;
      const update = new Float32Array(ins.round === 2 ? ins.params.length - 1 : ins.params.length).fill(0.01);
      if (ins.round === 1) update[3] = Number.NaN;
      sent.push(`round ${ins.round}`);
      return { type: 'train_result', runId: ins.runId, round: ins.round, update, numExamples: 50, metrics: { loss: 0.5 } } as MessageBase;
    },
  });
  cleanups.push(() => malloryClient.stop(), () => honest.forEach((c) => c.stop()));
  const malloryRun = malloryClient.start();

  const serverExit = await exitOf(server, 120_000);
  assert.equal(serverExit.code, 0, server.lines.slice(-20).join('\n'));
  for (const r of [...honestRuns, malloryRun]) assert.equal((await r).reason, 'run_complete');
  assert.deepEqual(sent, ['round 1', 'round 2', 'round 3']);

  // The history (read from the server's log of rounds) marks mallory with clear reasons.
  const rounds = server.logs().filter((l) => typeof l.msg === 'string' && /^round \d completed$/.test(l.msg as string));
  assert.equal(rounds.length, 3);
  const failed = server.logs().filter((l) => l.msg === 'client failed');
  assert.deepEqual(failed.map((l) => [l.round, l.clientId, l.code]), [
    [1, 'mallory', 'non_finite'],
    [2, 'mallory', 'rejected:shape_mismatch'],
  ]);
  assert.match(String(failed[0].reason), /update\[3\] is NaN/);
  assert.match(String(failed[1].reason), /expected 10 values, got 9/);
  for (const r of rounds) assert.equal(r.status, 'completed');
  assert.deepEqual(rounds.map((r) => r.succeeded), [3, 3, 4]);
});

test('the metrics endpoint counts rejected frames by reason', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-deploy-metrics-'));
  const configFile = join(dir, 'run.json');
  writeFileSync(configFile, JSON.stringify({ name: 'm', model: 'logreg', input: { numFeatures: 4, numClasses: 2 }, rounds: 1, clientsPerRound: 1, server: { port: 0, database: join(dir, 'db.sqlite') } }));
  const server = federa('server', ['server', '--config', configFile]);
  t.after(() => server.kill());
  const { url, httpUrl } = await serverAddress(server);
  const c = await RawConnection.open(url);
  await c.next('challenge');
  c.send(new Uint8Array([1, 2, 3]));
  await c.closed;
  const text = await waitFor('the rejection to be counted', async () => {
    const m = (await httpJson(`${httpUrl}/metrics`)).text;
    return m.includes('federa_rejected_frames_total{reason="malformed_message"} 1') ? m : undefined;
  }, 10_000);
  for (const name of ['federa_rounds_total', 'federa_connected_clients', 'federa_bytes_received_total', 'federa_bytes_sent_total', 'federa_round_duration_seconds_bucket', 'federa_process_resident_memory_bytes']) {
    assert.ok(text.includes(name), `metrics lack ${name}`);
  }
  const status = (await httpJson(`${httpUrl}/api/status`)).body;
  assert.equal(status.runId, 'm');
  assert.equal(status.phase, 'waiting');
  assert.deepEqual((await httpJson(`${httpUrl}/api/history`)).body.rounds, []);
  assert.equal((await httpJson(`${httpUrl}/admin/clients`)).status, 503, 'no admin token configured: the admin API is off');
});
