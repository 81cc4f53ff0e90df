/**
 * Client selection: a fixed number k of the available clients, or a Poisson sample (each client
 * independently with probability q, what DP accountants assume). Clients are put in their stable
 * order first (core/ids.ts), so the sample depends only on the set of clients and the random stream.
 */
import { FederaError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { sortClientIds } from '../core/ids.js';

export interface SamplingOptions {
  /** Fraction of the available clients to select (default 0.1). */
  fraction?: number;
  /** Select at least this many (default 2, capped by the number available). */
  minClients?: number;
  /** Never select more than this many. */
  maxClients?: number;
  /** Skip the round unless at least this many clients are available (default: minClients). */
  minAvailable?: number;
  /**
   * Poisson sampling: each available client is selected independently with this probability,
   * (fraction, minClients and maxClients then do not apply; a round may select none).
   */
  poissonRate?: number;
}

export interface SamplingPlan {
  /** How many to select now, or 0 with `reason` when the round cannot start. */
  count: number;
  reason?: string;
}

export function checkSamplingOptions(o: SamplingOptions, where = 'sampling'): void {
  if (o.fraction !== undefined && !(o.fraction > 0 && o.fraction <= 1)) {
    throw new FederaError('invalid_config', `${where}.fraction must be in (0, 1], got ${o.fraction}`);
  }
  for (const key of ['minClients', 'maxClients', 'minAvailable'] as const) {
    const v = o[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new FederaError('invalid_config', `${where}.${key} must be an integer ≥ 1, got ${v}`);
  }
  if (o.poissonRate !== undefined && !(o.poissonRate > 0 && o.poissonRate <= 1)) {
    throw new FederaError('invalid_config', `${where}.poissonRate must be in (0, 1], got ${o.poissonRate}`);
  }
  if (o.maxClients !== undefined && o.minClients !== undefined && o.maxClients < o.minClients) {
    throw new FederaError('invalid_config', `${where}.maxClients (${o.maxClients}) must be ≥ minClients (${o.minClients})`);
  }
}

export function planSampling(available: number, o: SamplingOptions): SamplingPlan {
  const minClients = o.minClients ?? 2;
  const minAvailable = o.minAvailable ?? minClients;
  if (available < minAvailable) {
    return { count: 0, reason: `${available} client(s) available, at least ${minAvailable} needed` };
  }
  let k = Math.max(minClients, Math.ceil((o.fraction ?? 0.1) * available - 1e-9));
  if (o.maxClients !== undefined) k = Math.min(k, o.maxClients);
  return { count: Math.min(k, available) };
}

/** `count` distinct ids, chosen uniformly with `rng` from `available` in stable order (so the order given does not matter). */
export function sampleClients(available: readonly string[], count: number, rng: Rng): string[] {
  const sorted = sortClientIds(available);
  return rng.sample(sorted, Math.min(count, sorted.length));
}

/** Each of `available` independently with probability `rate`, in stable order. */
export function sampleClientsPoisson(available: readonly string[], rate: number, rng: Rng): string[] {
  return sortClientIds(available).filter(() => rng.next() < rate);
}
