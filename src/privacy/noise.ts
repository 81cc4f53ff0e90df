/**
 * Gaussian noise for differential privacy.
 *
 * - {@link SecureGaussian}: uniform bits from the platform CSPRNG (`globalThis.crypto.
 *   getRandomValues`, in Node 20 and browsers), turned into normals by the Box–Muller transform
 *   on 53-bit uniforms in (0, 1]. Use it in deployment.
 * - {@link SeededGaussian}: federa's seeded {@link Rng} (xoshiro128**, Marsaglia polar method), so
 *   simulations are reproducible. Never for a deployment: a seeded generator is predictable.
 *
 * Known limit (both sources): floating-point Gaussian samplers do not produce an exact Gaussian
 * (Mironov 2012; Holohan & Braghin 2021); a discrete Gaussian sampler (Canonne, Kamath & Steinke
 * 2020) would be the rigorous choice. That is standard practice (TensorFlow Privacy, Opacus).
 */
import { FederaError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';

/** A source of standard normal draws. */
export interface GaussianSource {
  /** One N(0, 1) draw. */
  normal(): number;
  /** x[i] += std·N(0, 1) for every i: the bulk form, a tight Box–Muller loop. */
  addTo(x: Float32Array | Float64Array, std: number): void;
}

const TWO_PI = 2 * Math.PI;

/** Box–Muller over `x` in pairs, with uniforms in (0, 1] from `u`. */
function boxMullerAdd(x: Float32Array | Float64Array, std: number, u: () => number): void {
  const n = x.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const r = std * Math.sqrt(-2 * Math.log(u()));
    const t = TWO_PI * u();
    x[i] += r * Math.cos(t);
    x[i + 1] += r * Math.sin(t);
  }
  if (i < n) x[i] += std * Math.sqrt(-2 * Math.log(u())) * Math.cos(TWO_PI * u());
}

export class SeededGaussian implements GaussianSource {
  constructor(private readonly rng: Rng) {}

  normal(): number {
    return this.rng.normal();
  }

  addTo(x: Float32Array | Float64Array, std: number): void {
    const rng = this.rng;
    // 53-bit uniforms in (0, 1], as SecureGaussian's.
    boxMullerAdd(x, std, () => ((rng.nextU32() >>> 5) * 67108864 + (rng.nextU32() >>> 6) + 1) * ULP53);
  }
}

/** 2^−53. */
const ULP53 = 1 / 9007199254740992;
const BUFFER_WORDS = 16384; // 64 KiB, the most getRandomValues fills in one call

export class SecureGaussian implements GaussianSource {
  private readonly words = new Uint32Array(BUFFER_WORDS);
  private next = BUFFER_WORDS;
  private spare: number | undefined;
  private readonly crypto: { getRandomValues<T extends ArrayBufferView>(a: T): T };

  constructor() {
    const c = (globalThis as { crypto?: { getRandomValues?: unknown } }).crypto;
    if (!c || typeof c.getRandomValues !== 'function') {
      throw new FederaError('unsupported', 'SecureGaussian needs globalThis.crypto.getRandomValues (Node ≥ 20, any current browser)');
    }
    this.crypto = c as { getRandomValues<T extends ArrayBufferView>(a: T): T };
  }

  private word(): number {
    if (this.next === BUFFER_WORDS) {
      this.crypto.getRandomValues(this.words);
      this.next = 0;
    }
    return this.words[this.next++];
  }

  /** Uniform in (0, 1], 53 random bits (never 0, so its log is finite). */
  private uniform(): number {
    const hi = this.word() >>> 5; // 27 bits
    const lo = this.word() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 1) * ULP53;
  }

  addTo(x: Float32Array | Float64Array, std: number): void {
    boxMullerAdd(x, std, () => this.uniform());
  }

  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

/** x[i] += std·N(0, 1) for every i, in place. */
export function addGaussianNoise(x: Float32Array | Float64Array, std: number, source: GaussianSource): void {
  if (!(std >= 0 && Number.isFinite(std))) throw new FederaError('invalid_argument', `addGaussianNoise: std must be a finite number ≥ 0, got ${std}`);
  if (std === 0) return;
  source.addTo(x, std);
}
