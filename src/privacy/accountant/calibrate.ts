/**
 * One entry point over both accountants, and the inverse problem: the smallest noise multiplier σ
 * whose ε stays within a target, for given q, steps and δ.
 */
import { FederaError } from '../../core/errors.js';
import { checkDelta, checkEpsilon, checkNoiseMultiplier, checkSamplingRate, checkSteps } from '../validate.js';
import { RdpAccountant } from './rdp.js';
import { PldAccountant, type PldOptions } from './pld.js';

export type AccountantKind = 'rdp' | 'pld';
export const ACCOUNTANT_KINDS: readonly AccountantKind[] = ['rdp', 'pld'];

/** What both accountants offer: compose Poisson-subsampled Gaussian steps, read ε for δ. */
export interface PrivacyAccountant {
  readonly kind: AccountantKind;
  /** Steps composed so far. */
  readonly steps: number;
  compose(q: number, sigma: number, steps?: number): PrivacyAccountant;
  getEpsilon(delta: number): number;
  clone(): PrivacyAccountant;
}

export function createAccountant(kind: AccountantKind = 'rdp', options: PldOptions = {}): PrivacyAccountant {
  if (kind === 'rdp') return new RdpAccountant();
  if (kind === 'pld') return new PldAccountant(options);
  throw new FederaError('invalid_config', `accountant must be "rdp" or "pld", got ${JSON.stringify(kind)}`);
}

export interface EpsilonQuery {
  /** Poisson sampling rate per step, in (0, 1]. */
  q: number;
  /** Noise multiplier: noise standard deviation / L2 sensitivity. */
  sigma: number;
  /** Number of steps (rounds), an integer ≥ 1. */
  steps: number;
  delta: number;
  accountant?: AccountantKind;
}

/** ε after `steps` steps of the Poisson-subsampled Gaussian mechanism. Inputs are checked first. */
export function computeEpsilon(query: EpsilonQuery): number {
  const q = checkSamplingRate(query.q, 'q');
  const sigma = checkNoiseMultiplier(query.sigma, 'sigma');
  const steps = checkSteps(query.steps, 'steps');
  const delta = checkDelta(query.delta, 'delta');
  return createAccountant(query.accountant ?? 'rdp').compose(q, sigma, steps).getEpsilon(delta);
}

export interface SigmaQuery {
  q: number;
  steps: number;
  delta: number;
  /** Target ε > 0. */
  epsilon: number;
  accountant?: AccountantKind;
  /** Relative width of the final bracket (default 1e-10 for RDP, 1e-4 for PLD). */
  tolerance?: number;
  /**
   * ε of the whole run at multiplier σ, for a mechanism other than the subsampled Gaussian (the
   * distributed Skellam of DP under quantized secure aggregation); must fall as σ grows.
   */
  epsilonOf?: (sigma: number) => number;
}

const SIGMA_MIN = 1e-3;
const SIGMA_MAX = 1e4;

/**
 * The smallest noise multiplier σ with ε(σ) ≤ target (ε falls as σ grows), by bracketing and a
 * bisection-safeguarded false-position search on log ε against log σ (Illinois variant). The
 * returned σ always satisfies ε(σ) ≤ target; it exceeds the exact root by at most `tolerance`
 * relative.
 */
export function calibrateNoiseMultiplier(query: SigmaQuery): number {
  const q = checkSamplingRate(query.q, 'q');
  const steps = checkSteps(query.steps, 'steps');
  const delta = checkDelta(query.delta, 'delta');
  const target = checkEpsilon(query.epsilon, 'target epsilon');
  const kind = query.accountant ?? 'rdp';
  if (kind !== 'rdp' && kind !== 'pld') throw new FederaError('invalid_config', `accountant must be "rdp" or "pld", got ${JSON.stringify(kind)}`);
  const tol = query.tolerance ?? (kind === 'rdp' ? 1e-10 : 1e-4);
  if (!(tol > 0 && tol < 0.5)) throw new FederaError('invalid_config', `tolerance must be in (0, 0.5), got ${tol}`);
  const eps = query.epsilonOf ?? ((sigma: number) => createAccountant(kind).compose(q, sigma, steps).getEpsilon(delta));
  // f(log σ) = log ε − log target, decreasing; f ≤ 0 means σ is enough.
  const f = (logSigma: number) => {
    const e = eps(Math.exp(logSigma));
    return e === Infinity ? Infinity : Math.log(Math.max(e, 1e-300)) - Math.log(target);
  };

  // Bracket [a, b] in log σ with f(a) > 0 ≥ f(b). PLD starts from the RDP answer, which is
  // almost always enough (PLD is the tighter of the two).
  let start = 0;
  if (kind === 'pld' && !query.epsilonOf) start = Math.log(calibrateNoiseMultiplier({ q, steps, delta, epsilon: target, accountant: 'rdp', tolerance: 1e-6 }));
  let b = start;
  let fb = f(b);
  let a: number;
  let fa: number;
  const stepOut = kind === 'pld' ? Math.log(1.15) : Math.log(2);
  if (fb <= 0) {
    a = b - stepOut;
    fa = f(a);
    while (fa <= 0) {
      if (a < Math.log(SIGMA_MIN)) return Math.exp(a); // even σ = 0.001 meets the target
      b = a;
      fb = fa;
      a -= stepOut;
      fa = f(a);
    }
  } else {
    a = b;
    fa = fb;
    b = a + stepOut;
    fb = f(b);
    while (fb > 0) {
      if (b > Math.log(SIGMA_MAX)) {
        throw new FederaError('invalid_config', `target epsilon ${target} is out of reach: even noise multiplier ${SIGMA_MAX} gives ε = ${eps(SIGMA_MAX)} for q=${q}, ${steps} steps, δ=${delta}`);
      }
      a = b;
      fa = fb;
      b += stepOut;
      fb = f(b);
    }
  }

  // Illinois false position, with bisection whenever the interpolation is unusable.
  let side = 0;
  for (let i = 0; i < 200 && b - a > Math.log1p(tol); i++) {
    let c = Number.isFinite(fa) && Number.isFinite(fb) && fa !== fb ? b - (fb * (b - a)) / (fb - fa) : (a + b) / 2;
    if (!(c > a && c < b)) c = (a + b) / 2;
    // Stay strictly inside the bracket.
    const margin = (b - a) * 1e-3;
    c = Math.min(b - margin, Math.max(a + margin, c));
    const fc = f(c);
    if (fc > 0) {
      a = c;
      fa = fc;
      if (side === -1) fb /= 2;
      side = -1;
    } else {
      b = c;
      fb = fc;
      if (side === 1) fa /= 2;
      side = 1;
    }
  }
  return Math.exp(b);
}

/** ε of one more step on top of an accountant's history, without changing it. */
export function epsilonAfter(accountant: PrivacyAccountant, q: number, sigma: number, steps: number, delta: number): number {
  return accountant.clone().compose(q, sigma, steps).getEpsilon(delta);
}
