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
import { MASKED_METRICS_CONFIG_KEY, MetricsMean, type SecureSumResult } from '../strategy/strategy.js';
import type { ClientFailure, ExchangeOutcome } from '../engine/exchange.js';
import type { RoundEvent } from '../core/records.js';
import { clientSeed, skipCode, type RoundContext, type TrainRoundOutcome, type TrainWorkflow } from '../engine/workflow.js';
import { completeGraph, graphCommitment, graphSeed, isConnected, seededHararyGraph, type NeighbourGraph } from './graph.js';
import { accumulatePacked, decodeSum, encodingFor, isPacked, packedBytes, type EncodingParams } from './encoding.js';
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
}

export interface SecAggWorkflowOptions extends SecAggSettings {
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

/** The metric names a round's train config asks to sum under the masks (MASKED_METRICS_CONFIG_KEY). */
function maskedMetricNames(config: Config): string[] {
  const v = config[MASKED_METRICS_CONFIG_KEY];
  if (v === undefined) return [];
  if (typeof v !== 'string') throw new FederaError('invalid_config', `config.${MASKED_METRICS_CONFIG_KEY} must be a comma-separated list of metric names`);
  return [...new Set(v.split(',').map((n) => n.trim()).filter((n) => n.length > 0))];
}

/** Means of the metrics summed under the masks, for a strategy that takes the mean only. */
function maskedMeans(names: readonly string[], sums: readonly number[], count: number): Metrics {
  const out: Metrics = {};
  names.forEach((name, k) => (out[name] = sums[k] / count));
  return out;
}

/** Rounds a client that withheld its graph reveal is left out: doubling per offence, at most this many. */
const MAX_WITHHOLD_PENALTY = 64;

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
    const { clients: selected, waitFor, reason: selectReason } = ctx.selectClients();
    const empty = { selected, succeeded: [] as string[], failed: [] as ClientFailure[], dropped: [] as string[] };
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
      encoding = encodingFor(this.o.bits ?? 32, this.o.clippingRange ?? 8, n);
    } catch (e) {
      return { ...empty, status: 'skipped', reason: `secure aggregation cannot run with ${n} clients: ${describeError(e)}` };
    }
    const t = plan.threshold;
    const config: Config = ctx.strategy.configureTrain(ctx.round, ctx.global);
    // Per-client values a stage asked to sum (DP's clipping indicator) travel under the masks, not in the clear.
    let secureMetrics: string[];
    try {
      secureMetrics = maskedMetricNames(config);
    } catch (e) {
      return { ...empty, status: 'skipped', reason: describeError(e) };
    }
    const total = d + 1 + secureMetrics.length;
    // SecAgg+: the graph is fixed after the graph stage, from the clients' revealed values.
    const plus = plan.mode === 'secagg+';
    let graph: NeighbourGraph = completeGraph(clients);
    const index = new Map(clients.map((id, i) => [id, i + 1]));
    const maxWeight = this.o.maxWeight ?? 1000;
    const weighting = this.o.weighting ?? 'examples';
    const failed: ClientFailure[] = penalised.map((id) => ({ clientId: id, code: 'secagg_withheld_reveal', reason: `secagg setup: left out until round ${this.withheld.get(id)!.until}: it withheld its graph reveal in an earlier round` }));
    const stages: Partial<Record<SecAggStage, StageRecord>> = {};
    const events: RoundEvent[] = [];
    const timeout = (stage: SecAggStage) => (this.o.stageTimeoutMs?.[stage] !== undefined ? { timeoutMs: this.o.stageTimeoutMs[stage] } : {});
    // Over-selection: every selected client takes part in the key stages, and the masked-input stage
    // closes after the first `waitFor` inputs; the rest are dropped and unmasked as dropouts are.
    const overSelected: string[] = [];
    const run = async (stage: SecAggStage, requests: Array<{ clientId: string; message: MessageBase }>, onReply: (clientId: string, reply: MessageBase) => void | Promise<void>): Promise<string[]> => {
      const stopAfter = stage === 'masked' && waitFor < requests.length ? { stopAfter: waitFor } : {};
      const out: ExchangeOutcome = await ctx.exchange(requests, onReply, { ...timeout(stage), ...stopAfter });
      if (stage === 'masked') overSelected.push(...out.dropped);
      for (const f of out.failures) failed.push({ clientId: f.clientId, code: f.code, reason: `secagg ${stage}: ${f.reason}` });
      stages[stage] = { sent: requests.length, answered: out.succeeded.length, failed: out.failures.map((f) => f.clientId).sort() };
      return out.succeeded;
    };
    const summary = (contributors: number) => ({
      kind: 'secagg',
      message: `secure aggregation (${plan.mode}, threshold ${t} of ${plan.neighbourhood}): ${contributors} of ${n} inputs summed`,
      mode: plan.mode,
      threshold: t,
      neighbourhood: plan.neighbourhood,
      // Bounds on P(insecure) and P(round fails) under secagg.corruptFraction / dropoutFraction (parameters.ts).
      securityLog2: plan.securityLog2,
      correctnessLog2: plan.correctnessLog2,
      stages,
    });
    const abort = (stage: SecAggStage, why: string, code?: string): TrainRoundOutcome => ({
      ...empty,
      failed,
      status: 'skipped',
      ...(code ? { code } : {}),
      reason: `secure aggregation aborted at stage "${stage}": ${why}`,
      events: [...events, summary(0)],
    });
    const base = { type: '', runId: ctx.runId, round: ctx.round };
    /** Neighbours of `id` within `alive`. */
    const within = (id: string, alive: ReadonlySet<string>) => graph.get(id)!.filter((o) => alive.has(o));
    /** Drops clients whose neighbourhood in `alive` is smaller than t, until none is. */
    const prune = (alive: Set<string>, stage: SecAggStage) => {
      for (let changed = true; changed; ) {
        changed = false;
        for (const id of [...alive]) {
          if (within(id, alive).length + 1 < t) {
            alive.delete(id);
            failed.push({ clientId: id, code: 'secagg_too_few_neighbours', reason: `secagg ${stage}: fewer than ${t} of its neighbourhood remain; its secrets could not be reconstructed` });
            changed = true;
          }
        }
      }
    };

    // ---- Stage 1: setup, advertise keys -------------------------------------------------------
    const encKeys = new Map<string, Uint8Array>();
    const maskKeys = new Map<string, Uint8Array>();
    const graphCommitments = new Map<string, Uint8Array>();
    const seenKeys = new Set<string>();
    // A low-order public key would make every neighbour's key agreement fail: refuse it here.
    const probe = new KeyAgreement(generateKeyPair(secureRandom));
    const u1 = new Set(
      await run(
        'setup',
        clients.map((clientId) => ({
          clientId,
          message: {
            ...base,
            type: M.setup,
            index: index.get(clientId)!,
            threshold: t,
            vectorLength: d + 1,
            bits: encoding.bits,
            clipRange: encoding.clipRange,
            scale: encoding.scale,
            weightScale: encoding.weightScale,
            metricScale: encoding.metricScale,
            secureMetrics,
            maxWeight,
            weighting,
            ...(plus ? { graphDegree: plan.degree } : {}),
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
          if (plus) graphCommitments.set(clientId, byteField(b, 'graphCommitment', where, GRAPH_COMMITMENT_BYTES).slice());
          encKeys.set(clientId, e.slice());
          maskKeys.set(clientId, m.slice());
        },
      ),
    );

    // ---- SecAgg+ graph stage: commit-reveal of the graph seed ----------------------------------
    // Every commitment is fixed (setup) before any value is revealed; the seed hashes all of them.
    // A missing or wrong reveal stops the round: a seed over the others' values alone would let
    // whoever withholds (a colluder, or the server dropping a reply) pick among several graphs.
    const reveals = new Map<string, Uint8Array>();
    let participants: string[] = [];
    if (plus) {
      participants = [...u1].sort();
      if (participants.length < Math.max(t, ctx.minResults)) return abort('setup', `${participants.length} client(s) advertised keys; at least ${Math.max(t, ctx.minResults)} needed`);
      const commitments = new Uint8Array(GRAPH_COMMITMENT_BYTES * participants.length);
      participants.forEach((id, k) => commitments.set(graphCommitments.get(id)!, GRAPH_COMMITMENT_BYTES * k));
      const revealed = await run(
        'graph',
        participants.map((clientId) => ({ clientId, message: { ...base, type: M.graph, participants, commitments, graphDegree: plan.degree } as MessageBase })),
        (clientId, reply) => {
          const where = `secagg graph reveal from client ${clientId}`;
          const b = checkReplyHeader(reply, M.graphReveal, ctx, where);
          const v = byteField(b, 'reveal', where, GRAPH_REVEAL_BYTES);
          if (!equalBytes(graphCommitment(v, ctx.runId, ctx.round, clientId), graphCommitments.get(clientId)!)) throw bad(where, 'the revealed value does not match its commitment');
          reveals.set(clientId, v.slice());
        },
      );
      const missing = participants.filter((id) => !revealed.includes(id) || !reveals.has(id));
      if (missing.length) {
        for (const id of missing) {
          const w = this.withheld.get(id);
          const offences = (w?.offences ?? 0) + 1;
          this.withheld.set(id, { offences, until: ctx.round + Math.min(MAX_WITHHOLD_PENALTY, 2 ** (offences - 1)) });
        }
        return abort('graph', `${missing.join(', ')} did not reveal their committed graph value; the graph seed would depend on who withholds, so no graph is drawn this round (left out of the next round(s))`, 'secagg_graph_withheld');
      }
      graph = seededHararyGraph(participants, plan.degree, graphSeed(ctx.runId, ctx.round, participants, reveals));
    }
    prune(u1, 'setup');
    if (u1.size < Math.max(t, ctx.minResults)) return abort('setup', `${u1.size} client(s) advertised keys; at least ${Math.max(t, ctx.minResults)} needed`);

    // ---- Stage 2: share keys ------------------------------------------------------------------
    /** ciphertexts[to] = Map(from → ciphertext) */
    const inbox = new Map<string, Map<string, Uint8Array>>();
    const commitments = new Map<string, Uint8Array>();
    // SecAgg+: every participant's revealed value, in participant order, so that each client checks the commitments and derives the graph.
    const revealBytes = new Uint8Array(GRAPH_REVEAL_BYTES * participants.length);
    participants.forEach((id, k) => revealBytes.set(reveals.get(id) ?? new Uint8Array(GRAPH_REVEAL_BYTES), GRAPH_REVEAL_BYTES * k));
    const u2 = new Set(
      await run(
        'share',
        [...u1].map((clientId) => {
          const peers = within(clientId, u1);
          const e = new Uint8Array(KEY_BYTES * peers.length);
          const m = new Uint8Array(KEY_BYTES * peers.length);
          peers.forEach((p, k) => (e.set(encKeys.get(p)!, KEY_BYTES * k), m.set(maskKeys.get(p)!, KEY_BYTES * k)));
          return { clientId, message: { ...base, type: M.share, peers, indices: Int32Array.from(peers, (p) => index.get(p)!), encryptionKeys: e, maskKeys: m, ...(plus ? { reveals: revealBytes } : {}) } as MessageBase };
        }),
        (clientId, reply) => {
          const where = `secagg shares from client ${clientId}`;
          const b = checkReplyHeader(reply, M.shares, ctx, where);
          const expected = new Set(within(clientId, u1));
          const to = idList(b, 'recipients', where, expected);
          if (to.length !== expected.size) throw bad(where, `holds ciphertexts for ${to.length} of its ${expected.size} neighbours`);
          const cts = byteField(b, 'ciphertexts', where, SHARE_CIPHERTEXT_BYTES * to.length);
          commitments.set(clientId, byteField(b, 'seedCommitment', where, 32).slice());
          to.forEach((r, k) => {
            let box = inbox.get(r);
            if (!box) inbox.set(r, (box = new Map()));
            box.set(clientId, cts.slice(SHARE_CIPHERTEXT_BYTES * k, SHARE_CIPHERTEXT_BYTES * (k + 1)));
          });
        },
      ),
    );
    prune(u2, 'share');
    if (u2.size < Math.max(t, ctx.minResults)) return abort('share', `${u2.size} client(s) shared their keys; at least ${Math.max(t, ctx.minResults)} needed`);

    // ---- Stage 3: verify shares --------------------------------------------------------------
    // Each client opens the ciphertexts addressed to it and names the senders whose shares do not
    // decrypt; those senders are excluded before anyone masks with them.
    const complaints = new Map<string, string[]>();
    const sendersOf = new Map<string, Set<string>>();
    const u2v = new Set(
      await run(
        'verify',
        [...u2].map((clientId) => {
          const senders = within(clientId, u2);
          sendersOf.set(clientId, new Set(senders));
          const box = inbox.get(clientId)!;
          const cts = new Uint8Array(SHARE_CIPHERTEXT_BYTES * senders.length);
          senders.forEach((p, k) => cts.set(box.get(p)!, SHARE_CIPHERTEXT_BYTES * k));
          return { clientId, message: { ...base, type: M.verify, senders, ciphertexts: cts } as MessageBase };
        }),
        (clientId, reply) => {
          const where = `secagg share verification from client ${clientId}`;
          const b = checkReplyHeader(reply, M.verifyResult, ctx, where);
          const c = idList(b, 'complaints', where, sendersOf.get(clientId)!);
          if (c.length) complaints.set(clientId, c);
        },
      ),
    );
    const accused = new Map<string, string[]>();
    for (const [by, about] of complaints) {
      if (!u2v.has(by)) continue;
      events.push({ kind: 'secagg-complaint', clientId: by, message: `client ${by} could not decrypt or parse the shares of ${about.join(', ')}`, about });
      for (const a of about) accused.set(a, [...(accused.get(a) ?? []), by]);
    }
    for (const [id, by] of accused) {
      if (!u2v.delete(id)) continue;
      failed.push({ clientId: id, code: 'secagg_bad_shares', reason: `secagg verify: excluded before masking; its share ciphertexts for ${by.join(', ')} did not decrypt to valid shares` });
    }
    prune(u2v, 'verify');
    if (u2v.size < Math.max(t, ctx.minResults)) return abort('verify', `${u2v.size} client(s) remain with verified shares; at least ${Math.max(t, ctx.minResults)} needed`);
    // Masks cancel only within a connected part: over a disconnected graph the server would learn each part's sum.
    if (!isConnected(graph, u2v)) return abort('verify', `the ${u2v.size} clients left before masking form a disconnected neighbour graph; the server could learn the sum of each part`, 'secagg_disconnected');

    // ---- Stage 4: masked input ----------------------------------------------------------------
    const sum = new Uint32Array(total);
    const metrics = new MetricsMean();
    const peersOf = new Map<string, string[]>();
    const u3 = new Set(
      await run(
        'masked',
        [...u2v].map((clientId) => {
          const peers = within(clientId, u2v);
          peersOf.set(clientId, peers);
          return { clientId, message: { ...base, type: M.masked, params: ctx.global.data, config: { ...config, seed: clientSeed(ctx.rng, clientId) }, peers } as MessageBase };
        }),
        (clientId, reply) => {
          const where = `secagg masked input from client ${clientId}`;
          const b = checkReplyHeader(reply, M.maskedResult, ctx, where);
          const y = b.masked;
          if (!isPacked(y, encoding.bits, total)) {
            throw bad(where, encoding.bits === 32 ? `masked must be a Uint32Array of ${total} values` : `masked must be ${packedBytes(encoding.bits, total)} bytes (${total} values of ${encoding.bits} bits)`);
          }
          for (const name of secureMetrics) if ((b.metrics as Metrics | undefined)?.[name] !== undefined) throw bad(where, `metric "${name}" must travel masked, not in the clear`);
          checkMetrics(b.metrics, where);
          // Bits above 2^bits are ignored by the final reduction, so no value check is needed.
          accumulatePacked(sum, y as Uint32Array | Uint8Array, encoding.bits);
          metrics.add(b.metrics as Metrics, 1);
        },
      ),
    );
    if (u3.size < Math.max(ctx.minResults, 1)) return abort('masked', `${u3.size} masked input(s) arrived; at least ${Math.max(ctx.minResults, 1)} needed`);
    const droppedAfterSharing = [...u2v].filter((id) => !u3.has(id)).sort();
    for (const id of u3) {
      const alive = peersOf.get(id)!.filter((p) => u3.has(p)).length + 1;
      if (alive < t) return abort('masked', `only ${alive} of client ${id}'s neighbourhood sent masked inputs; ${t} are needed to unmask (more than ${plan.neighbourhood - t} dropped)`);
    }
    // The survivors' graph must be connected too: otherwise unmasking reveals the sum of each component.
    if (!isConnected(graph, u3)) return abort('masked', `the ${u3.size} clients whose masked inputs arrived form a disconnected neighbour graph; unmasking would reveal the sum of each component`, 'secagg_disconnected');

    // ---- Stage 5: unmasking -------------------------------------------------------------------
    const seedShares = new Map<string, Array<{ x: number; share: Uint8Array }>>();
    const keyShares = new Map<string, Array<{ x: number; share: Uint8Array }>>();
    const asked = new Map<string, { survivors: Set<string>; dropped: Set<string> }>();
    // SecAgg+: every survivor, so that each client checks the survivors' graph is connected.
    const allSurvivors = [...u3].sort();
    const u4 = await run(
      'unmask',
      [...u3].map((clientId) => {
        const peers = peersOf.get(clientId)!;
        const survivors = [clientId, ...peers.filter((p) => u3.has(p))].sort();
        const dropped = peers.filter((p) => !u3.has(p));
        asked.set(clientId, { survivors: new Set(survivors), dropped: new Set(dropped) });
        return { clientId, message: { ...base, type: M.unmask, survivors, dropped, ...(plus ? { allSurvivors } : {}) } as MessageBase };
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
        const x = index.get(clientId)!;
        for (const { id, share } of sp) (seedShares.get(id) ?? seedShares.set(id, []).get(id)!).push({ x, share });
        for (const { id, share } of kp) (keyShares.get(id) ?? keyShares.set(id, []).get(id)!).push({ x, share });
      },
    );

    // Reconstruct and remove the masks.
    const lagrange = new Map<string, Uint32Array>();
    const reconstruct = (shares: Array<{ x: number; share: Uint8Array }>, bytes: number, check: (secret: Uint8Array) => boolean): Uint8Array | null => {
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
      const shares = seedShares.get(id) ?? [];
      const seed = reconstruct(shares, SEED_BYTES, (s) => equalBytes(seedCommitment(s, ctx.runId, ctx.round, id), commitments.get(id)!));
      if (!seed) return abort('unmask', `the self-mask seed of client ${id} could not be reconstructed (${shares.length} share(s) arrived, ${t} consistent ones needed); ${u4.length} of ${u3.size} survivors answered the unmasking`);
      unmasks.push({ seed, sign: -1 });
    }
    for (const id of droppedAfterSharing) {
      const neighboursAlive = peersOf.get(id)!.filter((p) => u3.has(p));
      if (neighboursAlive.length === 0) continue;
      const shares = keyShares.get(id) ?? [];
      const secretKey = reconstruct(shares, KEY_BYTES, (s) => equalBytes(x25519PublicKey(s), maskKeys.get(id)!));
      if (!secretKey) return abort('unmask', `the mask key of dropped client ${id} could not be reconstructed (${shares.length} share(s) arrived, ${t} consistent ones needed)`);
      const agreement = new KeyAgreement({ secretKey, publicKey: maskKeys.get(id)! });
      const secrets = await Promise.all(neighboursAlive.map((j) => agreement.sharedSecret(maskKeys.get(j)!, `secagg unmask: mask key of ${j}`)));
      // j added +mask when j sorts before id, −mask otherwise: undo it.
      neighboursAlive.forEach((j, k) => unmasks.push({ seed: deriveKey(secrets[k], 'pairwise-mask', ctx.runId, ctx.round, SEED_BYTES), sign: j < id ? -1 : 1 }));
      secretKey.fill(0);
    }
    await accumulateMasks(sum, unmasks);

    // ---- Decode and hand the mean to the strategy ---------------------------------------------
    const decoded = decodeSum(sum, encoding, secureMetrics.length);
    const contributors = [...u3].sort();
    events.push({ ...summary(contributors.length), droppedAfterSharing, weight: decoded.weight });
    const outcomeBase = { selected, succeeded: contributors, failed, dropped: [...overSelected].sort() };
    if (!(decoded.weight > 0)) return { ...outcomeBase, status: 'skipped', reason: `secure aggregation: the summed client weight is ${decoded.weight}; nothing to average`, events };
    this.o.onResult?.({ round: ctx.round, contributors, sum: decoded.sum, weight: decoded.weight, encoding });
    const mean = new Float32Array(d);
    for (let i = 0; i < d; i++) mean[i] = decoded.sum[i] / decoded.weight;
    const aggregation = ctx.strategy.aggregateTrain(ctx.round, ctx.global);
    let result;
    try {
      const clear = metrics.result();
      if (aggregation.addSecureSum) {
        const maskedSums: Record<string, number> = {};
        secureMetrics.forEach((name, k) => (maskedSums[name] = decoded.metrics[k]));
        const secure: SecureSumResult = { sum: decoded.sum, weight: decoded.weight, weightUnit: weighting === 'uniform' ? 1 : maxWeight, weighting, contributors, metrics: clear, maskedSums };
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
}
