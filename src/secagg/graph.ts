/**
 * Who shares keys and masks with whom. Classic SecAgg (Bonawitz et al. 2017): everyone with
 * everyone. SecAgg+ (Bell et al. 2020): a random Harary graph — the round's clients placed on a
 * ring in a random order, each joined to the ⌈k/2⌉ nearest on either side —
 * so each client has about k neighbours (k = O(log n)) and the work per client stops growing
 * with n.
 */
import { sha256 } from '@noble/hashes/sha2';
import type { Rng } from '../core/rng.js';
import { FederaError } from '../core/errors.js';

/** Neighbours of every client (itself excluded), each list sorted. */
export type NeighbourGraph = ReadonlyMap<string, readonly string[]>;

export function completeGraph(clients: readonly string[]): NeighbourGraph {
  const sorted = [...clients].sort();
  return new Map(sorted.map((id) => [id, sorted.filter((o) => o !== id)]));
}

/**
 * A random Harary-like graph of degree 2·⌈k/2⌉ (complete when that reaches n − 1) from a seeded
 * stream. Rounds no longer use it (a run seed makes the graph predictable; see seededHararyGraph);
 * kept for tests that show why.
 */
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

// ---- A graph no single party chooses (issue 13, finding 9) ------------------------------------
// Each client commits to a random value in the setup stage and reveals it once every commitment
// is fixed (the graph stage); the graph seed is the hash of all revealed values, so it is fresh
// every round and neither the server nor any client alone can bias it. Clients verify the
// commitments and derive the graph themselves.

const utf8 = new TextEncoder();

function labelled(label: string, parts: readonly Uint8Array[]): Uint8Array {
  const head = utf8.encode(label);
  const out = new Uint8Array(head.length + parts.reduce((a, p) => a + p.length, 0));
  out.set(head);
  let at = head.length;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** SHA-256 commitment of a client's graph value, bound to run, round and client. */
export function graphCommitment(value: Uint8Array, runId: string, round: number, clientId: string): Uint8Array {
  return sha256(labelled(`federa/secagg/graph-commit\0${runId}\0${round}\0${clientId}\0`, [value]));
}

/** The round's graph seed: SHA-256 over the participants in sorted order, each with its revealed value. */
export function graphSeed(runId: string, round: number, participants: readonly string[], reveals: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const sorted = [...participants].sort();
  const parts: Uint8Array[] = [];
  for (const id of sorted) {
    const v = reveals.get(id);
    if (!v) throw new FederaError('invalid_argument', `graph seed: no revealed value of ${id}`);
    parts.push(utf8.encode(`${id}\0`), v);
  }
  return sha256(labelled(`federa/secagg/graph-seed\0${runId}\0${round}\0${sorted.length}\0`, parts));
}

/** Uniform integers below `bound` from SHA-256(seed ‖ counter), by rejection (no modulo bias). */
function hashStream(seed: Uint8Array): (bound: number) => number {
  let counter = 0;
  let block: Uint8Array = new Uint8Array(0);
  let at = 0;
  const word = (): number => {
    if (at + 4 > block.length) {
      const c = new Uint8Array(4);
      new DataView(c.buffer).setUint32(0, counter++);
      block = sha256(labelled('federa/secagg/graph-shuffle\0', [seed, c]));
      at = 0;
    }
    const w = new DataView(block.buffer, block.byteOffset + at, 4).getUint32(0);
    at += 4;
    return w;
  };
  return (bound) => {
    const limit = Math.floor(2 ** 32 / bound) * bound;
    for (;;) {
      const w = word();
      if (w < limit) return w % bound;
    }
  };
}

/** The random Harary graph of degree 2·⌈k/2⌉ with the ring order drawn from `seed` (Fisher–Yates over SHA-256). */
export function seededHararyGraph(clients: readonly string[], k: number, seed: Uint8Array): NeighbourGraph {
  const n = clients.length;
  const half = Math.ceil(k / 2);
  if (2 * half >= n - 1) return completeGraph(clients);
  const ring = [...clients].sort();
  const below = hashStream(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = below(i + 1);
    [ring[i], ring[j]] = [ring[j], ring[i]];
  }
  const out = new Map<string, string[]>();
  for (let p = 0; p < n; p++) {
    const nb: string[] = [];
    for (let d = 1; d <= half; d++) nb.push(ring[(p + d) % n], ring[(p - d + n) % n]);
    out.set(ring[p], nb.sort());
  }
  return out;
}

/** Whether the graph restricted to `alive` is connected (true for fewer than two clients). */
export function isConnected(graph: NeighbourGraph, alive: ReadonlySet<string>): boolean {
  const first = alive.values().next();
  if (first.done) return true;
  const seen = new Set<string>([first.value]);
  const stack = [first.value];
  while (stack.length) {
    for (const o of graph.get(stack.pop()!) ?? []) {
      if (alive.has(o) && !seen.has(o)) (seen.add(o), stack.push(o));
    }
  }
  return seen.size === alive.size;
}
