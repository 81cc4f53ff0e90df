/**
 * Who shares keys and masks with whom. Classic SecAgg (Bonawitz et al. 2017): everyone with
 * everyone. SecAgg+ (Bell et al. 2020): a random Harary graph — the round's clients placed on a
 * ring in an order drawn from the round seed, each joined to the ⌈k/2⌉ nearest on either side —
 * so each client has about k neighbours (k = O(log n)) and the work per client stops growing
 * with n.
 */
import type { Rng } from '../core/rng.js';

/** Neighbours of every client (itself excluded), each list sorted. */
export type NeighbourGraph = ReadonlyMap<string, readonly string[]>;

export function completeGraph(clients: readonly string[]): NeighbourGraph {
  const sorted = [...clients].sort();
  return new Map(sorted.map((id) => [id, sorted.filter((o) => o !== id)]));
}

/** A random Harary-like graph of degree 2·⌈k/2⌉ (complete when that reaches n − 1). */
export function hararyGraph(clients: readonly string[], k: number, rng: Rng): NeighbourGraph {
  const n = clients.length;
  const half = Math.ceil(k / 2);
  if (2 * half >= n - 1) return completeGraph(clients);
  const ring = rng.shuffle([...clients].sort());
  const out = new Map<string, string[]>();
  for (let p = 0; p < n; p++) {
    const nb: string[] = [];
    for (let d = 1; d <= half; d++) nb.push(ring[(p + d) % n], ring[(p - d + n) % n]);
    out.set(ring[p], nb.sort());
  }
  return out;
}
