/**
 * Checks of privacy parameters. Every bad value is an `invalid_config` FederaError naming the
 * parameter, what is allowed and what arrived, raised before any work starts.
 */
import { FederaError } from '../core/errors.js';

function fail(name: string, allowed: string, value: unknown): never {
  throw new FederaError('invalid_config', `${name} must be ${allowed}, got ${typeof value === 'number' ? String(value) : JSON.stringify(value)}`);
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && !Number.isNaN(v);
}

/** Sampling rate q ∈ (0, 1]. */
export function checkSamplingRate(q: unknown, name = 'sampling rate q'): number {
  if (!isNumber(q) || !(q > 0 && q <= 1)) fail(name, 'a number in (0, 1]', q);
  return q;
}

/** Noise multiplier σ > 0, finite. */
export function checkNoiseMultiplier(sigma: unknown, name = 'noise multiplier sigma'): number {
  if (!isNumber(sigma) || !(sigma > 0) || !Number.isFinite(sigma)) fail(name, 'a finite number > 0', sigma);
  return sigma;
}

/** δ ∈ (0, 1). */
export function checkDelta(delta: unknown, name = 'delta'): number {
  if (!isNumber(delta) || !(delta > 0 && delta < 1)) fail(name, 'a number in (0, 1)', delta);
  return delta;
}

/** Number of compositions: an integer ≥ 1. */
export function checkSteps(steps: unknown, name = 'steps'): number {
  if (!isNumber(steps) || !Number.isInteger(steps) || steps < 1) fail(name, 'an integer ≥ 1', steps);
  if (steps > 1e9) fail(name, 'at most 1e9', steps);
  return steps;
}

/** A target ε > 0, finite. */
export function checkEpsilon(epsilon: unknown, name = 'epsilon'): number {
  if (!isNumber(epsilon) || !(epsilon > 0) || !Number.isFinite(epsilon)) fail(name, 'a finite number > 0', epsilon);
  return epsilon;
}

/** A clip norm C > 0, finite. */
export function checkClipNorm(c: unknown, name = 'clip norm'): number {
  if (!isNumber(c) || !(c > 0) || !Number.isFinite(c)) fail(name, 'a finite number > 0', c);
  return c;
}
