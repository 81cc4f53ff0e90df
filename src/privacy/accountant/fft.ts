/** In-place iterative radix-2 complex FFT on split real/imaginary Float64Arrays (for PLD composition). */
import { FederaError } from '../../core/errors.js';

const twiddleCache = new Map<number, { cos: Float64Array; sin: Float64Array }>();

function twiddles(n: number): { cos: Float64Array; sin: Float64Array } {
  let t = twiddleCache.get(n);
  if (!t) {
    const half = n >> 1;
    const cos = new Float64Array(half);
    const sin = new Float64Array(half);
    // Each entry from Math.cos/sin directly: a recurrence would accumulate rounding error.
    for (let k = 0; k < half; k++) {
      const a = (2 * Math.PI * k) / n;
      cos[k] = Math.cos(a);
      sin[k] = Math.sin(a);
    }
    t = { cos, sin };
    if (twiddleCache.size > 4) twiddleCache.clear();
    twiddleCache.set(n, t);
  }
  return t;
}

/**
 * Forward (`inverse` false: X_k = Σ x_j e^{−2πijk/n}) or inverse (with the 1/n factor) transform,
 * in place. `n` must be a power of two.
 */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (im.length !== n || n === 0 || (n & (n - 1)) !== 0) throw new FederaError('invalid_argument', `fft: length must be a power of two (re ${n}, im ${im.length})`);
  // Bit-reversal permutation.
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }
  }
  const { cos, sin } = twiddles(n);
  const sign = inverse ? 1 : -1;
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    const step = n / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0, w = 0; k < half; k++, w += step) {
        const wr = cos[w];
        const wi = sign * sin[w];
        const a = i + k;
        const b = a + half;
        const xr = re[b] * wr - im[b] * wi;
        const xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr;
        im[b] = im[a] - xi;
        re[a] += xr;
        im[a] += xi;
      }
    }
  }
  if (inverse) {
    const s = 1 / n;
    for (let i = 0; i < n; i++) {
      re[i] *= s;
      im[i] *= s;
    }
  }
}

/** Smallest power of two ≥ n. */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * FFT of a real sequence of power-of-two length n ≥ 4, through one complex FFT of length n/2.
 * Returns the n/2 + 1 non-redundant coefficients (the rest are their conjugates).
 */
export function rfft(x: Float64Array): { re: Float64Array; im: Float64Array } {
  const n = x.length;
  if (n < 4 || (n & (n - 1)) !== 0) throw new FederaError('invalid_argument', `rfft: length must be a power of two ≥ 4, got ${n}`);
  const m = n >> 1;
  const zr = new Float64Array(m);
  const zi = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    zr[j] = x[2 * j];
    zi[j] = x[2 * j + 1];
  }
  fft(zr, zi);
  const { cos, sin } = twiddles(n);
  const re = new Float64Array(m + 1);
  const im = new Float64Array(m + 1);
  for (let k = 0; k <= m; k++) {
    const a = k % m;
    const b = (m - k) % m;
    // Even part E = (Z_k + conj Z_{m−k})/2, odd part O = (Z_k − conj Z_{m−k})/(2i).
    const er = (zr[a] + zr[b]) / 2;
    const ei = (zi[a] - zi[b]) / 2;
    const or = (zi[a] + zi[b]) / 2;
    const oi = -(zr[a] - zr[b]) / 2;
    // X_k = E + W^k·O with W = e^{−2πi/n}; W^m = −1.
    const wr = k === m ? -1 : cos[k];
    const wi = k === m ? 0 : -sin[k];
    re[k] = er + wr * or - wi * oi;
    im[k] = ei + wr * oi + wi * or;
  }
  return { re, im };
}

/** Inverse of {@link rfft}: the real sequence of length n from its n/2 + 1 coefficients. */
export function irfft(re: Float64Array, im: Float64Array, n: number): Float64Array {
  const m = n >> 1;
  if (re.length !== m + 1 || im.length !== m + 1) throw new FederaError('invalid_argument', `irfft: expected ${m + 1} coefficients for length ${n}`);
  const { cos, sin } = twiddles(n);
  const zr = new Float64Array(m);
  const zi = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    // X_{k+m} = conj X_{m−k} for a real signal.
    const xr = re[k], xi = im[k];
    const yr = re[m - k], yi = -im[m - k];
    const er = (xr + yr) / 2;
    const ei = (xi + yi) / 2;
    // O = (X_k − X_{k+m}) / (2 W^k), 1/W^k = conj W^k = cos + i·sin.
    const dr = (xr - yr) / 2;
    const di = (xi - yi) / 2;
    const or = dr * cos[k] - di * sin[k];
    const oi = dr * sin[k] + di * cos[k];
    // Z = E + i·O
    zr[k] = er - oi;
    zi[k] = ei + or;
  }
  fft(zr, zi, true);
  const x = new Float64Array(n);
  for (let j = 0; j < m; j++) {
    x[2 * j] = zr[j];
    x[2 * j + 1] = zi[j];
  }
  return x;
}
