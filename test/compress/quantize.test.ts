import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantize, dequantize, quantizedBytes, codesOffset } from '../../src/compress/quantize.js';
import { CompressionPipeline, decodePayload } from '../../src/compress/pipeline.js';
import { Rng } from '../../src/core/rng.js';

/** Quantizes `x` once with the four seed words drawn from `rng`; returns decoded values and the scales. */
function roundTrip(x: Float32Array, bits: number, chunk: number, rng: Rng): { y: Float32Array; scales: Float32Array } {
  const bytes = new Uint8Array(quantizedBytes(x.length, bits, chunk));
  const scales = new Float32Array(bytes.buffer, 0, 2 * Math.ceil(x.length / chunk));
  const codes = bytes.subarray(codesOffset(x.length, chunk));
  assert.equal(quantize(x, bits, chunk, [rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()], scales, codes), -1);
  const y = new Float32Array(x.length);
  assert.equal(dequantize(scales, codes, bits, chunk, y), -1);
  return { y, scales };
}

for (const bits of [1, 2, 4, 8]) {
  test(`${bits}-bit stochastic quantization is unbiased: the mean over many draws tends to the value`, () => {
    const rng = new Rng(`unbiased-${bits}`);
    const m = 48;
    const x = new Float32Array(m);
    for (let i = 0; i < m; i++) x[i] = rng.normal() * 0.3 + 0.1;
    x[5] = 2; // the chunk's max and min are levels themselves
    x[9] = -1.5;
    const draws = 3000;
    const sum = new Float64Array(m);
    let scales!: Float32Array;
    for (let d = 0; d < draws; d++) {
      const r = roundTrip(x, bits, m, rng);
      scales = r.scales;
      for (let i = 0; i < m; i++) sum[i] += r.y[i];
    }
    const [lo, step] = [scales[0], scales[1]];
    let totalError = 0, totalVar = 0;
    for (let i = 0; i < m; i++) {
      // Exact variance of stochastic rounding between two levels: step² · p(1 − p).
      const t = (x[i] - lo) / step;
      const p = t - Math.floor(t);
      const variance = step * step * p * (1 - p);
      const mean = sum[i] / draws;
      const tolerance = 5 * Math.sqrt(variance / draws) + 1e-6 * step;
      assert.ok(Math.abs(mean - x[i]) <= tolerance, `bits ${bits} element ${i}: mean ${mean} vs ${x[i]} (tolerance ${tolerance})`);
      totalError += mean - x[i];
      totalVar += variance / draws;
    }
    assert.ok(Math.abs(totalError) <= 4 * Math.sqrt(totalVar) + 1e-5, `summed error ${totalError}, sd ${Math.sqrt(totalVar)}`);
  });
}

test('a deterministic rounding (nearest level) would fail the unbiasedness check: the check has teeth', () => {
  // Nearest rounding of 0.3 between levels 0 and 1 always gives 0: an error of 0.3 whatever the draws.
  const x = Float32Array.from([0, 0.3, 1]);
  const rng = new Rng('teeth');
  let sum = 0;
  const draws = 3000;
  for (let d = 0; d < draws; d++) sum += roundTrip(x, 1, 3, rng).y[1];
  const mean = sum / draws;
  assert.ok(Math.abs(mean - 0.3) < 5 * Math.sqrt((0.21) / draws) + 1e-6, `stochastic mean ${mean}`);
  assert.ok(Math.abs(0 - 0.3) > 5 * Math.sqrt(0.21 / draws), 'nearest rounding is outside the tolerance');
});

test('every decoded value is within one step of its input and inside its chunk range, for every bit width and odd chunk sizes', () => {
  const rng = new Rng('bound');
  for (const bits of [1, 2, 4, 8]) {
    for (const [m, chunk] of [[1001, 7], [4096, 1024], [3000, 1000], [33, 64], [1, 1]]) {
      const x = new Float32Array(m);
      for (let i = 0; i < m; i++) x[i] = rng.normal() * 10 ** Math.floor(i / 300 - 2);
      const { y, scales } = roundTrip(x, bits, chunk, rng);
      for (let i = 0; i < m; i++) {
        const c = Math.floor(i / chunk);
        const [lo, step] = [scales[2 * c], scales[2 * c + 1]];
        const slack = 1e-6 * Math.abs(x[i]) + 1e-30;
        assert.ok(Math.abs(y[i] - x[i]) <= step + slack, `bits ${bits} m ${m} chunk ${chunk} i ${i}: |${y[i]} − ${x[i]}| > step ${step}`);
        assert.ok(y[i] >= lo && y[i] <= Math.fround(lo + ((1 << bits) - 1) * step) + slack, `bits ${bits} i ${i}: ${y[i]} outside [${lo}, top level]`);
      }
    }
  }
});

test('a constant chunk and the chunk extremes decode exactly; non-finite input is refused', () => {
  const x = new Float32Array(100).fill(-0.25);
  assert.deepEqual(roundTrip(x, 2, 64, new Rng(1)).y, x);
  const ext = Float32Array.from([-3, 5]);
  assert.deepEqual(roundTrip(ext, 1, 2, new Rng(2)).y, ext);
  const bad = Float32Array.from([1, 2, NaN]);
  const bytes = new Uint8Array(quantizedBytes(3, 8, 2));
  assert.equal(quantize(bad, 8, 2, [1, 2, 3, 4], new Float32Array(bytes.buffer, 0, 4), bytes.subarray(16)), 2);
});

test('the same seed gives the same bytes; another seed other roundings; 8 bits at chunk 1024 is ≥ 3.9× smaller than float32', () => {
  const rng = new Rng('det');
  const x = new Float32Array(199_210);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * 0.01;
  const p = new CompressionPipeline([{ codec: 'quantize', bits: 8 }]);
  const a = p.encode(x, new Rng(5));
  const b = p.encode(x, new Rng(5));
  const c = p.encode(x, new Rng(6));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok((4 * x.length) / a.byteLength >= 3.9, `ratio ${(4 * x.length) / a.byteLength}`);
  const y = decodePayload(a);
  assert.equal(y.length, x.length);
});
