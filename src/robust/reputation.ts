/**
 * Client reputation across rounds. Every round in which a client's update is flagged as anomalous
 * adds 1 to its penalty; the penalty decays by `decay` per round elapsed, so old offences fade and
 * a client that behaves recovers. Reputation is 1 / (1 + penalty): 1 for a clean record, ½ right
 * after one offence. Weighted aggregators multiply a client's weight by its reputation; a client
 * whose penalty is ≥ `excludeAt` at the start of a round is left out of that round's aggregation
 * (its update is still scored, so the record keeps moving).
 *
 * With the defaults (decay 0.95, excludeAt 1.5) one false alarm never excludes anyone (1 < 1.5).
 * A client flagged in two consecutive rounds is excluded from the next one (1.95 · 0.95 ≥ 1.5); one
 * that takes part every fifth round (20 % sampling) is excluded after its third offence
 * ((1 + 0.95⁵) · 0.95⁵ + 1 = 2.37, still 1.83 five rounds later).
 */
import { FederaError } from '../core/errors.js';

export interface ReputationOptions {
  /** Penalty multiplier per round elapsed, in (0, 1] (default 0.95; 1 never forgets). */
  decay?: number;
  /** Penalty at or above which a client is excluded (default 1.5; Infinity only down-weights). */
  excludeAt?: number;
  /** Scale weighted aggregators' weights by reputation (default true). */
  downweight?: boolean;
}

interface Record_ {
  penalty: number;
  round: number;
}

export class Reputation {
  readonly decay: number;
  readonly excludeAt: number;
  readonly downweight: boolean;
  private readonly records = new Map<string, Record_>();

  constructor(options: ReputationOptions = {}) {
    const decay = options.decay ?? 0.95;
    if (!(decay > 0 && decay <= 1)) throw new FederaError('invalid_config', `reputation: decay must be in (0, 1], got ${decay}`);
    const excludeAt = options.excludeAt ?? 1.5;
    if (!(excludeAt > 0)) throw new FederaError('invalid_config', `reputation: excludeAt must be > 0 (Infinity to never exclude), got ${excludeAt}`);
    this.decay = decay;
    this.excludeAt = excludeAt;
    this.downweight = options.downweight ?? true;
  }

  /** The client's penalty as of `round` (decayed from its last offence). */
  penalty(clientId: string, round: number): number {
    const r = this.records.get(clientId);
    if (!r) return 0;
    return r.penalty * this.decay ** Math.max(0, round - r.round);
  }

  /** 1 / (1 + penalty), in (0, 1]. */
  reputation(clientId: string, round: number): number {
    return 1 / (1 + this.penalty(clientId, round));
  }

  isExcluded(clientId: string, round: number): boolean {
    return this.penalty(clientId, round) >= this.excludeAt;
  }

  /** Records an offence in `round`; returns the new penalty. */
  penalize(clientId: string, round: number, amount = 1): number {
    const p = this.penalty(clientId, round) + amount;
    this.records.set(clientId, { penalty: p, round });
    return p;
  }

  /** Clients with a record, in id order. */
  clients(): string[] {
    return [...this.records.keys()].sort();
  }

  /** Flat state for checkpoints: `<prefix>penalty/<id>` and `<prefix>round/<id>`. */
  toState(prefix = 'reputation/'): Record<string, number> {
    const s: Record<string, number> = {};
    for (const [id, r] of this.records) {
      s[`${prefix}penalty/${id}`] = r.penalty;
      s[`${prefix}round/${id}`] = r.round;
    }
    return s;
  }

  /** Replaces the records with those in `state` (keys written by `toState`). */
  loadState(state: Record<string, unknown>, prefix = 'reputation/'): void {
    this.records.clear();
    for (const [k, v] of Object.entries(state)) {
      if (!k.startsWith(`${prefix}penalty/`)) continue;
      const id = k.slice(`${prefix}penalty/`.length);
      const round = state[`${prefix}round/${id}`];
      if (typeof v !== 'number' || !(v >= 0) || typeof round !== 'number' || !Number.isInteger(round)) {
        throw new FederaError('invalid_argument', `reputation state for client ${id}: penalty must be a number ≥ 0 and round an integer`);
      }
      this.records.set(id, { penalty: v, round });
    }
  }
}
