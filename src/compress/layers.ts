/**
 * Compression on the wire, as a client layer and a server layer.
 *
 * Uplink: the client layer replaces a train reply's float32 `update` by `encoded` (the pipeline's
 * bytes); the server layer's `incoming` decodes it back into `update` before the workflow reads
 * it. With a top-k stage (error feedback on by default) the client keeps what its pipeline
 * dropped — `residual = (update + residual) − decoded` — in `info.state` and adds it to its next
 * update (Stich et al. 2018).
 *
 * Downlink: the server layer's `outgoing` replaces the `params` of train and evaluate
 * instructions by `encoded`; the client layer decodes it back into `params` before the runtime
 * (and any inner layer) sees the instruction. One encoding per round and model serves every client.
 *
 * In deployment the server announces its uplink pipeline: its layer (built with `uplink`) adds
 * `compress.uplink` (the validated stages as JSON) to every train instruction, and a client layer
 * made without an `uplink` of its own follows it. Every deployed client carries such a layer, so a
 * server's `[compression]` needs no client setting.
 *
 * Put the client layer first in the client's layer list (outermost: it decodes before, and
 * encodes after, every other layer, e.g. DP noise) and the server layer last in `serverLayers`.
 * A payload that does not decode is refused with `malformed_message`: on the server the client is
 * excluded from the round (`rejected:malformed_message`), on a client it becomes an error reply.
 */
import type { Config, MessageBase, Metrics } from '../core/messages.js';
import { Rng, SecureRng } from '../core/rng.js';
import { sharedBuffers } from '../core/buffers.js';
import type { ClientLayer } from '../client/runtime.js';
import type { ServerLayer, ServerLayerContext } from '../engine/server-layer.js';
import { invalidConfig, malformed } from './format.js';
import { usesErrorFeedback, validatePipeline, type PipelineSpec } from './spec.js';
import { CompressionPipeline, decodePayload, readHeader } from './pipeline.js';

/** A train reply whose update travels encoded. */
export interface EncodedTrainReply extends MessageBase {
  readonly type: 'train_result';
  /** The compressed update (self-describing, see docs/compression.md); replaces `update`. */
  readonly encoded: Uint8Array;
  readonly numExamples: number;
  readonly metrics: Metrics;
}

/** A train or evaluate instruction whose parameters travel encoded; replaces `params`. */
export interface EncodedInstruction extends MessageBase {
  readonly type: 'train' | 'evaluate';
  readonly encoded: Uint8Array;
  readonly config: Config;
}

export interface CompressionOptions {
  /** Client → server pipeline for train updates (empty: float32). */
  uplink?: PipelineSpec | string;
  /** Server → client pipeline for model parameters (empty: float32). No top-k: it would zero most of the model. */
  downlink?: PipelineSpec | string;
  /**
   * Seeds the codecs' randomness (simulation: the run seed; streams are drawn per client and
   * round). Without a seed the coins come from the CSPRNG, as a deployment needs: seeded coins
   * are predictable by anyone who knows the seed.
   */
  seed?: number | string;
}

/** Train-config key of the uplink pipeline a server announces (its validated stages, as JSON). */
export const UPLINK_CONFIG_KEY = 'compress.uplink';

/** Key of the error-feedback residual in a client's `info.state`. */
export const RESIDUAL_STATE_KEY = 'federa.compress.residual';

/** The client half: decodes encoded instructions, encodes train updates (with error feedback). */
export function compressionClientLayer(options: Pick<CompressionOptions, 'uplink' | 'seed'> = {}): ClientLayer {
  const own = options.uplink !== undefined ? new CompressionPipeline(options.uplink, 'uplink') : undefined;
  // Without its own uplink the layer follows the pipeline the server announces (one per distinct spec).
  const announced = new Map<string, { pipeline: CompressionPipeline | null; errorFeedback: boolean }>();
  const resolve = (pipeline: CompressionPipeline | undefined) => ({ pipeline: pipeline && pipeline.spec.length > 0 ? pipeline : null, errorFeedback: pipeline ? usesErrorFeedback(pipeline.spec) : false });
  const fixed = own ? resolve(own) : null;
  const uplinkFor = (instruction: MessageBase, where: string) => {
    if (fixed) return fixed;
    const text = (instruction as MessageBase & { config?: Record<string, unknown> }).config?.[UPLINK_CONFIG_KEY];
    if (text === undefined) return resolve(undefined);
    if (typeof text !== 'string') throw invalidConfig(where, `config.${UPLINK_CONFIG_KEY} must be a string of JSON stages`);
    let entry = announced.get(text);
    if (!entry) {
      let stages: unknown;
      try {
        stages = JSON.parse(text);
      } catch {
        throw invalidConfig(where, `config.${UPLINK_CONFIG_KEY} is not JSON`);
      }
      entry = resolve(new CompressionPipeline(validatePipeline(stages, `${where}: config.${UPLINK_CONFIG_KEY}`), 'uplink'));
      if (announced.size > 16) announced.clear();
      announced.set(text, entry);
    }
    return entry;
  };
  const base = options.seed !== undefined ? new Rng(options.seed).stream('compression/uplink') : new SecureRng('compression/uplink');
  return (next, info) => async (message) => {
    let m = message;
    let borrowed: Float32Array | null = null;
    const raw = message as MessageBase & { encoded?: unknown; params?: unknown };
    if (raw.encoded !== undefined && (raw.type === 'train' || raw.type === 'evaluate')) {
      const where = `client ${info.clientId} ${raw.type} (round ${raw.round}): encoded params`;
      if (raw.params !== undefined) throw malformed(where, 'the instruction has both params and encoded');
      const h = readHeader(raw.encoded, where);
      borrowed = sharedBuffers.take(h.length);
      decodePayload(raw.encoded as Uint8Array, { out: borrowed, where });
      const { encoded: _encoded, ...rest } = raw;
      m = { ...rest, params: borrowed } as MessageBase;
    }
    try {
      const { pipeline, errorFeedback } = m.type === 'train' ? uplinkFor(m, `client ${info.clientId} train (round ${m.round})`) : { pipeline: null, errorFeedback: false };
      const reply = await next(m);
      const r = reply as MessageBase & { update?: unknown };
      if (!pipeline || reply.type !== 'train_result' || !(r.update instanceof Float32Array)) return reply;
      const update = r.update;
      const where = `client ${info.clientId} train (round ${reply.round}): update`;
      const rng = base.stream(info.clientId).stream(reply.round);
      let encoded: Uint8Array;
      if (errorFeedback) {
        let residual = info.state.get(RESIDUAL_STATE_KEY) as Float32Array | undefined;
        if (!(residual instanceof Float32Array) || residual.length !== update.length) {
          residual = new Float32Array(update.length);
          info.state.set(RESIDUAL_STATE_KEY, residual);
        }
        const corrected = sharedBuffers.take(update.length);
        try {
          addInto(update, residual, corrected);
          encoded = pipeline.encode(corrected, rng, where);
          decodePayload(encoded, { out: residual, where });
          subtractFrom(corrected, residual);
        } finally {
          sharedBuffers.give(corrected);
        }
      } else {
        encoded = pipeline.encode(update, rng, where);
      }
      // The runtime took the update from the shared pool; the transport only reclaims arrays still in the reply.
      sharedBuffers.give(update);
      const { update: _update, ...rest } = r;
      return { ...rest, encoded } as EncodedTrainReply;
    } finally {
      if (borrowed) sharedBuffers.give(borrowed);
    }
  };
}

/** out = a + b */
function addInto(a: Float32Array, b: Float32Array, out: Float32Array): void {
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
}

/** residual = corrected − residual (residual holds the decoded values on entry). */
function subtractFrom(corrected: Float32Array, residual: Float32Array): void {
  for (let i = 0; i < corrected.length; i++) residual[i] = corrected[i] - residual[i];
}

export interface CompressionServerLayerOptions extends Pick<CompressionOptions, 'downlink' | 'seed'> {
  /** An uplink pipeline to announce to clients in every train instruction (deployment; see above). */
  announceUplink?: PipelineSpec | string;
  /** Length every encoded update must decode to (default: the length of the parameters last sent). */
  expectedLength?: number;
}

/** The server half: encodes instruction parameters (downlink), decodes encoded train updates (uplink). */
export class CompressionServerLayer implements ServerLayer {
  readonly name = 'compression';
  readonly downlink: CompressionPipeline | null;
  private readonly base: Rng;
  private expectedLength: number | undefined;
  /** Decoded updates: one reused buffer per length (a reply's arrays live only during its handling). */
  private readonly buffers = new Map<number, Float32Array>();
  private cache: { round: number; params: Float32Array; bytes: Uint8Array } | null = null;
  private encodings = { round: -1, count: 0 };
  private readonly announcement: string | undefined;

  constructor(options: CompressionServerLayerOptions = {}) {
    const down = options.downlink !== undefined ? new CompressionPipeline(options.downlink, 'downlink') : null;
    if (down?.spec.some((s) => s.codec === 'topk')) {
      throw invalidConfig('downlink', 'topk is for updates; on the downlink it would zero most of the model (use fp16 or quantize)');
    }
    this.downlink = down && down.spec.length > 0 ? down : null;
    this.base = options.seed !== undefined ? new Rng(options.seed).stream('compression/downlink') : new SecureRng('compression/downlink');
    this.expectedLength = options.expectedLength;
    if (options.announceUplink !== undefined) {
      const up = new CompressionPipeline(options.announceUplink, 'uplink');
      if (up.spec.length > 0) this.announcement = JSON.stringify(up.spec);
    }
  }

  outgoing(message: MessageBase, ctx: ServerLayerContext): MessageBase {
    if (this.announcement !== undefined && message.type === 'train') {
      const t = message as MessageBase & { config?: Config };
      message = { ...t, config: { ...(t.config ?? {}), [UPLINK_CONFIG_KEY]: this.announcement } } as MessageBase;
    }
    const m = message as MessageBase & { params?: unknown };
    if (!(m.params instanceof Float32Array)) return message;
    const params = m.params;
    this.expectedLength ??= params.length;
    if (!this.downlink || (m.type !== 'train' && m.type !== 'evaluate')) return message;
    let bytes: Uint8Array;
    if (this.cache && this.cache.round === ctx.round && this.cache.params === params) bytes = this.cache.bytes;
    else {
      if (this.encodings.round !== ctx.round) this.encodings = { round: ctx.round, count: 0 };
      const rng = this.base.stream(ctx.round).stream(this.encodings.count++);
      bytes = this.downlink.encode(params, rng, `downlink params (round ${ctx.round})`);
      this.cache = { round: ctx.round, params, bytes };
    }
    const { params: _params, ...rest } = m;
    return { ...rest, encoded: bytes } as MessageBase;
  }

  incoming(reply: MessageBase, ctx: ServerLayerContext): MessageBase {
    const r = reply as MessageBase & { encoded?: unknown; update?: unknown };
    if (r.type !== 'train_result' || r.encoded === undefined) return reply;
    const where = `train reply from client ${ctx.clientId}: encoded update`;
    if (r.update !== undefined) throw malformed(where, 'the reply has both update and encoded');
    const h = readHeader(r.encoded, where);
    const expected = this.expectedLength;
    if (expected !== undefined && h.length !== expected) throw malformed(where, `decodes to ${h.length} values, expected ${expected}`, { expected, actual: h.length });
    let out = this.buffers.get(h.length);
    if (!out) this.buffers.set(h.length, (out = sharedBuffers.take(h.length)));
    decodePayload(r.encoded as Uint8Array, { out, where, expectedLength: expected });
    const { encoded: _encoded, ...rest } = r;
    return { ...rest, update: out } as MessageBase;
  }
}

export function compressionServerLayer(options: CompressionServerLayerOptions = {}): CompressionServerLayer {
  return new CompressionServerLayer(options);
}

/** Both halves from one config: `client` goes first in the clients' layers, `server` last in `serverLayers`. */
export function compressionLayers(options: CompressionOptions): { client: ClientLayer; server: CompressionServerLayer } {
  return {
    client: compressionClientLayer({ uplink: options.uplink, seed: options.seed }),
    server: compressionServerLayer({ downlink: options.downlink, seed: options.seed }),
  };
}
