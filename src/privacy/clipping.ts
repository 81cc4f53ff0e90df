/**
 * L2 clipping of flat parameter vectors: the step that bounds each contribution's sensitivity
 * before Gaussian noise is added (DP-FedAvg per client update, DP-SGD per example gradient).
 */
import { FederaError } from '../core/errors.js';
import { l2Norm } from '../core/kernels.js';
import { checkClipNorm } from './validate.js';

export interface ClipOutcome {
  /** The L2 norm before clipping. */
  norm: number;
  /** Whether the vector was scaled down (its norm exceeded the clip norm). */
  clipped: boolean;
}

/** Scales `x` in place by `s`. */
function scale(x: Float32Array, s: number): void {
  for (let i = 0; i < x.length; i++) x[i] *= s;
}

/**
 * Clips `x` in place to L2 norm at most `clipNorm`: x ← x·min(1, C/‖x‖). The result's norm,
 * computed in float64 over the stored float32 values, is guaranteed ≤ C (float32 rounding of the
 * scaled values is corrected by a second, slightly smaller scaling when needed). Throws
 * `non_finite` when `x` holds NaN or ±Infinity.
 */
export function clipByL2Norm(x: Float32Array, clipNorm: number): ClipOutcome {
  checkClipNorm(clipNorm);
  const norm = l2Norm(x);
  if (!Number.isFinite(norm)) throw new FederaError('non_finite', `clipByL2Norm: the vector has a non-finite norm (${norm})`);
  if (norm <= clipNorm) return { norm, clipped: false };
  scale(x, clipNorm / norm);
  let after = l2Norm(x);
  for (let i = 0; after > clipNorm && i < 8; i++) {
    scale(x, (clipNorm / after) * (1 - 1e-6));
    after = l2Norm(x);
  }
  return { norm, clipped: true };
}
