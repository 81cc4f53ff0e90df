import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFederaError } from '../../src/core/errors.js';
import { anomalyReasons, anomalyScores, robustZ } from '../../src/robust/anomaly.js';
import { Reputation } from '../../src/robust/reputation.js';
import { rows } from './reference.js';

const near = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} ≉ ${b}`);

test('anomaly scores: norm, distance and cosine against the aggregate, robust z-scores of norm and distance', () => {
  // Norms 1, 2, 3, 4, 100 → median 3, |deviations| 2, 1, 0, 1, 97 → MAD 1.
  // Distances to [3, 0]: 2, 1, 0, 1, 97 → median 1, |deviations| 1, 0, 1, 0, 96 → MAD 1.
  const s = anomalyScores(rows([1, 0], [2, 0], [3, 0], [4, 0], [100, 0]), Float32Array.from([3, 0]));
  assert.deepEqual(s.map((x) => x.norm), [1, 2, 3, 4, 100]);
  assert.deepEqual(s.map((x) => x.distance), [2, 1, 0, 1, 97]);
  assert.deepEqual(s.map((x) => x.cosine), [1, 1, 1, 1, 1]);
  near(s[4].normZ, 97 / 1.4826);
  near(s[0].normZ, -2 / 1.4826);
  near(s[4].distanceZ, 96 / 1.4826);
  near(s[0].distanceZ, 1 / 1.4826);
  assert.deepEqual(s.map((x) => anomalyReasons(x).length > 0), [false, false, false, false, true]);
  assert.match(anomalyReasons(s[4]).join('; '), /norm z 65\.4 > 3\.5; distance z 64\.8 > 3\.5/);
});

test('a sign-flipped update has cosine −1 and is flagged; a zero update has cosine 0', () => {
  const s = anomalyScores(rows([1, 2], [1, 2], [-1, -2], [0, 0]), Float32Array.from([1, 2]));
  near(s[0].cosine, 1);
  near(s[2].cosine, -1);
  assert.equal(s[3].cosine, 0);
  assert.deepEqual(anomalyReasons(s[2]), ['cosine -1.000 < 0']);
  // Thresholds are configurable; Infinity / -Infinity turn a test off.
  assert.deepEqual(anomalyReasons(s[2], { minCosine: -Infinity }), []);
});

test('robust z-scores: the scale is floored at 10 % of the median (MAD = 0 or tiny)', () => {
  // MAD 0: scale 0.1 · 1, so 10 scores 90 and 1.05 scores 0.5.
  const z = robustZ([1, 1, 1, 10, 1.05]);
  assert.deepEqual([...z.slice(0, 3)], [0, 0, 0]);
  near(z[3], 90);
  near(z[4], 0.5, 1e-9);
  assert.deepEqual([...robustZ([0, 0, 0])], [0, 0, 0]);
  assert.deepEqual([...robustZ([])], []);
});

test('reputation: penalties decay per round elapsed, reputation = 1 / (1 + penalty)', () => {
  const r = new Reputation({ decay: 0.5, excludeAt: 1.5 });
  assert.equal(r.penalty('a', 1), 0);
  assert.equal(r.reputation('a', 1), 1);
  assert.equal(r.penalize('a', 1), 1);
  assert.equal(r.penalty('a', 1), 1);
  assert.equal(r.reputation('a', 1), 0.5);
  assert.equal(r.penalty('a', 3), 0.25);
  assert.equal(r.reputation('a', 3), 0.8);
  assert.equal(r.isExcluded('a', 1), false, 'one offence does not exclude');
  assert.equal(r.penalize('a', 2), 1.5, '0.5 left from round 1, plus 1');
  assert.equal(r.isExcluded('a', 2), true);
  assert.equal(r.isExcluded('a', 3), false, 'decayed to 0.75: back in');
  assert.deepEqual(r.clients(), ['a']);
});

test('reputation defaults: a single false alarm never excludes; repeat offenders are excluded', () => {
  const r = new Reputation();
  r.penalize('once', 1);
  assert.equal(r.isExcluded('once', 2), false);
  // Two consecutive rounds: 1 · 0.95 + 1 = 1.95, 1.8525 in the next round.
  r.penalize('twice', 1);
  r.penalize('twice', 2);
  assert.equal(r.isExcluded('twice', 3), true);
  // Every fifth round (20 % participation): excluded only after the third offence.
  r.penalize('every5', 1);
  r.penalize('every5', 6);
  assert.equal(r.isExcluded('every5', 11), false);
  r.penalize('every5', 11);
  near(r.penalty('every5', 11), (1 + 0.95 ** 5) * 0.95 ** 5 + 1);
  assert.equal(r.isExcluded('every5', 16), true);
  // A client that behaves recovers.
  assert.equal(r.isExcluded('every5', 30), false);
});

test('reputation state round-trips and bad options are refused', () => {
  const r = new Reputation({ decay: 0.9 });
  r.penalize('x', 3);
  r.penalize('y', 4, 2);
  const s = r.toState('p/');
  assert.deepEqual(s, { 'p/penalty/x': 1, 'p/round/x': 3, 'p/penalty/y': 2, 'p/round/y': 4 });
  const back = new Reputation({ decay: 0.9 });
  back.loadState(s, 'p/');
  assert.equal(back.penalty('y', 5), r.penalty('y', 5));
  assert.throws(() => back.loadState({ 'p/penalty/x': -1, 'p/round/x': 1 }, 'p/'), (e) => isFederaError(e, 'invalid_argument'));
  assert.throws(() => new Reputation({ decay: 0 }), /decay must be in \(0, 1\]/);
  assert.throws(() => new Reputation({ decay: 1.5 }), /decay must be in \(0, 1\]/);
  assert.throws(() => new Reputation({ excludeAt: 0 }), /excludeAt must be > 0/);
});
