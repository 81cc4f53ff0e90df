/**
 * The lossless final stage: the ascending indices of a sparse payload are delta-coded (each as
 * the gap to the previous index, minus one) and bit-packed in blocks of 128 gaps, each block with
 * the bit width of its largest gap. Top-1% of a vector has gaps of about 100, so an index costs
 * about 8–9 bits instead of 32. Exact: decoding gives back the same indices.
 *
 * Layout of a packed index section: one width byte per block (padded to 4 bytes), then the gaps
 * as a little-endian bit stream (lowest bits first) of 32-bit words.
 * Without this stage, indices travel as plain u32 values.
 */
import { align4, malformed } from './format.js';

export const INDEX_BLOCK = 128;

function bitWidth(v: number): number {
  return v === 0 ? 0 : 32 - Math.clz32(v);
}

/** Per-block bit widths of the gaps of ascending `indices`, and the packed section's byte length. */
export function planPackedIndices(indices: Uint32Array): { widths: Uint8Array; bytes: number } {
  const k = indices.length;
  const blocks = Math.ceil(k / INDEX_BLOCK);
  const widths = new Uint8Array(blocks);
  let prev = -1;
  let bits = 0;
  for (let b = 0; b < blocks; b++) {
    const end = Math.min(k, (b + 1) * INDEX_BLOCK);
    let or = 0;
    for (let i = b * INDEX_BLOCK; i < end; i++) {
      or |= indices[i] - prev - 1;
      prev = indices[i];
    }
    const w = bitWidth(or >>> 0);
    widths[b] = w;
    bits += w * (end - b * INDEX_BLOCK);
  }
  return { widths, bytes: align4(blocks) + 4 * Math.ceil(bits / 32) };
}

/** Writes the packed indices into `out` (4-byte aligned, `plan.bytes` long). */
export function packIndices(indices: Uint32Array, plan: { widths: Uint8Array }, out: Uint8Array): void {
  const { widths } = plan;
  out.set(widths, 0);
  const start = align4(widths.length);
  out.fill(0, widths.length, start);
  const words = new Uint32Array(out.buffer, out.byteOffset + start, (out.byteLength - start) >>> 2);
  let word = 0, shift = 0, w = 0, prev = -1;
  for (let i = 0; i < indices.length; i++) {
    const bw = widths[(i / INDEX_BLOCK) | 0];
    const g = indices[i] - prev - 1;
    prev = indices[i];
    if (bw === 0) continue;
    word |= g << shift;
    shift += bw;
    if (shift >= 32) {
      words[w++] = word;
      shift -= 32;
      word = shift > 0 ? g >>> (bw - shift) : 0;
    }
  }
  if (shift > 0) words[w] = word;
}

/**
 * Reads `out.length` = k packed indices from `data` (exactly the section's bytes, 4-byte aligned).
 * Throws `malformed_message` when a width exceeds 32, the section's size does not match the
 * widths, or an index reaches `n`.
 */
export function unpackIndices(data: Uint8Array, n: number, out: Uint32Array, where: string): void {
  const k = out.length;
  const blocks = Math.ceil(k / INDEX_BLOCK);
  if (data.byteLength < align4(blocks)) throw malformed(where, `index section has ${data.byteLength} bytes, too short for ${blocks} block widths`);
  let bits = 0;
  for (let b = 0; b < blocks; b++) {
    const w = data[b];
    if (w > 32) throw malformed(where, `index block ${b} has bit width ${w} (at most 32)`);
    bits += w * (Math.min(k, (b + 1) * INDEX_BLOCK) - b * INDEX_BLOCK);
  }
  const start = align4(blocks);
  const expected = start + 4 * Math.ceil(bits / 32);
  if (data.byteLength !== expected) throw malformed(where, `index section has ${data.byteLength} bytes; its block widths need ${expected}`);
  const words = new Uint32Array(data.buffer, data.byteOffset + start, (expected - start) >>> 2);
  let p = 0;
  let prev = -1;
  for (let i = 0; i < k; i++) {
    const bw = data[(i / INDEX_BLOCK) | 0];
    let g = 0;
    if (bw > 0) {
      const wi = p >>> 5;
      const off = p & 31;
      let v = words[wi] >>> off;
      if (off + bw > 32) v |= words[wi + 1] << (32 - off);
      g = bw === 32 ? v >>> 0 : (v & ((1 << bw) - 1)) >>> 0;
      p += bw;
    }
    const idx = prev + 1 + g;
    if (idx >= n) throw malformed(where, `index ${i} decodes to ${idx}, beyond the vector's ${n} values`);
    out[i] = idx;
    prev = idx;
  }
}

/** Plain u32 indices (no lossless stage): checks they ascend strictly and stay below `n`. */
export function readRawIndices(data: Uint8Array, n: number, out: Uint32Array, where: string): void {
  const k = out.length;
  if (data.byteLength !== 4 * k) throw malformed(where, `index section has ${data.byteLength} bytes, expected ${4 * k} for ${k} indices`);
  out.set(new Uint32Array(data.buffer, data.byteOffset, k));
  let prev = -1;
  for (let i = 0; i < k; i++) {
    const v = out[i];
    if (v <= prev || v >= n) throw malformed(where, `index ${i} is ${v}: indices must ascend strictly and stay below ${n}`);
    prev = v;
  }
}
