/**
 * Special functions for privacy accounting, in double precision and in log space where values
 * under- or overflow: log-sum-exp helpers, the complementary error function and its scaled form
 * erfcx(x) = e^{x²}·erfc(x), and Gaussian tails.
 *
 * erf is summed from its Taylor series for |x| < 1.5; erfcx for x ≥ 1.5 comes from the Laplace
 * continued fraction evaluated with the modified Lentz method, and on [0, 12) from piecewise
 * Chebyshev interpolants built from those two at first use. All are accurate to a few 1e-15
 * relative (checked against mpmath values in test/privacy/special.test.ts), which is ample:
 * accounting needs ε to 1e-6 relative.
 */

const SQRT_PI = Math.sqrt(Math.PI);
const TWO_OVER_SQRT_PI = 2 / SQRT_PI;
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
/** Below this, erfc comes from the erf series; above, from the continued fraction. */
const SERIES_LIMIT = 1.5;

/** log(e^a + e^b) without overflow. */
export function logAdd(a: number, b: number): number {
  const hi = Math.max(a, b);
  const lo = Math.min(a, b);
  if (lo === -Infinity) return hi;
  return hi + Math.log1p(Math.exp(lo - hi));
}

/**
 * log(e^a − e^b) for a ≥ b; NaN when a < b (the difference would be negative). The expm1 form
 * keeps precision when a and b are close.
 */
export function logSub(a: number, b: number): number {
  if (a < b) return NaN;
  if (b === -Infinity) return a;
  if (a === b) return -Infinity;
  const d = a - b;
  return d > 700 ? a + Math.log1p(-Math.exp(-d)) : Math.log(Math.expm1(d)) + b;
}

/** log Σ e^{xᵢ}. */
export function logSumExp(xs: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] > max) max = xs[i];
  if (max === -Infinity || max === Infinity) return max;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i] - max);
  return max + Math.log(s);
}

/** erf(x) from its Taylor series; for |x| < SERIES_LIMIT only. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x; // (-1)^n x^{2n+1} / n!
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -x2 / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/**
 * erfcx(x) = e^{x²}·erfc(x) for x ≥ SERIES_LIMIT, from the continued fraction
 * √π·erfcx(x) = 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by the modified Lentz method.
 */
function erfcxFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 20000; n++) {
    const a = n / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    d = 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 / (SQRT_PI * f);
}

/**
 * erfcx on [0, CHEB_END) from piecewise Chebyshev interpolants (degree 15 on intervals of width
 * 1/4), built once from the series and continued fraction above: the same accuracy, several times
 * faster. Privacy-loss grids evaluate erfcx hundreds of thousands of times per accounting.
 */
const CHEB_WIDTH = 0.25;
const CHEB_DEGREE = 15;
const CHEB_END = 12;
let chebCoefficients: Float64Array | undefined;

/** Build-time reference: the continued fraction (slow below 1.5, but exact to ~1e-15) from 0.5 up. */
function erfcxReference(x: number): number {
  return x >= 0.5 ? erfcxFraction(x) : Math.exp(x * x) * (1 - erfSeries(x));
}

function buildChebyshev(): Float64Array {
  const n = CHEB_DEGREE + 1;
  const intervals = Math.round(CHEB_END / CHEB_WIDTH);
  const out = new Float64Array(intervals * n);
  const values = new Float64Array(n);
  for (let iv = 0; iv < intervals; iv++) {
    const mid = (iv + 0.5) * CHEB_WIDTH;
    for (let k = 0; k < n; k++) values[k] = erfcxReference(mid + (CHEB_WIDTH / 2) * Math.cos((Math.PI * (k + 0.5)) / n));
    for (let j = 0; j < n; j++) {
      let c = 0;
      for (let k = 0; k < n; k++) c += values[k] * Math.cos((Math.PI * j * (k + 0.5)) / n);
      out[iv * n + j] = ((j === 0 ? 1 : 2) / n) * c;
    }
  }
  return out;
}

/** erfcx(x) for 0 ≤ x < CHEB_END by Clenshaw's recurrence on the interval's interpolant. */
function erfcxChebyshev(x: number): number {
  const c = (chebCoefficients ??= buildChebyshev());
  const iv = Math.floor(x / CHEB_WIDTH);
  const t = (x - (iv + 0.5) * CHEB_WIDTH) / (CHEB_WIDTH / 2);
  const base = iv * (CHEB_DEGREE + 1);
  let b1 = 0;
  let b2 = 0;
  for (let j = CHEB_DEGREE; j >= 1; j--) {
    const b0 = 2 * t * b1 - b2 + c[base + j];
    b2 = b1;
    b1 = b0;
  }
  return t * b1 - b2 + c[base];
}

/** erfcx(x) for x ≥ 0. */
function erfcxPositive(x: number): number {
  return x < CHEB_END ? erfcxChebyshev(x) : erfcxFraction(x);
}

/** erfc(x) for any real x (underflows to 0 beyond x ≈ 26.5; use {@link logErfc} there). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < SERIES_LIMIT) return 1 - erfSeries(x);
  if (x > 27) return 0;
  return Math.exp(-x * x) * erfcxPositive(x);
}

/** erfcx(x) = e^{x²}·erfc(x); overflows to Infinity for x below about −26.6. */
export function erfcx(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 0) return x === Infinity ? 0 : erfcxPositive(x);
  return 2 * Math.exp(x * x) - erfcxPositive(-x);
}

/** log erfc(x), finite for every finite x. */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return -Infinity;
  if (x >= SERIES_LIMIT) return -x * x + Math.log(erfcxPositive(x));
  if (x > -SERIES_LIMIT) return Math.log1p(-erfSeries(x));
  // erfc(x) = 2 − erfc(−x) with erfc(−x) < 0.034: no cancellation.
  return Math.log(2 - erfc(-x));
}

/** Upper tail of the standard normal, P(Z > t). */
export function normalSf(t: number): number {
  return 0.5 * erfc(t / Math.SQRT2);
}

/** Standard normal density. */
export function normalPdf(t: number): number {
  return Math.exp(-0.5 * t * t - LOG_SQRT_2PI);
}

/** log P(Z > t). */
export function logNormalSf(t: number): number {
  return Math.log(0.5) + logErfc(t / Math.SQRT2);
}

/**
 * Mills ratio P(Z > t)/φ(t) = √(π/2)·erfcx(t/√2): finite and smooth where the tail itself
 * underflows, so differences of Gaussian tails can be taken without cancellation of exponents.
 */
export function millsRatio(t: number): number {
  return Math.sqrt(Math.PI / 2) * erfcx(t / Math.SQRT2);
}

/** The t with P(Z > t) = p (0 < p < 1), by Newton's method on log P(Z > t); accurate to ~1e-12. */
export function normalIsf(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? Infinity : p === 1 ? -Infinity : NaN;
  if (p > 0.5) return -normalIsf(1 - p);
  const target = Math.log(p);
  let t = Math.sqrt(-2 * target); // a start above the root for small p
  for (let i = 0; i < 100; i++) {
    // d/dt log P(Z > t) = −φ(t)/P(Z > t) = −1/mills(t)
    const step = (logNormalSf(t) - target) * millsRatio(t);
    t += step;
    if (Math.abs(step) < 1e-13 * Math.max(1, Math.abs(t))) break;
  }
  return t;
}
