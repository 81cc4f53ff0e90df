// The model guard (src/engine/model-guard.ts) and what the engine does with its verdict: a next
// global model that is not finite, or whose norm jumps by more than guard.normJumpFactor, is
// rejected (round skipped, model and strategy state unchanged); a non-finite central evaluation
// undoes the round; a failed round commit is recorded as `commit_failed` and the run goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelGuard, findNonFiniteState, l2Norm } from '../../src/engine/model-guard.js';
import { RoundEngine } from '../../src/engine/engine.js';
import { InMemoryGrid, type MessageHandler } from '../../src/transport/memory.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { FedAvgM } from '../../src/strategy/fedavgm.js';
import { makeParams, ParamLayout } from '../../src/core/params.js';
import { MemoryLogger } from '../../src/core/log.js';
import type { MessageBase, TrainInstruction } from '../../src/core/messages.js';
import type { RoundRecord } from '../../src/core/records.js';

const D = 4;
const layout = ParamLayout.fromShapes([{ name: 'w', shape: [D] }]);

test('the guard: non-finite and norm jumps beyond the factor are rejected, ordinary steps pass', () => {
  const g = new ModelGuard({ normJumpFactor: 100 });
  const prev = new Float32Array(D).fill(1); // norm 2 = √d
  assert.deepEqual(g.check(new Float32Array(D).fill(50), prev), { ok: true, norm: 100 });
  const nan = g.check(Float32Array.of(1, NaN, 1, 1), prev);
  assert.equal(nan.ok, false);
  assert.equal(!nan.ok && nan.code, 'non_finite');
  assert.match(!nan.ok ? nan.reason : '', /index 1/);
  const huge = g.check(new Float32Array(D).fill(2.5e36), prev);
  assert.equal(!huge.ok && huge.code, 'model_rejected');
  assert.match(!huge.ok ? huge.reason : '', /exceeds guard\.normJumpFactor 100/);
  // From zero the floor √d lets the model move: 100·√4 = 200 is the limit.
  assert.equal(g.check(new Float32Array(D).fill(99), new Float32Array(D)).ok, true);
  assert.equal(g.check(new Float32Array(D).fill(101), new Float32Array(D)).ok, false);
  assert.throws(() => new ModelGuard({ normJumpFactor: 1 }), /guard\.normJumpFactor must be a finite number > 1, got 1/);
  assert.ok(Math.abs(l2Norm(Float32Array.of(3e38, 3e38)) / (Math.SQRT2 * Float32Array.of(3e38)[0]) - 1) < 1e-12, 'finite in float64');
  assert.equal(findNonFiniteState(Float32Array.of(1, 2), { m: Float32Array.of(0, Infinity) }), 'strategy state m[1] is Infinity');
  assert.equal(findNonFiniteState(Float32Array.of(1, 2), { steps: 3 }), undefined);
});

/** Three honest clients sending `0.1` and, from round `attackFrom`, an attacker sending ±3e38 with one example. */
function clients(attackFrom: number): Map<string, MessageHandler> {
  const m = new Map<string, MessageHandler>();
  for (let i = 0; i < 4; i++) {
    m.set(`c${i}`, async (msg: MessageBase) => {
      const ins = msg as TrainInstruction;
      const attack = i === 3 && ins.round >= attackFrom;
      const update = new Float32Array(D).map((_, j) => (attack ? (j % 2 ? -3e38 : 3e38) : 0.1));
      return { type: 'train_result', runId: ins.runId, round: ins.round, update, numExamples: attack ? 1 : 40, metrics: { loss: 1 } } as unknown as MessageBase;
    });
  }
  return m;
}

test('an update at the float32 limit: the round is skipped as model_rejected, model and optimizer state unchanged', async () => {
  const logger = new MemoryLogger();
  const strategy = new FedAvgM({ momentum: 0.9 });
  const engine = new RoundEngine({ grid: new InMemoryGrid(clients(2)), strategy, initialParams: makeParams(layout), rounds: 3, seed: 1, sampling: { fraction: 1, minClients: 4 }, evaluation: false, logger });
  await engine.runRound(1);
  const after1 = engine.params.data.slice();
  const state1 = strategy.getState();
  const r2 = await engine.runRound(2);
  assert.equal(r2.status, 'skipped');
  assert.equal(r2.code, 'model_rejected');
  assert.match(r2.reason!, /norm .* exceeds guard\.normJumpFactor 100 .* model rejected/);
  assert.deepEqual([...engine.params.data], [...after1]);
  assert.deepEqual(strategy.getState(), state1, 'FedAvgM momentum as before the rejected round');
  assert.ok(logger.entries.some((l) => l.level === 'warn' && /round 2 skipped: .*global model unchanged/.test(l.message)));
  // Off: the same attack moves the model to ~1e36 (what the issue saw).
  const off = new RoundEngine({ grid: new InMemoryGrid(clients(1)), strategy: new FedAvg(), initialParams: makeParams(layout), rounds: 1, seed: 1, sampling: { fraction: 1, minClients: 4 }, evaluation: false, guard: false });
  await off.run();
  assert.ok(Math.abs(off.params.data[0]) > 1e35, `unguarded: ${off.params.data[0]}`);
});

test('a non-finite central evaluation undoes the round (non_finite_evaluation); a failed commit is recorded as commit_failed and the run goes on', async () => {
  let poisonEval = false;
  const strategy = new FedAvg({ evaluate: async () => ({ loss: poisonEval ? NaN : 1, metrics: { accuracy: 0.5 } }) });
  const committed: RoundRecord[] = [];
  let failCommit = 0;
  const logger = new MemoryLogger();
  const engine = new RoundEngine({
    grid: new InMemoryGrid(clients(99)),
    strategy,
    initialParams: makeParams(layout),
    rounds: 4,
    seed: 1,
    sampling: { fraction: 1, minClients: 4 },
    evaluation: false,
    logger,
    onRound: (r) => {
      if (r.round === failCommit && r.code !== 'commit_failed') throw new Error('NOT NULL constraint failed: metrics.value');
      committed.push(r);
    },
  });
  await engine.runRound(1);
  const after1 = engine.params.data.slice();
  poisonEval = true;
  const r2 = await engine.runRound(2);
  assert.equal(r2.status, 'skipped');
  assert.equal(r2.code, 'non_finite_evaluation');
  assert.equal(r2.centralEvaluation, undefined);
  assert.deepEqual([...engine.params.data], [...after1]);
  poisonEval = false;
  failCommit = 3;
  const r3 = await engine.runRound(3);
  assert.equal(r3.status, 'skipped');
  assert.equal(r3.code, 'commit_failed');
  assert.match(r3.reason!, /could not be committed: .*NOT NULL constraint failed/);
  assert.deepEqual([...engine.params.data], [...after1], 'the uncommitted round is undone');
  assert.ok(logger.entries.some((l) => l.level === 'error' && /round 3 failed/.test(l.message)));
  const r4 = await engine.runRound(4);
  assert.equal(r4.status, 'completed');
  assert.deepEqual(committed.map((r) => [r.round, r.status, r.code]), [[1, 'completed', undefined], [2, 'skipped', 'non_finite_evaluation'], [3, 'skipped', 'commit_failed'], [4, 'completed', undefined]]);
  assert.deepEqual(engine.history.map((r) => r.code ?? r.status), ['completed', 'non_finite_evaluation', 'commit_failed', 'completed']);
});

test('rewind: the run continues after the given round from the given parameters', async () => {
  const engine = new RoundEngine({ grid: new InMemoryGrid(clients(99)), strategy: new FedAvg(), initialParams: makeParams(layout), rounds: 4, seed: 1, sampling: { fraction: 1, minClients: 4 }, evaluation: false,
    onRound: (r) => {
      if (r.round === 3 && !rewound) {
        rewound = true;
        engine.rewind(1, new Float32Array(D).fill(7));
      }
    },
  });
  let rewound = false;
  const { history, params } = await engine.run();
  assert.deepEqual(history.map((r) => r.round), [1, 2, 3, 4]);
  assert.ok(Math.abs(params.data[0] - (7 + 0.3)) < 1e-5, `rounds 2–4 from 7: ${params.data[0]}`);
});
