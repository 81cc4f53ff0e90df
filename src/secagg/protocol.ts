/**
 * The secure-aggregation messages and settings shared by both halves: five exchanges per round
 * (Bonawitz et al. 2017, with the SecAgg+ neighbour graph of Bell et al. 2020).
 *
 *   secagg_setup   → secagg_keys          advertise two X25519 public keys (encryption, masks)
 *   secagg_graph   → secagg_graph_reveal SecAgg+ only: all commitments are fixed; reveal the value
 *                                         committed at setup (the graph seed hashes all of them)
 *   secagg_share   → secagg_shares        Shamir shares of the self-mask seed and the mask key,
 *                                         one AES-GCM ciphertext per neighbour
 *   secagg_verify  → secagg_verify_result the ciphertexts addressed to the client; it complains
 *                                         about those that do not decrypt (their senders are
 *                                         excluded before anyone masks with them)
 *   secagg_masked  → secagg_masked_result train, encode, add the masks
 *   secagg_unmask  → secagg_unmask_result shares of survivors' seeds and dropped clients' keys
 */
import { FederaError } from '../core/errors.js';
import { KEY_BYTES, NONCE_BYTES, SEED_BYTES, TAG_BYTES } from './primitives.js';
import { checkSecAggBounds, deriveSecAggParameters, failureBounds } from './parameters.js';

export const SECAGG_MESSAGES = {
  setup: 'secagg_setup',
  keys: 'secagg_keys',
  share: 'secagg_share',
  shares: 'secagg_shares',
  /** SecAgg+ only: the round's participants and their commitments; the client reveals its graph value. */
  graph: 'secagg_graph',
  graphReveal: 'secagg_graph_reveal',
  verify: 'secagg_verify',
  verifyResult: 'secagg_verify_result',
  masked: 'secagg_masked',
  maskedResult: 'secagg_masked_result',
  unmask: 'secagg_unmask',
  unmaskResult: 'secagg_unmask_result',
} as const;

export type SecAggStage = 'setup' | 'graph' | 'share' | 'verify' | 'masked' | 'unmask';
export const SECAGG_STAGES: readonly SecAggStage[] = ['setup', 'graph', 'share', 'verify', 'masked', 'unmask'];

/** Bytes of a graph commitment (SHA-256) and of the value it commits to. */
export const GRAPH_COMMITMENT_BYTES = 32;
export const GRAPH_REVEAL_BYTES = 32;

/** Bytes of a share of the self-mask seed and of the mask secret key. */
export const SEED_SHARE_BYTES = 2 * SEED_BYTES;
export const KEY_SHARE_BYTES = 2 * KEY_BYTES;
/** One share ciphertext: nonce ‖ AES-GCM(seed share ‖ key share) ‖ tag. */
export const SHARE_PLAINTEXT_BYTES = SEED_SHARE_BYTES + KEY_SHARE_BYTES;
export const SHARE_CIPHERTEXT_BYTES = NONCE_BYTES + SHARE_PLAINTEXT_BYTES + TAG_BYTES;

export type SecAggMode = 'secagg' | 'secagg+';

/** Secure aggregation settings (config section `secagg`). */
export interface SecAggSettings {
  /** `secagg`: every client shares with every other (Bonawitz et al.); `secagg+`: a random sparse graph (Bell et al.). */
  mode?: SecAggMode;
  /** Shares needed to reconstruct a secret; SecAgg+ default: derived from the bounds (parameters.ts), else ⌈2m/3⌉ with m the neighbourhood size (itself included). Must exceed m/2. */
  threshold?: number;
  /** SecAgg+: neighbours per client (rounded up to even); default: derived from the bounds (parameters.ts). */
  neighbours?: number;
  /** SecAgg+ parameter bounds: fraction of clients colluding with the server (default 0.1). */
  corruptFraction?: number;
  /** Fraction of clients dropping out (default 0.1). */
  dropoutFraction?: number;
  /** Security failure probability ≤ 2^−securityBits per round (default 40). */
  securityBits?: number;
  /** Correctness failure probability ≤ 2^−correctnessBits per round (default 20). */
  correctnessBits?: number;
  /** Coordinates are clipped to [−c, c] before encoding (default 8). */
  clippingRange?: number;
  /** Sums live in Z_{2^bits} (default 32). */
  bits?: number;
  /** FedAvg weight of a client = min(examples / maxWeight, 1) (default 1000). */
  maxWeight?: number;
  /** `examples` (default, FedAvg) or `uniform` (every client weight 1; DP-FedAvg needs this). */
  weighting?: 'examples' | 'uniform';
  /** Deadline of each exchange in milliseconds (default: the engine's round deadline). */
  stageTimeoutMs?: Partial<Record<SecAggStage, number>>;
}

export interface ResolvedSecAgg {
  mode: SecAggMode;
  /** Neighbourhood size m, the client itself included. */
  neighbourhood: number;
  threshold: number;
  /** Neighbours per client (n − 1 for classic SecAgg). */
  degree: number;
  /** log2 of the bounds on the security and correctness failure probabilities under the stated bounds (parameters.ts). */
  securityLog2: number;
  correctnessLog2: number;
}

function boundsOf(s: SecAggSettings, where: string) {
  return checkSecAggBounds({ corruptFraction: s.corruptFraction, dropoutFraction: s.dropoutFraction, securityBits: s.securityBits, correctnessBits: s.correctnessBits }, where);
}

/** Neighbours per client for `clients` clients in this mode (itself excluded). */
export function degreeFor(s: SecAggSettings, clients: number): number {
  if ((s.mode ?? 'secagg') === 'secagg') return clients - 1;
  const k = s.neighbours ?? deriveSecAggParameters(clients, boundsOf(s, 'secagg')).degree;
  const even = 2 * Math.ceil(k / 2);
  return Math.min(clients - 1, even);
}

/** Checks the settings that do not depend on the number of clients; throws `invalid_config`. */
export function checkSecAggSettings(s: SecAggSettings, where = 'secagg'): void {
  const mode = s.mode ?? 'secagg';
  if (mode !== 'secagg' && mode !== 'secagg+') throw new FederaError('invalid_config', `${where}.mode must be "secagg" or "secagg+", got ${JSON.stringify(mode)}`);
  if (s.neighbours !== undefined && !(Number.isInteger(s.neighbours) && s.neighbours >= 2)) {
    throw new FederaError('invalid_config', `${where}.neighbours must be an integer ≥ 2, got ${s.neighbours}`);
  }
  if (s.threshold !== undefined && !(Number.isInteger(s.threshold) && s.threshold >= 2)) throw new FederaError('invalid_config', `${where}.threshold must be an integer ≥ 2, got ${s.threshold}`);
  if (s.maxWeight !== undefined && !(s.maxWeight > 0 && Number.isFinite(s.maxWeight))) throw new FederaError('invalid_config', `${where}.maxWeight must be a finite number > 0, got ${s.maxWeight}`);
  if (s.weighting !== undefined && s.weighting !== 'examples' && s.weighting !== 'uniform') throw new FederaError('invalid_config', `${where}.weighting must be "examples" or "uniform", got ${JSON.stringify(s.weighting)}`);
  if (s.clippingRange !== undefined && !(s.clippingRange > 0 && Number.isFinite(s.clippingRange))) throw new FederaError('invalid_config', `${where}.clippingRange must be a finite number > 0, got ${s.clippingRange}`);
  boundsOf(s, where);
  if (s.bits !== undefined && !(Number.isInteger(s.bits) && s.bits >= 2 && s.bits <= 32)) throw new FederaError('invalid_config', `${where}.bits must be an integer in [2, 32], got ${s.bits}`);
  for (const [stage, ms] of Object.entries(s.stageTimeoutMs ?? {})) {
    if (!(SECAGG_STAGES as readonly string[]).includes(stage)) throw new FederaError('invalid_config', `${where}.stageTimeoutMs: unknown stage "${stage}" (stages: ${SECAGG_STAGES.join(', ')})`);
    if (!(typeof ms === 'number' && ms > 0 && Number.isFinite(ms))) throw new FederaError('invalid_config', `${where}.stageTimeoutMs.${stage} must be a number > 0, got ${String(ms)}`);
  }
}

/** Threshold and neighbourhood for a round of `clients`; throws `invalid_config` naming what is wrong. */
export function resolveSecAgg(s: SecAggSettings, clients: number, where = 'secagg'): ResolvedSecAgg {
  checkSecAggSettings(s, where);
  const mode = s.mode ?? 'secagg';
  if (!Number.isInteger(clients) || clients < 2) throw new FederaError('invalid_config', `${where}: secure aggregation needs at least 2 clients per round, got ${clients}`);
  if (clients > 65520) throw new FederaError('invalid_config', `${where}: at most 65520 clients per round (Shamir x-coordinates live in GF(65521)), got ${clients}`);
  const degree = degreeFor(s, clients);
  const m = degree + 1;
  const derived = mode === 'secagg+' && s.neighbours === undefined ? deriveSecAggParameters(clients, boundsOf(s, where)) : undefined;
  const t = s.threshold ?? derived?.threshold ?? Math.ceil((2 * m) / 3);
  if (t > m) throw new FederaError('invalid_config', `${where}.threshold = ${t} exceeds the ${m} shares each secret is split into (${mode === 'secagg' ? `${clients} clients per round` : `${degree} neighbours + the client itself`})`);
  if (2 * t <= m) throw new FederaError('invalid_config', `${where}.threshold = ${t} must exceed half of the ${m} shares; otherwise two disjoint groups could each reconstruct a client's secrets`);
  return { mode, neighbourhood: m, threshold: t, degree, ...failureBounds(clients, degree, t, boundsOf(s, where)) };
}
