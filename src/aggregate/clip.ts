/**
 * The clip stage: the server scales every update whose L2 norm exceeds a bound down to that
 * bound, so the bound holds even for a client that does not clip itself. DP-FedAvg's central mode
 * (the bound is the current clip norm C, which adaptive clipping moves) and fixed norm bounding
 * (Sun et al. 2019) both use it. It needs each update, so it cannot run under a secure sum; there
 * the clients clip (their DP layer), which binds only honest clients.
 */
import { FederaError } from '../core/errors.js';
import { clipByL2Norm } from '../privacy/clipping.js';
import type { AggregationStage, StageUpdate } from './stage.js';

export interface ClipStageOptions {
  /** The L2 bound: a number, or a function read for every update (a clip norm that changes between rounds). */
  bound: number | (() => number);
  /** The config key that set it, for refusals (`privacy.clipNorm`, `robust.normBound`). */
  field: string;
  /** How a person calls it ("DP-FedAvg's clipping", "norm bounding"). */
  title: string;
  /** Completes the refusal under secure aggregation: what needs the updates, and what to do instead. */
  needsUpdates: { reason: string; hint: string };
  /** Tally key counting updates the server had to clip (default `clip.clipped`). */
  tallyKey?: string;
}

/** Tally key of the number of updates the server clipped. */
export const CLIPPED_TALLY = 'clip.clipped';

export function createClipStage(o: ClipStageOptions): AggregationStage {
  const read = typeof o.bound === 'function' ? o.bound : () => o.bound as number;
  const check = (b: number) => {
    if (!(Number.isFinite(b) && b > 0)) throw new FederaError('invalid_config', `${o.field}: the clip bound must be a finite number > 0, got ${b}`);
    return b;
  };
  if (typeof o.bound === 'number') check(o.bound);
  const key = o.tallyKey ?? CLIPPED_TALLY;
  return {
    name: 'clip',
    field: o.field,
    title: o.title,
    needsUpdates: o.needsUpdates,
    update(u: StageUpdate) {
      const bound = check(read());
      let outcome;
      try {
        outcome = clipByL2Norm(u.update, bound);
      } catch (e) {
        throw new FederaError('non_finite', `update from client ${u.clientId} has a non-finite norm`, undefined, { cause: e });
      }
      u.norm = outcome.norm;
      if (outcome.clipped) {
        const tally = (u.tally ??= {});
        tally[key] = (tally[key] ?? 0) + 1;
      }
    },
  };
}
