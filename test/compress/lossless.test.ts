import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packIndices, planPackedIndices, unpackIndices } from '../../src/compress/lossless.js';
import { CompressionPipeline, decodePayload } from '../../src/compress/pipeline.js';
import { encodeFloat16, decodeFloat16 } from '../../src/compress/float16.js';
import { Rng } from '../../src/core/rng.js';

function roundTrip(indices: Uint32Array, n: number): { back: Uint32Array; bytes: number } {
  const plan = planPackedIndices(indices);
  const buf = new Uint8Array(plan.bytes);
  packIndices(indices, plan, buf);
  const back = new Uint32Array(indices.length);
  unpackIndices(buf, n, back, 'test');
  return { back, bytes: plan.bytes };
}

test('delta-coded, bit-packed indices decode exactly (random densities, blocks, widths 0 to 32)', () => {
  const rng = new Rng('lossless');
  for (const [n, k] of [[1000, 10], [100_000, 1000], [5000, 5000], [1 << 20, 3], [300, 129], [10, 1]]) {
    const idx = Uint32Array.from(rng.sampleIndices(n, k).sort((a, b) => a - b));
    const { back } = roundTrip(idx, n);
    assert.deepEqual(back, idx, `n ${n} k ${k}`);
  }
  // Consecutive indices: every gap is 0, width 0, no bits at all.
  const run = Uint32Array.from({ length: 300 }, (_, i) => i + 7);
  const r = roundTrip(run, 1000);
  assert.deepEqual(r.back, run);
  // 3 width bytes (3, 0, 0) padded to 4, then block 0's 128 gaps at 3 bits (the first gap is 7): 48 bytes.
  assert.equal(r.bytes, 4 + 48);
  // The widest gap a u32 length allows.
  const wide = Uint32Array.from([0, 0xfffffffe]);
  assert.deepEqual(roundTrip(wide, 0xffffffff).back, wide);
  const wide2 = Uint32Array.from([5, 0x80000000, 0x80000001, 0xfffffffe]);
  assert.deepEqual(roundTrip(wide2, 0xffffffff).back, wide2);
});

test('packed indices of a top-1% selection cost about a quarter of plain u32 indices', () => {
  const rng = new Rng('density');
  const n = 199_210, k = 1992;
  const idx = Uint32Array.from(rng.sampleIndices(n, k).sort((a, b) => a - b));
  const { bytes } = roundTrip(idx, n);
  assert.ok(bytes < 4 * k * 0.35, `${bytes} bytes for ${k} indices`);
});

test('a packed index section that does not add up is refused', () => {
  const idx = Uint32Array.from([3, 10, 11]);
  const plan = planPackedIndices(idx);
  const buf = new Uint8Array(plan.bytes);
  packIndices(idx, plan, buf);
  assert.throws(() => unpackIndices(buf, 11, new Uint32Array(3), 'sec'), /sec: index 2 decodes to 11, beyond the vector's 11 values/);
  const wide = buf.slice();
  wide[0] = 33;
  assert.throws(() => unpackIndices(wide, 100, new Uint32Array(3), 'sec'), /bit width 33/);
  assert.throws(() => unpackIndices(buf.subarray(0, 4), 100, new Uint32Array(3), 'sec'), /its block widths need 8/);
});

test('pipelines decode exactly what their lossy stages kept: top-k values, float16 values', () => {
  const rng = new Rng('exact');
  const x = new Float32Array(50_000);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const plain = decodePayload(new CompressionPipeline('topk:0.01').encode(x));
  const packedBytes = new CompressionPipeline('topk:0.01,lossless').encode(x);
  assert.deepEqual(decodePayload(packedBytes), plain);
  const halves = new Uint16Array(x.length);
  encodeFloat16(x, halves);
  const viaHalves = new Float32Array(x.length);
  decodeFloat16(halves, viaHalves);
  assert.deepEqual(decodePayload(new CompressionPipeline('fp16').encode(x)), viaHalves);
  // Top-k + fp16 + lossless: the kept values are exactly their float16 roundings.
  const y = decodePayload(new CompressionPipeline('topk:0.01,fp16,lossless').encode(x));
  for (let i = 0; i < x.length; i++) assert.equal(y[i], plain[i] === 0 ? 0 : viaHalves[i]);
});
