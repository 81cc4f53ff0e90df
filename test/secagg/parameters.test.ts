// SecAgg+ k and t from stated bounds (parameters.ts, after Bell et al. 2020): the derived pair
// meets both failure bounds, no smaller even k does, t is the smallest secure majority; the
// hypergeometric tails agree with an independent computation, and the disconnection bound holds
// against sampling. Config keys secagg.corruptFraction / dropoutFraction / securityBits /
// correctnessBits reach the derivation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SECAGG_BOUNDS, deriveSecAggParameters, disconnectionBound, failureBounds } from '../../src/secagg/parameters.js';
import { isConnected, seededHararyGraph } from '../../src/secagg/graph.js';
import { resolveSecAgg } from '../../src/secagg/protocol.js';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { isFederaError } from '../../src/core/errors.js';

const B = DEFAULT_SECAGG_BOUNDS;

test('derived k and t at γ = δ = 0.1, σ = 40, η = 20 (the table in docs/secagg.md)', () => {
  const table: Array<[number, number, number]> = [
    [100, 22, 12],
    [1000, 46, 26],
    [10000, 54, 30],
  ];
  for (const [n, k, t] of table) {
    const p = deriveSecAggParameters(n);
    assert.deepEqual([p.degree, p.threshold], [k, t], `n = ${n}`);
    assert.ok(p.securityLog2 <= -40 && p.correctnessLog2 <= -20, `n = ${n}: ${p.securityLog2}, ${p.correctnessLog2}`);
    assert.ok(2 * t > k + 1, 'a majority of the neighbourhood');
    // Minimal: no smaller even k admits a threshold meeting both bounds.
    for (let k2 = 2; k2 < k; k2 += 2) {
      for (let t2 = Math.floor((k2 + 1) / 2) + 1; t2 <= k2 + 1; t2++) {
        const f = failureBounds(n, k2, t2, B);
        assert.ok(!(f.securityLog2 <= -40 && f.correctnessLog2 <= -20), `n = ${n}: k = ${k2}, t = ${t2} would do`);
      }
    }
    // t is the smallest secure majority for that k.
    if (t - 1 > (k + 1) / 2) assert.ok(failureBounds(n, k, t - 1, B).securityLog2 > -40);
  }
});

test('hypergeometric tails agree with an exact count (small population)', () => {
  // n = 30, k = 8, 3 colluders among the other 29: P[X ≥ 3] by direct binomial coefficients.
  const choose = (a: number, b: number) => {
    let r = 1;
    for (let i = 0; i < b; i++) r = (r * (a - i)) / (i + 1);
    return r;
  };
  const p3 = (choose(3, 3) * choose(26, 5)) / choose(29, 8);
  const bounds = { ...B, corruptFraction: 0.1, dropoutFraction: 0 };
  const f = failureBounds(30, 8, 3, bounds);
  // security = n·P[X ≥ 3] + disconnection bound (3 removed < k: 0).
  assert.ok(Math.abs(2 ** f.securityLog2 / (30 * p3) - 1) < 1e-9, `${2 ** f.securityLog2} vs ${30 * p3}`);
});

test('the disconnection bound holds against sampling (random ring graph, random removals)', () => {
  const n = 40;
  const k = 6;
  const removed = 12;
  const ids = Array.from({ length: n }, (_, i) => `c${i}`);
  let disconnected = 0;
  const trials = 2000;
  for (let s = 0; s < trials; s++) {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const g = seededHararyGraph(ids, k, seed);
    const gone = new Set<string>();
    while (gone.size < removed) gone.add(ids[crypto.getRandomValues(new Uint32Array(1))[0] % n]);
    if (!isConnected(g, new Set(ids.filter((id) => !gone.has(id))))) disconnected++;
  }
  const bound = disconnectionBound(n, k, removed);
  assert.ok(bound < 1, 'a non-trivial bound');
  assert.ok(disconnected / trials <= bound, `sampled ${disconnected / trials} > bound ${bound}`);
  assert.equal(disconnectionBound(n, n - 1, removed), 0, 'the complete graph never disconnects');
});

test('bounds that no graph can meet are refused; the config keys reach the derivation', () => {
  assert.throws(
    () => deriveSecAggParameters(10, { corruptFraction: 0.4, dropoutFraction: 0.4, securityBits: 40, correctnessBits: 20 }),
    (e: unknown) => isFederaError(e) && e.code === 'invalid_config' && /no neighbourhood and threshold keep 10 clients secure/.test(e.message),
  );
  const more = resolveSecAgg({ mode: 'secagg+', corruptFraction: 0.2 }, 1000);
  const base = resolveSecAgg({ mode: 'secagg+' }, 1000);
  assert.ok(more.degree > base.degree && more.threshold > base.threshold, `${more.degree}/${more.threshold} vs ${base.degree}/${base.threshold}`);
  const looser = resolveSecAgg({ mode: 'secagg+', securityBits: 20, correctnessBits: 10 }, 1000);
  assert.ok(looser.degree < base.degree);
  const c = parseSimulationConfig({ name: 'p', model: 'logreg', clients: 200, clientsPerRound: 200, rounds: 1, partition: { kind: 'iid' }, secagg: { mode: 'secagg+', corruptFraction: 0.2, dropoutFraction: 0.05 } });
  assert.equal(c.secagg?.corruptFraction, 0.2);
  assert.throws(() => parseSimulationConfig({ name: 'p', model: 'logreg', clients: 10, rounds: 1, partition: { kind: 'iid' }, secagg: { mode: 'secagg+', corruptFraction: 0.6 } }), /corruptFraction/);
  // Explicit k and t are kept; the round's secagg event reports what they achieve.
  const explicit = resolveSecAgg({ mode: 'secagg+', neighbours: 14, threshold: 10 }, 100);
  assert.equal(explicit.degree, 14);
  assert.ok(explicit.securityLog2 > -40, 'the former default does not meet 2^−40 at 10 % colluders');
});
