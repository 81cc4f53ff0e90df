import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFederaError } from '../../src/core/errors.js';
import { makeParams, ParamLayout, type Params } from '../../src/core/params.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { FedAdam } from '../../src/strategy/fedadam.js';
import type { Strategy, TrainResult } from '../../src/strategy/strategy.js';
import { CoordinateMedian } from '../../src/robust/median.js';
import { Krum } from '../../src/robust/krum.js';
import { Mean } from '../../src/robust/aggregator.js';
import { NormBounding } from '../../src/robust/norm-bound.js';
import { RobustStrategy } from '../../src/aggregate/robust-strategy.js';
import { createRobustStrategy } from '../../src/aggregate/robust-strategy.js';

const layout = ParamLayout.fromShapes([{ name: 'w', shape: [3] }]);
const params = (...v: number[]): Params => makeParams(layout, Float32Array.from(v));
const result = (clientId: string, update: number[], numExamples = 10, loss = 1): TrainResult => ({ clientId, update: Float32Array.from(update), numExamples, metrics: { loss } });

function runRound(s: Strategy, round: number, global: Params, results: TrainResult[]) {
  const agg = s.aggregateTrain(round, global);
  for (const r of results) agg.add(r);
  return agg.finish();
}

test('the robust update is applied by the base strategy: FedAvg moves the model by the coordinate median', () => {
  const s = new RobustStrategy(new FedAvg(), { aggregator: new CoordinateMedian() });
  assert.equal(s.name, 'fedavg+median');
  const out = runRound(s, 1, params(1, 1, 1), [result('a', [1, 0, 0]), result('b', [2, 5, -1]), result('c', [100, 1, 3], 30, 4)]);
  assert.deepEqual([...out.params], [3, 2, 1]);
  // Fit metrics are still the example-weighted means over every client.
  assert.equal(out.metrics.loss, (10 + 10 + 120) / 50);
  assert.equal(out.metrics.robust_updates, 3);
  assert.equal(out.metrics.robust_used, 3);
});

test('updates are copied on add: the caller may reuse its buffer (borrowed-reply contract)', () => {
  const s = new RobustStrategy(new FedAvg(), { aggregator: new CoordinateMedian() });
  const agg = s.aggregateTrain(1, params(0, 0, 0));
  const buffer = new Float32Array(3);
  for (const [id, v] of [['a', [1, 1, 1]], ['b', [2, 2, 2]], ['c', [3, 3, 3]]] as const) {
    buffer.set(v);
    agg.add({ clientId: id, update: buffer, numExamples: 1, metrics: {} });
    buffer.fill(1e9); // the transport reuses the buffer
  }
  assert.deepEqual([...agg.finish().params], [2, 2, 2]);
});

test('composition with a server optimizer: RobustStrategy(FedAdam) = FedAdam fed the robust update', () => {
  const opts = { serverLearningRate: 0.05, tau: 1e-3 };
  const robust = new RobustStrategy(new FedAdam(opts), { aggregator: new CoordinateMedian() });
  const plain = new FedAdam(opts);
  let g1 = params(0.5, -0.5, 0), g2 = params(0.5, -0.5, 0);
  const rounds = [
    [result('a', [1, 0, 0]), result('b', [2, 5, -1]), result('c', [100, 1, 3])],
    [result('a', [-1, 0.5, 2]), result('b', [0, 0, 0]), result('c', [0.25, -3, 1]), result('d', [9, 9, 9])],
  ];
  for (const [i, rs] of rounds.entries()) {
    const median = new CoordinateMedian().aggregate(rs.map((r) => r.update)).update;
    const a = runRound(robust, i + 1, g1, rs);
    const b = runRound(plain, i + 1, g2, [{ clientId: 'x', update: median, numExamples: 1, metrics: {} }]);
    assert.deepEqual(a.params, b.params, `round ${i + 1}`);
    g1 = params(...a.params);
    g2 = params(...b.params);
  }
  // Server optimizer state passes through, with the reputation alongside.
  const state = robust.getState();
  assert.equal(state.steps, 2);
  const again = new RobustStrategy(new FedAdam(opts), { aggregator: new CoordinateMedian() });
  again.setState(state);
  assert.deepEqual(again.getState(), state);
});

test('a non-finite or wrong-length update is rejected on add and leaves the aggregation as it was', () => {
  const s = new RobustStrategy(new FedAvg(), { aggregator: new CoordinateMedian() });
  const agg = s.aggregateTrain(1, params(0, 0, 0));
  agg.add(result('a', [1, 1, 1]));
  assert.throws(() => agg.add(result('b', [1, NaN, 1])), (e) => isFederaError(e, 'non_finite') && /client b: value NaN at index 1/.test((e as Error).message));
  assert.throws(() => agg.add(result('c', [1, Infinity, 1])), (e) => isFederaError(e, 'non_finite'));
  assert.throws(() => agg.add(result('d', [1, 1])), (e) => isFederaError(e, 'shape_mismatch'));
  assert.throws(() => agg.add(result('e', [1, 1, 1], 0)), (e) => isFederaError(e, 'invalid_argument'));
  assert.equal(agg.accepted, 1);
  agg.add(result('f', [3, 3, 3]));
  assert.deepEqual([...agg.finish().params], [2, 2, 2]);
});

test('the result does not depend on arrival order (updates are aggregated in client-id order)', () => {
  // Duplicate updates give Krum a tie; it must break the same way whatever the arrival order.
  const rs = [result('c', [0, 0, 1]), result('a', [0, 0, 1]), result('b', [5, 5, 5]), result('d', [0, 1, 0]), result('e', [1, 0, 0])];
  const mk = () => new RobustStrategy(new FedAvg(), { aggregator: new Krum({ f: 1 }) });
  const s1 = mk(), s2 = mk();
  const a = runRound(s1, 1, params(0, 0, 0), rs);
  const b = runRound(s2, 1, params(0, 0, 0), [...rs].reverse());
  assert.deepEqual(a.params, b.params);
  assert.deepEqual(s1.lastReport!.used, ['a']);
  assert.deepEqual(s2.lastReport!.used, ['a']);
});

test('too few updates for f: finish throws insufficient_results naming the rule', () => {
  const s = new RobustStrategy(new FedAvg(), { aggregator: new Krum({ f: 2 }) });
  assert.throws(() => runRound(s, 1, params(0, 0, 0), [result('a', [1, 1, 1]), result('b', [1, 1, 1])]), (e) => isFederaError(e, 'insufficient_results') && /krum: n = 2 .*n > 2f \+ 2 = 6/.test((e as Error).message));
  // The store is released: the next round works.
  const ok = runRound(new RobustStrategy(new FedAvg(), { aggregator: new CoordinateMedian() }), 2, params(0, 0, 0), [result('a', [1, 1, 1])]);
  assert.deepEqual([...ok.params], [1, 1, 1]);
});

test('anomaly events: a sign flipper is flagged with its scores; without reputation nothing else changes', () => {
  const s = new RobustStrategy(new FedAvg(), { aggregator: new CoordinateMedian() });
  const honest = [result('h1', [1, 1, 1]), result('h2', [1.1, 0.9, 1]), result('h3', [0.9, 1.1, 1]), result('h4', [1, 1, 1.1])];
  const out = runRound(s, 3, params(0, 0, 0), [...honest, result('evil', [-1, -1, -1])]);
  const events = out.events ?? [];
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.kind, 'robust/anomaly');
  assert.equal(e.clientId, 'evil');
  assert.match(e.message, /client evil flagged in round 3: cosine -1\.000 < 0/);
  assert.ok((e.cosine as number) < -0.99);
  assert.equal(out.metrics.robust_flagged, 1);
  assert.equal(s.lastReport!.scores.size, 5);
  // Scoring can be turned off.
  const quiet = new RobustStrategy(new FedAvg(), { aggregator: new CoordinateMedian(), anomaly: false });
  assert.equal(runRound(quiet, 1, params(0, 0, 0), [...honest, result('evil', [-1, -1, -1])]).events?.length ?? 0, 0);
});

test('reputation: a repeat offender is down-weighted, then excluded, then readmitted once its penalty decays', () => {
  const s = new RobustStrategy(new FedAvg(), {
    aggregator: new NormBounding({ threshold: 'median' }),
    reputation: { decay: 0.9, excludeAt: 1.5 },
    weighting: 'uniform',
  });
  const honest = () => [result('h1', [1, 0, 0]), result('h2', [1, 0, 0]), result('h3', [1, 0, 0]), result('h4', [1, 0, 0])];
  const evil = result('x', [-1, 0, 0]);
  const zero = params(0, 0, 0);
  // Round 1: every weight 1 (all norms are 1, so the bound changes nothing): (4 − 1) / 5. x is flagged: penalty 1.
  const r1 = runRound(s, 1, zero, [...honest(), evil]);
  assert.ok(Math.abs(r1.params[0] - 0.6) < 1e-6, `got ${r1.params[0]}`);
  assert.deepEqual(s.lastReport!.flagged, ['x']);
  assert.equal(s.reputation!.penalty('x', 1), 1);
  // Round 2: penalty 0.9 → weight 1 / 1.9. Flagged again: penalty 1.9.
  const r2 = runRound(s, 2, zero, [...honest(), evil]);
  const w = 1 / 1.9;
  assert.ok(Math.abs(r2.params[0] - (4 - w) / (4 + w)) < 1e-6, `got ${r2.params[0]}`);
  assert.ok(Math.abs(s.reputation!.penalty('x', 2) - 1.9) < 1e-12);
  // Round 3: penalty 1.71 ≥ 1.5: excluded; the model moves by the honest mean. Still scored (and flagged).
  const r3 = runRound(s, 3, zero, [...honest(), evil]);
  assert.deepEqual(s.lastReport!.excluded, ['x']);
  assert.deepEqual([...r3.params], [1, 0, 0]);
  assert.deepEqual((r3.events ?? []).map((e) => `${e.kind}:${e.clientId}`), ['robust/excluded:x', 'robust/anomaly:x']);
  assert.match(r3.events![0].message, /client x excluded from round 3: penalty 1\.71 ≥ 1\.5 \(reputation 0\.37\)/);
  assert.equal(r3.events![1].excluded, true);
  assert.equal(r3.metrics.robust_excluded, 1);
  // From round 4 x behaves; its penalty 2.71 decays by 0.9 a round: ≥ 1.5 up to round 8, 1.44 in round 9.
  const good = result('x', [1, 0, 0]);
  for (let r = 4; r <= 8; r++) {
    runRound(s, r, zero, [...honest(), good]);
    assert.deepEqual(s.lastReport!.excluded, ['x'], `round ${r}`);
    assert.deepEqual(s.lastReport!.flagged, [], `round ${r}`);
  }
  runRound(s, 9, zero, [...honest(), good]);
  assert.deepEqual(s.lastReport!.excluded, [], 'readmitted in round 9');
});

test('exclusion never leaves an aggregator fewer updates than it needs', () => {
  const s = new RobustStrategy(new FedAvg(), { aggregator: new Krum({ f: 1 }), reputation: { decay: 1, excludeAt: 1 } });
  // Five clients (Krum f = 1 needs 5): pre-penalise two; neither can be excluded.
  s.reputation!.penalize('a', 1);
  s.reputation!.penalize('b', 1, 2);
  const out = runRound(s, 2, params(0, 0, 0), [result('a', [1, 1, 1]), result('b', [1, 1, 1]), result('c', [1, 1, 1]), result('d', [1, 1, 1]), result('e', [1, 1, 1])]);
  assert.deepEqual(s.lastReport!.excluded, []);
  assert.deepEqual((out.events ?? []).map((e) => `${e.kind}:${e.clientId}`), ['robust/kept:b', 'robust/kept:a']);
  assert.match(out.events![0].message, /krum needs at least 5 updates/);
});

test('createRobustStrategy wires settings; reputation requires anomaly scoring', () => {
  const s = createRobustStrategy(new FedAvg(), { aggregator: 'trimmed-mean', beta: 0.2, normBound: 'median', reputation: {} });
  assert.equal(s.name, 'fedavg+norm-bound+trimmed-mean');
  assert.ok(s.reputation);
  assert.throws(() => new RobustStrategy(new FedAvg(), { aggregator: new Mean(), anomaly: false, reputation: {} }), /reputation needs anomaly scoring/);
});
