/**
 * `BrowserClient`: a browser tab that joins a federa deployment — the page's twin of the Node
 * `FederaClient`. It keeps its Ed25519 identity in IndexedDB (a non-extractable WebCrypto key
 * where the browser has one), enrolls once with a token, trains with TF.js in the page through
 * the same `ClientSession`, `ClientRuntime`, trainer and client layers as Node, and speaks the
 * wire protocol over the browser's WebSocket. Only updates leave the page; the data never does.
 *
 * Progress reaches the page as events (`on(listener)`): connection state, the run, rounds,
 * training progress and local metrics.
 */
import { FederaError, describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ParamLayout } from '../core/params.js';
import type { Dataset } from '../data/dataset.js';
import type { ClientData, ClientLayer } from '../client/runtime.js';
import { deployedClientLayers } from '../run/client-layers.js';
import { zooTrainer } from '../run/zoo-trainer.js';
import { ClientSession, type DataSource, type TrainerFactory } from '../client/session.js';
import type { EvaluateOutcome, FitOptions, FitOutcome, Trainer } from '../client/trainer.js';
import { WireClient, type WebSocketLike, type WireClientOutcome } from '../wire/client.js';
import { webFrameCrypto } from '../wire/crypto.js';
import type { BackoffOptions, ModelSpec, Welcome } from '../wire/protocol.js';
import { initBrowserBackend, type BrowserBackendName } from './backend.js';
import { loadOrCreateBrowserIdentity, markBrowserEnrolled, serverHost, type BrowserIdentity } from './identity.js';

/** What a page hears from its client. */
export type BrowserClientEvent =
  | { type: 'identity'; clientId: string; created: boolean; storage: BrowserIdentity['storage']; enrolled: boolean }
  | { type: 'backend'; backend: string }
  | { type: 'connecting'; url: string; attempt: number }
  | { type: 'connected'; url: string }
  | { type: 'disconnected'; code: number; reason: string }
  | { type: 'welcome'; runId: string; round: number; model: ModelSpec; enrolled: boolean }
  | { type: 'ready'; trainExamples: number; validationExamples: number; parameters: number }
  | { type: 'instruction'; kind: string; round: number; bytes: number }
  | { type: 'training'; round: number; done: number; total: number }
  | { type: 'metrics'; kind: 'train' | 'evaluate'; round: number; loss: number; accuracy: number | undefined; numExamples: number; ms: number }
  | { type: 'reply'; kind: string; round: number; bytes: number }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string; fields: object }
  | { type: 'done'; outcome: WireClientOutcome }
  | { type: 'error'; message: string; code?: string };

export type BrowserClientListener = (event: BrowserClientEvent) => void;

export interface BrowserClientOptions {
  /** The server: `wss://host:port` (`https://` is accepted and turned into `wss://`). */
  server: string;
  /**
   * The local data: a Dataset (split into train and validation like a simulated client's
   * partition), a `{ train, validation }` pair, or a function of `{ clientId, model, seed }`
   * returning one (called when the server has said which model it trains).
   */
  data: Dataset | ClientData | DataSource;
  /** One-time enrollment token, needed the first time this identity meets this server. */
  token?: string;
  /** Which stored identity to use (default "default"); tabs of one origin playing several clients pick different names. */
  identityName?: string;
  /** An identity loaded beforehand with `loadOrCreateBrowserIdentity`. */
  identity?: BrowserIdentity;
  /** Client id for a new identity (default: derived from the public key). */
  clientId?: string;
  /** Keep the private key as raw bytes with @noble/curves even where WebCrypto Ed25519 exists. */
  forceRawKey?: boolean;
  /** TF.js backend (default: the first of webgl, wasm, cpu that initialises). */
  backend?: BrowserBackendName;
  /** Where the wasm backend's binaries are served (default: next to the bundle). */
  wasmPaths?: string;
  /** Builds the trainer for the server's model (default: the TF.js zoo). */
  createTrainer?: TrainerFactory;
  /**
   * Client-side layers, outermost first, inside the secure-aggregation layer every client has (as
   * in the Node client). Default: compression (follows the server's announced pipeline) and DP
   * (acts only on DP-FedAvg instructions); see `deployedClientLayers`.
   */
  layers?: readonly ClientLayer[];
  reconnect?: BackoffOptions & { maxAttempts?: number };
  stayAfterRun?: boolean;
  logger?: Logger;
  /** Accept `ws://` to a host that is not loopback (default false; see WireClientOptions.insecureAllowWs). */
  insecureAllowWs?: boolean;
  /** The WebSocket constructor (default: the page's). */
  WebSocket?: new (url: string) => WebSocketLike & { addEventListener(type: string, fn: (ev: any) => void): void };
}

/** Reports fit/evaluate progress and metrics of the trainer it wraps. */
class ObservedTrainer implements Trainer {
  round = 0;
  constructor(
    private readonly inner: Trainer,
    private readonly emit: BrowserClientListener,
  ) {}
  get layout(): ParamLayout {
    return this.inner.layout;
  }
  getParameters(out?: Float32Array): Float32Array {
    return this.inner.getParameters(out);
  }
  setParameters(params: Float32Array): void {
    this.inner.setParameters(params);
  }
  async fit(data: Dataset, options: FitOptions): Promise<FitOutcome> {
    const round = this.round;
    const t0 = performance.now();
    const outer = options.onProgress;
    const r = await this.inner.fit(data, {
      ...options,
      onProgress: (done, total) => {
        outer?.(done, total);
        this.emit({ type: 'training', round, done, total });
      },
    });
    const accuracy = typeof r.metrics.accuracy === 'number' ? r.metrics.accuracy : undefined;
    this.emit({ type: 'metrics', kind: 'train', round, loss: Number(r.metrics.loss), accuracy, numExamples: r.numExamples, ms: performance.now() - t0 });
    return r;
  }
  async evaluate(data: Dataset, options?: { batchSize?: number }): Promise<EvaluateOutcome> {
    const t0 = performance.now();
    const r = await this.inner.evaluate(data, options);
    const accuracy = typeof r.metrics.accuracy === 'number' ? r.metrics.accuracy : undefined;
    this.emit({ type: 'metrics', kind: 'evaluate', round: this.round, loss: r.loss, accuracy, numExamples: r.numExamples, ms: performance.now() - t0 });
    return r;
  }
  dispose(): void {
    this.inner.dispose();
  }
}

export class BrowserClient {
  private readonly o: BrowserClientOptions;
  private readonly listeners = new Set<BrowserClientListener>();
  private identityValue: BrowserIdentity | undefined;
  private wire: WireClient | undefined;
  private trainer: ObservedTrainer | undefined;
  private attempts = 0;
  private stopRequested = false;
  private started = false;

  constructor(options: BrowserClientOptions) {
    if (typeof options?.server !== 'string' || options.server.length === 0) throw new FederaError('invalid_config', 'BrowserClient: server (wss://host:port) is required');
    if (options.data === undefined || options.data === null) throw new FederaError('invalid_config', 'BrowserClient: data is required (a Dataset, { train, validation } or a function returning one)');
    this.o = options;
    this.identityValue = options.identity;
  }

  /** Adds a listener; returns a function that removes it. */
  on(listener: BrowserClientListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The identity (after `loadIdentity()` or `start()`). */
  get identity(): BrowserIdentity | undefined {
    return this.identityValue;
  }

  get clientId(): string | undefined {
    return this.identityValue?.clientId;
  }

  /** Whether the client is authenticated and serving right now. */
  get connected(): boolean {
    return this.wire?.connected ?? false;
  }

  private emit(e: BrowserClientEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a page's listener must not break the client
      }
    }
  }

  private logger(): Logger {
    const forward = (level: 'debug' | 'info' | 'warn' | 'error') => (fields: object, message = '') => {
      this.o.logger?.[level](fields, message);
      this.emit({ type: 'log', level, message, fields });
    };
    return { debug: forward('debug'), info: forward('info'), warn: forward('warn'), error: forward('error') };
  }

  /** Loads (or makes and stores) the identity; `start()` does it too. */
  async loadIdentity(): Promise<BrowserIdentity> {
    if (this.identityValue) return this.identityValue;
    const { identity, created } = await loadOrCreateBrowserIdentity({ server: this.o.server, name: this.o.identityName, clientId: this.o.clientId, forceRawKey: this.o.forceRawKey });
    this.identityValue = identity;
    this.emit({ type: 'identity', clientId: identity.clientId, created, storage: identity.storage, enrolled: identity.enrolledWith.includes(serverHost(this.o.server)) });
    return identity;
  }

  /** Joins the server and serves until the run completes (resolves) or the server refuses this client (rejects). */
  async start(): Promise<WireClientOutcome> {
    if (this.started) throw new FederaError('invalid_argument', 'BrowserClient.start() was already called (make a new BrowserClient to join again)');
    this.started = true;
    try {
      const outcome = await this.run();
      this.emit({ type: 'done', outcome });
      return outcome;
    } catch (e) {
      this.emit({ type: 'error', message: describeError(e), code: (e as { code?: string }).code });
      throw e;
    }
  }

  private async run(): Promise<WireClientOutcome> {
    const identity = await this.loadIdentity();
    const backend = await initBrowserBackend({ preferred: this.o.backend, wasmPaths: this.o.wasmPaths });
    this.emit({ type: 'backend', backend });
    if (this.stopRequested) return { reason: 'stopped', answered: 0 };
    const server = this.o.server;
    const createTrainer: TrainerFactory = async (model, ctx) => {
      const inner = await (this.o.createTrainer ?? zooTrainer)(model, ctx);
      this.trainer = new ObservedTrainer(inner, (e) => this.emit(e));
      return this.trainer;
    };
    const data = this.o.data;
    const logger = this.logger();
    const session = new ClientSession({
      clientId: identity.clientId,
      loadData: (w) => (typeof data === 'function' ? data({ clientId: identity.clientId, model: w.model, seed: w.seed }) : data),
      createTrainer,
      layers: deployedClientLayers(this.o.layers),
      logger,
      onReady: ({ trainer, data: d }) => this.emit({ type: 'ready', trainExamples: d.train.y.length, validationExamples: d.validation?.y.length ?? 0, parameters: trainer.layout.size }),
    });
    const Ws = this.o.WebSocket ?? (globalThis as { WebSocket?: BrowserClientOptions['WebSocket'] }).WebSocket;
    if (!Ws) throw new FederaError('unsupported', 'this environment has no WebSocket');
    this.wire = new WireClient({
      url: server.replace(/^https:/, 'wss:').replace(/^http:/, 'ws:'),
      insecureAllowWs: this.o.insecureAllowWs,
      connect: (url) => {
        this.emit({ type: 'connecting', url, attempt: ++this.attempts });
        const ws = new Ws(url);
        ws.addEventListener('open', () => this.emit({ type: 'connected', url }));
        ws.addEventListener('close', (ev: { code: number; reason: string }) => this.emit({ type: 'disconnected', code: ev.code, reason: ev.reason }));
        return ws;
      },
      clientId: identity.clientId,
      signer: identity.signer,
      crypto: webFrameCrypto(),
      // Sent even when this identity is known to be enrolled: the server ignores a token from a
      // known identity, and a server whose registry was reset can enroll the client again.
      enrollmentToken: this.o.token,
      onWelcome: (w: Welcome) => {
        this.emit({ type: 'welcome', runId: w.runId, round: w.round, model: w.model, enrolled: w.enrolled });
        return session.onWelcome(w);
      },
      onEnrolled: async () => {
        this.identityValue = await markBrowserEnrolled(identity, server);
      },
      onInstruction: (i) => {
        if (this.trainer) this.trainer.round = i.round;
        this.emit({ type: 'instruction', kind: i.type, round: i.round, bytes: i.bytes });
      },
      onReplySent: (i) => this.emit({ type: 'reply', kind: i.type, round: i.round, bytes: i.bytes }),
      reconnect: this.o.reconnect,
      stayAfterRun: this.o.stayAfterRun,
      logger,
    });
    try {
      return await this.wire.start();
    } finally {
      session.dispose();
      this.trainer = undefined;
    }
  }

  /** Leaves the federation (says goodbye to the server) and stops reconnecting. */
  stop(): void {
    this.stopRequested = true;
    this.wire?.stop();
  }
}
