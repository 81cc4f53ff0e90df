// The SecAgg+ neighbour graph: symmetric, degree 2·⌈k/2⌉, fixed by the round seed, different
// across rounds; complete when that degree reaches n − 1. Threshold defaults and refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { completeGraph, hararyGraph } from '../../src/secagg/graph.js';
import { resolveSecAgg } from '../../src/secagg/protocol.js';
import { isFederaError } from '../../src/core/errors.js';

const ids = Array.from({ length: 200 }, (_, i) => `c${String(i).padStart(3, '0')}`);

test('random Harary graph: symmetric, degree 2⌈k/2⌉, no self-loops, seeded', () => {
  const g = hararyGraph(ids, 13, new Rng(1).stream('round').stream(1));
  for (const [id, nb] of g) {
    assert.equal(nb.length, 14);
    assert.ok(!nb.includes(id));
    assert.equal(new Set(nb).size, nb.length);
    for (const o of nb) assert.ok(g.get(o)!.includes(id), `${id} → ${o} is not symmetric`);
  }
  assert.deepEqual(hararyGraph(ids, 13, new Rng(1).stream('round').stream(1)), g);
  assert.notDeepEqual(hararyGraph(ids, 13, new Rng(1).stream('round').stream(2)), g);
  // A degree that reaches n − 1 is the complete graph.
  assert.deepEqual(hararyGraph(ids.slice(0, 9), 8, new Rng(1)), completeGraph(ids.slice(0, 9)));
});

test('thresholds: defaults (⌈2m/3⌉ for SecAgg, derived for SecAgg+), neighbourhood sizes, refusals', () => {
  const shape = (r: ReturnType<typeof resolveSecAgg>) => ({ mode: r.mode, neighbourhood: r.neighbourhood, threshold: r.threshold, degree: r.degree });
  assert.deepEqual(shape(resolveSecAgg({}, 100)), { mode: 'secagg', neighbourhood: 100, threshold: 67, degree: 99 });
  // SecAgg+ defaults come from the stated bounds (parameters.ts; test/secagg/parameters.test.ts).
  assert.deepEqual(shape(resolveSecAgg({ mode: 'secagg+' }, 100)), { mode: 'secagg+', neighbourhood: 23, threshold: 12, degree: 22 });
  assert.deepEqual(shape(resolveSecAgg({ mode: 'secagg+', neighbours: 11, threshold: 7 }, 100)), { mode: 'secagg+', neighbourhood: 13, threshold: 7, degree: 12 });
  const refuses = (s: Parameters<typeof resolveSecAgg>[0], n: number, re: RegExp) => assert.throws(() => resolveSecAgg(s, n), (e) => isFederaError(e, 'invalid_config') && re.test(e.message));
  refuses({ threshold: 11 }, 10, /exceeds the 10 shares/);
  refuses({ threshold: 5 }, 10, /must exceed half/);
  refuses({}, 1, /at least 2 clients/);
  refuses({ neighbours: 1, mode: 'secagg+' }, 10, /neighbours must be an integer ≥ 2/);
  refuses({ stageTimeoutMs: { train: 5 } as never }, 10, /unknown stage "train"/);
});
