/**
 * The client end of a deployment connection, isomorphic: it speaks the protocol over any
 * WebSocket with the browser's API (the browser's own `WebSocket`, or `ws` in Node), answers
 * instructions with a message handler (a `ClientRuntime`), signs every frame, sends heartbeats,
 * and reconnects with jittered exponential backoff until the run completes or it is stopped.
 */
import { FederaError, describeError } from '../core/errors.js';
import { describeConnectError, formatConnectError, type ConnectError } from './connect-error.js';
import type { MessageBase } from '../core/messages.js';
import { silentLogger, type Logger } from '../core/log.js';
import { sharedBuffers } from '../core/buffers.js';
import { decodeFrame, encodeFrame, float32Arrays, frameMessage, messageBody, webSocketMessageBytes, type DecodedFrame, type FrameInit } from './codec.js';
import { signFrame, type FrameCrypto, type FrameSigner } from './crypto.js';
import {
  CloseCode,
  FATAL_CLOSE_CODES,
  backoffDelay,
  checkClientId,
  helloBody,
  parseChallenge,
  parseNotice,
  parseWelcome,
  sequenceNonce,
  type BackoffOptions,
  type Welcome,
} from './protocol.js';

/** The subset of the browser WebSocket API the client uses (`ws` in Node implements it too). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the connection without a closing handshake. */
  terminate?(): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

const OPEN = 1;

export type MessageHandler = (message: MessageBase) => Promise<MessageBase>;

export interface WireClientOptions {
  /** `wss://host:port/ws` (the `/ws` path is added when the URL has none). */
  url: string;
  connect: (url: string) => WebSocketLike;
  clientId: string;
  signer: FrameSigner;
  crypto: FrameCrypto;
  /** One-time enrollment token, sent until the server has welcomed this identity once. */
  enrollmentToken?: string;
  /**
   * Called on every WELCOME (after each reconnect too) with the run's model spec; returns the
   * handler that answers instructions. A throw stops the client (e.g. data that does not fit the model).
   */
  onWelcome: (welcome: Welcome) => MessageHandler | Promise<MessageHandler>;
  /** Called once the server has enrolled this identity (persist that it no longer needs a token). */
  onEnrolled?: (welcome: Welcome) => void | Promise<void>;
  reconnect?: BackoffOptions & { maxAttempts?: number };
  /** Keep connecting after the run completes, to join the next one (default false: `start()` resolves). */
  stayAfterRun?: boolean;
  /** Largest frame accepted from the server (default 1 GiB: the server is trusted more than clients). */
  maxFrameBytes?: number;
  /**
   * Send frames over the limit the server announced anyway (attack simulations: the server then
   * closes the connection). By default such a reply is replaced by an error reply saying why.
   */
  ignoreServerLimit?: boolean;
  logger?: Logger;
  /** Observers for tests and benchmarks. */
  onInstruction?: (info: { type: string; round: number; requestId: number; bytes: number; at: number }) => void;
  onReplySent?: (info: { type: string; round: number; requestId: number; bytes: number; at: number }) => void;
  random?: () => number;
  /**
   * Accept a plain `ws://` URL to a host that is not loopback (default false): the enrollment
   * token, the updates and the model travel in clear, and nothing authenticates the server.
   */
  insecureAllowWs?: boolean;
}

export interface WireClientOutcome {
  reason: 'run_complete' | 'stopped';
  runId?: string;
  /** Instructions answered over the client's lifetime. */
  answered: number;
}

interface Work {
  frame: DecodedFrame;
  message: MessageBase;
}

interface Connection {
  readonly ws: WebSocketLike;
  readonly id: number;
  dead: boolean;
  opened: boolean;
  welcome?: Welcome;
  handler?: Promise<MessageHandler>;
  queue: Work[];
  busy: boolean;
  cancelled: Set<number>;
  running?: number;
  lastRx: number;
  lastTx: number;
  heartbeat?: ReturnType<typeof setInterval>;
  round: number;
  /** The server's challenge on this connection: signed into every frame sent on it. */
  challenge?: Uint8Array;
  /** Frames signed on this connection (the sequence in their nonces). */
  sequence: number;
  /** Signing and sending, one frame at a time, so that nonces leave in increasing order. */
  tx: Promise<unknown>;
  lastNotice?: string;
  /** Why the socket failed, from its `error` event (before `close`). */
  error?: ConnectError;
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data) && data.every((d) => d instanceof Uint8Array)) {
    const total = data.reduce((s: number, d: Uint8Array) => s + d.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const d of data as Uint8Array[]) {
      out.set(d, at);
      at += d.length;
    }
    return out;
  }
  return undefined;
}

/** Adds the protocol's `/ws` path to a bare `ws(s)://host:port` URL. */
export function websocketUrl(server: string): string {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new FederaError('invalid_config', `server URL "${server}" is not a URL (expected wss://host:port)`);
  }
  if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol !== 'wss:' && u.protocol !== 'ws:') throw new FederaError('invalid_config', `server URL "${server}" must start with wss:// (or ws:// for local tests)`);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/ws';
  return u.toString();
}

/** Whether `hostname` (as URL.hostname gives it) is this machine: localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Refuses a plain `ws://` URL to another machine unless `insecureAllowWs`: without TLS the
 * enrollment token and every update travel in clear and the server is not authenticated.
 */
export function checkTransportSecurity(url: string, insecureAllowWs = false): void {
  const u = new URL(url);
  if (u.protocol !== 'ws:' || insecureAllowWs || isLoopbackHost(u.hostname)) return;
  throw new FederaError(
    'invalid_config',
    `refusing the unencrypted server URL ${url}: over ws:// to another machine the enrollment token, the model and every update travel in clear and nothing authenticates the server. Use wss:// (a server with server.tls), or accept the risk with --insecure-allow-ws (insecureAllowWs: true)`,
  );
}

export class WireClient {
  private readonly o: WireClientOptions;
  private readonly logger: Logger;
  private conn: Connection | undefined;
  private connections = 0;
  private attempt = 0;
  private lastConnectError: ConnectError | undefined;
  private stopped = false;
  private finished = false;
  private runComplete = false;
  private answered = 0;
  private token: string | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private settle!: { resolve: (o: WireClientOutcome) => void; reject: (e: unknown) => void };
  private lastRunId: string | undefined;
  /**
   * Instructions run one at a time across connections too: after a reconnect, a new connection
   * must not start training while the old one's instruction still runs on the same trainer.
   */
  private handlerTail: Promise<unknown> = Promise.resolve();
  readonly url: string;

  constructor(options: WireClientOptions) {
    this.o = options;
    this.logger = options.logger ?? silentLogger;
    this.url = websocketUrl(options.url);
    checkTransportSecurity(this.url, options.insecureAllowWs);
    checkClientId(options.clientId);
    this.token = options.enrollmentToken;
  }

  /** Connects and serves until the run completes (resolves), `stop()` (resolves) or a fatal refusal (rejects). */
  start(): Promise<WireClientOutcome> {
    const done = new Promise<WireClientOutcome>((resolve, reject) => (this.settle = { resolve, reject }));
    this.open();
    return done;
  }

  /** Closes the connection and stops reconnecting. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const c = this.conn;
    if (c && !c.dead && c.ws.readyState === OPEN && c.welcome) {
      const bye = this.sendSigned(c, { kind: 'bye', runId: c.welcome.runId, round: c.round, body: { reason: 'client_stop' } });
      void bye.catch(() => {}).finally(() => c.ws.close(1000, 'client stop'));
    } else if (c) {
      if (!c.dead && c.ws.readyState === OPEN) c.ws.close(1000, 'client stop'); // not welcomed yet: nothing to say goodbye to
      this.kill(c);
    }
    this.finish({ reason: 'stopped', runId: this.lastRunId, answered: this.answered });
  }

  /** Whether the client is authenticated and serving right now. */
  get connected(): boolean {
    return Boolean(this.conn && !this.conn.dead && this.conn.welcome);
  }

  private finish(outcome: WireClientOutcome | Error): void {
    if (this.finished) return;
    this.finished = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (outcome instanceof Error) this.settle.reject(outcome);
    else this.settle.resolve(outcome);
  }

  private open(): void {
    if (this.stopped || this.finished) return;
    let ws: WebSocketLike;
    try {
      ws = this.o.connect(this.url);
    } catch (e) {
      this.logger.warn({ error: describeError(e) }, 'cannot open a connection');
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    const c: Connection = { ws, id: ++this.connections, dead: false, opened: false, queue: [], busy: false, cancelled: new Set(), lastRx: now(), lastTx: now(), round: 0, sequence: 0, tx: Promise.resolve() };
    this.conn = c;
    ws.onopen = () => {
      c.opened = true;
      this.lastConnectError = undefined;
      c.lastRx = now();
      this.logger.debug({ url: this.url }, 'connected; waiting for the challenge');
    };
    ws.onmessage = (ev) => {
      if (c.dead) return;
      c.lastRx = now();
      const bytes = toBytes(ev.data);
      if (!bytes) {
        this.protocolError(c, 'the server sent a text frame');
        return;
      }
      this.onFrame(c, bytes).catch((e) => this.protocolError(c, describeError(e)));
    };
    ws.onerror = (ev) => {
      c.error = describeConnectError(ev, this.url);
    };
    ws.onclose = (ev) => this.onClose(c, ev.code, ev.reason);
    // Node's `ws` shows the server's WebSocket pings; browsers answer them silently (and rely on
    // the PONGs to their own PINGs instead).
    const emitter = ws as unknown as { on?: (event: string, fn: () => void) => void };
    if (typeof emitter.on === 'function') emitter.on('ping', () => (c.lastRx = now()));
  }

  private protocolError(c: Connection, reason: string): void {
    this.logger.warn({ reason }, 'protocol error from the server; reconnecting');
    if (!c.dead) c.ws.close(CloseCode.protocolViolation, reason.slice(0, 120));
    this.kill(c);
    this.scheduleReconnect();
  }

  /** Forgets a connection: its queued work is dropped, its events ignored. */
  private kill(c: Connection): void {
    if (c.dead) return;
    c.dead = true;
    if (c.heartbeat) clearInterval(c.heartbeat);
    for (const w of c.queue.splice(0)) this.releaseMessage(w.message);
    try {
      c.ws.terminate?.();
    } catch {
      // already closed
    }
  }

  private onClose(c: Connection, code: number, reason: string): void {
    if (c.dead && c !== this.conn) return;
    const wasDead = c.dead;
    this.kill(c);
    if (this.stopped || this.finished) return;
    const why = c.lastNotice ?? reason;
    if (FATAL_CLOSE_CODES.has(code)) {
      this.logger.error({ code, reason: why }, 'the server refused this client; not reconnecting');
      this.finish(new FederaError('unauthorized', `server refused client ${this.o.clientId}: ${why || `close code ${code}`}`, { closeCode: code }));
      return;
    }
    if ((code === CloseCode.runComplete || this.runComplete) && !this.o.stayAfterRun) {
      this.logger.info({ runId: this.lastRunId, answered: this.answered }, 'run complete');
      this.finish({ reason: 'run_complete', runId: this.lastRunId, answered: this.answered });
      return;
    }
    this.runComplete = false;
    if (!c.opened && c.error?.tls) {
      // A certificate that the client rejects stays rejected: say why, once, and stop.
      const text = formatConnectError(c.error);
      this.logger.error({ code: c.error.code, tls: c.error.tls, error: c.error.message }, `TLS: ${text}`);
      this.finish(new FederaError('tls_error', `cannot connect to ${this.url}: ${text}`, { tls: c.error.tls, errorCode: c.error.code }));
      return;
    }
    if (!c.opened) {
      if (c.error) this.lastConnectError = c.error;
      // The first failure and every tenth are worth a line with the reason; the rest are routine.
      const level = this.attempt === 0 || this.attempt % 10 === 9 ? 'warn' : 'debug';
      this.logger[level]({ code, error: c.error?.message, errorCode: c.error?.code }, `cannot connect${c.error ? `: ${formatConnectError(c.error)}` : ''}`);
    }
    else if (!wasDead) this.logger.info({ code, reason: why }, 'connection closed');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.finished || this.reconnectTimer) return;
    const max = this.o.reconnect?.maxAttempts;
    if (max !== undefined && this.attempt >= max) {
      const last = this.lastConnectError ? `: ${formatConnectError(this.lastConnectError)}` : '';
      this.finish(new FederaError('disconnected', `could not reach ${this.url} after ${this.attempt} attempts${last}`, this.lastConnectError?.code ? { errorCode: this.lastConnectError.code } : undefined));
      return;
    }
    const delay = backoffDelay(this.attempt++, this.o.reconnect, this.o.random);
    // The first attempt and then every tenth are worth a line; the rest are routine.
    const level = this.attempt === 1 || this.attempt % 10 === 0 ? 'info' : 'debug';
    this.logger[level]({ attempt: this.attempt, delayMs: Math.round(delay) }, 'reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.open();
    }, delay);
  }

  private async onFrame(c: Connection, bytes: Uint8Array): Promise<void> {
    const frame = decodeFrame(bytes, { maxFrameBytes: this.o.maxFrameBytes ?? 1024 * 1024 * 1024, allocFloat32: (n) => sharedBuffers.take(n) });
    switch (frame.kind) {
      case 'challenge': {
        if (c.challenge) throw new FederaError('malformed_message', 'a second challenge on the same connection');
        const ch = parseChallenge(frame);
        c.round = ch.round;
        c.challenge = ch.challenge;
        const body = helloBody({ challenge: ch.challenge, publicKey: this.o.signer.publicKey, enrollmentToken: this.token });
        await this.sendSigned(c, { kind: 'hello', runId: ch.runId, round: ch.round, body });
        if (ch.heartbeatMs > 0) this.startHeartbeat(c, ch.heartbeatMs);
        return;
      }
      case 'welcome': {
        const welcome = parseWelcome(frame);
        if (welcome.clientId !== this.o.clientId) throw new FederaError('malformed_message', `welcome for client ${welcome.clientId}, expected ${this.o.clientId}`);
        c.welcome = welcome;
        c.round = welcome.round;
        this.attempt = 0;
        this.token = undefined;
        this.lastRunId = welcome.runId;
        this.logger.info({ runId: welcome.runId, round: welcome.round, model: welcome.model.name, enrolled: welcome.enrolled }, 'joined the run');
        c.handler = Promise.resolve(this.o.onWelcome(welcome));
        c.handler.catch((e) => {
          this.logger.error({ error: describeError(e) }, 'cannot serve this run');
          this.stopped = true;
          c.ws.close(1000, 'client cannot serve this run');
          this.kill(c);
          this.finish(e instanceof Error ? e : new Error(String(e)));
        });
        if (welcome.enrolled) await this.o.onEnrolled?.(welcome);
        void this.drain(c);
        return;
      }
      case 'instruction': {
        if (!c.welcome || frame.runId !== c.welcome.runId) {
          this.releaseMessage(frameMessage(frame));
          throw new FederaError('malformed_message', `instruction for run "${frame.runId}" before or outside the welcomed run`);
        }
        c.round = Math.max(c.round, frame.round);
        const message = frameMessage(frame);
        this.o.onInstruction?.({ type: frame.type, round: frame.round, requestId: frame.requestId, bytes: frame.byteLength, at: now() });
        c.queue.push({ frame, message });
        void this.drain(c);
        return;
      }
      case 'cancel': {
        c.round = Math.max(c.round, frame.round);
        c.cancelled.add(frame.requestId);
        const i = c.queue.findIndex((w) => w.frame.requestId === frame.requestId);
        if (i >= 0) this.releaseMessage(c.queue.splice(i, 1)[0].message);
        return;
      }
      case 'notice': {
        const n = parseNotice(frame);
        c.lastNotice = `${n.code}: ${n.reason}`;
        this.logger.warn({ code: n.code, reason: n.reason, requestId: n.requestId }, 'the server rejected a frame');
        return;
      }
      case 'bye':
        if (frame.body.reason === 'run_complete') this.runComplete = true;
        this.logger.info({ reason: frame.body.reason }, 'the server said goodbye');
        return;
      case 'pong':
        c.round = Math.max(c.round, frame.round);
        return;
      default:
        throw new FederaError('malformed_message', `unexpected ${frame.kind} frame from the server`);
    }
  }

  /** Answers queued instructions one at a time (a trainer does one thing at a time). */
  private async drain(c: Connection): Promise<void> {
    if (c.busy || !c.handler) return;
    c.busy = true;
    try {
      let handler: MessageHandler;
      try {
        handler = await c.handler;
      } catch {
        return; // reported where the handler was made
      }
      while (!c.dead && c.queue.length) {
        const work = c.queue.shift()!;
        const id = work.frame.requestId;
        if (c.cancelled.has(id)) {
          this.releaseMessage(work.message);
          continue;
        }
        c.running = id;
        let reply: MessageBase;
        try {
          const run = this.handlerTail.then(() => handler(work.message));
          this.handlerTail = run.catch(() => {});
          reply = await run;
        } finally {
          this.releaseMessage(work.message);
          c.running = undefined;
        }
        if (c.dead || c.cancelled.has(id)) {
          this.releaseMessage(reply);
          continue;
        }
        let body;
        try {
          body = messageBody(reply);
          const bytes = await this.sendSigned(c, { kind: 'reply', runId: work.frame.runId, round: work.frame.round, requestId: id, type: reply.type, body });
          this.answered++;
          this.o.onReplySent?.({ type: reply.type, round: work.frame.round, requestId: id, bytes, at: now() });
        } catch (e) {
          // The reply could not be encoded (e.g. an unsupported value): say so instead.
          this.logger.error({ error: describeError(e), requestId: id }, 'cannot send the reply');
          await this.sendSigned(c, { kind: 'reply', runId: work.frame.runId, round: work.frame.round, requestId: id, type: 'error', body: { code: 'client_exception', message: describeError(e) } });
        } finally {
          this.releaseMessage(reply);
        }
      }
    } finally {
      c.busy = false;
    }
  }

  private releaseMessage(m: MessageBase): void {
    for (const a of float32Arrays(m)) sharedBuffers.give(a);
  }

  /**
   * Encodes, signs (for this connection's challenge, with its next sequence nonce) and sends a
   * frame on `c`; returns its wire size (0 when the connection is gone). Frames are signed and
   * sent one after another: a ping signed while a large reply is hashed must not overtake it,
   * or the server would see the reply's nonce go backwards and refuse it as a replay.
   */
  private sendSigned(c: Connection, init: Omit<FrameInit, 'clientId' | 'nonce'>): Promise<number> {
    const run = c.tx.then(async () => {
      const challenge = c.challenge;
      if (!challenge) throw new FederaError('malformed_message', 'cannot sign a frame before the server\'s challenge');
      const frame = encodeFrame({ ...init, clientId: this.o.clientId, nonce: sequenceNonce(++c.sequence) }, { reserveSignature: true });
      // The server refuses larger messages at the WebSocket layer and closes the connection; say
      // why instead (the caller answers with a small error reply the round records).
      const limit = c.welcome?.maxFrameBytes;
      if (limit !== undefined && frame.length > limit && !this.o.ignoreServerLimit) {
        throw new FederaError('payload_too_large', `a ${init.kind} frame of ${frame.length} bytes is over the server's limit of ${limit} bytes (server.maxMessageBytes)`);
      }
      await signFrame(frame, this.o.signer, this.o.crypto, challenge);
      if (c.dead || c.ws.readyState !== OPEN) return 0;
      c.ws.send(frame);
      c.lastTx = now();
      return webSocketMessageBytes(frame.length, true);
    });
    c.tx = run.catch(() => {});
    return run;
  }

  private startHeartbeat(c: Connection, intervalMs: number): void {
    if (c.heartbeat) clearInterval(c.heartbeat);
    c.heartbeat = setInterval(() => {
      if (c.dead) return;
      const t = now();
      if (t - c.lastRx > 3 * intervalMs) {
        this.logger.warn({ silentMs: Math.round(t - c.lastRx) }, 'no frame from the server for 3 heartbeats; reconnecting');
        try {
          c.ws.close(CloseCode.heartbeatTimeout, 'heartbeat timeout');
        } catch {
          // ignore
        }
        this.kill(c);
        this.scheduleReconnect();
        return;
      }
      if (c.welcome && t - c.lastTx >= intervalMs * 0.9) {
        void this.sendSigned(c, { kind: 'ping', runId: c.welcome.runId, round: c.round }).catch(() => {});
      }
    }, intervalMs);
    (c.heartbeat as { unref?: () => void }).unref?.();
  }
}
