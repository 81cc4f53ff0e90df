/**
 * The cap on the weight a client may claim. FedAvg weights each update by the example count its
 * client reports; unchecked, one client claiming 10¹² examples replaces the global model. The cap
 * limits a claim to `medianFactor` times the median claim of the round (and to `max` examples when
 * set), so one client's weight is at most medianFactor / (medianFactor + n − 1) of the round's.
 *
 * Exactness without holding every update: a streaming reducer caps each claim at the arrival
 * against the median of the previous round (its reference, checkpointed); in a round without a
 * reference (the first, or a resumed run whose checkpoint predates the cap) the reducer holds the
 * round's updates and caps against the round's own median. Reducers that hold every update anyway
 * (robust rules) and federated evaluation always use the round's own median.
 *
 * What it does not protect against: a client may still claim up to the cap, so its weight can
 * exceed its true share by up to medianFactor; a majority of colluding clients moves the median
 * itself. Combine it with a robust rule for those, and note that under secure aggregation the
 * clients cap their own weight (min(examples / maxWeight, 1)) and the server cannot check it.
 */
import { FederaError } from '../core/errors.js';
import type { StrategyState } from '../strategy/strategy.js';

export interface WeightCapOptions {
  /** A claim is capped at this multiple of the median claim (≥ 1; default 10). */
  medianFactor?: number;
  /** An absolute cap on the examples a claim counts for. */
  max?: number;
}

/** Key of the cap's checkpoint state (the reference median). */
export const WEIGHT_CAP_STATE = 'weightCap.reference';

/** The median of `values` (the mean of the two middle ones for an even count). */
export function medianOf(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

export class WeightCap {
  readonly medianFactor: number;
  readonly max: number | undefined;
  /** The median claim of the last completed round: the reference of the next. */
  private reference: number | undefined;
  /** Claims capped so far, for metrics (the server's `capped weights` counter). */
  cappedTotal = 0;

  constructor(o: WeightCapOptions = {}) {
    const f = o.medianFactor ?? 10;
    if (!(Number.isFinite(f) && f >= 1)) throw new FederaError('invalid_config', `weightCap.medianFactor must be a finite number ≥ 1, got ${f}`);
    if (o.max !== undefined && !(Number.isFinite(o.max) && o.max > 0)) throw new FederaError('invalid_config', `weightCap.max must be a finite number > 0, got ${o.max}`);
    this.medianFactor = f;
    this.max = o.max;
  }

  /** Whether a streaming round can cap claims as they arrive (a reference exists). */
  get streaming(): boolean {
    return this.reference !== undefined;
  }

  /** The cap a claim gets against `median`. */
  capFor(median: number): number {
    const byMedian = Number.isFinite(median) && median > 0 ? this.medianFactor * median : Infinity;
    return Math.min(byMedian, this.max ?? Infinity);
  }

  /** A streaming round: the claim capped against the reference. */
  capOne(claim: number): number {
    const cap = this.capFor(this.reference ?? NaN);
    return claim > cap ? cap : claim;
  }

  /** Every claim of a round capped against the round's own median. */
  capAll(claims: readonly number[]): number[] {
    const cap = this.capFor(medianOf(claims));
    return claims.map((c) => (c > cap ? cap : c));
  }

  /** After a completed round: its claims' median becomes the next reference. */
  observe(claims: readonly number[]): void {
    const m = medianOf(claims.filter((c) => c > 0));
    if (Number.isFinite(m) && m > 0) this.reference = m;
  }

  getState(): StrategyState {
    return this.reference !== undefined ? { [WEIGHT_CAP_STATE]: this.reference } : {};
  }

  setState(state: StrategyState): void {
    const v = state[WEIGHT_CAP_STATE];
    if (v === undefined) return;
    if (typeof v !== 'number' || !(Number.isFinite(v) && v > 0)) throw new FederaError('invalid_config', `state ${WEIGHT_CAP_STATE} must be a finite number > 0`);
    this.reference = v;
  }
}
