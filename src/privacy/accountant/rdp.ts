/**
 * Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism (Mironov, Talwar & Zhang
 * 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism", §3.3), with add/remove-one
 * adjacency, sampling rate q, L2 sensitivity 1 and noise N(0, σ²).
 *
 * Per step, RDP at order α is log(A_α)/(α − 1):
 * - integer α: A_α = Σ_{i=0..α} C(α, i)·q^i·(1 − q)^{α−i}·exp((i² − i)/(2σ²)), summed in log space;
 * - fractional α: the exact **signed** series of §3.3 (two alternating series whose terms carry
 *   erfc factors), summed in log space until both terms fall below e^{−30} — the series Opacus
 *   implements (`_compute_log_a_frac`). It is not the absolute-value series that dp_accounting
 *   uses since 2024, which is a looser upper bound at fractional orders; our ε therefore matches
 *   the reference `eps_rdp_exact`, and is ≤ dp_accounting's `eps_rdp`.
 * - q = 1: the plain Gaussian, α/(2σ²).
 *
 * RDP → (ε, δ) is dp_accounting's conversion (Balle et al. 2020, Thm 21; Canonne, Kamath &
 * Steinke 2020, Prop. 12): ε = max(0, min over orders α > 1.01 of
 * R(α) + log1p(−1/α) − log(δ·α)/(α − 1)); an order with R(α) < −log1p(−δ²) gives ε = 0.
 */
import { FederaError } from '../../core/errors.js';
import { logAdd, logErfc, logSub } from '../special.js';
import { checkDelta, checkNoiseMultiplier, checkSamplingRate, checkSteps } from '../validate.js';

/**
 * dp_accounting's DEFAULT_RDP_ORDERS: 1.1, 1.2, …, 10.9, then 11 … 63, 128, 256, 512, 1024
 * (computed the way the library computes them, 1 + x/10, so the doubles are the same).
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, k) => 1 + (k + 1) / 10),
  ...Array.from({ length: 53 }, (_, k) => 11 + k),
  128,
  256,
  512,
  1024,
]);

/** Stop the fractional series once both terms are below e^{−30} (as Opacus does). */
const SERIES_TAIL_LOG = -30;
/** A fractional series that has not converged after this many terms is charged +∞ (safe). */
const SERIES_MAX_TERMS = 2_000_000;

/** log A_α for integer α ≥ 1. */
function logAInt(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const s2 = 2 * sigma * sigma;
  let logA = -Infinity;
  let binom = 1; // C(α, i), exact for small α and within a few ulps up to α = 1024
  for (let i = 0; i <= alpha; i++) {
    const term = Math.log(binom) + i * logQ + (alpha - i) * log1mQ + (i * i - i) / s2;
    logA = logAdd(logA, term);
    binom *= (alpha - i) / (i + 1);
  }
  return logA;
}

/**
 * log A_α for fractional α > 1 by the exact signed series (Mironov et al. 2019, §3.3). Returns
 * +∞ when the series does not converge or a partial sum would turn negative in floating point
 * (neither happens on the reference grid; +∞ only drops that order from the minimum, so ε stays
 * an upper bound).
 */
function logAFrac(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const s2 = 2 * sigma * sigma;
  const sqrt2Sigma = Math.SQRT2 * sigma;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const logHalf = Math.log(0.5);
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  let coef = 1; // C(α, i) for real α; its sign alternates once i > α
  for (let i = 0; i < SERIES_MAX_TERMS; i++) {
    const j = alpha - i;
    const logCoef = Math.log(Math.abs(coef));
    const logT0 = logCoef + i * logQ + j * log1mQ;
    const logT1 = logCoef + j * logQ + i * log1mQ;
    const logE0 = logHalf + logErfc((i - z0) / sqrt2Sigma);
    const logE1 = logHalf + logErfc((z0 - j) / sqrt2Sigma);
    const logS0 = logT0 + (i * i - i) / s2 + logE0;
    const logS1 = logT1 + (j * j - j) / s2 + logE1;
    if (coef > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
      if (Number.isNaN(logA0) || Number.isNaN(logA1)) return Infinity;
    }
    if (Math.max(logS0, logS1) < SERIES_TAIL_LOG) return logAdd(logA0, logA1);
    coef *= (alpha - i) / (i + 1);
  }
  return Infinity;
}

/** Per-step RDP of the Poisson-subsampled Gaussian at order α (> 1). */
export function rdpAtOrder(q: number, sigma: number, alpha: number): number {
  if (q === 0) return 0;
  if (q === 1) return alpha / (2 * sigma * sigma);
  if (alpha === Infinity) return Infinity;
  const logA = Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha);
  return logA / (alpha - 1);
}

const cache = new Map<string, Float64Array>();
const CACHE_LIMIT = 256;

/**
 * Per-step RDP of the Poisson-subsampled Gaussian at each order (memoised per (q, σ, orders):
 * the fractional series is the expensive part and sweeps reuse it).
 */
export function rdpPoissonGaussian(q: number, sigma: number, orders: readonly number[] = DEFAULT_RDP_ORDERS): Float64Array {
  checkSamplingRate(q);
  checkNoiseMultiplier(sigma);
  checkOrders(orders);
  const key = `${q}|${sigma}|${orders === DEFAULT_RDP_ORDERS ? 'default' : orders.join(',')}`;
  const hit = cache.get(key);
  if (hit) return hit.slice();
  const out = Float64Array.from(orders, (a) => rdpAtOrder(q, sigma, a));
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(key, out);
  return out.slice();
}

function checkOrders(orders: readonly number[]): void {
  if (orders.length === 0) throw new FederaError('invalid_config', 'RDP orders: at least one order is needed');
  for (const a of orders) {
    if (!(typeof a === 'number' && a > 1)) throw new FederaError('invalid_config', `RDP orders must be numbers > 1, got ${a}`);
  }
}

export interface RdpEpsilon {
  epsilon: number;
  /** The order that gave the smallest ε. */
  order: number;
}

/**
 * (ε, δ) from total RDP values (dp_accounting's `compute_epsilon`): the smallest of
 * R(α) + log1p(−1/α) − log(δ·α)/(α − 1) over orders α > 1.01, 0 for an order whose RDP is below
 * −log1p(−δ²) (the KL bound), clamped at 0; ties go to the first order.
 */
export function rdpToEpsilon(orders: readonly number[], rdp: ArrayLike<number>, delta: number): RdpEpsilon {
  checkDelta(delta);
  if (orders.length !== rdp.length) throw new FederaError('invalid_argument', `rdpToEpsilon: ${orders.length} orders but ${rdp.length} RDP values`);
  let best = Infinity;
  let order = orders[0];
  for (let k = 0; k < orders.length; k++) {
    const a = orders[k];
    const r = rdp[k];
    if (!(r >= 0)) throw new FederaError('invalid_argument', `rdpToEpsilon: RDP at order ${a} must be ≥ 0, got ${r}`);
    let eps: number;
    if (delta * delta + Math.expm1(-r) > 0) eps = 0;
    else if (a > 1.01) eps = r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1);
    else eps = Infinity;
    if (eps < best) {
      best = eps;
      order = a;
    }
  }
  return { epsilon: Math.max(0, best), order };
}

/**
 * An RDP accountant: composes Poisson-subsampled Gaussian steps (any mix of q and σ, which RDP
 * adds order by order) and converts the total to (ε, δ).
 */
export class RdpAccountant {
  readonly kind = 'rdp';
  readonly orders: readonly number[];
  private readonly total: Float64Array;
  private composed = 0;

  constructor(orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    checkOrders(orders);
    this.orders = orders;
    this.total = new Float64Array(orders.length);
  }

  /** Number of steps composed so far. */
  get steps(): number {
    return this.composed;
  }

  /** Adds `steps` steps of the Poisson-subsampled Gaussian with rate q and noise multiplier σ. */
  compose(q: number, sigma: number, steps = 1): this {
    checkSteps(steps);
    const per = rdpPoissonGaussian(q, sigma, this.orders);
    for (let k = 0; k < per.length; k++) this.total[k] += steps * per[k];
    this.composed += steps;
    return this;
  }

  /**
   * Adds `steps` steps of any mechanism given by its per-step RDP at this accountant's orders
   * (`perStep[k]` at `orders[k]`; e.g. the Poisson-subsampled Skellam of accountant/skellam.ts).
   */
  composeRdp(perStep: ArrayLike<number>, steps = 1): this {
    checkSteps(steps);
    if (perStep.length !== this.orders.length) throw new FederaError('invalid_argument', `composeRdp: ${perStep.length} RDP values for ${this.orders.length} orders`);
    for (let k = 0; k < perStep.length; k++) {
      const v = perStep[k];
      if (!(v >= 0)) throw new FederaError('invalid_argument', `composeRdp: the RDP at order ${this.orders[k]} is ${v}; it must be a number ≥ 0`);
      this.total[k] += steps * v;
    }
    this.composed += steps;
    return this;
  }

  getEpsilon(delta: number): number {
    return this.getEpsilonAndOrder(delta).epsilon;
  }

  getEpsilonAndOrder(delta: number): RdpEpsilon {
    return rdpToEpsilon(this.orders, this.total, delta);
  }

  /** Total RDP per order (a copy). */
  rdp(): Float64Array {
    return this.total.slice();
  }

  clone(): RdpAccountant {
    const c = new RdpAccountant(this.orders);
    c.total.set(this.total);
    c.composed = this.composed;
    return c;
  }
}

/** ε of `steps` Poisson-subsampled Gaussian steps, by RDP with the default orders. */
export function rdpEpsilon(q: number, sigma: number, steps: number, delta: number, orders: readonly number[] = DEFAULT_RDP_ORDERS): RdpEpsilon {
  checkDelta(delta);
  return new RdpAccountant(orders).compose(q, sigma, steps).getEpsilonAndOrder(delta);
}
