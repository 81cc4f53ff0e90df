// Issue 13, finding 6: the replay window. Frames are bound to their connection (its challenge is
// signed into every frame) and ordered within it (nonces strictly increase); replies are bound
// to their request. Against a real server process on 127.0.0.1 (ws), with the raw protocol peer
// as the only client, answering the training itself so that rounds advance when it says so:
//   (a) a signed PING captured on one connection and replayed on the next connection of the same
//       client is refused (bad_signature), and not answered;
//   (b) a PING replayed on its own connection two rounds later is refused (replay), not answered;
//   (c) a PING signed before a server restart (same database) is refused after it;
//   (d) a replayed reply, a reply captured on another connection, a reply to a request that is not
//       open on this connection and a reply of the wrong type are refused.
// Before the fix (a), (b) and (c) were answered with a PONG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIdentity, nodeSigner } from '../../src/node/identity.js';
import { messageBody, type DecodedFrame } from '../../src/wire/codec.js';
import { parseNotice, type Notice } from '../../src/wire/protocol.js';
import { Store } from '../../src/server/store.js';
import { RawConnection } from './helpers/raw.js';
import { exitOf, federa, serverAddress, type Proc } from './helpers/procs.js';

const RUN = 'replay';
const WAIT_MS = 20_000;

/** The server's answer to a frame just sent: the first NOTICE or PONG (bounded). */
async function answerTo(c: RawConnection): Promise<{ kind: 'notice'; notice: Notice } | { kind: 'pong' }> {
  const f = await c.next(['notice', 'pong'], WAIT_MS);
  return f.kind === 'notice' ? { kind: 'notice', notice: parseNotice(f) } : { kind: 'pong' };
}

test('replayed frames are refused: another connection, two rounds later, after a restart; replies bound to their request', { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-hardening-replay-'));
  const logFile = join(dir, 'processes.log');
  const procs: Proc[] = [];
  const conns: RawConnection[] = [];
  t.after(() => {
    conns.forEach((c) => c.close());
    procs.forEach((p) => p.kill());
  });
  const db = join(dir, 'server.db');
  const token = 'token-eve-0123456789abcdef';
  const configFile = join(dir, 'run.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      name: RUN,
      seed: 4,
      model: 'logreg',
      input: { numFeatures: 4, numClasses: 2 },
      rounds: 40,
      clientsPerRound: 1,
      minResults: 1,
      evaluation: { federatedEvery: 0, centralEvery: 0 },
      server: { host: '127.0.0.1', port: 0, database: db, enrollmentTokens: [token], minClients: 1, roundTimeoutMs: 60_000, heartbeatMs: 0 },
    }),
  );
  const start = (name: string) => {
    const p = federa(name, ['server', '--config', configFile], { logFile });
    procs.push(p);
    return p;
  };
  let server = start('server');
  let { url } = await serverAddress(server);

  const eve = createIdentity('eve');
  const signer = nodeSigner(eve.privateKey);
  const connect = async (withToken: boolean) => {
    const c = await RawConnection.open(url, { timeoutMs: WAIT_MS });
    conns.push(c);
    const r = await c.hello(eve.clientId, signer, { ...(withToken ? { token } : {}), timeoutMs: WAIT_MS });
    assert.ok(r.welcome, `eve is welcomed: ${JSON.stringify(r.notice)}`);
    return c;
  };
  const ping = (c: RawConnection, round: number) => c.sendFrame({ kind: 'ping', runId: RUN, round, clientId: eve.clientId }, signer);
  const trainResult = (ins: DecodedFrame, type = 'train_result') => {
    const params = ins.body.params as Float32Array;
    return { kind: 'reply' as const, runId: RUN, round: ins.round, clientId: eve.clientId, requestId: ins.requestId, type, body: messageBody({ type, runId: RUN, round: ins.round, update: new Float32Array(params.length), numExamples: 10, metrics: {}, loss: 0.5 } as never) };
  };
  /** Answers train instructions until one of round ≥ `round` arrives; returns it (unanswered). */
  const trainUntil = async (c: RawConnection, round: number) => {
    for (;;) {
      const ins = await c.next('instruction', WAIT_MS);
      assert.equal(ins.type, 'train');
      if (ins.round >= round) return ins;
      await c.sendFrame(trainResult(ins), signer);
    }
  };

  // --- (b) the same connection, two rounds later ---------------------------------------------
  const first = await connect(true);
  const i1 = await first.next('instruction', WAIT_MS);
  const capturedPing = await ping(first, i1.round);
  assert.equal((await answerTo(first)).kind, 'pong', 'an honest ping is answered');
  const capturedReply = await first.sendFrame(trainResult(i1), signer);
  const i3 = await trainUntil(first, i1.round + 2);
  first.send(capturedPing);
  const b = await answerTo(first);
  assert.equal(b.kind, 'notice', `(b) a ping of round ${i1.round} replayed in round ${i3.round} on its own connection is answered with a ${b.kind}`);
  assert.equal(b.kind === 'notice' && b.notice.code, 'replay', `(b) ${JSON.stringify(b)}`);
  // (d) the reply of round i1, replayed on its own connection.
  first.send(capturedReply);
  const d1 = await first.notice(WAIT_MS);
  assert.ok(['replay', 'unexpected_reply', 'wrong_round'].includes(d1.code), `(d) replayed reply: ${JSON.stringify(d1)}`);

  // --- (a) another connection of the same client ---------------------------------------------
  const fresh = await ping(first, i3.round);
  assert.equal((await answerTo(first)).kind, 'pong');
  const second = await connect(false); // replaces `first`
  second.send(fresh);
  const a = await answerTo(second);
  assert.equal(a.kind, 'notice', `(a) a ping captured on the previous connection is answered with a ${a.kind} on the next one`);
  assert.equal(a.kind === 'notice' && a.notice.code, 'bad_signature', `(a) ${JSON.stringify(a)}`);
  // (d) the reply captured on the first connection, played on the second.
  second.send(capturedReply);
  const n2 = await second.next('notice', WAIT_MS);
  assert.equal(parseNotice(n2).code, 'bad_signature', '(d) a reply captured on another connection');
  // A rejection fails the requests open at that moment: use instructions sent after it.
  const after = async (c: RawConnection, f: DecodedFrame) => {
    for (;;) {
      const ins = await c.next('instruction', WAIT_MS);
      if (c.frames.indexOf(ins) > c.frames.indexOf(f)) return ins;
    }
  };

  // --- (d) replies bound to their request, on the second connection --------------------------
  const j = await after(second, n2);
  // A correctly signed reply to a request id this connection never received.
  await second.sendFrame({ ...trainResult(j), requestId: j.requestId + 1000 }, signer);
  const n3 = await second.next('notice', WAIT_MS);
  const unopened = parseNotice(n3);
  assert.equal(unopened.code, 'unexpected_reply', `(d) ${JSON.stringify(unopened)}`);
  // That rejection failed the open request; take the next one and answer it with the wrong type.
  const k = await after(second, n3);
  assert.notEqual(k.requestId, j.requestId, 'request ids are not reused');
  await second.sendFrame(trainResult(k, 'evaluate_result'), signer);
  // The answer closed the request: its right answer, sent after it, is no longer expected.
  const l = await second.next('instruction', WAIT_MS);
  await second.sendFrame(trainResult(k), signer);
  assert.equal((await second.notice(WAIT_MS)).code, 'unexpected_reply', '(d) a second answer to a request');

  // --- (c) a server restart on the same database ---------------------------------------------
  const beforeRestart = await ping(second, l.round);
  assert.equal((await answerTo(second)).kind, 'pong');
  server.kill('SIGKILL');
  await exitOf(server, WAIT_MS);
  server = start('server-restarted');
  ({ url } = await serverAddress(server));
  const third = await connect(false);
  third.send(beforeRestart);
  const c = await answerTo(third);
  assert.equal(c.kind, 'notice', `(c) a ping signed before the restart is answered with a ${c.kind} after it`);
  assert.equal(c.kind === 'notice' && c.notice.code, 'bad_signature', `(c) ${JSON.stringify(c)}`);

  // An honest exchange still works on the new connection.
  const m = await third.next('instruction', WAIT_MS);
  await ping(third, m.round);
  assert.equal((await answerTo(third)).kind, 'pong');
  await third.sendFrame(trainResult(m), signer);
  await third.next('instruction', WAIT_MS);
  server.kill('SIGTERM');
  await exitOf(server, WAIT_MS);

  // The wrong-type reply is recorded against eve in its round (the engine refuses it).
  const store = new Store(db);
  const history = store.history(RUN);
  store.close();
  const wrongType = history.find((r) => r.round === k.round)?.failed.find((f) => f.clientId === eve.clientId);
  assert.ok(wrongType && /malformed_message/.test(wrongType.code) && /expected type "train_result", got "evaluate_result"/.test(wrongType.reason), `(d) wrong type: ${JSON.stringify(history.find((r) => r.round === k.round))}`);
});
