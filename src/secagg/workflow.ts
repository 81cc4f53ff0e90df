/**
 * The server half of secure aggregation: a {@link TrainWorkflow} of five exchanges per round
 * (six with SecAgg+, whose graph stage fixes the neighbour graph from the clients' committed values),
 * run by the same `RoundEngine` over the in-memory grid (simulation) or the WebSocket grid
 * (deployment). The server only ever holds public keys, ciphertexts it cannot open, masked
 * vectors, their running modular sum, and — after the unmasking — the self-mask seeds of the
 * survivors and the mask keys of the dropped; never both secrets of one client.
 *
 * Dropouts: a client that fails before sending its masked input is "dropped": its pairwise masks
 * are removed with its reconstructed mask key. A survivor's self mask is removed with its
 * reconstructed seed. Both need `threshold` shares from the clients that answer the unmasking;
 * when they are missing, the round is skipped with the reason and the global model is unchanged.
 *
 * The decoded sum (Σ wᵢxᵢ and Σ wᵢ) goes to the strategy as ONE result: the weighted mean update
 * with weight Σ wᵢ·maxWeight, so FedAvg and the FedOpt family apply it as they would the mean
 * of the individual updates.
 */
import type { Config, MessageBase, Metrics } from '../core/messages.js';
import { checkMetrics } from '../core/messages.js';
import { FederaError, describeError } from '../core/errors.js';
import { findNonFinite } from '../core/kernels.js';
import { MASKED_METRICS_CONFIG_KEY, MetricsMean, SECURE_NOISE_CONFIG, type SecureSumNoise, type SecureSumResult } from '../strategy/strategy.js';
import type { ClientFailure, ExchangeOutcome } from '../engine/exchange.js';
import type { RoundEvent } from '../core/records.js';
import { clientSeed, skipCode, type RoundContext, type TrainRoundOutcome, type TrainWorkflow } from '../engine/workflow.js';
import { completeGraph, graphCommitment, graphSeed, isConnected, seededHararyGraph, type NeighbourGraph } from './graph.js';
import { MAX_METRIC_RANGE, METRIC_RANGE, accumulateMasked, decodeSum, discreteNoiseFor, encodingFor, isMasked, maskedBytes, noisyQuantizedEncodingFor, quantizedEncodingFor, type EncodingParams } from './encoding.js';
import { rotatedLength, unrotate } from '../compress/hadamard.js';
import { KEY_BYTES, SEED_BYTES, KeyAgreement, accumulateMasks, deriveKey, equalBytes, generateKeyPair, secureRandom, seedCommitment, x25519PublicKey } from './primitives.js';
import { toHex } from '../wire/crypto.js';
import { isValidShare, lagrangeAtZero, reconstructSecret } from './shamir.js';
import {
  SECAGG_MESSAGES as M,
  GRAPH_COMMITMENT_BYTES,
  GRAPH_REVEAL_BYTES,
  KEY_SHARE_BYTES,
  SEED_SHARE_BYTES,
  SHARE_CIPHERTEXT_BYTES,
  checkSecAggSettings,
  resolveSecAgg,
  type ResolvedSecAgg,
  type SecAggSettings,
  type SecAggStage,
} from './protocol.js';

/** The decoded result of a secure round, for callers that want it (tests, benchmarks). */
export interface SecAggRoundResult {
  round: number;
  /** Clients whose inputs are in the sum. */
  contributors: string[];
  /** Σ wᵢ·clip(xᵢ) per coordinate, decoded. */
  sum: Float64Array;
  /** Σ wᵢ. */
  weight: number;
  encoding: EncodingParams;
  /** Rotation + quantization: the round's rotation and the decoded sum in the rotated basis (before the inverse rotation). */
  rotation?: { block: number; seed: number; sum: Float64Array };
}

/**
 * The uplink pipeline `rotate,quantize:b` under secure aggregation: every client rotates its
 * update with the round's rotation (one seed per round, announced at setup) and the secure sum's
 * fixed-point encoding is the b-bit stochastic quantizer, so the masked integers are the codes.
 */
export interface SecAggQuantizedUplink {
  /** Quantizer bits b ∈ {1, 2, 4, 8}. */
  bits: number;
  /** Hadamard rotation block (a power of two). */
  block: number;
}

export interface SecAggWorkflowOptions extends SecAggSettings {
  /** Rotation + stochastic quantization of the updates (compression.uplink "rotate,quantize:b"). */
  quantize?: SecAggQuantizedUplink;
  /** Called with every completed round's decoded sum (never with an individual input). */
  onResult?: (result: SecAggRoundResult) => void;
}

interface StageRecord {
  sent: number;
  answered: number;
  failed: string[];
}

function bad(where: string, what: string): FederaError {
  return new FederaError('malformed_message', `${where}: ${what}`);
}

function checkReplyHeader(reply: MessageBase, type: string, ctx: RoundContext, where: string): Record<string, unknown> {
  if (reply.type !== type) throw bad(where, `expected type "${type}", got "${reply.type}"`);
  if (reply.runId !== ctx.runId || reply.round !== ctx.round) throw bad(where, `is for run ${reply.runId} round ${reply.round}, expected run ${ctx.runId} round ${ctx.round}`);
  return reply as unknown as Record<string, unknown>;
}

function idList(body: Record<string, unknown>, key: string, where: string, allowed: ReadonlySet<string>): string[] {
  const v = body[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(where, `${key} must be a list of client ids`);
  if (new Set(v).size !== v.length) throw bad(where, `${key} names a client twice`);
  for (const id of v as string[]) if (!allowed.has(id)) throw bad(where, `${key} names ${JSON.stringify(id)}, which is not expected here`);
  return v as string[];
}

function byteField(body: Record<string, unknown>, key: string, where: string, length: number): Uint8Array {
  const v = body[key];
  if (!(v instanceof Uint8Array)) throw bad(where, `${key} must be bytes`);
  if (v.length !== length) throw bad(where, `${key} has ${v.length} bytes, expected ${length}`);
  return v;
}

/** The discrete noise a round's train config asks for (SECURE_NOISE_CONFIG), if any. */
function secureNoiseOf(config: Config): { clipNorm: number; std: number } | undefined {
  const clipNorm = config[SECURE_NOISE_CONFIG.clipNorm];
  const std = config[SECURE_NOISE_CONFIG.std];
  if (clipNorm === undefined && std === undefined) return undefined;
  if (typeof clipNorm !== 'number' || !(clipNorm > 0) || !Number.isFinite(clipNorm)) throw new FederaError('invalid_config', `config.${SECURE_NOISE_CONFIG.clipNorm} must be a finite number > 0, got ${JSON.stringify(clipNorm)}`);
  if (typeof std !== 'number' || !(std >= 0) || !Number.isFinite(std)) throw new FederaError('invalid_config', `config.${SECURE_NOISE_CONFIG.std} must be a finite number ≥ 0, got ${JSON.stringify(std)}`);
  return { clipNorm, std };
}

/**
 * The metrics a round's train config asks to sum under the masks (MASKED_METRICS_CONFIG_KEY): a
 * comma-separated list of `name` or `name:range` (the range a value is clipped to; default
 * METRIC_RANGE). `ranges` is undefined when every metric takes the default.
 */
function maskedMetrics(config: Config): { names: string[]; ranges?: number[] } {
  const v = config[MASKED_METRICS_CONFIG_KEY];
  if (v === undefined) return { names: [] };
  if (typeof v !== 'string') throw new FederaError('invalid_config', `config.${MASKED_METRICS_CONFIG_KEY} must be a comma-separated list of metric names`);
  const byName = new Map<string, number>();
  for (const entry of v.split(',').map((n) => n.trim()).filter((n) => n.length > 0)) {
    const [name, rangeText] = entry.split(':');
    const range = rangeText === undefined ? METRIC_RANGE : Number(rangeText);
    if (!(range > 0 && range <= MAX_METRIC_RANGE)) throw new FederaError('invalid_config', `config.${MASKED_METRICS_CONFIG_KEY}: the range of "${name}" must be a number in (0, 2^40], got ${JSON.stringify(rangeText)}`);
    byName.set(name, Math.max(byName.get(name) ?? 0, range));
  }
  const names = [...byName.keys()];
  const ranges = names.map((n) => byName.get(n)!);
  return ranges.every((r) => r === METRIC_RANGE) ? { names } : { names, ranges };
}

/** Means of the metrics summed under the masks, for a strategy that takes the mean only. */
function maskedMeans(names: readonly string[], sums: readonly number[], count: number): Metrics {
  const out: Metrics = {};
  names.forEach((name, k) => (out[name] = sums[k] / count));
  return out;
}
/** Rounds a client that withheld its graph reveal is left out: doubling per offence, at most this many. */
const MAX_WITHHOLD_PENALTY = 64;

type Shares = Array<{ x: number; share: Uint8Array }>;

/**
 * Everything one round knows, filled in stage by stage: the settings resolved for its clients,
 * the bookkeeping every stage adds to (failures, stage records, events), and what each stage
 * hands the next (keys, the graph, ciphertexts, the masked sum, the unmasking shares).
 */
interface SecAggRound {
  readonly ctx: RoundContext;
  readonly options: SecAggWorkflowOptions;
  readonly selected: string[];
  /** Clients left out for withholding a graph reveal in a recent round. */
  readonly penalised: string[];
  /** The clients taking part, sorted; index.get(id) is each one's Shamir x-coordinate. */
  readonly clients: string[];
  readonly index: Map<string, number>;
  readonly n: number;
  /** Model length d, and the masked vector's length: weight, d coordinates, masked metrics. */
  readonly d: number;
  readonly total: number;
  readonly waitFor: number;
  readonly plan: ResolvedSecAgg;
  readonly t: number;
  readonly plus: boolean;
  readonly encoding: EncodingParams;
  /** Rotation + quantization: the round's rotation (the seed is public) and the rotated length. */
  readonly rotation?: { block: number; seed: number; length: number };
  /** Discrete noise the clients add to their codes (a stage asked for it in the round's config). */
  readonly noise?: SecureSumNoise;
  readonly config: Config;
  /** Per-client values a stage asked to sum (DP's clipping indicator): they travel under the masks, not in the clear. */
  readonly secureMetrics: string[];
  readonly maxWeight: number;
  readonly weighting: 'examples' | 'uniform';
  /** Complete for SecAgg; SecAgg+ replaces it after the graph stage, from the clients' revealed values. */
  graph: NeighbourGraph;
  readonly failed: ClientFailure[];
  readonly stages: Partial<Record<SecAggStage, StageRecord>>;
  readonly events: RoundEvent[];
  /** Selected clients whose masked inputs were not waited for (over-selection): dropped and unmasked as dropouts are. */
  readonly overSelected: string[];
  // Setup (advertise keys).
  readonly encKeys: Map<string, Uint8Array>;
  readonly maskKeys: Map<string, Uint8Array>;
  readonly graphCommitments: Map<string, Uint8Array>;
  u1: Set<string>;
  // SecAgg+ graph stage.
  readonly reveals: Map<string, Uint8Array>;
  participants: string[];
  // Share keys: inbox[to] = Map(from → ciphertext), and each sender's self-mask seed commitment.
  readonly inbox: Map<string, Map<string, Uint8Array>>;
  readonly seedCommitments: Map<string, Uint8Array>;
  u2: Set<string>;
  // Verify shares: the clients that mask.
  u2v: Set<string>;
  // Masked input: the running modular sum and its contributors.
  readonly sum: Uint32Array;
  readonly metrics: MetricsMean;
  readonly peersOf: Map<string, string[]>;
  u3: Set<string>;
  droppedAfterSharing: string[];
  // Unmasking.
  readonly seedShares: Map<string, Shares>;
  readonly keyShares: Map<string, Shares>;
  unmaskAnswers: number;
}

/** A stage either lets the round go on (undefined) or ends it with this outcome. */
type StageResult = TrainRoundOutcome | undefined;

function emptyOutcome(selected: string[]) {
  return { selected, succeeded: [] as string[], failed: [] as ClientFailure[], dropped: [] as string[] };
}

/** Runs one exchange of stage `stage`, recording its failures and its stage record; returns the clients that answered. */
async function exchangeStage(
  r: SecAggRound,
  stage: SecAggStage,
  requests: Array<{ clientId: string; message: MessageBase }>,
  onReply: (clientId: string, reply: MessageBase) => void | Promise<void>,
): Promise<string[]> {
  const deadline = r.options.stageTimeoutMs?.[stage];
  // Over-selection: the masked-input stage closes after the first `waitFor` inputs.
  const stopAfter = stage === 'masked' && r.waitFor < requests.length ? { stopAfter: r.waitFor } : {};
  const out: ExchangeOutcome = await r.ctx.exchange(requests, onReply, { ...(deadline !== undefined ? { timeoutMs: deadline } : {}), ...stopAfter });
  if (stage === 'masked') r.overSelected.push(...out.dropped);
  for (const f of out.failures) r.failed.push({ clientId: f.clientId, code: f.code, reason: `secagg ${stage}: ${f.reason}` });
  r.stages[stage] = { sent: requests.length, answered: out.succeeded.length, failed: out.failures.map((f) => f.clientId).sort() };
  return out.succeeded;
}

/** The round's `secagg` event. */
function summary(r: SecAggRound, contributors: number) {
  const { plan } = r;
  return {
    kind: 'secagg',
    message: `secure aggregation (${plan.mode}, threshold ${r.t} of ${plan.neighbourhood}): ${contributors} of ${r.n} inputs summed`,
    mode: plan.mode,
    threshold: r.t,
    neighbourhood: plan.neighbourhood,
    // Bounds on P(insecure) and P(round fails) under secagg.corruptFraction / dropoutFraction (parameters.ts).
    securityLog2: plan.securityLog2,
    correctnessLog2: plan.correctnessLog2,
    stages: r.stages,
  };
}

function abort(r: SecAggRound, stage: SecAggStage, why: string, code?: string): TrainRoundOutcome {
  return {
    ...emptyOutcome(r.selected),
    failed: r.failed,
    status: 'skipped',
    ...(code ? { code } : {}),
    reason: `secure aggregation aborted at stage "${stage}": ${why}`,
    events: [...r.events, summary(r, 0)],
  };
}

/** The header every request of the round carries. */
function header(r: SecAggRound, type: string): MessageBase {
  return { type, runId: r.ctx.runId, round: r.ctx.round };
}

/** Neighbours of `id` within `alive`. */
function within(r: SecAggRound, id: string, alive: ReadonlySet<string>): string[] {
  return r.graph.get(id)!.filter((o) => alive.has(o));
}

/** Drops clients whose neighbourhood in `alive` is smaller than t, until none is. */
function prune(r: SecAggRound, alive: Set<string>, stage: SecAggStage): void {
  for (let changed = true; changed; ) {
    changed = false;
    for (const id of [...alive]) {
      if (within(r, id, alive).length + 1 < r.t) {
        alive.delete(id);
        r.failed.push({ clientId: id, code: 'secagg_too_few_neighbours', reason: `secagg ${stage}: fewer than ${r.t} of its neighbourhood remain; its secrets could not be reconstructed` });
        changed = true;
      }
    }
  }
}

/** Clients a stage needs at least: t to reconstruct, and the engine's minimum results. */
function quorum(r: SecAggRound): number {
  return Math.max(r.t, r.ctx.minResults);
}

/**
 * Stage 1, setup: announces the round's parameters and collects each client's two public keys
 * (and, SecAgg+, its graph commitment).
 */
async function advertiseKeys(r: SecAggRound): Promise<void> {
  const { ctx, encoding } = r;
  const seenKeys = new Set<string>();
  // A low-order public key would make every neighbour's key agreement fail: refuse it here.
  const probe = new KeyAgreement(generateKeyPair(secureRandom));
  const answered = await exchangeStage(
    r,
    'setup',
    r.clients.map((clientId) => ({
      clientId,
      message: {
        ...header(r, M.setup),
        index: r.index.get(clientId)!,
        threshold: r.t,
        vectorLength: r.d + 1,
        bits: encoding.bits,
        clipRange: encoding.clipRange,
        scale: encoding.scale,
        weightScale: encoding.weightScale,
        metricScale: encoding.metricScale,
        secureMetrics: r.secureMetrics,
        ...(encoding.metricRanges ? { secureMetricRanges: encoding.metricRanges } : {}),
        maxWeight: r.maxWeight,
        weighting: r.weighting,
        ...(r.plus ? { graphDegree: r.plan.degree } : {}),
        ...(r.rotation ? { quantizeBits: encoding.quantize!.bits, rotateBlock: r.rotation.block, rotateSeed: r.rotation.seed } : {}),
        ...(encoding.noise ? { noiseLambda: encoding.noise.lambda, noiseL2Bound: encoding.noise.l2Bound, noiseRoundingBound: encoding.noise.roundingBound } : {}),
      } as MessageBase,
    })),
    async (clientId, reply) => {
      const where = `secagg keys from client ${clientId}`;
      const b = checkReplyHeader(reply, M.keys, ctx, where);
      const e = byteField(b, 'encryptionKey', where, KEY_BYTES);
      const m = byteField(b, 'maskKey', where, KEY_BYTES);
      await probe.sharedSecret(e, `${where}: encryptionKey`);
      await probe.sharedSecret(m, `${where}: maskKey`);
      const he = toHex(e);
      const hm = toHex(m);
      if (he === hm || seenKeys.has(he) || seenKeys.has(hm)) throw bad(where, 'a public key repeats another key of this round');
      seenKeys.add(he).add(hm);
      if (r.plus) r.graphCommitments.set(clientId, byteField(b, 'graphCommitment', where, GRAPH_COMMITMENT_BYTES).slice());
      r.encKeys.set(clientId, e.slice());
      r.maskKeys.set(clientId, m.slice());
    },
  );
  r.u1 = new Set(answered);
}

/**
 * SecAgg+ graph stage: commit-reveal of the graph seed. Every commitment is fixed (setup) before
 * any value is revealed; the seed hashes all of them. A missing or wrong reveal stops the round: a
 * seed over the others' values alone would let whoever withholds (a colluder, or the server
 * dropping a reply) pick among several graphs. Those who withheld are recorded in `withheld`.
 */
async function revealGraph(r: SecAggRound, withheld: Map<string, { offences: number; until: number }>): Promise<StageResult> {
  const { ctx } = r;
  const participants = (r.participants = [...r.u1].sort());
  if (participants.length < quorum(r)) return abort(r, 'setup', `${participants.length} client(s) advertised keys; at least ${quorum(r)} needed`);
  const commitments = new Uint8Array(GRAPH_COMMITMENT_BYTES * participants.length);
  participants.forEach((id, k) => commitments.set(r.graphCommitments.get(id)!, GRAPH_COMMITMENT_BYTES * k));
  const revealed = await exchangeStage(
    r,
    'graph',
    participants.map((clientId) => ({ clientId, message: { ...header(r, M.graph), participants, commitments, graphDegree: r.plan.degree } as MessageBase })),
    (clientId, reply) => {
      const where = `secagg graph reveal from client ${clientId}`;
      const b = checkReplyHeader(reply, M.graphReveal, ctx, where);
      const v = byteField(b, 'reveal', where, GRAPH_REVEAL_BYTES);
      if (!equalBytes(graphCommitment(v, ctx.runId, ctx.round, clientId), r.graphCommitments.get(clientId)!)) throw bad(where, 'the revealed value does not match its commitment');
      r.reveals.set(clientId, v.slice());
    },
  );
  const missing = participants.filter((id) => !revealed.includes(id) || !r.reveals.has(id));
  if (missing.length) {
    for (const id of missing) {
      const w = withheld.get(id);
      const offences = (w?.offences ?? 0) + 1;
      withheld.set(id, { offences, until: ctx.round + Math.min(MAX_WITHHOLD_PENALTY, 2 ** (offences - 1)) });
    }
    return abort(r, 'graph', `${missing.join(', ')} did not reveal their committed graph value; the graph seed would depend on who withholds, so no graph is drawn this round (left out of the next round(s))`, 'secagg_graph_withheld');
  }
  r.graph = seededHararyGraph(participants, r.plan.degree, graphSeed(ctx.runId, ctx.round, participants, r.reveals));
  return undefined;
}

/**
 * Stage 2, share keys: each client gets its neighbours' public keys and answers with one share
 * ciphertext per neighbour and a commitment to its self-mask seed.
 */
async function shareKeys(r: SecAggRound): Promise<StageResult> {
  const { ctx, u1 } = r;
  // SecAgg+: every participant's revealed value, in participant order, so that each client checks the commitments and derives the graph.
  const revealBytes = new Uint8Array(GRAPH_REVEAL_BYTES * r.participants.length);
  r.participants.forEach((id, k) => revealBytes.set(r.reveals.get(id) ?? new Uint8Array(GRAPH_REVEAL_BYTES), GRAPH_REVEAL_BYTES * k));
  const answered = await exchangeStage(
    r,
    'share',
    [...u1].map((clientId) => {
      const peers = within(r, clientId, u1);
      const e = new Uint8Array(KEY_BYTES * peers.length);
      const m = new Uint8Array(KEY_BYTES * peers.length);
      peers.forEach((p, k) => (e.set(r.encKeys.get(p)!, KEY_BYTES * k), m.set(r.maskKeys.get(p)!, KEY_BYTES * k)));
      return { clientId, message: { ...header(r, M.share), peers, indices: Int32Array.from(peers, (p) => r.index.get(p)!), encryptionKeys: e, maskKeys: m, ...(r.plus ? { reveals: revealBytes } : {}) } as MessageBase };
    }),
    (clientId, reply) => {
      const where = `secagg shares from client ${clientId}`;
      const b = checkReplyHeader(reply, M.shares, ctx, where);
      const expected = new Set(within(r, clientId, u1));
      const to = idList(b, 'recipients', where, expected);
      if (to.length !== expected.size) throw bad(where, `holds ciphertexts for ${to.length} of its ${expected.size} neighbours`);
      const cts = byteField(b, 'ciphertexts', where, SHARE_CIPHERTEXT_BYTES * to.length);
      r.seedCommitments.set(clientId, byteField(b, 'seedCommitment', where, 32).slice());
      to.forEach((rcpt, k) => {
        let box = r.inbox.get(rcpt);
        if (!box) r.inbox.set(rcpt, (box = new Map()));
        box.set(clientId, cts.slice(SHARE_CIPHERTEXT_BYTES * k, SHARE_CIPHERTEXT_BYTES * (k + 1)));
      });
    },
  );
  r.u2 = new Set(answered);
  prune(r, r.u2, 'share');
  if (r.u2.size < quorum(r)) return abort(r, 'share', `${r.u2.size} client(s) shared their keys; at least ${quorum(r)} needed`);
  return undefined;
}

/**
 * Stage 3, verify shares (the consistency check before masking): each client opens the
 * ciphertexts addressed to it and names the senders whose shares do not decrypt; those senders are
 * excluded before anyone masks with them.
 */
async function verifyShares(r: SecAggRound): Promise<StageResult> {
  const { ctx, u2 } = r;
  const complaints = new Map<string, string[]>();
  const sendersOf = new Map<string, Set<string>>();
  const answered = await exchangeStage(
    r,
    'verify',
    [...u2].map((clientId) => {
      const senders = within(r, clientId, u2);
      sendersOf.set(clientId, new Set(senders));
      const box = r.inbox.get(clientId)!;
      const cts = new Uint8Array(SHARE_CIPHERTEXT_BYTES * senders.length);
      senders.forEach((p, k) => cts.set(box.get(p)!, SHARE_CIPHERTEXT_BYTES * k));
      return { clientId, message: { ...header(r, M.verify), senders, ciphertexts: cts } as MessageBase };
    }),
    (clientId, reply) => {
      const where = `secagg share verification from client ${clientId}`;
      const b = checkReplyHeader(reply, M.verifyResult, ctx, where);
      const c = idList(b, 'complaints', where, sendersOf.get(clientId)!);
      if (c.length) complaints.set(clientId, c);
    },
  );
  const u2v = (r.u2v = new Set(answered));
  const accused = new Map<string, string[]>();
  for (const [by, about] of complaints) {
    if (!u2v.has(by)) continue;
    r.events.push({ kind: 'secagg-complaint', clientId: by, message: `client ${by} could not decrypt or parse the shares of ${about.join(', ')}`, about });
    for (const a of about) accused.set(a, [...(accused.get(a) ?? []), by]);
  }
  for (const [id, by] of accused) {
    if (!u2v.delete(id)) continue;
    r.failed.push({ clientId: id, code: 'secagg_bad_shares', reason: `secagg verify: excluded before masking; its share ciphertexts for ${by.join(', ')} did not decrypt to valid shares` });
  }
  prune(r, u2v, 'verify');
  if (u2v.size < quorum(r)) return abort(r, 'verify', `${u2v.size} client(s) remain with verified shares; at least ${quorum(r)} needed`);
  // Masks cancel only within a connected part: over a disconnected graph the server would learn each part's sum.
  if (!isConnected(r.graph, u2v)) return abort(r, 'verify', `the ${u2v.size} clients left before masking form a disconnected neighbour graph; the server could learn the sum of each part`, 'secagg_disconnected');
  return undefined;
}

/** Stage 4, masked input: each client trains, encodes and masks; the server adds what arrives. */
async function collectMaskedInputs(r: SecAggRound): Promise<StageResult> {
  const { ctx, u2v, encoding, total } = r;
  const answered = await exchangeStage(
    r,
    'masked',
    [...u2v].map((clientId) => {
      const peers = within(r, clientId, u2v);
      r.peersOf.set(clientId, peers);
      return { clientId, message: { ...header(r, M.masked), params: ctx.global.data, config: { ...r.config, seed: clientSeed(ctx.rng, clientId) }, peers } as MessageBase };
    }),
    (clientId, reply) => {
      const where = `secagg masked input from client ${clientId}`;
      const b = checkReplyHeader(reply, M.maskedResult, ctx, where);
      const y = b.masked;
      if (!isMasked(y, encoding, total, r.secureMetrics.length)) {
        throw bad(
          where,
          encoding.quantize
            ? `masked must be ${maskedBytes(encoding, total, r.secureMetrics.length)} bytes (${1 + r.secureMetrics.length} 32-bit values and ${total - 1 - r.secureMetrics.length} codes of ${encoding.bits} bits)`
            : encoding.bits === 32
              ? `masked must be a Uint32Array of ${total} values`
              : `masked must be ${maskedBytes(encoding, total, 0)} bytes (${total} values of ${encoding.bits} bits)`,
        );
      }
      for (const name of r.secureMetrics) if ((b.metrics as Metrics | undefined)?.[name] !== undefined) throw bad(where, `metric "${name}" must travel masked, not in the clear`);
      checkMetrics(b.metrics, where);
      // Bits above 2^bits are ignored by the final reduction, so no value check is needed.
      accumulateMasked(r.sum, y as Uint32Array | Uint8Array, encoding, r.secureMetrics.length);
      r.metrics.add(b.metrics as Metrics, 1);
    },
  );
  const u3 = (r.u3 = new Set(answered));
  if (u3.size < Math.max(ctx.minResults, 1)) return abort(r, 'masked', `${u3.size} masked input(s) arrived; at least ${Math.max(ctx.minResults, 1)} needed`);
  r.droppedAfterSharing = [...u2v].filter((id) => !u3.has(id)).sort();
  for (const id of u3) {
    const alive = r.peersOf.get(id)!.filter((p) => u3.has(p)).length + 1;
    if (alive < r.t) return abort(r, 'masked', `only ${alive} of client ${id}'s neighbourhood sent masked inputs; ${r.t} are needed to unmask (more than ${r.plan.neighbourhood - r.t} dropped)`);
  }
  // The survivors' graph must be connected too: otherwise unmasking reveals the sum of each component.
  if (!isConnected(r.graph, u3)) return abort(r, 'masked', `the ${u3.size} clients whose masked inputs arrived form a disconnected neighbour graph; unmasking would reveal the sum of each component`, 'secagg_disconnected');
  return undefined;
}

/**
 * Stage 5, unmasking: each survivor sends its shares of the survivors' self-mask seeds and of the
 * dropped clients' mask keys (never both for one client).
 */
async function collectUnmaskingShares(r: SecAggRound): Promise<void> {
  const { ctx, u3 } = r;
  const asked = new Map<string, { survivors: Set<string>; dropped: Set<string> }>();
  // SecAgg+: every survivor, so that each client checks the survivors' graph is connected.
  const allSurvivors = [...u3].sort();
  const answered = await exchangeStage(
    r,
    'unmask',
    [...u3].map((clientId) => {
      const peers = r.peersOf.get(clientId)!;
      const survivors = [clientId, ...peers.filter((p) => u3.has(p))].sort();
      const dropped = peers.filter((p) => !u3.has(p));
      asked.set(clientId, { survivors: new Set(survivors), dropped: new Set(dropped) });
      return { clientId, message: { ...header(r, M.unmask), survivors, dropped, ...(r.plus ? { allSurvivors } : {}) } as MessageBase };
    }),
    (clientId, reply) => {
      const where = `secagg unmasking shares from client ${clientId}`;
      const b = checkReplyHeader(reply, M.unmaskResult, ctx, where);
      const a = asked.get(clientId)!;
      const sOf = idList(b, 'seedShareOf', where, a.survivors);
      const kOf = idList(b, 'keyShareOf', where, a.dropped);
      const s = byteField(b, 'seedShares', where, SEED_SHARE_BYTES * sOf.length);
      const k = byteField(b, 'keyShares', where, KEY_SHARE_BYTES * kOf.length);
      const parts = (ids: string[], bytes: Uint8Array, size: number, secretBytes: number) =>
        ids.map((id, j) => {
          const share = bytes.slice(size * j, size * (j + 1));
          if (!isValidShare(share, secretBytes)) throw bad(where, `the share of ${id}'s secret holds a value outside the field`);
          return { id, share };
        });
      // Validate everything before storing anything: a rejected reply leaves no partial state.
      const sp = parts(sOf, s, SEED_SHARE_BYTES, SEED_BYTES);
      const kp = parts(kOf, k, KEY_SHARE_BYTES, KEY_BYTES);
      const x = r.index.get(clientId)!;
      for (const { id, share } of sp) (r.seedShares.get(id) ?? r.seedShares.set(id, []).get(id)!).push({ x, share });
      for (const { id, share } of kp) (r.keyShares.get(id) ?? r.keyShares.set(id, []).get(id)!).push({ x, share });
    },
  );
  r.unmaskAnswers = answered.length;
}

/** Reconstructs the survivors' self-mask seeds and the dropped clients' mask keys, and removes their masks from the sum. */
async function removeMasks(r: SecAggRound): Promise<StageResult> {
  const { ctx, t, u3 } = r;
  const lagrange = new Map<string, Uint32Array>();
  const reconstruct = (shares: Shares, bytes: number, check: (secret: Uint8Array) => boolean): Uint8Array | null => {
    // Sliding windows of t shares: a reconstruction that fails its check (a bad share) is retried without it.
    for (let start = 0; start + t <= shares.length; start++) {
      const used = shares.slice(start, start + t);
      const key = used.map((u) => u.x).join(',');
      let lambda = lagrange.get(key);
      if (!lambda) lagrange.set(key, (lambda = lagrangeAtZero(used.map((u) => u.x))));
      try {
        const secret = reconstructSecret(used, t, bytes, lambda);
        if (check(secret)) return secret;
      } catch {
        // try the next window
      }
    }
    return null;
  };
  const unmasks: Array<{ seed: Uint8Array; sign: 1 | -1 }> = [];
  for (const id of u3) {
    const shares = r.seedShares.get(id) ?? [];
    const seed = reconstruct(shares, SEED_BYTES, (s) => equalBytes(seedCommitment(s, ctx.runId, ctx.round, id), r.seedCommitments.get(id)!));
    if (!seed) return abort(r, 'unmask', `the self-mask seed of client ${id} could not be reconstructed (${shares.length} share(s) arrived, ${t} consistent ones needed); ${r.unmaskAnswers} of ${u3.size} survivors answered the unmasking`);
    unmasks.push({ seed, sign: -1 });
  }
  for (const id of r.droppedAfterSharing) {
    const neighboursAlive = r.peersOf.get(id)!.filter((p) => u3.has(p));
    if (neighboursAlive.length === 0) continue;
    const shares = r.keyShares.get(id) ?? [];
    const secretKey = reconstruct(shares, KEY_BYTES, (s) => equalBytes(x25519PublicKey(s), r.maskKeys.get(id)!));
    if (!secretKey) return abort(r, 'unmask', `the mask key of dropped client ${id} could not be reconstructed (${shares.length} share(s) arrived, ${t} consistent ones needed)`);
    const agreement = new KeyAgreement({ secretKey, publicKey: r.maskKeys.get(id)! });
    const secrets = await Promise.all(neighboursAlive.map((j) => agreement.sharedSecret(r.maskKeys.get(j)!, `secagg unmask: mask key of ${j}`)));
    // j added +mask when j sorts before id, −mask otherwise: undo it.
    neighboursAlive.forEach((j, k) => unmasks.push({ seed: deriveKey(secrets[k], 'pairwise-mask', ctx.runId, ctx.round, SEED_BYTES), sign: j < id ? -1 : 1 }));
    secretKey.fill(0);
  }
  await accumulateMasks(r.sum, unmasks);
  return undefined;
}

/** Decodes the unmasked sum and hands it to the strategy (as a secure sum, or as one mean result). */
function decodeAndAggregate(r: SecAggRound, onResult: SecAggWorkflowOptions['onResult']): TrainRoundOutcome {
  const { ctx, d, secureMetrics, maxWeight, weighting, events } = r;
  const contributors = [...r.u3].sort();
  const decoded = decodeSum(r.sum, r.encoding, secureMetrics.length, contributors.length);
  let rotated: Float64Array | undefined;
  if (r.rotation) {
    // The sum of the rotated updates is the rotation of their sum: invert it once, here.
    rotated = decoded.sum;
    const original = new Float32Array(d);
    unrotate(Float32Array.from(rotated), r.rotation.block, r.rotation.seed, original);
    decoded.sum = Float64Array.from(original);
  }
  events.push({ ...summary(r, contributors.length), droppedAfterSharing: r.droppedAfterSharing, weight: decoded.weight });
  const outcomeBase = { selected: r.selected, succeeded: contributors, failed: r.failed, dropped: [...r.overSelected].sort() };
  if (!(decoded.weight > 0)) return { ...outcomeBase, status: 'skipped', reason: `secure aggregation: the summed client weight is ${decoded.weight}; nothing to average`, events };
  onResult?.({ round: ctx.round, contributors, sum: decoded.sum, weight: decoded.weight, encoding: r.encoding, ...(r.rotation && rotated ? { rotation: { block: r.rotation.block, seed: r.rotation.seed, sum: rotated } } : {}) });
  const mean = new Float32Array(d);
  for (let i = 0; i < d; i++) mean[i] = decoded.sum[i] / decoded.weight;
  const aggregation = ctx.strategy.aggregateTrain(ctx.round, ctx.global);
  let result;
  try {
    const clear = r.metrics.result();
    if (aggregation.addSecureSum) {
      const maskedSums: Record<string, number> = {};
      secureMetrics.forEach((name, k) => (maskedSums[name] = decoded.metrics[k]));
      const secure: SecureSumResult = { sum: decoded.sum, weight: decoded.weight, weightUnit: weighting === 'uniform' ? 1 : maxWeight, weighting, contributors, metrics: clear, maskedSums, ...(r.noise ? { noise: r.noise } : {}) };
      aggregation.addSecureSum(secure);
    } else {
      // A strategy that does not know secure sums gets their mean as one result of the sum's weight.
      aggregation.add({
        clientId: 'secure-aggregate',
        update: mean,
        numExamples: Math.max(1, Math.round(weighting === 'uniform' ? decoded.weight : decoded.weight * maxWeight)),
        metrics: { ...clear, ...maskedMeans(secureMetrics, decoded.metrics, contributors.length) },
      });
    }
    result = aggregation.finish();
  } catch (e) {
    aggregation.discard?.();
    return { ...outcomeBase, status: 'skipped', code: skipCode(e, 'aggregation_failed'), reason: `aggregation of the secure sum failed: ${describeError(e)}`, events };
  }
  const badAt = findNonFinite(result.params);
  if (badAt >= 0) return { ...outcomeBase, status: 'skipped', code: 'non_finite', reason: `aggregation produced a non-finite parameter at index ${badAt}; global model kept`, events };
  return {
    ...outcomeBase,
    status: 'completed',
    params: result.params,
    metrics: result.metrics,
    ...(result.privacy ? { privacy: result.privacy } : {}),
    events: [...events, ...(result.events ?? [])],
  };
}

export class SecAggWorkflow implements TrainWorkflow {
  readonly name = 'secure-aggregation';
  private readonly o: SecAggWorkflowOptions;
  /** SecAgg+: clients that withheld their graph reveal (which aborts the round), left out until `until`. */
  private readonly withheld = new Map<string, { offences: number; until: number }>();

  constructor(options: SecAggWorkflowOptions = {}) {
    // Static checks now (threshold and stage names); the rest depends on the round's clients.
    checkSecAggSettings(options, 'secagg');
    this.o = options;
  }

  async run(ctx: RoundContext): Promise<TrainRoundOutcome> {
    const r = this.startRound(ctx);
    if ('status' in r) return r;
    await advertiseKeys(r);
    if (r.plus) {
      const ended = await revealGraph(r, this.withheld);
      if (ended) return ended;
    }
    prune(r, r.u1, 'setup');
    if (r.u1.size < quorum(r)) return abort(r, 'setup', `${r.u1.size} client(s) advertised keys; at least ${quorum(r)} needed`);
    const ended = (await shareKeys(r)) ?? (await verifyShares(r)) ?? (await collectMaskedInputs(r));
    if (ended) return ended;
    await collectUnmaskingShares(r);
    const unmaskFailed = await removeMasks(r);
    if (unmaskFailed) return unmaskFailed;
    return decodeAndAggregate(r, this.o.onResult);
  }

  /** Selects the round's clients and resolves the settings for them: the round state, or a skipped outcome. */
  private startRound(ctx: RoundContext): SecAggRound | TrainRoundOutcome {
    const { clients: selected, waitFor, reason: selectReason } = ctx.selectClients();
    const empty = emptyOutcome(selected);
    if (selected.length === 0) return { ...empty, status: 'skipped', code: 'no_clients', reason: `no clients selected: ${selectReason}` };
    // A client that withheld its graph reveal in a recent round is left out for a while: otherwise
    // one client could abort every SecAgg+ round.
    const penalised = selected.filter((id) => (this.withheld.get(id)?.until ?? 0) >= ctx.round).sort();
    const clients = selected.filter((id) => !penalised.includes(id)).sort();
    const n = clients.length;
    if (n === 0) return { ...empty, status: 'skipped', code: 'no_clients', reason: `every selected client is left out for withholding its SecAgg+ graph reveal (${penalised.join(', ')})` };
    const d = ctx.global.layout.size;
    let plan: ResolvedSecAgg;
    let encoding: EncodingParams;
    try {
      plan = resolveSecAgg(this.o, n);
      const q = this.o.quantize;
      encoding = q ? quantizedEncodingFor(q.bits, this.o.clippingRange ?? 8, n, this.o.bits ?? 32) : encodingFor(this.o.bits ?? 32, this.o.clippingRange ?? 8, n);
    } catch (e) {
      return { ...empty, status: 'skipped', reason: `secure aggregation cannot run with ${n} clients: ${describeError(e)}` };
    }
    const config: Config = ctx.strategy.configureTrain(ctx.round, ctx.global);
    let secureMetrics: string[];
    // One rotation per round for every client (a seed from the round's stream; it need not be secret).
    const q = this.o.quantize;
    const rotation = q ? { block: q.block, seed: ctx.rng.stream('secagg-rotation').nextU32(), length: rotatedLength(d, q.block) } : undefined;
    let noise: SecureSumNoise | undefined;
    try {
      const masked = maskedMetrics(config);
      secureMetrics = masked.names;
      if (masked.ranges) encoding = { ...encoding, metricRanges: masked.ranges };
      // A stage asked for discrete noise on the codes (distributed DP): Skellam, in a wider ring.
      const noiseAsk = secureNoiseOf(config);
      if (noiseAsk) {
        if (!q || !rotation) throw new FederaError('invalid_config', 'discrete noise was asked for, but it is added to the codes of rotation + quantization (compression.uplink "rotate,quantize:b"), which this secure sum does not use');
        const dn = discreteNoiseFor(noiseAsk.clipNorm, noiseAsk.std, encoding.scale, rotation.length);
        encoding = noisyQuantizedEncodingFor(q.bits, this.o.clippingRange ?? 8, n, dn, this.o.bits ?? 32);
        noise = { lambda: dn.lambda, l2Sensitivity: dn.roundingBound, l1Sensitivity: dn.l1Bound, scale: encoding.scale, clipNorm: noiseAsk.clipNorm, std: noiseAsk.std };
      }
    } catch (e) {
      return { ...empty, status: 'skipped', reason: `secure aggregation: ${describeError(e)}` };
    }
    const total = (rotation ? rotation.length : d) + 1 + secureMetrics.length;
    const failed: ClientFailure[] = penalised.map((id) => ({ clientId: id, code: 'secagg_withheld_reveal', reason: `secagg setup: left out until round ${this.withheld.get(id)!.until}: it withheld its graph reveal in an earlier round` }));
    return {
      ctx,
      options: this.o,
      selected,
      penalised,
      clients,
      index: new Map(clients.map((id, i) => [id, i + 1])),
      n,
      d,
      total,
      waitFor,
      plan,
      t: plan.threshold,
      plus: plan.mode === 'secagg+',
      encoding,
      ...(rotation ? { rotation } : {}),
      ...(noise ? { noise } : {}),
      config,
      secureMetrics,
      maxWeight: this.o.maxWeight ?? 1000,
      weighting: this.o.weighting ?? 'examples',
      graph: completeGraph(clients),
      failed,
      stages: {},
      events: [],
      overSelected: [],
      encKeys: new Map(),
      maskKeys: new Map(),
      graphCommitments: new Map(),
      u1: new Set(),
      reveals: new Map(),
      participants: [],
      inbox: new Map(),
      seedCommitments: new Map(),
      u2: new Set(),
      u2v: new Set(),
      sum: new Uint32Array(total),
      metrics: new MetricsMean(),
      peersOf: new Map(),
      u3: new Set(),
      droppedAfterSharing: [],
      seedShares: new Map(),
      keyShares: new Map(),
      unmaskAnswers: 0,
    };
  }
}
