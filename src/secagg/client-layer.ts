/**
 * The client half of secure aggregation: a {@link ClientLayer} that answers the five secagg
 * stages and passes every other message through. In the masked-input stage it asks the inner
 * layers and the trainer for an ordinary train result (so DP clipping and noise happen before
 * masking), encodes the update in Z_{2^k}, and adds its self mask and pairwise masks.
 *
 * Keys, seeds, nonces and Shamir coefficients come from the platform CSPRNG; `randomness:
 * 'seeded'` derives them from the run seed instead, for reproducible simulations only.
 */
import type { Config, MessageBase, Metrics, TrainInstruction, TrainReply } from '../core/messages.js';
import { checkHeader, checkMetrics } from '../core/messages.js';
import { FederaError } from '../core/errors.js';
import { Rng, SecureRng } from '../core/rng.js';
import type { ClientLayer } from '../client/runtime.js';
import { splitSecret, isValidShare, fieldRandomFrom } from './shamir.js';
import {
  KEY_BYTES,
  SEED_BYTES,
  KeyAgreement,
  accumulateMasks,
  deriveKey,
  generateKeyPair,
  generateSecureKeyPair,
  open,
  seal,
  secureRandom,
  seededRandom,
  seedCommitment,
  shareAssociatedData,
  equalBytes,
  type KeyPair,
  type RandomSource,
} from './primitives.js';
import { MAX_METRIC_RANGE, encodeUpdate, packMaskedVector, type DiscreteNoise, type EncodingParams } from './encoding.js';
import { rotate, rotatedLength } from '../compress/hadamard.js';
import { MAX_ROTATE_BLOCK } from '../compress/spec.js';
import { isPow2 } from '../compress/format.js';
import { graphCommitment, graphSeed, isConnected, seededHararyGraph, type NeighbourGraph } from './graph.js';
import { SECAGG_MESSAGES as M, GRAPH_COMMITMENT_BYTES, GRAPH_REVEAL_BYTES, KEY_SHARE_BYTES, SEED_SHARE_BYTES, SHARE_CIPHERTEXT_BYTES, SHARE_PLAINTEXT_BYTES } from './protocol.js';

export interface SecAggClientLayerOptions {
  /** `secure` (default): CSPRNG. `seeded`: derived from `seed`, run, round and client — simulation only. */
  randomness?: 'secure' | 'seeded';
  /** Seed of the `seeded` randomness (the run seed). */
  seed?: number | string;
}

/** Key of this layer's per-round state in a client's `info.state`. */
export const SECAGG_STATE_KEY = 'federa.secagg';

interface Peer {
  index: number;
  encryptionKey: Uint8Array;
  maskKey: Uint8Array;
}

interface ClientRoundState {
  runId: string;
  round: number;
  stage: 'setup' | 'graph' | 'share' | 'verify' | 'masked' | 'unmask' | 'done';
  /** SecAgg+: the neighbour count the server announced; the graph is derived from the clients' reveals. */
  graphDegree?: number;
  /** SecAgg+: this client's committed graph value, the round's participants and their commitments, the derived graph. */
  graphValue?: Uint8Array;
  participants?: string[];
  commitments?: Uint8Array;
  graph?: NeighbourGraph;
  index: number;
  threshold: number;
  vectorLength: number;
  /** Metrics summed under the masks instead of sent in the clear (DP's), appended to the vector. */
  secureMetrics: string[];
  encoding: EncodingParams;
  /** Rotation + quantization: the round's rotation, as the server announced it at setup. */
  rotation?: { block: number; seed: number };
  maxWeight: number;
  weighting: 'examples' | 'uniform';
  encryption: KeyPair;
  mask: KeyPair;
  random: RandomSource;
  peers: Map<string, Peer>;
  seed?: Uint8Array;
  /** This client's own shares of its seed and mask key. */
  ownSeedShare?: Uint8Array;
  ownKeyShare?: Uint8Array;
  /** Shares received from peers (only those that decrypted and were well-formed). */
  received: Map<string, { seed: Uint8Array; key: Uint8Array }>;
  /** Share-encryption keys by peer (symmetric: the same key opens what the peer sent). */
  shareKeys: Map<string, Uint8Array>;
  maskPeers: string[];
}

function bad(where: string, what: string): FederaError {
  return new FederaError('malformed_message', `${where}: ${what}`);
}

/**
 * The client's own checks of the server's requests (an untrusted server must not be able to
 * weaken the sharing): a refusal is an error reply naming the request and the rule.
 */
function refuse(where: string, what: string): FederaError {
  return new FederaError('malformed_message', `${where}: refused: ${what}`);
}

function num(body: Record<string, unknown>, key: string, where: string, ok: (v: number) => boolean, expected: string): number {
  const v = body[key];
  if (typeof v !== 'number' || !ok(v)) throw bad(where, `${key} must be ${expected}, got ${JSON.stringify(v)}`);
  return v;
}

function ids(body: Record<string, unknown>, key: string, where: string): string[] {
  const v = body[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0)) throw bad(where, `${key} must be a list of client ids`);
  if (new Set(v).size !== v.length) throw bad(where, `${key} names a client twice`);
  return v as string[];
}

function bytes(body: Record<string, unknown>, key: string, where: string, length: number): Uint8Array {
  const v = body[key];
  if (!(v instanceof Uint8Array)) throw bad(where, `${key} must be bytes`);
  if (v.length !== length) throw bad(where, `${key} has ${v.length} bytes, expected ${length}`);
  return v;
}

export function secAggClientLayer(options: SecAggClientLayerOptions = {}): ClientLayer {
  const randomness = options.randomness ?? 'secure';
  if (randomness !== 'secure' && randomness !== 'seeded') throw new FederaError('invalid_config', `secAggClientLayer: randomness must be "secure" or "seeded", got ${JSON.stringify(randomness)}`);
  const seedRoot = new Rng(String(options.seed ?? 'federa')).stream('secagg');
  const types = new Set<string>([M.setup, M.graph, M.share, M.verify, M.masked, M.unmask]);

  return (next, info) => async (message: MessageBase) => {
    if (!types.has(message.type)) return next(message);
    const where = `client ${info.clientId} ${message.type} (round ${message.round})`;
    checkHeader(message, where);
    const body = message as unknown as Record<string, unknown>;
    if (message.type === M.setup) return setup();
    const state = info.state.get(SECAGG_STATE_KEY) as ClientRoundState | undefined;
    if (!state || state.runId !== message.runId || state.round !== message.round) {
      throw new FederaError('malformed_message', `${where}: no secure-aggregation setup for run ${message.runId} round ${message.round} on this client`);
    }
    // SecAgg+ has a graph stage between setup and share; classic SecAgg does not.
    const expected = { [M.graph]: 'setup', [M.share]: state.graphDegree !== undefined ? 'graph' : 'setup', [M.verify]: 'share', [M.masked]: 'verify', [M.unmask]: 'masked' }[message.type];
    if (message.type === M.graph && state.graphDegree === undefined) throw refuse(where, 'a graph stage in a round whose setup announced the complete graph (no graphDegree)');
    if (state.stage !== expected) throw new FederaError('malformed_message', `${where}: arrived at stage "${state.stage}", expected after "${expected}"`);
    if (message.type === M.graph) return graph(state);
    if (message.type === M.share) return share(state);
    if (message.type === M.verify) return verify(state);
    if (message.type === M.masked) return masked(state);
    return unmask(state);

    function reply(type: string, fields: Record<string, unknown>): MessageBase {
      return { type, runId: message.runId, round: message.round, ...fields } as MessageBase;
    }

    async function setup(): Promise<MessageBase> {
      const index = num(body, 'index', where, (v) => Number.isInteger(v) && v >= 1 && v < 65521, 'an integer in [1, 65520]');
      const threshold = num(body, 'threshold', where, (v) => Number.isInteger(v), 'an integer');
      // t = 1 makes every share equal to the secret: the server could read any client's seed and key.
      if (threshold < 2) throw refuse(where, `threshold t = ${threshold}; at least 2 shares must be needed to reconstruct a secret (with t = 1 every share is the secret itself)`);
      const vectorLength = num(body, 'vectorLength', where, (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
      const bits = num(body, 'bits', where, (v) => Number.isInteger(v) && v >= 2 && v <= 32, 'an integer in [2, 32]');
      const clipRange = num(body, 'clipRange', where, (v) => v > 0 && Number.isFinite(v), 'a number > 0');
      const scale = num(body, 'scale', where, (v) => v > 0 && Number.isFinite(v), 'a number > 0');
      const weightScale = num(body, 'weightScale', where, (v) => v > 0 && Number.isFinite(v), 'a number > 0');
      const metricScale = num(body, 'metricScale', where, (v) => v > 0 && Number.isFinite(v), 'a number > 0');
      const secureMetrics = ids(body, 'secureMetrics', where);
      let metricRanges: number[] | undefined;
      if (body.secureMetricRanges !== undefined) {
        const r = body.secureMetricRanges;
        if (!Array.isArray(r) || r.length !== secureMetrics.length || !r.every((v) => typeof v === 'number' && v > 0 && v <= MAX_METRIC_RANGE)) {
          throw bad(where, `secureMetricRanges must be ${secureMetrics.length} number(s) in (0, 2^40], one per secure metric`);
        }
        metricRanges = r as number[];
      }
      const maxWeight = num(body, 'maxWeight', where, (v) => v > 0 && Number.isFinite(v), 'a number > 0');
      // Rotation + quantization: b-bit codes of one client in a ring of `bits`, with the weight and metrics 32-bit.
      let quantize: { bits: number } | undefined;
      let rotation: { block: number; seed: number } | undefined;
      let noise: DiscreteNoise | undefined;
      if (body.quantizeBits !== undefined) {
        const qb = num(body, 'quantizeBits', where, (v) => v === 1 || v === 2 || v === 4 || v === 8, 'one of 1, 2, 4, 8');
        const block = num(body, 'rotateBlock', where, (v) => isPow2(v) && v <= MAX_ROTATE_BLOCK, `a power of two ≤ ${MAX_ROTATE_BLOCK}`);
        const seed = num(body, 'rotateSeed', where, (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff, 'a 32-bit unsigned integer');
        const levels = 2 ** qb - 1;
        if (levels >= 2 ** bits) throw bad(where, `${qb}-bit codes do not fit Z_2^${bits}`);
        // The codes must be the quantizer's: 2^b levels spanning [−c, c].
        if (Math.abs(scale * 2 * clipRange - levels) > 1e-9 * levels) throw refuse(where, `scale ${scale} is not the ${qb}-bit quantizer's ${levels}/(2·${clipRange})`);
        if (2 * weightScale >= 2 ** 32) throw bad(where, `weightScale ${weightScale} overflows a 32-bit element`);
        quantize = { bits: qb };
        rotation = { block, seed };
        // Distributed DP: Skellam noise on the codes, which are then centred in the ring.
        if (body.noiseLambda !== undefined) {
          const lambda = num(body, 'noiseLambda', where, (v) => v >= 0 && Number.isFinite(v), 'a finite number ≥ 0');
          const l2Bound = num(body, 'noiseL2Bound', where, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
          const roundingBound = num(body, 'noiseRoundingBound', where, (v) => v >= l2Bound && Number.isFinite(v), `a finite number ≥ noiseL2Bound (${l2Bound})`);
          noise = { lambda, l2Bound, roundingBound };
        }
      } else if (2 * clipRange * scale >= 2 ** bits || 2 * weightScale >= 2 ** bits) throw bad(where, `scale ${scale} overflows Z_2^${bits} for one client`);
      const weighting = body.weighting;
      if (weighting !== 'examples' && weighting !== 'uniform') throw bad(where, `weighting must be "examples" or "uniform", got ${JSON.stringify(weighting)}`);
      const graphDegree = body.graphDegree === undefined ? undefined : num(body, 'graphDegree', where, (v) => Number.isInteger(v) && v >= 2, 'an integer ≥ 2');
      const random = randomness === 'secure' ? secureRandom : seededRandom(seedRoot.stream(message.runId).stream(message.round).stream(info.clientId));
      const state: ClientRoundState = {
        runId: message.runId,
        round: message.round,
        stage: 'setup',
        index,
        threshold,
        vectorLength,
        secureMetrics,
        encoding: { bits, clipRange, scale, weightScale, metricScale, ...(quantize ? { quantize } : {}), ...(noise ? { noise } : {}), ...(metricRanges ? { metricRanges } : {}) },
        ...(rotation ? { rotation } : {}),
        maxWeight,
        weighting,
        encryption: randomness === 'secure' ? await generateSecureKeyPair() : generateKeyPair(random),
        mask: randomness === 'secure' ? await generateSecureKeyPair() : generateKeyPair(random),
        random,
        peers: new Map(),
        received: new Map(),
        shareKeys: new Map(),
        maskPeers: [],
        ...(graphDegree !== undefined ? { graphDegree, graphValue: random.bytes(GRAPH_REVEAL_BYTES) } : {}),
      };
      // A new round replaces the previous one's state (and its secrets).
      info.state.set(SECAGG_STATE_KEY, state);
      const commitment = state.graphValue ? { graphCommitment: graphCommitment(state.graphValue, state.runId, state.round, info.clientId) } : {};
      return reply(M.keys, { encryptionKey: state.encryption.publicKey, maskKey: state.mask.publicKey, ...commitment });
    }

    /** SecAgg+: every commitment is fixed now; reveal this client's value. */
    function graph(state: ClientRoundState): MessageBase {
      const participants = ids(body, 'participants', where);
      for (let i = 1; i < participants.length; i++) if (!(participants[i - 1] < participants[i])) throw bad(where, 'participants must be sorted');
      const me = participants.indexOf(info.clientId);
      if (me < 0) throw refuse(where, 'this client is not among the participants');
      const commitments = bytes(body, 'commitments', where, GRAPH_COMMITMENT_BYTES * participants.length);
      const degree = num(body, 'graphDegree', where, (v) => Number.isInteger(v), 'an integer');
      if (degree !== state.graphDegree) throw refuse(where, `graphDegree ${degree} differs from the ${state.graphDegree} announced at setup`);
      const own = graphCommitment(state.graphValue!, state.runId, state.round, info.clientId);
      if (!equalBytes(commitments.subarray(GRAPH_COMMITMENT_BYTES * me, GRAPH_COMMITMENT_BYTES * (me + 1)), own)) throw refuse(where, "this client's commitment is not the one it sent");
      state.participants = participants;
      state.commitments = commitments.slice();
      state.stage = 'graph';
      return reply(M.graphReveal, { reveal: state.graphValue! });
    }

    /** SecAgg+: checks every reveal against its commitment and derives the round's graph. */
    function deriveGraph(state: ClientRoundState): NeighbourGraph {
      const participants = state.participants!;
      const reveals = bytes(body, 'reveals', where, GRAPH_REVEAL_BYTES * participants.length);
      const values = new Map<string, Uint8Array>();
      participants.forEach((id, k) => {
        const v = reveals.slice(GRAPH_REVEAL_BYTES * k, GRAPH_REVEAL_BYTES * (k + 1));
        const c = state.commitments!.subarray(GRAPH_COMMITMENT_BYTES * k, GRAPH_COMMITMENT_BYTES * (k + 1));
        if (!equalBytes(graphCommitment(v, state.runId, state.round, id), c)) throw refuse(where, `the revealed graph value of ${id} does not match its commitment`);
        values.set(id, v);
      });
      return seededHararyGraph(participants, state.graphDegree!, graphSeed(state.runId, state.round, participants, values));
    }

    async function share(state: ClientRoundState): Promise<MessageBase> {
      const peers = ids(body, 'peers', where);
      if (peers.includes(info.clientId)) throw bad(where, 'peers includes this client');
      if (state.graphDegree !== undefined) {
        // SecAgg+: the neighbours come from the graph this client derives, not from the server's word.
        state.graph = deriveGraph(state);
        const mine = state.graph.get(info.clientId)!;
        const extra = peers.filter((p) => !mine.includes(p));
        const missing = mine.filter((p) => !peers.includes(p));
        if (extra.length || missing.length) throw refuse(where, `the peers are not this client's neighbours in the round's graph (${extra.length ? `not neighbours: ${extra.join(', ')}` : ''}${extra.length && missing.length ? '; ' : ''}${missing.length ? `missing: ${missing.join(', ')}` : ''})`);
      }
      const indices = body.indices;
      if (!(indices instanceof Int32Array) || indices.length !== peers.length) throw bad(where, `indices must be an Int32Array of ${peers.length} x-coordinates`);
      const encKeys = bytes(body, 'encryptionKeys', where, KEY_BYTES * peers.length);
      const maskKeys = bytes(body, 'maskKeys', where, KEY_BYTES * peers.length);
      // The secrets are split into m = peers + 1 shares (one kept). t > m: nobody could ever
      // reconstruct them; 2t ≤ m: two disjoint groups of t could each reconstruct one of them, so
      // a server asking one group for the seed and the other for the mask key unmasks this client.
      const m = peers.length + 1;
      const t = state.threshold;
      if (t > m) throw refuse(where, `threshold t = ${t} exceeds the m = ${m} shares (${peers.length} peers + this client); the secrets could never be reconstructed`);
      if (2 * t <= m) throw refuse(where, `threshold t = ${t} is not above half of the m = ${m} shares (${peers.length} peers + this client): two disjoint groups of ${t} could each reconstruct one secret; need t > ${m / 2}`);
      const xs = new Set<number>([state.index]);
      for (let k = 0; k < peers.length; k++) {
        const x = indices[k];
        if (!(x >= 1 && x < 65521) || xs.has(x)) throw bad(where, `x-coordinate ${x} of ${peers[k]} is invalid or repeated`);
        xs.add(x);
        state.peers.set(peers[k], { index: x, encryptionKey: encKeys.slice(KEY_BYTES * k, KEY_BYTES * (k + 1)), maskKey: maskKeys.slice(KEY_BYTES * k, KEY_BYTES * (k + 1)) });
      }
      const seed = state.random.bytes(SEED_BYTES);
      state.seed = seed;
      const allXs = [state.index, ...peers.map((p) => state.peers.get(p)!.index)];
      const fieldRandom = fieldRandomFrom((n) => state.random.bytes(n));
      const seedShares = splitSecret(seed, allXs, state.threshold, fieldRandom);
      const keyShares = splitSecret(state.mask.secretKey, allXs, state.threshold, fieldRandom);
      state.ownSeedShare = seedShares[0];
      state.ownKeyShare = keyShares[0];
      const agreement = new KeyAgreement(state.encryption);
      const secrets = await Promise.all(peers.map((p) => agreement.sharedSecret(state.peers.get(p)!.encryptionKey, `${where}: encryption key of ${p}`)));
      const ciphertexts = new Uint8Array(SHARE_CIPHERTEXT_BYTES * peers.length);
      const plain = new Uint8Array(SHARE_PLAINTEXT_BYTES);
      for (let k = 0; k < peers.length; k++) {
        plain.set(seedShares[k + 1]);
        plain.set(keyShares[k + 1], SEED_SHARE_BYTES);
        const key = deriveKey(secrets[k], 'share-encryption', state.runId, state.round, 32);
        state.shareKeys.set(peers[k], key);
        ciphertexts.set(seal(key, plain, shareAssociatedData(state.runId, state.round, info.clientId, peers[k]), state.random), SHARE_CIPHERTEXT_BYTES * k);
      }
      plain.fill(0);
      state.stage = 'share';
      return reply(M.shares, { recipients: peers, ciphertexts, seedCommitment: seedCommitment(seed, state.runId, state.round, info.clientId) });
    }

    function verify(state: ClientRoundState): MessageBase {
      const senders = ids(body, 'senders', where);
      const cts = bytes(body, 'ciphertexts', where, SHARE_CIPHERTEXT_BYTES * senders.length);
      for (const p of senders) if (!state.peers.has(p)) throw bad(where, `sender ${p} was not among this client's neighbours`);
      // Decrypt the shares addressed to this client; the ones that do not open are complaints.
      const complaints: string[] = [];
      for (let k = 0; k < senders.length; k++) {
        const key = state.shareKeys.get(senders[k]);
        if (!key) throw bad(where, `no shared key with ${senders[k]}`);
        const pt = open(key, cts.subarray(SHARE_CIPHERTEXT_BYTES * k, SHARE_CIPHERTEXT_BYTES * (k + 1)), shareAssociatedData(state.runId, state.round, senders[k], info.clientId));
        const seedShare = pt?.subarray(0, SEED_SHARE_BYTES);
        const keyShare = pt?.subarray(SEED_SHARE_BYTES);
        if (!pt || pt.length !== SHARE_PLAINTEXT_BYTES || !isValidShare(seedShare!, SEED_BYTES) || !isValidShare(keyShare!, KEY_BYTES)) complaints.push(senders[k]);
        else state.received.set(senders[k], { seed: seedShare!.slice(), key: keyShare!.slice() });
      }
      state.stage = 'verify';
      return reply(M.verifyResult, { complaints });
    }

    async function masked(state: ClientRoundState): Promise<MessageBase> {
      const peers = ids(body, 'peers', where);
      const params = body.params;
      if (!(params instanceof Float32Array) || params.length + 1 !== state.vectorLength) throw bad(where, `params must be a Float32Array of ${state.vectorLength - 1} values`);
      const config = body.config;
      if (typeof config !== 'object' || config === null || Array.isArray(config)) throw bad(where, 'config must be a record');
      // Fewer than t − 1 live peers (t with this client): the unmasking could not reach t shares,
      // and the sum would cover too few inputs to hide this one.
      if (peers.length < state.threshold - 1) throw refuse(where, `masked input asked with ${peers.length} live peer(s); threshold t = ${state.threshold} needs at least ${state.threshold - 1}`);
      // Mask only with neighbours whose shares this client holds (the server excluded the others).
      for (const p of peers) if (!state.received.has(p)) throw bad(where, `peer ${p}: this client holds no valid share of it`);

      // Train through the inner layers (DP clipping and noise happen there, before masking).
      const train: TrainInstruction = { type: 'train', runId: state.runId, round: state.round, params, config: config as Config };
      const inner = await next(train);
      if (inner.type === 'error') return inner;
      const r = inner as TrainReply & { encoded?: unknown };
      if (inner.type !== 'train_result' || !(r.update instanceof Float32Array)) {
        throw new FederaError('unsupported', `${where}: the inner layers returned ${inner.type === 'train_result' && r.encoded !== undefined ? 'an encoded (compressed) update' : `"${inner.type}"`}; secure aggregation masks a float32 update (put no uplink compression inside it)`);
      }
      if (r.update.length + 1 !== state.vectorLength) throw bad(where, `the update has ${r.update.length} values, expected ${state.vectorLength - 1}`);
      checkMetrics(r.metrics, where);
      const weight = state.weighting === 'uniform' ? 1 : Math.min(1, r.numExamples / state.maxWeight);
      // Stochastic-rounding coins and the Skellam noise of distributed DP: from the CSPRNG unless the
      // run is a seeded simulation (a seed the server knows would let it subtract the noise).
      const roundingRng = randomness === 'secure' ? new SecureRng('secagg-rounding') : seedRoot.stream('rounding').stream(String((config as Config).seed ?? '')).stream(info.clientId).stream(state.round);
      // Metrics to be summed securely leave the clear metrics and join the masked vector.
      const clearMetrics: Metrics = { ...r.metrics };
      const summed = state.secureMetrics.map((name) => {
        const v = clearMetrics[name];
        if (typeof v !== 'number') throw new FederaError('malformed_message', `${where}: the inner layers reported no metric "${name}" (put dpClientLayer() inside secAggClientLayer())`);
        delete clearMetrics[name];
        return v;
      });
      // Rotation + quantization: every client of the round rotates with the same seed, so the sum of
      // the rotated updates is the rotation of their sum (the server inverts it once).
      let update = r.update;
      if (state.rotation) {
        update = new Float32Array(rotatedLength(r.update.length, state.rotation.block));
        rotate(r.update, state.rotation.block, state.rotation.seed, update);
      }
      const total = update.length + 1 + summed.length;
      const y = encodeUpdate(update, weight, state.encoding, roundingRng, new Uint32Array(total), where, summed);

      // Self mask, then a pairwise mask with every peer: + when this client's id sorts first.
      const maskAgreement = new KeyAgreement(state.mask);
      const maskSecrets = await Promise.all(peers.map((p) => maskAgreement.sharedSecret(state.peers.get(p)!.maskKey, `${where}: mask key of ${p}`)));
      await accumulateMasks(y, [
        { seed: state.seed!, sign: 1 },
        ...peers.map((p, k) => ({ seed: deriveKey(maskSecrets[k], 'pairwise-mask', state.runId, state.round, SEED_BYTES), sign: (info.clientId < p ? 1 : -1) as 1 | -1 })),
      ]);
      const packed = packMaskedVector(y, state.encoding, summed.length);
      state.maskPeers = peers;
      state.stage = 'masked';
      return reply(M.maskedResult, { masked: packed, metrics: clearMetrics });
    }

    function unmask(state: ClientRoundState): MessageBase {
      const survivors = ids(body, 'survivors', where);
      const dropped = ids(body, 'dropped', where);
      const mine = new Set([...state.maskPeers, info.clientId]);
      for (const id of [...survivors, ...dropped]) if (!mine.has(id)) throw bad(where, `client ${id} is not among this client's peers`);
      // Never reveal both secrets of one client: that would unmask its input.
      const both = survivors.filter((id) => dropped.includes(id));
      if (both.length) throw bad(where, `clients ${both.join(', ')} are listed both as survivors and as dropped`);
      if (dropped.includes(info.clientId)) throw bad(where, 'this client is listed as dropped');
      if (state.graph) {
        // SecAgg+: the survivors' graph must be connected (else each component's sum is revealed),
        // and this client's lists must agree with it.
        const all = new Set(ids(body, 'allSurvivors', where));
        for (const id of all) if (!state.graph.has(id)) throw refuse(where, `survivor ${id} is not a participant of this round`);
        if (!all.has(info.clientId)) throw refuse(where, 'this client is not among the survivors');
        const wantSurvivors = [info.clientId, ...state.maskPeers.filter((p) => all.has(p))].sort();
        const wantDropped = state.maskPeers.filter((p) => !all.has(p)).sort();
        if ([...survivors].sort().join() !== wantSurvivors.join() || [...dropped].sort().join() !== wantDropped.join()) throw refuse(where, 'the survivors and dropped listed for this client disagree with the round\'s survivors');
        if (!isConnected(state.graph, all)) throw refuse(where, `the ${all.size} survivors form a disconnected neighbour graph; unmasking would reveal the sum of each component`);
      }
      // Bonawitz et al.: with fewer than t survivors, the sum would cover too few inputs to hide any.
      if (survivors.length < state.threshold) throw bad(where, `only ${survivors.length} survivors listed; at least ${state.threshold} are needed`);
      const seedShareOf: string[] = [];
      const seedParts: Uint8Array[] = [];
      for (const id of survivors) {
        const s = id === info.clientId ? state.ownSeedShare : state.received.get(id)?.seed;
        if (s) (seedShareOf.push(id), seedParts.push(s));
      }
      const keyShareOf: string[] = [];
      const keyParts: Uint8Array[] = [];
      for (const id of dropped) {
        const s = state.received.get(id)?.key;
        if (s) (keyShareOf.push(id), keyParts.push(s));
      }
      state.stage = 'done';
      // The round is over for this client: its secrets are no longer needed.
      info.state.delete(SECAGG_STATE_KEY);
      return reply(M.unmaskResult, { seedShareOf, seedShares: concat(seedParts, SEED_SHARE_BYTES), keyShareOf, keyShares: concat(keyParts, KEY_SHARE_BYTES) });
    }
  };
}

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(parts.length * size);
  parts.forEach((p, i) => out.set(p, i * size));
  return out;
}

