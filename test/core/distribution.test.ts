// Fairness statistics over clients (src/core/distribution.ts), against hand-computed values, and
// federated evaluation recording them for every evaluated round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeDistribution } from '../../src/core/distribution.js';
import { clientDistribution } from '../../src/engine/evaluate.js';

test('distribution of per-client accuracy: mean, variance, worst and best 10 %, Jain, quartiles', () => {
  // 12 clients: ⌈12/10⌉ = 2 in each tail.
  const acc = [0.9, 0.8, 0.5, 0.7, 0.6, 0.95, 0.85, 0.75, 0.65, 0.55, 0.4, 1.0];
  const d = describeDistribution(acc, true)!;
  const sum = acc.reduce((a, b) => a + b, 0);
  assert.equal(d.clients, 12);
  assert.ok(Math.abs(d.mean - sum / 12) < 1e-12);
  assert.ok(Math.abs(d.variance - acc.reduce((a, x) => a + (x - sum / 12) ** 2, 0) / 12) < 1e-12);
  assert.ok(Math.abs(d.worst10 - (0.4 + 0.5) / 2) < 1e-12);
  assert.ok(Math.abs(d.best10 - (0.95 + 1.0) / 2) < 1e-12);
  assert.ok(Math.abs(d.jain - sum ** 2 / (12 * acc.reduce((a, x) => a + x * x, 0))) < 1e-12);
  // Sorted: 0.4 0.5 0.55 0.6 0.65 0.7 0.75 0.8 0.85 0.9 0.95 1.0; q1 at position 2.75, median at 5.5.
  assert.ok(Math.abs(d.q1 - (0.55 + 0.75 * (0.6 - 0.55))) < 1e-12);
  assert.ok(Math.abs(d.median - (0.7 + 0.75) / 2) < 1e-12);
  assert.equal(d.min, 0.4);
  assert.equal(d.max, 1.0);
  // Loss: lower is better, so the worst tail is the highest.
  const l = describeDistribution([3, 1, 2], false)!;
  assert.equal(l.worst10, 3);
  assert.equal(l.best10, 1);
  // Equal values: Jain 1; one client with everything: 1/n; nothing finite: undefined.
  assert.equal(describeDistribution([0.5, 0.5, 0.5], true)!.jain, 1);
  assert.ok(Math.abs(describeDistribution([1, 0, 0, 0], true)!.jain - 0.25) < 1e-12);
  assert.equal(describeDistribution([NaN, Infinity], true), undefined);
  assert.equal(describeDistribution([0, 0], true)!.jain, 1);
});

test('federated evaluation records the spread of accuracy and loss over the clients it used', () => {
  const results = [0.9, 0.6, 0.3].map((a, i) => ({ clientId: `c${i}`, loss: 1 - a, numExamples: 10, metrics: { accuracy: a } }));
  const d = clientDistribution(results).distribution!;
  assert.equal(d.accuracy!.clients, 3);
  assert.equal(d.accuracy!.worst10, 0.3);
  assert.ok(Math.abs(d.loss!.worst10 - 0.7) < 1e-12);
  // A regression run reports no accuracy: only the loss's distribution.
  const r = clientDistribution([{ clientId: 'a', loss: 2, numExamples: 5, metrics: {} }]).distribution!;
  assert.equal(r.accuracy, undefined);
  assert.equal(r.loss!.median, 2);
});
