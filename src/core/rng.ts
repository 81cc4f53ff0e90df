/**
 * Seeded pseudo-random numbers (xoshiro128**), with named sub-streams.
 *
 * All randomness of a run flows from one seed: `new Rng(seed).stream('sampling')` gives a stream
 * that depends only on the seed and the name, so adding draws to one stream never shifts another.
 * Not for cryptography: keys, mask seeds and deployment DP noise use the platform CSPRNG.
 */
import { FederaError } from './errors.js';

/** 128-bit string hash (cyrb128) used to derive stream seeds from names. */
function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4; h2 ^= h1; h3 ^= h1; h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

export class Rng {
  /** The path that identifies this stream, e.g. `"42/sampling/round-3"`. */
  readonly path: string;
  private s0: number; private s1: number; private s2: number; private s3: number;
  private spareNormal: number | undefined;

  constructor(seed: number | string) {
    if (typeof seed === 'number' && !Number.isFinite(seed)) {
      throw new FederaError('invalid_argument', `seed must be a finite number or a string, got ${seed}`);
    }
    this.path = String(seed);
    [this.s0, this.s1, this.s2, this.s3] = hash128(this.path);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** An independent stream named `name`, derived from this stream's seed path (not its state). */
  stream(name: string | number): Rng {
    return new Rng(`${this.path}/${name}`);
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0; this.s3 ^= this.s1; this.s1 ^= this.s2; this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) {
      throw new FederaError('invalid_argument', `Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 2 ** 32 - (2 ** 32 % n);
    let x: number;
    do x = this.nextU32(); while (x >= limit);
    return x % n;
  }

  /** Standard normal draw (Marsaglia polar method). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    let u: number, v: number, s: number;
    do {
      u = this.next() * 2 - 1;
      v = this.next() * 2 - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * m;
    return u * m;
  }

  /** Gamma(shape, 1) draw (Marsaglia–Tsang), used for Dirichlet partitions. */
  gamma(shape: number): number {
    if (!(shape > 0) || !Number.isFinite(shape)) {
      throw new FederaError('invalid_argument', `Rng.gamma: shape must be > 0, got ${shape}`);
    }
    if (shape < 1) {
      // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
      const u = 1 - this.next();
      return this.gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number, v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /**
   * Poisson(λ) draw, exact: the multiplication method below λ = 10, above it Hörmann's
   * transformed rejection with squeeze (PTRS, 1993), about 1.1 uniforms pairs a draw at any λ.
   * The two halves of a Skellam draw (distributed DP under quantized secure aggregation).
   */
  poisson(lambda: number): number {
    if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new FederaError('invalid_argument', `Rng.poisson: λ must be a finite number ≥ 0, got ${lambda}`);
    if (lambda === 0) return 0;
    if (lambda < 10) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = 1 - this.next();
      while (p > limit) {
        k++;
        p *= 1 - this.next();
      }
      return k;
    }
    const slam = Math.sqrt(lambda);
    const logLam = Math.log(lambda);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const logInvAlpha = Math.log(1.1239 + 1.1328 / (b - 3.4));
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.next() - 0.5;
      const v = 1 - this.next(); // (0, 1]
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (Math.log(v) + logInvAlpha - Math.log(a / (us * us) + b) <= -lambda + k * logLam - logFactorial(k)) return k;
    }
  }

  /** Skellam(λ, λ) draw: the difference of two independent Poisson(λ) draws (mean 0, variance 2λ). */
  skellam(lambda: number): number {
    return this.poisson(lambda) - this.poisson(lambda);
  }

  /** A probability vector drawn from Dirichlet(alpha, ..., alpha) of length k. */
  dirichlet(alpha: number, k: number): Float64Array {
    if (!Number.isInteger(k) || k < 1) {
      throw new FederaError('invalid_argument', `Rng.dirichlet: k must be an integer ≥ 1, got ${k}`);
    }
    if (!(alpha > 0) || !Number.isFinite(alpha)) {
      throw new FederaError('invalid_argument', `Rng.dirichlet: alpha must be > 0, got ${alpha}`);
    }
    const out = new Float64Array(k);
    let sum = 0;
    for (let i = 0; i < k; i++) {
      out[i] = this.gamma(alpha);
      sum += out[i];
    }
    if (sum === 0) {
      // All draws underflowed (tiny alpha): put all the mass on one uniformly chosen component.
      out[this.int(k)] = 1;
      return out;
    }
    for (let i = 0; i < k; i++) out[i] /= sum;
    return out;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: any }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** k distinct integers from [0, n), in the order drawn (Floyd's algorithm for small k). */
  sampleIndices(n: number, k: number): number[] {
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 32) {
      throw new FederaError('invalid_argument', `Rng.sampleIndices: n must be an integer in [0, 2^32], got ${n}`);
    }
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new FederaError('invalid_argument', `Rng.sampleIndices: k must be an integer in [0, ${n}], got ${k}`);
    }
    if (k * 4 > n) {
      const all = Array.from({ length: n }, (_, i) => i);
      this.shuffle(all);
      return all.slice(0, k);
    }
    const chosen = new Set<number>();
    const out: number[] = [];
    for (let j = n - k; j < n; j++) {
      const t = this.int(j + 1);
      const pick = chosen.has(t) ? j : t;
      chosen.add(pick);
      out.push(pick);
    }
    return out;
  }

  /** k distinct items of `items`. */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.sampleIndices(items.length, k).map((i) => items[i]);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * An `Rng` whose bits come from the platform CSPRNG (WebCrypto's getRandomValues, in Node and
 * browsers) instead of the seeded generator: for what a deployment must not make predictable from
 * the run seed (the DP sample of clients). Every stream of it is secure too; nothing is reproducible.
 */
export class SecureRng extends Rng {
  private readonly buffer = new Uint32Array(256);
  private used = 256;

  constructor(label = 'secure') {
    super(label);
  }

  override stream(name: string | number): Rng {
    return new SecureRng(`${this.path}/${name}`);
  }

  override nextU32(): number {
    if (this.used === this.buffer.length) {
      globalThis.crypto.getRandomValues(this.buffer);
      this.used = 0;
    }
    return this.buffer[this.used++];
  }
}

const LOG_FACTORIALS = (() => {
  const t = new Float64Array(64);
  for (let k = 2; k < t.length; k++) t[k] = t[k - 1] + Math.log(k);
  return t;
})();

/** log(k!) for an integer k ≥ 0: a table below 64, Stirling's series above (error < 1e-15 relative). */
export function logFactorial(k: number): number {
  if (k < LOG_FACTORIALS.length) return LOG_FACTORIALS[k];
  const x = k + 1;
  const ix2 = 1 / (x * x);
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + (1 / (12 * x)) * (1 - ix2 * (1 / 30 - ix2 * (1 / 105 - ix2 / 140)));
}
