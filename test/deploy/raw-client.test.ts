// The raw test client's waits (test/deploy/helpers/raw.ts) against a scripted WebSocket server on
// 127.0.0.1: a notice followed at once by the close is still returned; a close with no answer, a
// server that never answers and a server that never upgrades all reject within their bound,
// naming what was waited for — none of them can leave a test waiting for ever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeFrame } from '../../src/wire/codec.js';
import { CHALLENGE_BYTES, challengeBody, noticeBody } from '../../src/wire/protocol.js';
import { createIdentity, nodeSigner } from '../../src/node/identity.js';
import { RawConnection } from './helpers/raw.js';

const signer = nodeSigner(createIdentity('raw-test').privateKey);

/** A WebSocket server whose every connection gets the challenge, then `onHello(ws)` for the first message. */
async function scriptedServer(onHello: (ws: WebSocket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, path: '/ws' });
  wss.on('connection', (ws) => {
    ws.send(encodeFrame({ kind: 'challenge', runId: 'raw', round: 0, body: challengeBody({ challenge: new Uint8Array(CHALLENGE_BYTES).fill(7), heartbeatMs: 0, maxFrameBytes: 1 << 20 }) }));
    ws.once('message', () => onHello(ws));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

test('hello: a refusal notice sent together with the close is returned, never waited past', { timeout: 30_000 }, async (t) => {
  const s = await scriptedServer((ws) => {
    ws.send(encodeFrame({ kind: 'notice', body: noticeBody({ code: 'revoked', reason: 'client x has been revoked' }) }));
    ws.close(4001, 'revoked');
  });
  t.after(() => s.close());
  for (let i = 0; i < 20; i++) {
    const c = await RawConnection.open(s.url);
    const r = await c.hello('x', signer, { timeoutMs: 5_000 });
    assert.equal(r.notice?.code, 'revoked');
    assert.equal((await c.closed).code, 4001);
  }
});

test('hello: a close with no welcome or notice rejects at once, with the close code', { timeout: 30_000 }, async (t) => {
  const s = await scriptedServer((ws) => ws.close(4001, 'go away'));
  t.after(() => s.close());
  const c = await RawConnection.open(s.url);
  const started = Date.now();
  await assert.rejects(c.hello('x', signer, { timeoutMs: 20_000 }), /hello of x: no welcome or notice: connection closed \(code 4001: go away\) before a welcome\/notice frame arrived/);
  assert.ok(Date.now() - started < 10_000, 'the close ends the wait, not the deadline');
});

test('a server that never answers or never upgrades: every wait rejects within its bound, naming what it waited for', { timeout: 30_000 }, async (t) => {
  const s = await scriptedServer(() => {});
  t.after(() => s.close());
  const c = await RawConnection.open(s.url);
  t.after(() => c.close());
  await assert.rejects(c.hello('x', signer, { timeoutMs: 300 }), /no welcome or notice: timed out after 300 ms waiting for a welcome\/notice frame; frames received: challenge/);
  await assert.rejects(c.next('pong', 200), /timed out after 200 ms waiting for a pong frame/);
  await assert.rejects(c.closedWithin(200), /timed out after 200 ms waiting for the server to close the connection/);

  // Accepts TCP connections but never answers the upgrade.
  const silent = createServer(() => {});
  const held: Socket[] = [];
  silent.on('upgrade', (_req, socket: Socket) => held.push(socket));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => {
    held.forEach((sock) => sock.destroy());
    return new Promise<void>((r) => silent.close(() => r()));
  });
  const { port } = silent.address() as { port: number };
  await assert.rejects(RawConnection.open(`ws://127.0.0.1:${port}`, { timeoutMs: 300 }), /WebSocket connection to ws:\/\/127\.0\.0\.1:\d+\/ws/);
});
