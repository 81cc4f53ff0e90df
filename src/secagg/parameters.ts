/**
 * SecAgg+ parameters from stated bounds (Bell et al. 2020, "Secure Single-Server Aggregation with
 * (Poly)Logarithmic Overhead"): the number of neighbours k and the threshold t for n clients of
 * which at most a fraction γ collude with the server and at most a fraction δ drop out, so that
 * the protocol fails to be secure with probability ≤ 2^−σ and fails to finish with ≤ 2^−η.
 *
 * The graph is federa's random Harary graph (graph.ts): the n clients in a uniformly random ring
 * order, each joined to the k/2 nearest on either side. Its randomness is fixed after the corrupt
 * set (commit-reveal, workflow.ts), so a client's k neighbours are a uniform k-subset of the other
 * n − 1, and a set of R removed clients sits at uniformly random ring positions. Bell et al.'s
 * conditions for a good graph, with their probabilities bounded for this graph:
 *
 *   security     every honest client has fewer than t corrupt neighbours (else the server and
 *                they hold t shares of both its secrets):  n · P[Hyp(n−1, γn, k) ≥ t]
 *                and the honest survivors stay connected (else the server learns the sum of a
 *                component): removing R = (γ+δ)n clients disconnects the ring graph only if two
 *                disjoint runs of k/2 consecutive clients are all removed:  ≤ n²/2 · (R)_k/(n)_k
 *   correctness  every client keeps at least t surviving neighbours (its secrets can be
 *                reconstructed):  n · P[Hyp(n−1, δn, k) > k − t],  plus the disconnection bound
 *                with R = δn (a disconnected round is aborted)
 *   and t > (k+1)/2, which the clients enforce (two disjoint groups of t must not exist).
 *
 * k is the smallest even degree for which some t meets all of them; t the smallest such t (the
 * most dropouts tolerated). When even the complete graph cannot meet them, the bounds are refused.
 */
import { FederaError } from '../core/errors.js';

export interface SecAggBounds {
  /** γ: fraction of the round's clients that may collude with the server. */
  corruptFraction: number;
  /** δ: fraction of the round's clients that may drop out. */
  dropoutFraction: number;
  /** σ: the protocol is insecure with probability at most 2^−σ per round. */
  securityBits: number;
  /** η: the round fails to finish with probability at most 2^−η (a round with more dropouts is aborted). */
  correctnessBits: number;
}

export const DEFAULT_SECAGG_BOUNDS: SecAggBounds = { corruptFraction: 0.1, dropoutFraction: 0.1, securityBits: 40, correctnessBits: 20 };

export interface SecAggParameters {
  clients: number;
  /** Neighbours per client (n − 1: the complete graph). */
  degree: number;
  threshold: number;
  /** log2 of the bound on the probability of a security failure (−1074 when impossible by counting). */
  securityLog2: number;
  /** log2 of the bound on the probability of a correctness failure. */
  correctnessLog2: number;
}

export function checkSecAggBounds(b: Partial<SecAggBounds>, where = 'secagg'): SecAggBounds {
  const out = { ...DEFAULT_SECAGG_BOUNDS, ...Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) } as SecAggBounds;
  for (const key of ['corruptFraction', 'dropoutFraction'] as const) {
    const v = out[key];
    if (!(typeof v === 'number' && v >= 0 && v < 0.5)) throw new FederaError('invalid_config', `${where}.${key} must be a number in [0, 0.5), got ${String(v)}`);
  }
  for (const key of ['securityBits', 'correctnessBits'] as const) {
    const v = out[key];
    if (!(Number.isInteger(v) && v >= 1 && v <= 128)) throw new FederaError('invalid_config', `${where}.${key} must be an integer in [1, 128], got ${String(v)}`);
  }
  return out;
}

/** log C(a, b), exact enough for tails down to 2^−128 (a ≤ 65520). */
function logChoose(a: number, b: number): number {
  if (b < 0 || b > a) return -Infinity;
  const s = Math.min(b, a - b);
  let r = 0;
  for (let i = 0; i < s; i++) r += Math.log((a - i) / (s - i));
  return r;
}

/** P[X ≥ x] for every x in 0..draws + 1, X ~ Hypergeometric(population, successes, draws). */
function hypergeometricTails(population: number, successes: number, draws: number): Float64Array {
  const tail = new Float64Array(draws + 2);
  if (draws >= population) {
    // Everyone drawn: X = successes exactly.
    for (let x = 0; x <= draws + 1; x++) tail[x] = x <= successes ? 1 : 0;
    return tail;
  }
  const denominator = logChoose(population, draws);
  for (let x = draws; x >= 0; x--) {
    const p = Math.exp(logChoose(successes, x) + logChoose(population - successes, draws - x) - denominator);
    tail[x] = Math.min(1, tail[x + 1] + p);
  }
  return tail;
}

/** Bound on P[removing `removed` random clients disconnects the ring graph of degree k] (0 for the complete graph). */
export function disconnectionBound(clients: number, degree: number, removed: number): number {
  if (degree >= clients - 1 || removed < degree) return 0;
  let log = 0;
  for (let i = 0; i < degree; i++) log += Math.log((removed - i) / (clients - i));
  return Math.min(1, ((clients * clients) / 2) * Math.exp(log));
}

/** The failure bounds of (k, t) for n clients under `bounds` (log2; −Infinity when impossible). */
export function failureBounds(clients: number, degree: number, threshold: number, bounds: SecAggBounds = DEFAULT_SECAGG_BOUNDS): { securityLog2: number; correctnessLog2: number } {
  const corrupt = Math.floor(bounds.corruptFraction * clients);
  const dropped = Math.floor(bounds.dropoutFraction * clients);
  const k = Math.min(degree, clients - 1);
  const corruptTail = hypergeometricTails(clients - 1, corrupt, k);
  const dropTail = hypergeometricTails(clients - 1, dropped, k);
  const security = Math.min(1, clients * (corruptTail[Math.min(threshold, k + 1)] ?? 0) + disconnectionBound(clients, k, corrupt + dropped));
  // Fewer than t of the k neighbours survive: more than k − t dropped.
  const lost = k - threshold + 1;
  const correctness = Math.min(1, clients * (lost <= 0 ? 1 : (dropTail[Math.min(lost, k + 1)] ?? 0)) + disconnectionBound(clients, k, dropped));
  // An impossible failure (probability 0 by counting) is reported as 2^−1074, the smallest double, so records stay JSON numbers.
  return { securityLog2: Math.log2(Math.max(security, Number.MIN_VALUE)), correctnessLog2: Math.log2(Math.max(correctness, Number.MIN_VALUE)) };
}

const cache = new Map<string, SecAggParameters>();

/** k and t for `clients` clients under `bounds` (see the file comment); throws `invalid_config` when none exist. */
export function deriveSecAggParameters(clients: number, bounds: SecAggBounds = DEFAULT_SECAGG_BOUNDS): SecAggParameters {
  const key = `${clients}|${bounds.corruptFraction}|${bounds.dropoutFraction}|${bounds.securityBits}|${bounds.correctnessBits}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const sec = 2 ** -bounds.securityBits;
  const cor = 2 ** -bounds.correctnessBits;
  const corrupt = Math.floor(bounds.corruptFraction * clients);
  const dropped = Math.floor(bounds.dropoutFraction * clients);
  for (let k = 2; ; k += 2) {
    const degree = Math.min(k, clients - 1);
    const m = degree + 1;
    const disconnect = disconnectionBound(clients, degree, corrupt + dropped);
    if (disconnect <= sec) {
      const corruptTail = hypergeometricTails(clients - 1, corrupt, degree);
      const dropTail = hypergeometricTails(clients - 1, dropped, degree);
      const disconnectDrop = disconnectionBound(clients, degree, dropped);
      for (let t = Math.floor(m / 2) + 1; t <= m; t++) {
        if (clients * corruptTail[t] + disconnect > sec) continue;
        const lost = degree - t + 1;
        if (lost <= 0 || clients * dropTail[lost] + disconnectDrop > cor) break; // larger t only loses more
        const out: SecAggParameters = { clients, degree, threshold: t, ...failureBounds(clients, degree, t, bounds) };
        cache.set(key, out);
        return out;
      }
    }
    if (degree === clients - 1) {
      throw new FederaError(
        'invalid_config',
        `secagg: no neighbourhood and threshold keep ${clients} clients secure (≤ 2^−${bounds.securityBits}) and correct (≤ 2^−${bounds.correctnessBits}) with ${Math.round(bounds.corruptFraction * 100)} % colluding and ${Math.round(bounds.dropoutFraction * 100)} % dropping out; lower secagg.corruptFraction or secagg.dropoutFraction, or the bits`,
      );
    }
  }
}
