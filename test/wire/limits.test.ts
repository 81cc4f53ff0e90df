// Caps on client strings (src/wire/limits.ts): error code ≤ 64, message ≤ 1024, metric names ≤ 64,
// at most 32 metrics per reply; a cut string ends with `…[truncated: N characters]`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageBase } from '../../src/core/messages.js';
import { WIRE_LIMITS, describeTruncations, limitReplyStrings, truncateString, truncationMarker } from '../../src/wire/limits.js';
import { failureLabel } from '../../src/server/metrics.js';

const head = { runId: 'r', round: 1 };

test('truncateString keeps max characters and says how many were cut; never splits a surrogate pair', () => {
  assert.deepEqual(truncateString('abc', 3), { value: 'abc', removed: 0 });
  assert.deepEqual(truncateString('abcdef', 3), { value: `abc${truncationMarker(3)}`, removed: 3 });
  assert.equal(truncationMarker(3), '…[truncated: 3 characters]');
  const emoji = 'ab😀cd'; // the emoji is two UTF-16 units at 2..3
  const t = truncateString(emoji, 3);
  assert.equal(t.value, `ab${truncationMarker(4)}`);
  const once = truncateString('q'.repeat(5000), 64).value;
  assert.deepEqual(truncateString(once, 64), { value: once, removed: 0 }, 'cutting twice keeps the first count');
});

test('an error reply of 20 MiB: code and message cut to their caps', () => {
  const m = { ...head, type: 'error', code: 'x'.repeat(1000), message: 'y'.repeat(20 * 1024 * 1024) } as unknown as MessageBase;
  const { message, truncations } = limitReplyStrings(m);
  const e = message as unknown as { code: string; message: string };
  assert.equal(e.code, 'x'.repeat(64) + truncationMarker(936));
  assert.ok(e.message.startsWith('y'.repeat(1024) + '…[truncated: '));
  assert.ok(e.message.length < 1100);
  assert.deepEqual(truncations.map((t) => t.field), ['code', 'message']);
  assert.match(describeTruncations(truncations), /1 error code over 64 characters \(936 characters cut\); 1 error message over 1024 characters/);
});

test('50,000 metric names: 32 kept, long names cut, the rest dropped; a reply within the caps is the same object', () => {
  const metrics: Record<string, number> = { ['n'.repeat(100)]: 1 };
  for (let i = 0; i < 50_000; i++) metrics[`m${i}`] = i;
  const m = { ...head, type: 'train_result', update: new Float32Array(2), numExamples: 3, metrics, note: 'z'.repeat(5000) } as unknown as MessageBase;
  const { message, truncations } = limitReplyStrings(m);
  const out = message as unknown as { metrics: Record<string, number>; update: Float32Array; note: string };
  assert.equal(Object.keys(out.metrics).length, WIRE_LIMITS.metricsPerReply);
  assert.equal(out.metrics['n'.repeat(64) + truncationMarker(36)], 1);
  assert.equal(out.update, (m as unknown as { update: Float32Array }).update, 'arrays pass untouched');
  assert.equal(out.note.length, 1024 + truncationMarker(5000 - 1024).length);
  assert.deepEqual(truncations.map((t) => t.field).sort(), ['metric_name', 'metrics', 'string']);
  assert.equal(truncations.find((t) => t.field === 'metrics')!.removed, 50_001 - 32);
  const fine = { ...head, type: 'train_result', update: new Float32Array(2), numExamples: 3, metrics: { loss: 1 } } as unknown as MessageBase;
  const same = limitReplyStrings(fine);
  assert.equal(same.message, fine);
  assert.deepEqual(same.truncations, []);
});

test('/metrics label values: client-chosen error codes outside the known set become other', () => {
  assert.equal(failureLabel('timeout'), 'timeout');
  assert.equal(failureLabel('rejected:non_finite'), 'rejected:non_finite');
  assert.equal(failureLabel('client_error:client_exception'), 'client_error:client_exception');
  assert.equal(failureLabel('client_error:' + 'A'.repeat(64)), 'client_error:other');
  assert.equal(failureLabel('client_error:{"x"="1"}'), 'client_error:other');
  assert.equal(failureLabel('whatever'), 'other');
  assert.equal(failureLabel('evil:timeout'), 'other');
});
