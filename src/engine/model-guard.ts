/**
 * The last check before a round's aggregate becomes the global model. Finite updates at the
 * float32 limit (±3e38 with `numExamples = 1`) pass every per-update check and still move the
 * model to 10³⁶; from there honest clients diverge and evaluation returns NaN. The guard refuses a
 * next model that is not finite, or whose L2 norm exceeds `normJumpFactor` × max(previous norm, √d)
 * (√d: the norm of a model whose every coordinate is 1, so a model starting at zero can move).
 */
import { FederaError } from '../core/errors.js';
import { findNonFinite } from '../core/kernels.js';

export interface ModelGuardOptions {
  /** A next model whose norm exceeds this multiple of max(previous norm, √d) is rejected (default 100; > 1). */
  normJumpFactor?: number;
}

export const DEFAULT_NORM_JUMP_FACTOR = 100;

export type ModelVerdict = { ok: true; norm: number } | { ok: false; code: 'non_finite' | 'model_rejected'; reason: string };

/** ‖x‖₂, accumulated in float64 (finite for any finite float32 vector). */
export function l2Norm(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

export class ModelGuard {
  readonly normJumpFactor: number;

  constructor(o: ModelGuardOptions = {}) {
    const f = o.normJumpFactor ?? DEFAULT_NORM_JUMP_FACTOR;
    if (!(Number.isFinite(f) && f > 1)) throw new FederaError('invalid_config', `guard.normJumpFactor must be a finite number > 1, got ${f}`);
    this.normJumpFactor = f;
  }

  /** Whether `next` may replace `previous` as the global model. */
  check(next: Float32Array, previous: Float32Array): ModelVerdict {
    const bad = findNonFinite(next);
    if (bad >= 0) return { ok: false, code: 'non_finite', reason: `the next global model has a non-finite parameter at index ${bad} (${next[bad]})` };
    const norm = l2Norm(next);
    const before = l2Norm(previous);
    const limit = this.normJumpFactor * Math.max(before, Math.sqrt(next.length));
    if (norm > limit) {
      return {
        ok: false,
        code: 'model_rejected',
        reason: `the next global model's norm ${norm.toPrecision(3)} exceeds guard.normJumpFactor ${this.normJumpFactor} × max(previous norm ${before.toPrecision(3)}, √d ${Math.sqrt(next.length).toPrecision(3)}) = ${limit.toPrecision(3)}`,
      };
    }
    return { ok: true, norm };
  }
}

/** Whether a checkpointed model (and its strategy state) holds only finite numbers; the first bad entry otherwise. */
export function findNonFiniteState(params: Float32Array, state?: Record<string, Float32Array | number>): string | undefined {
  const p = findNonFinite(params);
  if (p >= 0) return `parameter ${p} is ${params[p]}`;
  for (const [k, v] of Object.entries(state ?? {})) {
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `strategy state ${k} is ${v}`;
    } else {
      const i = findNonFinite(v);
      if (i >= 0) return `strategy state ${k}[${i}] is ${v[i]}`;
    }
  }
  return undefined;
}
