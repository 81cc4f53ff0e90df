/**
 * Random Hadamard rotation (Suresh et al. 2017): y = H·D·x / √B per block of B values, with D a
 * diagonal of random signs drawn from a 32-bit seed and H the Walsh–Hadamard matrix. The rotation
 * is orthonormal (its inverse is x = D·H·y / √B) and spreads a block's energy evenly over its
 * coordinates, so the range a quantizer must cover shrinks from the largest |value| to about
 * ‖x‖·√(2 ln B / B). The last partial block of r values is zero-padded to the next power of two;
 * the seed travels in the payload header so the receiver can invert the rotation.
 */
import { nextPow2 } from './format.js';

/** Length after rotation: whole blocks plus the last partial block padded to a power of two. */
export function rotatedLength(m: number, block: number): number {
  const full = Math.floor(m / block) * block;
  const rest = m - full;
  return full + (rest > 0 ? nextPow2(rest) : 0);
}

/** Four xoshiro128** state words from a 32-bit seed (splitmix32). */
export function expandSeed(seed: number): Uint32Array {
  const s = new Uint32Array(4);
  let z = seed >>> 0;
  for (let i = 0; i < 4; i++) {
    z = (z + 0x9e3779b9) | 0;
    let t = z ^ (z >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    t ^= t >>> 15;
    s[i] = t;
  }
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  return s;
}

/**
 * Writes the rotation of `values` (length m) into `out` (length rotatedLength(m, block)).
 * `block` is a power of two.
 */
export function rotate(values: Float32Array, block: number, seed: number, out: Float32Array): void {
  const m = values.length;
  const p = out.length;
  applySigns(values, out, m, block, seed);
  out.fill(0, m, p);
  transformBlocks(out, block);
}

/**
 * Inverts {@link rotate}: `rotated` (length rotatedLength(m, block)) is overwritten; the first
 * m values of the original go to `out` (length m).
 */
export function unrotate(rotated: Float32Array, block: number, seed: number, out: Float32Array): void {
  transformBlocks(rotated, block);
  applySigns(rotated, out, out.length, block, seed);
}

/** out[i] = ±values[i] / √(size of i's block), for i < m; the signs come from `seed`. */
function applySigns(values: Float32Array, out: Float32Array, m: number, block: number, seed: number): void {
  // xoshiro state words and the current 32 signs, carried from the whole blocks into the tail.
  const state = new Int32Array(5);
  state.set(expandSeed(seed));
  const full = Math.floor(m / block) * block;
  const tail = rotatedLengthTail(m, block);
  signRun(values, out, 0, full, 1 / Math.sqrt(block), state);
  if (tail > 0) signRun(values, out, full, m, 1 / Math.sqrt(tail), state);
}

/** Signs for [a, b): one xoshiro128** output per 32 positions (a is a multiple of 32 or the run continues the stream). */
function signRun(values: Float32Array, out: Float32Array, a: number, b: number, scale: number, st: Int32Array): void {
  let s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];
  let r = st[4];
  for (let i = a; i < b; i++) {
    if ((i & 31) === 0) {
      r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
      const t = s1 << 9;
      s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
    }
    // Branch-free: random signs would mispredict a conditional half the time.
    out[i] = values[i] * (scale - 2 * scale * ((r >>> (i & 31)) & 1));
  }
  st[0] = s0; st[1] = s1; st[2] = s2; st[3] = s3; st[4] = r;
}

function rotatedLengthTail(m: number, block: number): number {
  const rest = m - Math.floor(m / block) * block;
  return rest > 0 ? nextPow2(rest) : 0;
}

/** Unnormalised Walsh–Hadamard transform of every block of `x` (the last one may be a shorter power of two). */
function transformBlocks(x: Float32Array, block: number): void {
  const p = x.length;
  for (let off = 0; off < p; off += block) fwht(x, off, Math.min(block, p - off));
}

/**
 * In-place unnormalised fast Walsh–Hadamard transform of x[off, off + len), len a power of two.
 * Radix-4 butterflies (two levels per pass over the block) halve the passes over memory.
 */
export function fwht(x: Float32Array, off: number, len: number): void {
  const end = off + len;
  let h = 1;
  if (len >= 4) {
    for (let i = off; i < end; i += 4) {
      const a = x[i], b = x[i + 1], c = x[i + 2], d = x[i + 3];
      const s = a + b, t = a - b, u = c + d, v = c - d;
      x[i] = s + u;
      x[i + 1] = t + v;
      x[i + 2] = s - u;
      x[i + 3] = t - v;
    }
    h = 4;
    for (; 4 * h <= len; h *= 4) radix4(x, off, end, h);
  }
  if (2 * h <= len) radix2(x, off, end, h);
}

function radix4(x: Float32Array, off: number, end: number, h: number): void {
  const h2 = 2 * h, h3 = 3 * h, h4 = 4 * h;
  for (let i = off; i < end; i += h4) {
    for (let j = i, stop = i + h; j < stop; j++) {
      const a = x[j], b = x[j + h], c = x[j + h2], d = x[j + h3];
      const s = a + b, t = a - b, u = c + d, v = c - d;
      x[j] = s + u;
      x[j + h] = t + v;
      x[j + h2] = s - u;
      x[j + h3] = t - v;
    }
  }
}

function radix2(x: Float32Array, off: number, end: number, h: number): void {
  for (let i = off; i < end; i += 2 * h) {
    for (let j = i, stop = i + h; j < stop; j++) {
      const a = x[j], b = x[j + h];
      x[j] = a + b;
      x[j + h] = a - b;
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
