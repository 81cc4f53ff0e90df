/**
 * The client runtime: receives instructions, runs the trainer, and answers. The same runtime runs
 * in a simulated virtual client, a Node process and a browser tab. Client-side layers (DP,
 * compression, secure aggregation) wrap its handler as middleware.
 */
import type { Config, ErrorReply, EvaluateInstruction, EvaluateReply, MessageBase, TrainInstruction, TrainReply } from '../core/messages.js';
import { checkHeader } from '../core/messages.js';
import { FederaError, describeError, isFederaError } from '../core/errors.js';
import { subtract } from '../core/kernels.js';
import { sharedBuffers } from '../core/buffers.js';
import type { Dataset } from '../data/dataset.js';
import type { Trainer } from './trainer.js';
import { DITTO_CONFIG, DITTO_STATE_KEY, FINE_TUNE_CONFIG_KEY, INITIAL_LOSS_CONFIG_KEY, INITIAL_LOSS_METRIC, PERSONALIZED_PREFIX } from '../strategy/strategy.js';

export type MessageHandler = (message: MessageBase) => Promise<MessageBase>;

/** A client-side layer: wraps the next handler (e.g. clip and noise the update on its way out). */
export type ClientLayer = (next: MessageHandler, client: ClientInfo) => MessageHandler;

export interface ClientInfo {
  readonly clientId: string;
  /**
   * State that outlives one instruction: kept by the client process, or by the simulation host
   * for a virtual client across its materialisations (e.g. a compression residual).
   */
  readonly state: Map<string, unknown>;
}

export interface ClientData {
  train: Dataset;
  /** Local validation split for federated evaluation. */
  validation?: Dataset;
}

export interface ClientRuntimeOptions {
  clientId: string;
  trainer: Trainer;
  data: ClientData;
  /** Outermost first: layers[0] sees the instruction first and the reply last. */
  layers?: readonly ClientLayer[];
  /** Defaults for instruction config keys the server does not send. */
  defaults?: Partial<TrainSettings>;
  /** Persistent per-client state handed to layers (default: a new, private map). */
  state?: Map<string, unknown>;
}

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  learningRate: number;
  proximalMu: number;
}

const DEFAULT_SETTINGS: TrainSettings = { epochs: 1, batchSize: 32, learningRate: 0.01, proximalMu: 0 };

export class ClientRuntime {
  readonly clientId: string;
  private readonly handler: MessageHandler;
  private readonly o: ClientRuntimeOptions;
  /** The client's persistent state (layers' residuals, Ditto's personal model). */
  private readonly state: Map<string, unknown>;

  constructor(options: ClientRuntimeOptions) {
    this.o = options;
    this.clientId = options.clientId;
    let h: MessageHandler = (m) => this.dispatch(m);
    const layers = options.layers ?? [];
    this.state = options.state ?? new Map();
    const info: ClientInfo = { clientId: options.clientId, state: this.state };
    for (let i = layers.length - 1; i >= 0; i--) h = layers[i](h, info);
    this.handler = h;
  }

  /** Handles one instruction. Never throws: a failure becomes an `error` reply with a code and reason. */
  async handle(message: MessageBase): Promise<MessageBase> {
    try {
      return await this.handler(message);
    } catch (e) {
      const m = message as Partial<MessageBase>;
      const reply: ErrorReply = {
        type: 'error',
        runId: typeof m.runId === 'string' ? m.runId : '',
        round: typeof m.round === 'number' ? m.round : 0,
        code: isFederaError(e) ? e.code : 'client_exception',
        message: describeError(e),
      };
      return reply;
    }
  }

  private async dispatch(message: MessageBase): Promise<MessageBase> {
    checkHeader(message, `client ${this.clientId}`);
    switch (message.type) {
      case 'train':
        return this.train(message as TrainInstruction);
      case 'evaluate':
        return this.evaluate(message as EvaluateInstruction);
      default:
        throw new FederaError('unsupported', `client ${this.clientId}: no handler for message type "${message.type}"`);
    }
  }

  /**
   * Values are not scanned here: the server checks its model after every aggregation, and wire
   * transports reject non-finite values while decoding, so a second O(d) pass per client is waste.
   */
  private checkParams(params: unknown, where: string): Float32Array {
    if (!(params instanceof Float32Array)) throw new FederaError('malformed_message', `${where}: params is not a Float32Array`);
    this.o.trainer.layout.check(params, `${where}: params`);
    return params;
  }

  private async train(m: TrainInstruction): Promise<TrainReply> {
    const where = `client ${this.clientId} train (round ${m.round})`;
    const params = this.checkParams(m.params, where);
    const s = trainSettings(m.config, { ...DEFAULT_SETTINGS, ...this.o.defaults }, where);
    const trainer = this.o.trainer;
    trainer.setParameters(params);
    // q-FedAvg's F_k: the received model's loss on the training data, before it trains.
    const initialLoss = m.config[INITIAL_LOSS_CONFIG_KEY] === true && this.o.data.train.y.length > 0 ? (await trainer.evaluate(this.o.data.train)).loss : undefined;
    const outcome = await trainer.fit(this.o.data.train, {
      epochs: s.epochs,
      batchSize: s.batchSize,
      learningRate: s.learningRate,
      proximalMu: s.proximalMu,
      seed: typeof m.config.seed === 'number' || typeof m.config.seed === 'string' ? m.config.seed : `${this.clientId}/${m.round}`,
    });
    // The update is built in a pooled buffer; the transport returns it to the pool once sent.
    const trained = trainer.getParameters(sharedBuffers.take(params.length));
    const update = subtract(trained, params, trained);
    // Ditto: the personal model trains from where it was toward the global model it received.
    const lambda = m.config[DITTO_CONFIG.lambda];
    if (lambda !== undefined) {
      if (typeof lambda !== 'number' || !(lambda >= 0) || !Number.isFinite(lambda)) throw new FederaError('invalid_config', `${where}: config.${DITTO_CONFIG.lambda} must be a finite number ≥ 0, got ${JSON.stringify(lambda)}`);
      const personal = this.state.get(DITTO_STATE_KEY);
      trainer.setParameters(personal instanceof Float32Array && personal.length === params.length ? personal : params);
      const ds = trainSettings({ ...m.config, epochs: m.config[DITTO_CONFIG.epochs] ?? s.epochs }, { ...DEFAULT_SETTINGS, ...this.o.defaults }, `${where} (Ditto)`);
      await trainer.fit(this.o.data.train, { epochs: ds.epochs, batchSize: ds.batchSize, learningRate: ds.learningRate, proximalMu: lambda, proximalAnchor: params, seed: `${this.clientId}/${m.round}/ditto` });
      this.state.set(DITTO_STATE_KEY, trainer.getParameters());
    }
    const metrics = initialLoss === undefined ? outcome.metrics : { ...outcome.metrics, [INITIAL_LOSS_METRIC]: initialLoss };
    return { type: 'train_result', runId: m.runId, round: m.round, update, numExamples: outcome.numExamples, metrics };
  }

  private async evaluate(m: EvaluateInstruction): Promise<EvaluateReply> {
    const where = `client ${this.clientId} evaluate (round ${m.round})`;
    const params = this.checkParams(m.params, where);
    const data = this.o.data.validation;
    if (!data || data.y.length === 0) {
      return { type: 'evaluate_result', runId: m.runId, round: m.round, loss: 0, numExamples: 0, metrics: {} };
    }
    this.o.trainer.setParameters(params);
    const r = await this.o.trainer.evaluate(data);
    // Ditto: this client's personal model, once it has one.
    const personal = this.state.get(DITTO_STATE_KEY);
    if (m.config?.[DITTO_CONFIG.evaluate] === true && personal instanceof Float32Array && personal.length === params.length) {
      this.o.trainer.setParameters(personal);
      return { type: 'evaluate_result', runId: m.runId, round: m.round, loss: r.loss, numExamples: r.numExamples, metrics: { ...r.metrics, ...personalizedMetrics(await this.o.trainer.evaluate(data)) } };
    }
    const epochs = m.config?.[FINE_TUNE_CONFIG_KEY];
    if (epochs !== undefined && this.o.data.train.y.length > 0) {
      // Personalization: the received model fine-tuned on this client's training split, scored again.
      const s = trainSettings({ ...m.config, epochs }, { ...DEFAULT_SETTINGS, ...this.o.defaults }, `${where} (fine-tuning)`);
      await this.o.trainer.fit(this.o.data.train, { epochs: s.epochs, batchSize: s.batchSize, learningRate: s.learningRate, proximalMu: 0, seed: `${this.clientId}/${m.round}/fine-tune` });
      return { type: 'evaluate_result', runId: m.runId, round: m.round, loss: r.loss, numExamples: r.numExamples, metrics: { ...r.metrics, ...personalizedMetrics(await this.o.trainer.evaluate(data)) } };
    }
    return { type: 'evaluate_result', runId: m.runId, round: m.round, loss: r.loss, numExamples: r.numExamples, metrics: r.metrics };
  }
}

/** Reads the training settings from an instruction's config, with defaults; wrong types are errors. */
export function trainSettings(config: Config, defaults: TrainSettings, where: string): TrainSettings {
  const num = (key: keyof TrainSettings, ok: (v: number) => boolean, expected: string): number => {
    const v = config[key];
    if (v === undefined) return defaults[key];
    if (typeof v !== 'number' || !ok(v)) throw new FederaError('invalid_config', `${where}: config.${key} must be ${expected}, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    epochs: num('epochs', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1'),
    batchSize: num('batchSize', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1'),
    learningRate: num('learningRate', (v) => Number.isFinite(v) && v > 0, 'a number > 0'),
    proximalMu: num('proximalMu', (v) => Number.isFinite(v) && v >= 0, 'a number ≥ 0'),
  };
}

/** A personalized model's scores, named with PERSONALIZED_PREFIX. */
function personalizedMetrics(p: { loss: number; metrics: Record<string, number> }): Record<string, number> {
  const out: Record<string, number> = { [`${PERSONALIZED_PREFIX}loss`]: p.loss };
  for (const [k, v] of Object.entries(p.metrics)) out[`${PERSONALIZED_PREFIX}${k}`] = v;
  return out;
}
