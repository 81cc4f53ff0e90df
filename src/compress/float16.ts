/**
 * float16 (IEEE 754 binary16) codec: float32 → float16 with round-to-nearest-even, subnormals
 * kept, and back through a 65,536-entry table. Deterministic, 2 bytes per value. Values beyond
 * float16's range (|x| ≥ 65520 rounds to infinity) and non-finite values are refused.
 */

const F16_TO_F32 = /* built on first use */ { table: null as Float32Array | null };

function table(): Float32Array {
  if (F16_TO_F32.table) return F16_TO_F32.table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = halfBitsToNumber(h);
  F16_TO_F32.table = t;
  return t;
}

/** The value of the float16 with bits `h`. */
export function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** The float16 bits nearest to `x` (ties to even); ±Infinity beyond the range, 0x7e00 for NaN. */
export function numberToHalfBits(x: number): number {
  const f32 = new Float32Array([x]);
  const h = new Uint16Array(1);
  const bad = encodeFloat16(f32, h);
  if (bad < 0) return h[0];
  if (Number.isNaN(x)) return 0x7e00;
  return x < 0 ? 0xfc00 : 0x7c00;
}

/**
 * Encodes `src` into `dst` (same length). Returns -1, or the index of the first value that has no
 * finite float16 (NaN, ±Infinity, |x| ≥ 65520); `dst` is then incomplete.
 */
export function encodeFloat16(src: Float32Array, dst: Uint16Array): number {
  const bits = new Int32Array(src.buffer, src.byteOffset, src.length); // Int32: no doubles for negative floats
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const x = bits[i];
    const f = x & 0x7fffffff;
    let h: number;
    if (f >= 0x38800000) {
      // Normal float16 (|x| ≥ 2^-14): rebias the exponent and round the mantissa to 10 bits,
      // ties to even (add 0xfff plus the lowest kept bit, then truncate).
      if (f >= 0x477ff000) return i; // ≥ 65520 (rounds to infinity), ±Infinity or NaN
      h = (f - 0x38000000 + 0xfff + ((f >>> 13) & 1)) >>> 13;
    } else {
      // Subnormal or zero: the value in units of 2^-24, rounded half to even (exact in float64).
      const y = Math.abs(src[i]) * 16777216;
      let r = Math.floor(y);
      const d = y - r;
      if (d > 0.5 || (d === 0.5 && (r & 1) === 1)) r++;
      h = r;
    }
    dst[i] = h | ((x >>> 16) & 0x8000);
  }
  return -1;
}

/**
 * Decodes `src` into `dst` (same length). Returns -1, or the index of the first infinity/NaN code
 * (which an encoder never writes); `dst` is then incomplete.
 */
export function decodeFloat16(src: Uint16Array, dst: Float32Array): number {
  const t = table();
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const h = src[i];
    if ((h & 0x7c00) === 0x7c00) return i;
    dst[i] = t[h];
  }
  return -1;
}
