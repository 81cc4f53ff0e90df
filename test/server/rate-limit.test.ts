// The flood gate on its own, with a hand-driven clock: the bucket refills at the sustained rate
// up to the burst, a request grants one pass that a solicited reply spends instead of a token, and
// passes bank no more than MAX_SOLICITED_PASSES.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FloodGate, MAX_SOLICITED_PASSES } from '../../src/server/rate-limit.js';

function gate(framesPerSecond: number, burst: number) {
  let t = 0;
  const g = new FloodGate({ framesPerSecond, burst }, () => t);
  return { g, advance: (ms: number) => (t += ms) };
}

test('the bucket holds a burst and refills at the sustained rate', () => {
  const { g, advance } = gate(10, 4);
  for (let i = 0; i < 4; i++) assert.ok(g.take(), `token ${i} of the burst`);
  assert.equal(g.take(), false, 'the burst is spent');
  advance(99);
  assert.equal(g.take(), false, '0.99 of a token after 99 ms at 10/s');
  advance(1);
  assert.ok(g.take(), 'one token after 100 ms');
  assert.equal(g.take(), false);
  advance(60_000);
  for (let i = 0; i < 4; i++) assert.ok(g.take(), 'refilled to the burst, no further');
  assert.equal(g.take(), false);
});

test('solicited replies spend passes, everything else spends tokens', () => {
  const { g } = gate(1, 2);
  assert.equal(g.holdsPasses, false);
  for (let i = 0; i < 5; i++) g.grant();
  assert.equal(g.holdsPasses, true);
  for (let i = 0; i < 5; i++) assert.ok(g.admit(true), `reply ${i} on a pass`);
  assert.equal(g.holdsPasses, false);
  assert.ok(g.admit(true), 'a solicited reply without a pass falls back on a token');
  assert.ok(g.admit(false));
  assert.equal(g.admit(false), false, 'unsolicited frames run the bucket dry');
  g.grant();
  assert.equal(g.admit(false), false, 'a pass is never spent on an unsolicited frame');
  assert.ok(g.admit(true));
});

test('passes bank at most MAX_SOLICITED_PASSES', () => {
  const { g } = gate(1, 1);
  for (let i = 0; i < MAX_SOLICITED_PASSES + 50; i++) g.grant();
  for (let i = 0; i < MAX_SOLICITED_PASSES; i++) assert.ok(g.admit(true));
  assert.equal(g.holdsPasses, false);
  assert.ok(g.admit(true), 'the one token');
  assert.equal(g.admit(true), false);
});
