/**
 * Stochastic uniform quantization to b ∈ {1, 2, 4, 8} bits (Suresh et al. 2017; the unbiased
 * stochastic rounding of QSGD, Alistarh et al. 2017). Values are cut into chunks; each chunk has
 * its own scale: `min` and `step`, with the 2^b levels min, min + step, …, min + (2^b − 1)·step
 * spanning the chunk's range. A value between two levels is rounded up with probability equal to
 * its distance from the lower level (in steps), so its expected decoded value is the value itself:
 * unbiased, with error below one step per element.
 *
 * Layout of a quantized section: `chunks × (min f32, step f32)`, then the codes as a little-endian
 * bit stream, b bits per value, lowest bits first.
 */
import { align4 } from './format.js';

/** Bytes of a quantized values section (scales and codes, padded to 4) for `m` values. */
export function quantizedBytes(m: number, bits: number, chunk: number): number {
  return scaleCount(m, chunk) * 8 + align4(Math.ceil((m * bits) / 8));
}

export function scaleCount(m: number, chunk: number): number {
  return Math.ceil(m / chunk);
}

/** Byte offset of the codes inside a quantized section. */
export function codesOffset(m: number, chunk: number): number {
  return scaleCount(m, chunk) * 8;
}

/** 2^-32 */
const U32_UNIT = 2.3283064365386963e-10;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The next float32 above a non-negative finite float32. */
function nextUp(x: number): number {
  f32[0] = x;
  u32[0] += 1;
  return f32[0];
}

/**
 * Quantizes `values` into `scales` (2 floats per chunk) and `codes` (4-byte aligned, at least
 * align4(ceil(m·bits/8)) bytes). `seed` holds four 32-bit words for the rounding stream
 * (xoshiro128**, inlined). Returns -1, or the index of the first non-finite value, or −2 − c when
 * chunk c's range does not fit a float32 scale.
 */
export function quantize(
  values: Float32Array,
  bits: number,
  chunk: number,
  seed: ArrayLike<number>,
  scales: Float32Array,
  codes: Uint8Array,
): number {
  const m = values.length;
  const levels = (1 << bits) - 1;
  const state = Int32Array.from([seed[0] | 0, seed[1] | 0, seed[2] | 0, seed[3] | 0]);
  if ((state[0] | state[1] | state[2] | state[3]) === 0) state[0] = 1;
  const words = bits < 8 ? new Uint32Array(codes.buffer, codes.byteOffset, codes.byteLength >>> 2) : null;
  // Bit-packing position carried across chunks: [word being filled, bits used in it, word index].
  const pack = new Int32Array(3);
  for (let c = 0, a = 0; a < m; c++, a += chunk) {
    const b = Math.min(m, a + chunk);
    let lo = Infinity, hi = -Infinity;
    for (let i = a; i < b; i++) {
      const v = values[i];
      if (v - v !== 0) return i;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    let step = Math.fround((hi - lo) / levels);
    // The top level must reach the max despite float32 rounding of the step: then every value
    // lies between two levels and no clamping (which would bias) is needed.
    if (lo + levels * step < hi) step = nextUp(step);
    if (!Number.isFinite(step)) return -2 - c;
    scales[2 * c] = lo;
    scales[2 * c + 1] = step;
    const inv = step > 0 ? 1 / step : 0;
    if (words === null) round8(values, a, b, lo, inv, codes, state);
    else roundPacked(values, a, b, lo, inv, bits, words, state, pack);
  }
  if (words !== null && pack[1] > 0) words[pack[2]] = pack[0];
  return -1;
}

// Stochastic rounding: q = floor(x + u) with u uniform in [0, 1) rounds x up with probability
// x − floor(x). u = r·2^-32 for a 32-bit xoshiro128** output r (state in `st`, kept in locals here).

function round8(values: Float32Array, a: number, b: number, lo: number, inv: number, codes: Uint8Array, st: Int32Array): void {
  let s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];
  for (let i = a; i < b; i++) {
    const r = (s0 + s3) >>> 0;
    const t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    const q = ((values[i] - lo) * inv + r * U32_UNIT) | 0;
    codes[i] = q > 255 ? 255 : q;
  }
  st[0] = s0; st[1] = s1; st[2] = s2; st[3] = s3;
}

function roundPacked(values: Float32Array, a: number, b: number, lo: number, inv: number, bits: number, words: Uint32Array, st: Int32Array, pack: Int32Array): void {
  let s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];
  let word = pack[0], shift = pack[1], w = pack[2];
  const levels = (1 << bits) - 1;
  for (let i = a; i < b; i++) {
    const r = (s0 + s3) >>> 0;
    const t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    let q = ((values[i] - lo) * inv + r * U32_UNIT) | 0;
    if (q > levels) q = levels;
    word |= q << shift;
    shift += bits;
    if (shift === 32) {
      words[w++] = word;
      word = 0;
      shift = 0;
    }
  }
  st[0] = s0; st[1] = s1; st[2] = s2; st[3] = s3;
  pack[0] = word; pack[1] = shift; pack[2] = w;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Decodes `out.length` values from `scales` and `codes`. Returns -1, or the index of the first
 * chunk whose scale is not a finite min with a finite step ≥ 0 (or whose top level is not finite).
 */
export function dequantize(scales: Float32Array, codes: Uint8Array, bits: number, chunk: number, out: Float32Array): number {
  const m = out.length;
  const levels = (1 << bits) - 1;
  const mask = levels;
  const words = bits < 8 ? new Uint32Array(codes.buffer, codes.byteOffset, codes.byteLength >>> 2) : null;
  let word = 0, shift = 32, w = 0;
  for (let c = 0, a = 0; a < m; c++, a += chunk) {
    const b = Math.min(m, a + chunk);
    const lo = scales[2 * c];
    const step = scales[2 * c + 1];
    if (!(Number.isFinite(lo) && step >= 0 && Number.isFinite(Math.fround(lo + levels * step)))) return c;
    if (words === null) {
      for (let i = a; i < b; i++) out[i] = lo + codes[i] * step;
    } else {
      for (let i = a; i < b; i++) {
        if (shift === 32) {
          word = words[w++];
          shift = 0;
        }
        out[i] = lo + ((word >>> shift) & mask) * step;
        shift += bits;
      }
    }
  }
  return -1;
}
