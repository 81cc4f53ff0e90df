// The Redis test helper itself: a redis-server on a random 127.0.0.1 port answers a raw RESP
// PING (no client library), keeps what it is given, and is gone after stop().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { REDIS_SKIP, startRedis } from './redis.js';
import { within } from './deadline.js';

/** Sends RESP commands on one connection; resolves with the raw reply text once `done(reply)` holds. */
function resp(port: number, commands: string[][], done: (reply: string) => boolean): Promise<string> {
  const request = commands.map((c) => `*${c.length}\r\n${c.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join('');
  const reply = new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d) => {
      text += d.toString('utf8');
      if (done(text)) {
        socket.end();
        resolve(text);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`connection closed; reply so far: ${JSON.stringify(text)}`)));
  });
  return within(reply, 10_000, `a reply from redis on port ${port}`);
}

test('startRedis: a redis-server on 127.0.0.1 answers PING over raw RESP, stores a value, and stops', { timeout: 60_000, skip: REDIS_SKIP }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
  assert.equal(await resp(redis.port, [['PING']], (r) => r.endsWith('\r\n')), '+PONG\r\n');
  const key = `federa-${process.pid}`;
  const r = await resp(redis.port, [['SET', key, 'v1'], ['GET', key]], (s) => s.split('\r\n').length >= 4);
  assert.equal(r, '+OK\r\n$2\r\nv1\r\n');

  // A second instance is independent (its own port and empty data set).
  const other = await startRedis();
  t.after(() => other.stop());
  assert.notEqual(other.port, redis.port);
  assert.equal(await resp(other.port, [['GET', key]], (s) => s.endsWith('\r\n')), '$-1\r\n');

  await redis.stop();
  await assert.rejects(resp(redis.port, [['PING']], () => true), /ECONNREFUSED|closed/);
});
