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
import type { Dataset } from '../data/dataset.js';
import type { ClientData, ClientLayer } from '../client/runtime.js';
import { deployedClientLayers } from '../run/client-layers.js';
import { zooTrainer } from '../run/zoo-trainer.js';
import { ClientSession, isClientData, isDataset, type DataSource, type TrainerFactory } from '../client/session.js';
import { WireClient, type WebSocketLike, type WireClientOutcome, type WireClientOptions } from '../wire/client.js';
import type { BackoffOptions, Welcome } from '../wire/protocol.js';
import { loadCsvFile } from './csv.js';
import { checkTokenForIdentity, defaultIdentityName, defaultIdentityPath, loadOrCreateIdentity, markEnrolled, nodeFrameCrypto, nodeSigner, serverKey, type ClientIdentity } from './identity.js';

export type { DataContext, DataSource } from '../client/session.js';

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
  /**
   * CSV float target columns, needed when the server's model spec says task 'regression'.
   * Ignored for classification.
   */
  targetColumns?: string[];
  featureColumns?: string[];
  /** One-time enrollment token, needed the first time this identity meets this server. */
  token?: string;
  /** Client id (default: the identity file's, or one derived from the public key). */
  clientId?: string;
  /**
   * Identity file path, or an identity in memory. Default: `~/.federa/identities/<host>/<name>.json`,
   * `name` being `clientId` when given, else `defaultIdentityName(data file)` (unique per data file,
   * or per working directory for in-memory data).
   */
  identity?: string | ClientIdentity;
  /** Extra CA certificates (PEM) to trust, e.g. a self-signed server certificate. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Builds the trainer for the server's model (default: the TF.js zoo: "logreg", "2nn"). */
  createTrainer?: TrainerFactory;
  /**
   * Client-side layers, outermost first, inside the secure-aggregation layer every client has.
   * Default: compression (follows the server's announced pipeline) and DP (acts only on DP-FedAvg
   * instructions). See `deployedClientLayers`.
   */
  layers?: readonly ClientLayer[];
  logger?: Logger;
  reconnect?: BackoffOptions & { maxAttempts?: number };
  /** Stay connected after the run completes, to join the next one. */
  stayAfterRun?: boolean;
  onInstruction?: WireClientOptions['onInstruction'];
  onReplySent?: WireClientOptions['onReplySent'];
  /** Accept `ws://` to a host that is not loopback (default false; see WireClientOptions.insecureAllowWs). */
  insecureAllowWs?: boolean;
}

export class FederaClient {
  readonly clientId: string;
  private readonly o: FederaClientOptions;
  private readonly logger: Logger;
  private identity: ClientIdentity;
  private wire: WireClient | undefined;
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
      // Without --id, the identity is named after the data file (or the working directory), so
      // two clients on one machine get two identities.
      const name = options.clientId ?? defaultIdentityName(typeof options.data === 'string' ? options.data : undefined);
      const path = options.identity ?? defaultIdentityPath(options.server, name);
      const { identity, created } = loadOrCreateIdentity(path, options.clientId);
      this.identity = identity;
      if (created) this.logger.info({ clientId: identity.clientId, path }, 'created a new client identity');
    }
    this.clientId = this.identity.clientId;
    checkTokenForIdentity(this.identity, options.server, options.token);
  }

  /** Joins the server and serves until the run completes (resolves) or the server refuses this client (rejects). */
  async start(): Promise<WireClientOutcome> {
    if (this.wire) throw new FederaError('invalid_argument', 'FederaClient.start() was already called');
    this.checkDataFile();
    const server = this.o.server;
    const enrolled = this.identity.enrolledWith.includes(serverKey(server));
    if (!enrolled && this.o.token === undefined) {
      this.logger.warn({ clientId: this.clientId }, 'this identity is not known to be enrolled with the server and no token was given');
    }
    const ca = this.o.ca;
    const session = new ClientSession({ clientId: this.clientId, loadData: (w) => this.loadData(w), createTrainer: this.o.createTrainer ?? zooTrainer, layers: deployedClientLayers(this.o.layers), logger: this.logger });
    this.wire = new WireClient({
      url: server,
      insecureAllowWs: this.o.insecureAllowWs,
      connect: (url) => new WebSocket(url, { ca, maxPayload: 1024 * 1024 * 1024, perMessageDeflate: false, handshakeTimeout: 15_000 }) as unknown as WebSocketLike,
      clientId: this.clientId,
      signer: nodeSigner(this.identity.privateKey),
      crypto: nodeFrameCrypto,
      // Sent even when the identity file says it is enrolled: the server ignores a token from a
      // known identity, and a server whose registry was reset can enroll the client again.
      enrollmentToken: this.o.token,
      onWelcome: (w) => session.onWelcome(w),
      onEnrolled: () => {
        this.identity = markEnrolled(this.identity, server, this.o.token);
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
      session.dispose();
    }
  }

  stop(): void {
    this.wire?.stop();
  }

  /**
   * A data file's mistakes (a typo in the path, a missing label column, a bad row) are found
   * before the client connects, so they never cost an enrollment token. The model's class count
   * is checked again once the server's spec is known.
   */
  private checkDataFile(): void {
    const d = this.o.data;
    if (typeof d !== 'string') return;
    if (!existsSync(resolve(d))) throw new FederaError('not_found', `data file ${d} does not exist (nothing was sent to the server)`);
    if (extname(d).toLowerCase() !== '.csv') return;
    const targets = this.o.targetColumns?.length ? this.o.targetColumns : undefined;
    try {
      loadCsvFile(resolve(d), targets ? { targetColumns: targets, featureColumns: this.o.featureColumns } : { labelColumn: this.o.labelColumn ?? 'label', featureColumns: this.o.featureColumns });
    } catch (e) {
      // The server's task is not known before connecting: a file without the default label
      // column may be meant for a regression, whose target columns must then be named.
      if (targets || this.o.labelColumn !== undefined || !(e instanceof FederaError) || !/no such column \(labelColumn\)/.test(e.message)) throw e;
      throw new FederaError(e.code, `${e.message}. Name the label column (labelColumn, --label-column), or for a server whose model is a regression, the float target column(s) (targetColumns, --target-column); nothing was sent to the server`, e.details);
    }
  }

  private async loadData(w: Welcome): Promise<Dataset | ClientData> {
    const d = this.o.data;
    if (typeof d === 'function') return d({ clientId: this.clientId, model: w.model, seed: w.seed });
    if (typeof d !== 'string') return d;
    const key = `${d}|${w.model.numClasses}|${w.model.task ?? 'classification'}`;
    if (this.rawData?.key === key) return this.rawData.value;
    const path = resolve(d);
    if (!existsSync(path)) throw new FederaError('not_found', `data file ${d} does not exist`);
    let value: Dataset | ClientData;
    if (extname(path).toLowerCase() === '.csv') {
      if (w.model.task === 'regression') {
        if (!this.o.targetColumns?.length) {
          throw new FederaError('invalid_config', `the server's model ${w.model.name} is a regression: name the float target column(s) of ${d} (targetColumns, --target-column)`);
        }
        value = loadCsvFile(path, { targetColumns: this.o.targetColumns, featureColumns: this.o.featureColumns }).dataset;
      } else {
        value = loadCsvFile(path, { labelColumn: this.o.labelColumn ?? 'label', featureColumns: this.o.featureColumns, numClasses: w.model.numClasses }).dataset;
      }
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
