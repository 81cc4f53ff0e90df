/**
 * Privacy-loss-distribution (PLD) accountant for the Poisson-subsampled Gaussian mechanism
 * (Koskela et al. 2020; Doroshenko et al. 2022; the approach of Google's dp_accounting).
 *
 * Conventions: add/remove-one adjacency, sampling rate q, L2 sensitivity 1, noise N(0, σ²).
 * With μ₀ = N(0, σ²) and μ₁ = (1 − q)·N(0, σ²) + q·N(1, σ²), the "remove" direction is the pair
 * (μ₁, μ₀) and the "add" direction the pair (μ₀, μ₁); ε is the larger of the two.
 *
 * 1. Discretisation (connect-the-dots, pessimistic): the hockey-stick divergence δ(ε) of one step
 *    is computed in closed form on the grid ε_k = k·h (h = 1e-4 by default, as dp_accounting);
 *    the discrete PLD is the one whose δ(ε) is the piecewise-linear interpolation of those values
 *    in e^ε, which upper-bounds the true curve (δ is convex in e^ε). Tails of the noise beyond
 *    mass e^{−50} are cut; the top one goes to the "infinite loss" mass.
 * 2. Composition: the T-fold convolution is computed in the Fourier domain — FFT, each
 *    coefficient raised to the T-th power, inverse FFT — on a window chosen by a Chernoff bound
 *    so that at most 1e-15 of the mass falls outside it (and wraps around). When that window would
 *    need more than `maxFftSize` points, the grid is coarsened (h grows) instead: the accuracy
 *    lost is far below the 1 % that such large-ε cases need.
 * 3. ε for δ is solved exactly between grid points: on (ε_k, ε_{k+1}] the curve is
 *    δ(ε) = Σ_{j>k} ω_j (1 − e^{ε − ε_j}) + ω_∞.
 *
 * For q = 1 every step is a plain Gaussian, whose PLD is N(μ, 2μ) with μ = 1/(2σ²); T of them
 * compose to a Gaussian with noise σ/√T, so that case is computed analytically (Balle & Wang 2018)
 * instead of on a grid.
 */
import { FederaError } from '../../core/errors.js';
import { millsRatio, normalIsf, normalPdf, normalSf } from '../special.js';
import { checkDelta, checkNoiseMultiplier, checkSamplingRate, checkSteps } from '../validate.js';
import { irfft, nextPow2, rfft } from './fft.js';

export type PldDirection = 'remove' | 'add';

/** A discrete PLD: mass `probs[k]` at privacy loss (offset + k)·interval, plus mass at +∞. */
export interface DiscretePld {
  readonly interval: number;
  readonly offset: number;
  readonly probs: Float64Array;
  readonly infinityMass: number;
}

export interface PldOptions {
  /** Grid spacing h of privacy-loss values (default 1e-4, as dp_accounting). */
  valueDiscretizationInterval?: number;
  /** Largest FFT length before the grid is coarsened (default 2^17). */
  maxFftSize?: number;
}

const DEFAULT_INTERVAL = 1e-4;
const DEFAULT_MAX_FFT = 1 << 17;
/** Noise tails beyond this log-mass are cut when a step is discretised (as dp_accounting). */
const LOG_MASS_TRUNCATION = -50;
/** Mass allowed outside the composition window, on each side. */
const TAIL_MASS_TRUNCATION = 1e-15;

/**
 * Φ̄(a) − e^{(b² − a²)/2}·Φ̄(b) for a < b (Φ̄ the standard normal upper tail), without cancelling
 * exponents: for a ≥ 0 it is φ(a)·(M(a) − M(b)) with the Mills ratio M.
 */
function tailDifference(a: number, b: number): number {
  if (a >= 0) return normalPdf(a) * (millsRatio(a) - millsRatio(b));
  const second = b >= 0 ? normalPdf(a) * millsRatio(b) : normalSf(b) * Math.exp((b * b - a * a) / 2);
  return Math.max(0, normalSf(a) - second);
}

/**
 * δ(ε) of one step of the subsampled Gaussian in one direction (hockey-stick divergence
 * sup_S μ(S) − e^ε ν(S) of the pair), in closed form.
 */
export function subsampledGaussianDelta(q: number, sigma: number, direction: PldDirection, epsilon: number): number {
  if (direction === 'remove') {
    // L(x) = log(1 − q + q·e^{(2x−1)/(2σ²)}) ≥ log(1 − q): below that every x counts.
    if (epsilon <= Math.log1p(-q)) return -Math.expm1(epsilon);
    const u = Math.log1p(Math.expm1(epsilon) / q); // e^ε = 1 − q + q e^u
    const x = sigma * sigma * u + 0.5;
    return Math.min(1, q * tailDifference((x - 1) / sigma, x / sigma));
  }
  // add: L(x) = −log(1 − q + q·e^{(2x−1)/(2σ²)}) < −log(1 − q).
  if (q < 1 && epsilon >= -Math.log1p(-q)) return 0;
  const u = Math.log1p(Math.expm1(-epsilon) / q); // e^{−ε} = 1 − q + q e^u
  const x = sigma * sigma * u + 0.5;
  const factor = q === 1 ? 1 : -Math.expm1(Math.log1p(-q) + epsilon); // 1 − (1 − q)e^ε
  return Math.min(1, factor * tailDifference(-x / sigma, (1 - x) / sigma));
}

/** Privacy loss at noise value x, in the given direction. */
function privacyLoss(q: number, sigma: number, direction: PldDirection, x: number): number {
  const u = (2 * x - 1) / (2 * sigma * sigma);
  const hi = Math.max(Math.log1p(-q), Math.log(q) + u);
  const lo = Math.min(Math.log1p(-q), Math.log(q) + u);
  const l = lo === -Infinity ? hi : hi + Math.log1p(Math.exp(lo - hi));
  return direction === 'remove' ? l : -l;
}

const TRUNCATION_Z = normalIsf(Math.exp(LOG_MASS_TRUNCATION) / 2);

/** The privacy losses of the noise values that carry all but e^{−50} of the first distribution's mass. */
function lossRange(q: number, sigma: number, direction: PldDirection): [number, number] {
  const z = TRUNCATION_Z;
  const [xLo, xHi] = direction === 'remove' ? [-z * sigma, 1 + z * sigma] : [-z * sigma, z * sigma];
  const l1 = privacyLoss(q, sigma, direction, xLo);
  const l2 = privacyLoss(q, sigma, direction, xHi);
  return [Math.min(l1, l2), Math.max(l1, l2)];
}

function supportWidth(q: number, sigma: number, direction: PldDirection): number {
  const [lo, hi] = lossRange(q, sigma, direction);
  return hi - lo;
}

/**
 * One step of the subsampled Gaussian as a pessimistic connect-the-dots discrete PLD on the grid
 * k·h (see the file comment).
 */
export function discretizeSubsampledGaussian(q: number, sigma: number, direction: PldDirection, interval = DEFAULT_INTERVAL): DiscretePld {
  checkSamplingRate(q);
  checkNoiseMultiplier(sigma);
  if (!(interval > 0 && Number.isFinite(interval))) throw new FederaError('invalid_config', `PLD value discretization interval must be > 0, got ${interval}`);
  const [lLo, lHi] = lossRange(q, sigma, direction);
  const kLo = Math.floor(lLo / interval);
  const kHi = Math.ceil(lHi / interval);
  const n = kHi - kLo + 1;
  if (n > 50_000_000) {
    throw new FederaError('invalid_config', `PLD: ${n} grid points for q=${q}, σ=${sigma} at interval ${interval}; use a larger value discretization interval`);
  }
  const deltas = new Float64Array(n);
  for (let k = 0; k < n; k++) deltas[k] = subsampledGaussianDelta(q, sigma, direction, (kLo + k) * interval);
  const probs = new Float64Array(n);
  if (n === 1) {
    probs[0] = 1 - deltas[0];
    return { interval, offset: kLo, probs, infinityMass: deltas[0] };
  }
  // ω_k = x_k (s_k − s_{k−1}) with s the slopes of δ against x = e^ε; written without e^{ε_k}.
  const up = Math.expm1(interval); // (x_{k+1} − x_k)/x_k
  const down = -Math.expm1(-interval); // (x_k − x_{k−1})/x_k
  let rest = 0;
  for (let k = n - 1; k >= 1; k--) {
    const right = k === n - 1 ? 0 : (deltas[k + 1] - deltas[k]) / up;
    const left = (deltas[k] - deltas[k - 1]) / down;
    const w = Math.max(0, right - left);
    probs[k] = w;
    rest += w;
  }
  const infinityMass = deltas[n - 1];
  probs[0] = Math.max(0, 1 - infinityMass - rest);
  return { interval, offset: kLo, probs, infinityMass };
}

/**
 * log E[e^{t·K}] for the index K of a discrete PLD (infinite mass left out), relative to the
 * largest exponent so nothing overflows; one exp per 64 points, multiplications in between.
 */
function logMgf(pld: DiscretePld, t: number): number {
  const p = pld.probs;
  const n = p.length;
  const ref = t >= 0 ? n - 1 : 0;
  const r = Math.exp(t);
  let sum = 0;
  for (let b = 0; b < n; b += 64) {
    let f = Math.exp(t * (b - ref));
    const end = Math.min(n, b + 64);
    for (let k = b; k < end; k++) {
      sum += p[k] * f;
      f *= r;
    }
  }
  return t * (pld.offset + ref) + Math.log(sum);
}

/** Index window [lo, hi] that holds all but `tail` (each side) of the sum of the given steps. */
function compositionWindow(items: ReadonlyArray<{ pld: DiscretePld; count: number }>, tail: number): [number, number] {
  let minIdx = 0;
  let maxIdx = 0;
  for (const { pld, count } of items) {
    minIdx += count * pld.offset;
    maxIdx += count * (pld.offset + pld.probs.length - 1);
  }
  const logTail = Math.log(tail);
  let hi = maxIdx;
  let lo = minIdx;
  // Chernoff: P(S ≥ u) ≤ exp(Σ T·K(t) − t·u) for t > 0 (per index unit); scan t on a log grid.
  const h = items[0].pld.interval;
  for (let e = -4; e <= 3; e += 0.25) {
    const t = 10 ** e * h;
    let kPlus = 0;
    let kMinus = 0;
    for (const { pld, count } of items) {
      kPlus += count * logMgf(pld, t);
      kMinus += count * logMgf(pld, -t);
    }
    hi = Math.min(hi, Math.ceil((kPlus - logTail) / t));
    lo = Math.max(lo, Math.floor((logTail - kMinus) / t));
  }
  return [lo, Math.max(lo, hi)];
}

/**
 * Composes discrete PLDs (each `count` times) on a common grid; the result has at most `maxFft`
 * points, or null when the window would need more.
 */
export function composePlds(items: ReadonlyArray<{ pld: DiscretePld; count: number }>, maxFft = DEFAULT_MAX_FFT): DiscretePld | null {
  if (items.length === 0) throw new FederaError('invalid_argument', 'composePlds: nothing to compose');
  const h = items[0].pld.interval;
  if (items.some((i) => i.pld.interval !== h)) throw new FederaError('invalid_argument', 'composePlds: PLDs must share one discretization interval');
  const [lo, hi] = compositionWindow(items, TAIL_MASS_TRUNCATION);
  const size = Math.max(4, nextPow2(hi - lo + 1));
  if (size > maxFft) return null;
  let logKeep = 0; // log P(no step lands on +∞)
  for (const { pld, count } of items) logKeep += count * Math.log1p(-Math.min(1, pld.infinityMass));
  const half = size / 2 + 1;
  const reAcc = new Float64Array(half).fill(1);
  const imAcc = new Float64Array(half);
  const x = new Float64Array(size);
  for (const { pld, count } of items) {
    x.fill(0);
    // Place each mass at its index mod size: the convolution is computed modulo size, and the
    // window [lo, lo + size) holds all but 2e-15 of the composed mass.
    for (let k = 0; k < pld.probs.length; k++) {
      const idx = (((pld.offset + k) % size) + size) % size;
      x[idx] += pld.probs[k];
    }
    const { re, im } = rfft(x);
    for (let j = 0; j < half; j++) {
      const logMag = 0.5 * count * Math.log(re[j] * re[j] + im[j] * im[j]);
      let pr = 0;
      let pi = 0;
      if (logMag > -745) {
        // (r e^{iθ})^T: the Fourier-domain form of composing T times.
        const mag = Math.exp(logMag);
        const angle = count * Math.atan2(im[j], re[j]);
        pr = mag * Math.cos(angle);
        pi = mag * Math.sin(angle);
      }
      const ar = reAcc[j];
      const ai = imAcc[j];
      reAcc[j] = ar * pr - ai * pi;
      imAcc[j] = ar * pi + ai * pr;
    }
  }
  const out = irfft(reAcc, imAcc, size);
  const probs = new Float64Array(size);
  for (let k = 0; k < size; k++) {
    const idx = (((lo + k) % size) + size) % size;
    probs[k] = Math.max(0, out[idx]);
  }
  // Pessimistic: mass that may lie above the window counts as infinite loss.
  const infinityMass = Math.min(1, -Math.expm1(logKeep) + TAIL_MASS_TRUNCATION);
  return { interval: h, offset: lo, probs, infinityMass };
}

/**
 * The smallest ε ≥ 0 with δ(ε) ≤ delta for a discrete PLD; +∞ when the infinite-loss mass alone
 * exceeds delta.
 */
export function pldEpsilonForDelta(pld: DiscretePld, delta: number): number {
  if (pld.infinityMass > delta) return Infinity;
  const { probs, interval: h, offset } = pld;
  const decay = Math.exp(-h);
  let above = pld.infinityMass; // Σ_{j>k} ω_j + ω_∞
  let weighted = 0; // Σ_{j>k} ω_j e^{ε_k − ε_j}
  for (let k = probs.length - 1; k >= 0; k--) {
    if (above - weighted > delta) {
      return Math.max(0, (offset + k) * h + Math.log((above - delta) / weighted));
    }
    above += probs[k];
    weighted = decay * (weighted + probs[k]);
  }
  // δ(ε) ≤ delta at every grid point: solve below the grid.
  if (!(weighted > 0)) return 0;
  return Math.max(0, (offset - 1) * h + Math.log(Math.max(above - delta, 0) / weighted));
}

/**
 * ε of a Gaussian mechanism with sensitivity 1 and noise σ composed `steps` times (equivalently
 * one Gaussian with noise σ/√steps), exactly (Balle & Wang 2018): δ(ε) = Φ̄(ε/μ − μ/2) −
 * e^ε·Φ̄(ε/μ + μ/2) with μ = √steps/σ, solved for ε by bisection.
 */
export function gaussianEpsilon(sigma: number, steps: number, delta: number): number {
  const mu = Math.sqrt(steps) / sigma;
  return gaussianEpsilonForMu(mu, delta);
}

function gaussianEpsilonForMu(mu: number, delta: number): number {
  const d = (eps: number) => tailDifference(eps / mu - mu / 2, eps / mu + mu / 2);
  if (d(0) <= delta) return 0;
  let lo = 0;
  let hi = 1;
  while (d(hi) > delta) {
    lo = hi;
    hi *= 2;
    if (hi > 1e12) return Infinity;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (d(mid) > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}

const composedCache = new Map<string, DiscretePld>();
const discretizedCache = new Map<string, DiscretePld>();

function lruGet<V>(cache: Map<string, V>, key: string): V | undefined {
  const v = cache.get(key);
  if (v !== undefined) {
    cache.delete(key);
    cache.set(key, v);
  }
  return v;
}

function lruSet<V>(cache: Map<string, V>, key: string, value: V, limit: number): void {
  cache.set(key, value);
  while (cache.size > limit) cache.delete(cache.keys().next().value!);
}

function cachedDiscretization(q: number, sigma: number, direction: PldDirection, h: number): DiscretePld {
  const key = `${q}|${sigma}|${direction}|${h}`;
  const hit = lruGet(discretizedCache, key);
  if (hit) return hit;
  const pld = discretizeSubsampledGaussian(q, sigma, direction, h);
  lruSet(discretizedCache, key, pld, 4);
  return pld;
}

interface PldEvent {
  q: number;
  sigma: number;
  count: number;
}

/**
 * A PLD accountant: records Poisson-subsampled Gaussian steps (any mix of q and σ) and computes
 * ε for δ by composing their discretised PLDs, in both directions.
 */
export class PldAccountant {
  readonly kind = 'pld';
  private readonly events: PldEvent[] = [];
  private readonly options: Required<PldOptions>;
  private composed = 0;

  constructor(options: PldOptions = {}) {
    const interval = options.valueDiscretizationInterval ?? DEFAULT_INTERVAL;
    if (!(interval > 0 && Number.isFinite(interval))) throw new FederaError('invalid_config', `PLD value discretization interval must be > 0, got ${interval}`);
    const maxFft = options.maxFftSize ?? DEFAULT_MAX_FFT;
    if (!(Number.isInteger(Math.log2(maxFft)) && maxFft >= 1024)) throw new FederaError('invalid_config', `PLD maxFftSize must be a power of two ≥ 1024, got ${maxFft}`);
    this.options = { valueDiscretizationInterval: interval, maxFftSize: maxFft };
  }

  get steps(): number {
    return this.composed;
  }

  compose(q: number, sigma: number, steps = 1): this {
    checkSamplingRate(q);
    checkNoiseMultiplier(sigma);
    checkSteps(steps);
    const same = this.events.find((e) => e.q === q && e.sigma === sigma);
    if (same) same.count += steps;
    else this.events.push({ q, sigma, count: steps });
    this.composed += steps;
    return this;
  }

  getEpsilon(delta: number): number {
    checkDelta(delta);
    if (this.events.length === 0) return 0;
    if (this.events.every((e) => e.q === 1)) {
      // Gaussians compose to a Gaussian: μ² adds up.
      const mu = Math.sqrt(this.events.reduce((s, e) => s + e.count / (e.sigma * e.sigma), 0));
      return gaussianEpsilonForMu(mu, delta);
    }
    return Math.max(this.directionEpsilon('remove', delta), this.directionEpsilon('add', delta));
  }

  private directionEpsilon(direction: PldDirection, delta: number): number {
    return pldEpsilonForDelta(this.composedPld(direction), delta);
  }

  /** The composed PLD of one direction (memoised: ε for several δ reuses one composition). */
  private composedPld(direction: PldDirection): DiscretePld {
    const { valueDiscretizationInterval: h0, maxFftSize } = this.options;
    const key = `${direction}|${h0}|${maxFftSize}|${this.events.map((e) => `${e.q},${e.sigma},${e.count}`).join(';')}`;
    const hit = lruGet(composedCache, key);
    if (hit) return hit;
    const discretize = (h: number) => this.events.map((e) => ({ pld: cachedDiscretization(e.q, e.sigma, direction, h), count: e.count }));
    let result: DiscretePld | null = null;
    if (this.events.length === 1 && this.events[0].count === 1) {
      result = discretize(h0)[0].pld;
    } else {
      // Plan the grid: measure the composition window (in units of privacy loss) on a coarse
      // probe grid, and widen h when the window would not fit in maxFftSize points at h0.
      const span = Math.max(...this.events.map((e) => supportWidth(e.q, e.sigma, direction)));
      const probeH = Math.max(h0, span / 20_000);
      const [pLo, pHi] = compositionWindow(discretize(probeH), TAIL_MASS_TRUNCATION);
      const width = (pHi - pLo + 1) * probeH;
      let h = Math.max(h0, width / (0.9 * maxFftSize));
      for (let attempt = 0; attempt < 40 && !result; attempt++) {
        result = composePlds(discretize(h), maxFftSize);
        h *= 1.25;
      }
      if (!result) throw new FederaError('internal', 'PLD: could not fit the composition window');
    }
    lruSet(composedCache, key, result, 4);
    return result;
  }

  clone(): PldAccountant {
    const c = new PldAccountant(this.options);
    for (const e of this.events) c.events.push({ ...e });
    c.composed = this.composed;
    return c;
  }
}

/** ε of `steps` Poisson-subsampled Gaussian steps, by PLD. */
export function pldEpsilon(q: number, sigma: number, steps: number, delta: number, options: PldOptions = {}): number {
  return new PldAccountant(options).compose(q, sigma, steps).getEpsilon(delta);
}
