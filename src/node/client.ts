/**
 * `FederaClient`: a Node process that joins a federa deployment. It keeps an Ed25519 identity in
 * a file, enrolls once with a token, builds its trainer from the model spec the server sends, cuts
 * its local validation split as a simulation would, and answers instructions with the same
 * `ClientRuntime` (and client layers) as a simulated client — over `ws`, reconnecting by itself.
 */
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';
import { FederaError, describeError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { ParamLayout } from '../core/params.js';
import { Rng } from '../core/rng.js';
import type { Dataset } from '../data/dataset.js';
import { subset } from '../data/dataset.js';
import { splitIndices } from '../data/partition.js';
import { ClientRuntime, type ClientData, type ClientLayer } from '../client/runtime.js';
import type { Trainer } from '../client/trainer.js';
import { WireClient, type MessageHandler, type WebSocketLike, type WireClientOutcome, type WireClientOptions } from '../wire/client.js';
import type { BackoffOptions, ModelSpec, Welcome } from '../wire/protocol.js';
import { loadCsvFile } from './csv.js';
import { defaultIdentityPath, loadOrCreateIdentity, markEnrolled, nodeFrameCrypto, nodeSigner, serverKey, type ClientIdentity } from './identity.js';

export interface DataContext {
  clientId: string;
  model: ModelSpec;
  seed: number | string;
}

/** A function that produces the client's data once the model is known (also what a data module exports). */
export type DataSource = (ctx: DataContext) => Dataset | ClientData | Promise<Dataset | ClientData>;

export interface FederaClientOptions {
  /** `wss://host:port` of the server. */
  server: string;
  /**
   * The client's data: a CSV file (with a label column), an ES module whose default export is a
   * Dataset, a `{ train, validation }` pair or a function of `{ clientId, model, seed }` returning
   * one; or the same in memory. A Dataset is split into train and validation like a simulated
   * client's partition (fraction and seed from the server).
   */
  data: string | Dataset | ClientData | DataSource;
  /** CSV label column (default "label"). */
  labelColumn?: string;
  featureColumns?: string[];
  /** One-time enrollment token, needed the first time this identity meets this server. */
  token?: string;
  /** Client id (default: the identity file's, or one derived from the public key). */
  clientId?: string;
  /** Identity file path (default ~/.federa/identities/<host>/<id>.json), or an identity in memory. */
  identity?: string | ClientIdentity;
  /** Extra CA certificates (PEM) to trust, e.g. a self-signed server certificate. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Builds the trainer for the server's model (default: the TF.js zoo: "logreg", "2nn"). */
  createTrainer?: (model: ModelSpec, ctx: { seed: number | string }) => Trainer | Promise<Trainer>;
  /** Client-side layers (clipping, noise, compression, masking), outermost first. */
  layers?: readonly ClientLayer[];
  logger?: Logger;
  reconnect?: BackoffOptions & { maxAttempts?: number };
  /** Stay connected after the run completes, to join the next one. */
  stayAfterRun?: boolean;
  onInstruction?: WireClientOptions['onInstruction'];
  onReplySent?: WireClientOptions['onReplySent'];
}

const ZOO_MODELS = new Set(['logreg', '2nn']);

async function zooTrainer(model: ModelSpec, ctx: { seed: number | string }): Promise<Trainer> {
  if (!ZOO_MODELS.has(model.name)) {
    throw new FederaError('unsupported', `the server's model "${model.name}" is not in federa's zoo (${[...ZOO_MODELS].join(', ')}); pass createTrainer to build it`);
  }
  const { createTfjsTrainer } = await import('../models/tfjs-trainer.js');
  return createTfjsTrainer(model.name as 'logreg' | '2nn', model.numFeatures, model.numClasses, { seed: ctx.seed });
}

function isDataset(x: unknown): x is Dataset {
  return typeof x === 'object' && x !== null && (x as Dataset).x instanceof Float32Array && (x as Dataset).y instanceof Int32Array;
}

function isClientData(x: unknown): x is ClientData {
  return typeof x === 'object' && x !== null && isDataset((x as ClientData).train);
}

export class FederaClient {
  readonly clientId: string;
  private readonly o: FederaClientOptions;
  private readonly logger: Logger;
  private identity: ClientIdentity;
  private wire: WireClient | undefined;
  private trainer: Trainer | undefined;
  private handlerKey: string | undefined;
  private handler: MessageHandler | undefined;
  private readonly state = new Map<string, unknown>();
  private rawData: { key: string; value: Dataset | ClientData } | undefined;

  constructor(options: FederaClientOptions) {
    this.o = options;
    this.logger = options.logger ?? silentLogger;
    if (typeof options.identity === 'object') {
      this.identity = options.identity;
      if (options.clientId !== undefined && options.clientId !== this.identity.clientId) {
        throw new FederaError('invalid_config', `clientId "${options.clientId}" does not match the identity's "${this.identity.clientId}"`);
      }
    } else {
      const path = options.identity ?? defaultIdentityPath(options.server, options.clientId);
      const { identity, created } = loadOrCreateIdentity(path, options.clientId);
      this.identity = identity;
      if (created) this.logger.info({ clientId: identity.clientId, path }, 'created a new client identity');
    }
    this.clientId = this.identity.clientId;
  }

  /** Joins the server and serves until the run completes (resolves) or the server refuses this client (rejects). */
  async start(): Promise<WireClientOutcome> {
    if (this.wire) throw new FederaError('invalid_argument', 'FederaClient.start() was already called');
    const server = this.o.server;
    const enrolled = this.identity.enrolledWith.includes(serverKey(server));
    if (!enrolled && this.o.token === undefined) {
      this.logger.warn({ clientId: this.clientId }, 'this identity is not known to be enrolled with the server and no token was given');
    }
    const ca = this.o.ca;
    this.wire = new WireClient({
      url: server,
      connect: (url) => new WebSocket(url, { ca, maxPayload: 1024 * 1024 * 1024, perMessageDeflate: false, handshakeTimeout: 15_000 }) as unknown as WebSocketLike,
      clientId: this.clientId,
      signer: nodeSigner(this.identity.privateKey),
      crypto: nodeFrameCrypto,
      // Sent even when the identity file says it is enrolled: the server ignores a token from a
      // known identity, and a server whose registry was reset can enroll the client again.
      enrollmentToken: this.o.token,
      onWelcome: (w) => this.onWelcome(w),
      onEnrolled: () => {
        this.identity = markEnrolled(this.identity, server);
        this.logger.info({ clientId: this.clientId }, 'enrolled with the server');
      },
      reconnect: this.o.reconnect,
      stayAfterRun: this.o.stayAfterRun,
      logger: this.logger,
      onInstruction: this.o.onInstruction,
      onReplySent: this.o.onReplySent,
    });
    try {
      return await this.wire.start();
    } finally {
      this.trainer?.dispose();
      this.trainer = undefined;
    }
  }

  stop(): void {
    this.wire?.stop();
  }

  private async onWelcome(w: Welcome): Promise<MessageHandler> {
    const key = JSON.stringify([w.model, w.seed, w.validationFraction]);
    if (this.handler && key === this.handlerKey) return this.handler;
    this.trainer?.dispose();
    this.trainer = undefined;
    const trainer = await (this.o.createTrainer ?? zooTrainer)(w.model, { seed: w.seed });
    this.trainer = trainer;
    const layout = ParamLayout.fromJSON(w.model.layout);
    if (!trainer.layout.equals(layout)) {
      throw new FederaError('invalid_config', `the local trainer's parameter layout (${trainer.layout.size} values) does not match the server's model ${w.model.name} (${layout.size} values)`);
    }
    const data = await this.clientData(w);
    const runtime = new ClientRuntime({ clientId: this.clientId, trainer, data, layers: this.o.layers, state: this.state });
    this.logger.info({ clientId: this.clientId, model: w.model.name, trainExamples: data.train.y.length, validationExamples: data.validation?.y.length ?? 0 }, 'ready to train');
    this.handler = (m) => runtime.handle(m);
    this.handlerKey = key;
    return this.handler;
  }

  private async clientData(w: Welcome): Promise<ClientData> {
    const raw = await this.loadData(w);
    const check = (d: Dataset, what: string) => {
      if (d.numFeatures !== w.model.numFeatures) throw new FederaError('data_error', `${what} has ${d.numFeatures} features; the server's model ${w.model.name} takes ${w.model.numFeatures}`);
      if (d.numClasses > w.model.numClasses) throw new FederaError('data_error', `${what} has ${d.numClasses} classes; the server's model has ${w.model.numClasses}`);
    };
    if (isClientData(raw)) {
      check(raw.train, 'the training data');
      if (raw.validation) check(raw.validation, 'the validation data');
      return raw;
    }
    check(raw, 'the data');
    // The same cut a simulated client's partition gets: positions shuffled by the run seed's
    // "validation-split/<client id>" stream (so a partition written out in order splits identically).
    const all = Int32Array.from({ length: raw.y.length }, (_, i) => i);
    const { first, second } = splitIndices(all, w.validationFraction, new Rng(w.seed).stream('validation-split').stream(this.clientId));
    return { train: subset(raw, first), validation: subset(raw, second) };
  }

  private async loadData(w: Welcome): Promise<Dataset | ClientData> {
    const d = this.o.data;
    if (typeof d === 'function') return d({ clientId: this.clientId, model: w.model, seed: w.seed });
    if (typeof d !== 'string') return d;
    const key = `${d}|${w.model.numClasses}`;
    if (this.rawData?.key === key) return this.rawData.value;
    const path = resolve(d);
    if (!existsSync(path)) throw new FederaError('not_found', `data file ${d} does not exist`);
    let value: Dataset | ClientData;
    if (extname(path).toLowerCase() === '.csv') {
      value = loadCsvFile(path, { labelColumn: this.o.labelColumn ?? 'label', featureColumns: this.o.featureColumns, numClasses: w.model.numClasses }).dataset;
    } else {
      let mod: Record<string, unknown>;
      try {
        mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
      } catch (e) {
        throw new FederaError('data_error', `cannot import data module ${d}: ${describeError(e)}`);
      }
      const exported = mod.default ?? mod.dataset ?? mod.data;
      const v = typeof exported === 'function' ? await (exported as DataSource)({ clientId: this.clientId, model: w.model, seed: w.seed }) : exported;
      if (!isDataset(v) && !isClientData(v)) throw new FederaError('data_error', `data module ${d} must export (as default, "dataset" or "data") a Dataset, a { train, validation } pair, or a function returning one`);
      value = v;
    }
    this.rawData = { key, value };
    return value;
  }
}
