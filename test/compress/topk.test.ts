import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectTopK, topkCount } from '../../src/compress/topk.js';
import { CompressionPipeline, decodePayload } from '../../src/compress/pipeline.js';
import { isFederaError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';

/** Reference: sort by magnitude descending, ties by index ascending; the first k, ascending. */
function reference(x: Float32Array, k: number): number[] {
  const order = Array.from(x, (_, i) => i).sort((a, b) => Math.abs(x[b]) - Math.abs(x[a]) || a - b);
  return order.slice(0, k).sort((a, b) => a - b);
}

test('top-k keeps exactly the k largest magnitudes (checked against a sort), indices ascending', () => {
  const rng = new Rng('topk');
  for (const n of [1, 2, 17, 1000, 5000]) {
    const x = new Float32Array(n);
    // Magnitudes over many binades, so both radix passes matter; some exact zeros and −0.
    for (let i = 0; i < n; i++) x[i] = i % 37 === 0 ? (i % 2 ? -0 : 0) : rng.normal() * 2 ** Math.floor(rng.next() * 30 - 15);
    for (const k of [1, Math.ceil(n / 100), Math.ceil(n / 10), Math.floor(n / 2), n]) {
      if (k < 1 || k > n) continue;
      const out = new Uint32Array(k);
      assert.equal(selectTopK(x, out), -1);
      assert.deepEqual([...out], reference(x, k), `n ${n} k ${k}`);
    }
  }
});

test('ties at the threshold magnitude keep the lowest indices (+v and −v are ties)', () => {
  const x = Float32Array.from([0.5, -1, 1, 0.25, -1, 1, 2, -0.5]);
  const out = new Uint32Array(4);
  selectTopK(x, out);
  // 2 is above the threshold; |±1| at indices 1, 2, 4, 5 tie: the lowest three (1, 2, 4) are kept.
  assert.deepEqual([...out], [1, 2, 4, 6]);
  const flat = new Float32Array(10).fill(3);
  const o2 = new Uint32Array(3);
  selectTopK(flat, o2);
  assert.deepEqual([...o2], [0, 1, 2]);
  // Values sharing the top 16 bits but not the low ones are not ties.
  const close = Float32Array.from([1, Math.fround(1 + 2 ** -20), 1, Math.fround(1 + 2 ** -21)]);
  const o3 = new Uint32Array(2);
  selectTopK(close, o3);
  assert.deepEqual([...o3], [1, 3]);
});

test('k from a fraction rounds to nearest with at least 1; an impossible k is refused', () => {
  assert.equal(topkCount({ fraction: 0.01 }, 199_210), 1992);
  assert.equal(topkCount({ fraction: 1e-9 }, 100), 1);
  assert.equal(topkCount({ fraction: 1 }, 100), 100);
  assert.equal(topkCount({ k: 7 }, 7), 7);
  assert.equal(topkCount({ fraction: 0.5 }, 0), 0);
  assert.throws(() => topkCount({ k: 11 }, 10), (e) => isFederaError(e, 'invalid_config') && /k = 11 is impossible for a vector of 10 values/.test(e.message));
  const p = new CompressionPipeline([{ codec: 'topk', k: 50 }]);
  assert.throws(() => p.encode(new Float32Array(10), undefined, 'client c1 update'), (e) => isFederaError(e, 'invalid_config') && /client c1 update: topk: k = 50/.test(e.message));
});

test('non-finite values are refused before anything is selected', () => {
  const out = new Uint32Array(1);
  assert.equal(selectTopK(Float32Array.from([1, Infinity, 2]), out), 1);
  assert.equal(selectTopK(Float32Array.from([1, 2, NaN]), out), 2);
  const p = new CompressionPipeline('topk:k=1');
  assert.throws(() => p.encode(Float32Array.from([0, -Infinity])), (e) => isFederaError(e, 'non_finite') && /index 1/.test(e.message));
});

test('a top-k payload decodes to the kept values at their indices and zeros elsewhere', () => {
  const rng = new Rng('sparse');
  const x = new Float32Array(3000);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const y = decodePayload(new CompressionPipeline('topk:0.05').encode(x));
  const kept = new Set(reference(x, 150));
  for (let i = 0; i < x.length; i++) assert.equal(y[i], kept.has(i) ? x[i] : 0);
});
