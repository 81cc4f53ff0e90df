/**
 * `WebSocketGrid`: the engine's `Grid` over WebSocket connections (the network twin of
 * `InMemoryGrid`). Clients connect, answer a challenge with a signed HELLO (enrolling with a
 * one-time token the first time), and become available for selection; `request` sends an
 * INSTRUCTION and resolves with the matching signed REPLY.
 *
 * Every client frame is checked in this order: text frames and floods (a token bucket per
 * connection; replies to the server's own requests spend solicited passes instead), size, decoding (version, structure, finite values), client id, run id,
 * round, signature (made for this connection's challenge, so a frame captured on another
 * connection, or before a server restart, never verifies), replay (nonces strictly increase on a
 * connection), and for a reply its request (open on this connection, same round, answered once). A rejected frame is answered with a NOTICE naming the
 * reason, logged, counted, recorded against the client, and fails that client's pending requests
 * (so the round records why and goes on without it); repeated violations close the connection.
 * A disconnect fails the pending requests of that client at once.
 */
import type { IncomingMessage } from 'node:http';
import { randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { WebSocket } from 'ws';
import { FederaError, describeError, isFederaError, type FederaErrorCode } from '../core/errors.js';
import type { MessageBase } from '../core/messages.js';
import { silentLogger, type Logger } from '../core/log.js';
import { sharedBuffers } from '../core/buffers.js';
import type { Grid, GridReply } from '../engine/grid.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  NONCE_BYTES,
  decodeFrame,
  encodeFrame,
  float32Arrays,
  frameMessage,
  messageBody,
  webSocketMessageBytes,
  type DecodedFrame,
  type FrameInit,
} from '../wire/codec.js';
import { toHex } from '../wire/crypto.js';
import {
  CHALLENGE_BYTES,
  CloseCode,
  DEFAULT_HEARTBEAT_MS,
  PREAUTH_MAX_FRAME_BYTES,
  challengeBody,
  nonceIncreases,
  noticeBody,
  parseHello,
  welcomeBody,
  type Welcome,
} from '../wire/protocol.js';
import { ed25519PublicKey, verifyFrameSync } from '../node/identity.js';
import type { ClientDirectory } from './store.js';
import type { GridMetrics } from './metrics.js';
import { WIRE_LIMITS, describeTruncations, limitReplyStrings, truncateString } from '../wire/limits.js';

/** Why a frame was rejected (sent in NOTICEs, logged, counted, stored). */
export type RejectionCode =
  | 'text_frame'
  | 'malformed_message'
  | 'non_finite'
  | 'payload_too_large'
  | 'rate_limited'
  | 'unauthenticated'
  | 'bad_challenge'
  | 'unknown_client'
  | 'invalid_token'
  | 'identity_conflict'
  | 'wrong_key'
  | 'revoked'
  | 'bad_signature'
  | 'wrong_client'
  | 'wrong_run'
  | 'wrong_round'
  | 'replay'
  | 'unexpected_frame'
  | 'unexpected_reply'
  | 'oversized_string';

const ERROR_CODE: Record<RejectionCode, FederaErrorCode> = {
  text_frame: 'malformed_message',
  malformed_message: 'malformed_message',
  non_finite: 'non_finite',
  payload_too_large: 'payload_too_large',
  rate_limited: 'rate_limited',
  unauthenticated: 'unauthorized',
  bad_challenge: 'unauthorized',
  unknown_client: 'unauthorized',
  invalid_token: 'unauthorized',
  identity_conflict: 'unauthorized',
  wrong_key: 'unauthorized',
  revoked: 'unauthorized',
  bad_signature: 'unauthorized',
  wrong_client: 'unauthorized',
  wrong_run: 'unauthorized',
  wrong_round: 'malformed_message',
  replay: 'unauthorized',
  unexpected_frame: 'malformed_message',
  unexpected_reply: 'malformed_message',
  oversized_string: 'malformed_message',
};

export interface RateLimit {
  /** Sustained frames per second per connection (default 20). */
  framesPerSecond: number;
  /** Bucket size: frames allowed in a burst (default 40). */
  burst: number;
}

export interface WebSocketGridOptions {
  runId: string;
  directory: ClientDirectory;
  /** Run facts every WELCOME carries (model spec, seed, validation fraction). */
  welcome: Pick<Welcome, 'model' | 'seed' | 'validationFraction'>;
  logger?: Logger;
  metrics?: GridMetrics;
  /** Server WebSocket pings and the interval clients ping at; a peer silent for two is dropped (default 10 s; 0 = off). */
  heartbeatMs?: number;
  /** Time a new connection has to authenticate (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Largest frame accepted from an authenticated client (default 64 MiB). */
  maxFrameBytes?: number;
  rateLimit?: RateLimit;
  /** Rejected frames after which a connection is closed (default 10). */
  maxViolations?: number;
  /**
   * Called once a connection's HELLO verified, before the WELCOME is sent: the server raises the
   * socket's payload limit from the pre-auth limit and settles its admission deadline here.
   */
  onAuthenticated?: (ws: WebSocket, req: IncomingMessage | undefined) => void;
  /**
   * Hand replies of one exchange to the engine in request order instead of arrival order. Makes a
   * deployment aggregate in the same order as a simulation (bitwise-reproducible runs); a slow
   * client then delays the delivery (not the sending) of later replies.
   */
  orderedReplies?: boolean;
}

interface Pending {
  readonly id: number;
  readonly round: number;
  readonly type: string;
  readonly sentAt: number;
  readonly bytesDown: number;
  resolve(reply: GridReply): void;
  reject(error: unknown): void;
}

interface Conn {
  readonly id: number;
  readonly ws: WebSocket;
  readonly remote: string;
  readonly connectedAt: number;
  /** Signed into every frame of this connection (see `src/wire/crypto.ts`). */
  readonly challenge: Uint8Array;
  /** The round its CHALLENGE announced: no honest frame on this connection claims an earlier one. */
  readonly startRound: number;
  /** Nonce of the last frame accepted on this connection; the next must be above it. */
  lastNonce?: Uint8Array;
  readonly req?: IncomingMessage;
  state: 'challenged' | 'ready' | 'closed';
  clientId?: string;
  key?: KeyObject;
  tokens: number;
  refilledAt: number;
  /**
   * Solicited passes: one per request sent (at most {@link MAX_SOLICITED_PASSES}); a reply to an
   * open or recently closed request spends one instead of a flood-bucket token, so the replies
   * the server asked for never count against the rate limit, however short the rounds.
   */
  passes: number;
  violations: number;
  /** Heartbeats without any sign of life (pong or frame); two in a row drop the connection. */
  missed: number;
  lastSeen: number;
  readonly pending: Map<number, Pending>;
  /** Closed requests whose late answer is expected and harmless (id → round), dropped once. */
  readonly cancelled: Map<number, number>;
  handshakeTimer?: ReturnType<typeof setTimeout>;
  framesIn: number;
  bytesIn: number;
}

export interface ConnectionStatus {
  clientId?: string;
  remote: string;
  state: string;
  connectedMs: number;
  lastSeenMs: number;
  violations: number;
  pending: Array<{ requestId: number; type: string; round: number; sinceMs: number }>;
}

/** Most solicited passes a connection banks (replies it may send without charging the flood bucket). */
export const MAX_SOLICITED_PASSES = 1024;

function nowMs(): number {
  return performance.now();
}

/** A client-chosen value as a log field: strings cut to the message cap. */
function logString(v: unknown): unknown {
  return typeof v === 'string' ? truncateString(v, WIRE_LIMITS.errorMessage).value : v;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export class WebSocketGrid implements Grid {
  private readonly o: WebSocketGridOptions;
  private readonly logger: Logger;
  private readonly conns = new Set<Conn>();
  private readonly ready = new Map<string, Conn>();
  private readonly waiters = new Set<() => void>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly heartbeat: ReturnType<typeof setInterval> | undefined;
  private nextConnId = 0;
  /**
   * Request ids come from one counter for the whole process, so that no two requests share an id
   * on any connection (a reply names the request it answers). It wraps after 2³² − 2 requests.
   */
  private nextRequestId = 0;
  private currentRound = 0;
  private closing = false;
  readonly maxFrameBytes: number;
  readonly heartbeatMs: number;

  constructor(options: WebSocketGridOptions) {
    this.o = options;
    this.logger = options.logger ?? silentLogger;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    if (this.heartbeatMs > 0) {
      this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs);
      this.heartbeat.unref();
    }
  }

  get runId(): string {
    return this.o.runId;
  }

  get round(): number {
    return this.currentRound;
  }

  /** The round announced to connecting clients; frames claiming a later round than the next are refused. */
  setRound(round: number): void {
    if (round <= this.currentRound) return;
    this.currentRound = round;
    for (const key of this.chains.keys()) if (Number(key.split('/')[0]) < round) this.chains.delete(key);
  }

  // -------------------------------------------------------------------------------------------
  // Grid

  availableClients(): readonly string[] {
    return [...this.ready.keys()].sort();
  }

  /** Resolves once at least `count` clients are available (or rejects when `signal` aborts). */
  waitForClients(count: number, signal?: AbortSignal): Promise<void> {
    if (this.ready.size >= count) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.ready.size >= count) {
          cleanup();
          resolve();
        }
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new FederaError('aborted', 'stopped waiting for clients'));
      };
      const cleanup = () => {
        this.waiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
      };
      this.waiters.add(check);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  async request(clientId: string, message: MessageBase, signal: AbortSignal): Promise<GridReply> {
    const gated = this.send(clientId, message, signal);
    if (!this.o.orderedReplies) return gated;
    const key = `${message.round}/${message.type}`;
    const previous = this.chains.get(key) ?? Promise.resolve();
    const ordered = gated.then(
      async (r) => {
        await previous;
        return r;
      },
      async (e: unknown) => {
        await previous;
        throw e;
      },
    );
    this.chains.set(
      key,
      ordered.then(
        () => {},
        () => {},
      ),
    );
    return ordered;
  }

  private send(clientId: string, message: MessageBase, signal: AbortSignal): Promise<GridReply> {
    if (signal.aborted) return Promise.reject(signal.reason ?? new FederaError('aborted', 'request aborted'));
    const conn = this.ready.get(clientId);
    if (!conn) return Promise.reject(new FederaError('disconnected', `client ${clientId} is not connected`));
    this.setRound(message.round);
    const id = (this.nextRequestId = (this.nextRequestId % 0xfffffffe) + 1);
    const frame = encodeFrame({ kind: 'instruction', runId: this.o.runId, round: message.round, requestId: id, type: message.type, body: messageBody(message) });
    const bytesDown = webSocketMessageBytes(frame.length, false);
    return new Promise<GridReply>((resolve, reject) => {
      const onAbort = () => {
        if (!conn.pending.delete(id)) return;
        this.remember(conn, id, message.round);
        this.sendFrame(conn, { kind: 'cancel', runId: this.o.runId, round: message.round, requestId: id, body: { reason: 'the exchange closed' } });
        reject(signal.reason ?? new FederaError('aborted', 'request aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      conn.pending.set(id, {
        id,
        round: message.round,
        type: message.type,
        sentAt: nowMs(),
        bytesDown,
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      this.o.metrics?.frameOut(frame.length);
      conn.passes = Math.min(MAX_SOLICITED_PASSES, conn.passes + 1);
      conn.ws.send(frame, (err) => {
        if (err && conn.pending.has(id)) this.failPending(conn, new FederaError('disconnected', `could not send to client ${clientId}: ${err.message}`), id);
      });
    });
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  /** Takes over an upgraded WebSocket: sends the challenge and starts the handshake clock. */
  accept(ws: WebSocket, req?: IncomingMessage): void {
    if (this.closing) {
      ws.close(CloseCode.serverShutdown, 'server shutting down');
      return;
    }
    const remote = `${req?.socket.remoteAddress ?? '?'}:${req?.socket.remotePort ?? '?'}`;
    const rate = this.o.rateLimit ?? { framesPerSecond: 20, burst: 40 };
    const conn: Conn = {
      id: ++this.nextConnId,
      ws,
      remote,
      connectedAt: nowMs(),
      challenge: new Uint8Array(randomBytes(CHALLENGE_BYTES)),
      startRound: this.currentRound,
      ...(req ? { req } : {}),
      state: 'challenged',
      tokens: rate.burst,
      refilledAt: nowMs(),
      passes: 0,
      violations: 0,
      missed: 0,
      lastSeen: nowMs(),
      pending: new Map(),
      cancelled: new Map(),
      framesIn: 0,
      bytesIn: 0,
    };
    this.conns.add(conn);
    this.reportConnections();
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    ws.on('pong', () => {
      conn.missed = 0;
    });
    ws.on('close', (code, reason) => this.onClose(conn, code, reason.toString()));
    ws.on('error', (e) => this.logger.debug({ remote, clientId: conn.clientId, error: describeError(e) }, 'connection error'));
    conn.handshakeTimer = setTimeout(() => {
      if (conn.state === 'challenged') this.closeConn(conn, CloseCode.handshakeTimeout, 'no valid hello within the handshake timeout');
    }, this.o.handshakeTimeoutMs ?? 10_000);
    conn.handshakeTimer.unref?.();
    this.sendFrame(conn, {
      kind: 'challenge',
      runId: this.o.runId,
      round: conn.startRound,
      body: challengeBody({ challenge: conn.challenge, heartbeatMs: this.heartbeatMs, maxFrameBytes: this.maxFrameBytes }),
    });
  }

  /** Closes the connection of `clientId` (e.g. after revoking it). Returns whether one was open. */
  disconnect(clientId: string, code: number, reason: string, noticeCode = 'revoked'): boolean {
    const conn = this.ready.get(clientId);
    if (!conn) return false;
    this.sendFrame(conn, { kind: 'notice', body: noticeBody({ code: noticeCode, reason }) });
    this.closeConn(conn, code, reason);
    return true;
  }

  /** Says goodbye to every client and closes every connection. */
  close(reason: 'run_complete' | 'server_shutdown' = 'server_shutdown'): void {
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    const code = reason === 'run_complete' ? CloseCode.runComplete : CloseCode.serverShutdown;
    for (const conn of [...this.conns]) {
      if (conn.state === 'ready') this.sendFrame(conn, { kind: 'bye', runId: this.o.runId, round: this.currentRound, body: { reason } });
      this.closeConn(conn, code, reason);
    }
    for (const w of [...this.waiters]) w();
  }

  status(): { connections: number; authenticated: number; clients: ConnectionStatus[] } {
    const t = nowMs();
    const clients = [...this.conns].map((c) => ({
      ...(c.clientId ? { clientId: c.clientId } : {}),
      remote: c.remote,
      state: c.state,
      connectedMs: Math.round(t - c.connectedAt),
      lastSeenMs: Math.round(t - c.lastSeen),
      violations: c.violations,
      pending: [...c.pending.values()].map((p) => ({ requestId: p.id, type: p.type, round: p.round, sinceMs: Math.round(t - p.sentAt) })),
    }));
    return { connections: this.conns.size, authenticated: this.ready.size, clients };
  }

  private reportConnections(): void {
    this.o.metrics?.connections(this.conns.size, this.ready.size);
  }

  private beat(): void {
    for (const conn of this.conns) {
      if (conn.state === 'closed') continue;
      if (conn.missed >= 2) {
        this.logger.warn({ clientId: conn.clientId, remote: conn.remote, silentMs: Math.round(nowMs() - conn.lastSeen) }, 'no sign of life for two heartbeats; dropping the connection');
        conn.ws.terminate();
        continue;
      }
      conn.missed++;
      try {
        conn.ws.ping();
      } catch {
        // closing
      }
    }
  }

  private onClose(conn: Conn, code: number, reason: string): void {
    const wasReady = conn.state === 'ready';
    conn.state = 'closed';
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
    this.conns.delete(conn);
    if (conn.clientId && this.ready.get(conn.clientId) === conn) this.ready.delete(conn.clientId);
    this.failPending(conn, new FederaError('disconnected', `client ${conn.clientId ?? '?'} disconnected (close code ${code}${reason ? `: ${reason}` : ''})`, { closeCode: code }));
    this.reportConnections();
    if (wasReady) this.logger.info({ clientId: conn.clientId, code, reason, frames: conn.framesIn, violations: conn.violations }, 'client left');
    else if (conn.violations) this.logger.debug({ remote: conn.remote, code, violations: conn.violations }, 'unauthenticated connection closed');
  }

  private closeConn(conn: Conn, code: number, reason: string): void {
    if (conn.state === 'closed') return;
    const wasReady = conn.state === 'ready';
    conn.state = 'closed';
    if (conn.clientId && this.ready.get(conn.clientId) === conn) this.ready.delete(conn.clientId);
    if (wasReady) this.failPending(conn, new FederaError('disconnected', `client ${conn.clientId} was disconnected: ${reason}`));
    this.reportConnections();
    try {
      conn.ws.close(code, reason.slice(0, 120));
    } catch {
      conn.ws.terminate();
    }
    // A peer that never completes the closing handshake is cut off.
    setTimeout(() => conn.ws.terminate(), 5000).unref();
  }

  private failPending(conn: Conn, error: unknown, only?: number): void {
    for (const [id, p] of [...conn.pending]) {
      if (only !== undefined && id !== only) continue;
      conn.pending.delete(id);
      this.remember(conn, id, p.round);
      p.reject(error);
    }
  }

  /** Remembers a request id (of `round`) whose late reply is expected and harmless. */
  private remember(conn: Conn, id: number, round: number): void {
    conn.cancelled.set(id, round);
    if (conn.cancelled.size > 1024) conn.cancelled.delete(conn.cancelled.keys().next().value as number);
  }

  private sendFrame(conn: Conn, init: FrameInit): void {
    if (conn.ws.readyState !== 1) return;
    const bytes = encodeFrame(init);
    this.o.metrics?.frameOut(bytes.length);
    conn.ws.send(bytes);
  }

  // -------------------------------------------------------------------------------------------
  // Incoming frames

  private reject(conn: Conn, code: RejectionCode, reason: string, options: { close?: number; requestId?: number } = {}): void {
    conn.violations++;
    this.o.metrics?.rejected(code);
    const who = conn.clientId ?? `unauthenticated@${conn.remote}`;
    // Warnings are bounded per connection (5) and, for unauthenticated peers, overall (20 per
    // 10 s, then one summary line): a flood of garbage must not become a flood of log lines.
    const loud = conn.violations <= 5 && (conn.clientId !== undefined || this.preauthLogBudget());
    if (loud) this.logger.warn({ clientId: who, code, reason }, `rejected a frame from ${who}: ${code}`);
    else this.logger.debug({ clientId: who, code, reason }, `rejected a frame from ${who}: ${code}`);
    if (conn.clientId && conn.state === 'ready') {
      try {
        this.o.directory.mark?.(conn.clientId, code, reason, this.o.runId, this.currentRound);
      } catch (e) {
        this.logger.error({ error: describeError(e) }, 'cannot record a client event');
      }
      // The round goes on without this client's pending answers; their failure says why.
      if (conn.pending.size) this.failPending(conn, new FederaError(ERROR_CODE[code], `${code}: ${reason}`, { rejection: code }));
    }
    this.sendFrame(conn, { kind: 'notice', body: noticeBody({ code, reason, requestId: options.requestId }) });
    const limit = this.o.maxViolations ?? 10;
    if (options.close !== undefined) this.closeConn(conn, options.close, `${code}: ${reason}`);
    else if (conn.violations >= limit) this.closeConn(conn, code === 'rate_limited' ? CloseCode.rateLimited : CloseCode.protocolViolation, `too many rejected frames (last: ${code})`);
  }

  /** A violation in a frame that was still used (strings cut to their caps): counted, recorded, told. */
  private strike(conn: Conn, fields: readonly string[], reason: string): void {
    conn.violations++;
    for (const f of fields) this.o.metrics?.truncated?.(f);
    const clientId = conn.clientId!;
    if (conn.violations <= 5) this.logger.warn({ clientId, code: 'oversized_string', reason }, `cut oversized strings in a reply from ${clientId}`);
    try {
      this.o.directory.mark?.(clientId, 'oversized_string', reason, this.o.runId, this.currentRound);
    } catch (e) {
      this.logger.error({ error: describeError(e) }, 'cannot record a client event');
    }
    this.sendFrame(conn, { kind: 'notice', body: noticeBody({ code: 'oversized_string', reason }) });
    if (conn.violations >= (this.o.maxViolations ?? 10)) this.closeConn(conn, CloseCode.protocolViolation, 'too many rejected frames (last: oversized_string)');
  }

  private preauthLog = { windowStart: 0, used: 0, suppressed: 0 };

  /** Whether an unauthenticated peer's rejection may be logged at warn level now. */
  private preauthLogBudget(): boolean {
    const t = nowMs();
    const w = this.preauthLog;
    if (t - w.windowStart > 10_000) {
      if (w.suppressed) this.logger.warn({ suppressed: w.suppressed }, `${w.suppressed} more rejected frames from unauthenticated connections in the last window (logged at debug level)`);
      w.windowStart = t;
      w.used = 0;
      w.suppressed = 0;
    }
    if (w.used < 20) {
      w.used++;
      return true;
    }
    w.suppressed++;
    return false;
  }

  private takeToken(conn: Conn): boolean {
    const rate = this.o.rateLimit ?? { framesPerSecond: 20, burst: 40 };
    const t = nowMs();
    conn.tokens = Math.min(rate.burst, conn.tokens + ((t - conn.refilledAt) / 1000) * rate.framesPerSecond);
    conn.refilledAt = t;
    if (conn.tokens < 1) return false;
    conn.tokens -= 1;
    return true;
  }

  /**
   * For a frame that arrived while the connection held solicited passes: a reply to an open (or
   * recently cancelled) request spends a pass; any other frame takes a bucket token. False when
   * neither is left.
   */
  private spendPass(conn: Conn, frame: DecodedFrame): boolean {
    const solicited = frame.kind === 'reply' && (conn.pending.has(frame.requestId) || conn.cancelled.has(frame.requestId));
    if (solicited) {
      conn.passes--;
      return true;
    }
    return this.takeToken(conn);
  }

  private onMessage(conn: Conn, data: unknown, isBinary: boolean): void {
    if (conn.state === 'closed') return;
    const bytes = data instanceof Uint8Array ? data : Array.isArray(data) ? Buffer.concat(data as Buffer[]) : new Uint8Array(data as ArrayBuffer);
    conn.missed = 0;
    conn.lastSeen = nowMs();
    conn.framesIn++;
    conn.bytesIn += bytes.length;
    this.o.metrics?.frameIn(bytes.length);
    // A frame is charged to the flood bucket unless it is a reply the server asked for; those
    // spend a solicited pass (so the bucket only has to hold pings and unsolicited frames). With
    // neither a token nor a pass left the frame is dropped before it is decoded.
    const deferred = conn.state === 'ready' && conn.passes > 0;
    if (!deferred && !this.takeToken(conn)) {
      this.reject(conn, 'rate_limited', 'more frames than the per-connection rate limit allows');
      return;
    }
    if (!isBinary) {
      this.reject(conn, 'text_frame', 'text frames are not part of the protocol; send binary frames', { close: conn.state === 'ready' ? undefined : CloseCode.protocolViolation });
      return;
    }
    const limit = conn.state === 'ready' ? this.maxFrameBytes : PREAUTH_MAX_FRAME_BYTES;
    let frame: DecodedFrame;
    try {
      frame = decodeFrame(bytes, { maxFrameBytes: limit, allocFloat32: (n) => sharedBuffers.take(n) });
    } catch (e) {
      const code: RejectionCode = isFederaError(e, 'payload_too_large') ? 'payload_too_large' : isFederaError(e, 'non_finite') ? 'non_finite' : 'malformed_message';
      this.reject(conn, code, e instanceof Error ? e.message : String(e), { close: conn.state === 'ready' ? undefined : CloseCode.protocolViolation });
      return;
    }
    if (deferred && !this.spendPass(conn, frame)) {
      this.release(frame);
      this.reject(conn, 'rate_limited', 'more frames than the per-connection rate limit allows');
      return;
    }
    try {
      if (conn.state === 'challenged') this.onHello(conn, frame);
      else this.onClientFrame(conn, frame);
    } catch (e) {
      this.release(frame);
      this.logger.error({ clientId: conn.clientId, error: describeError(e) }, 'internal error while handling a frame');
      this.reject(conn, 'malformed_message', `the server could not handle the frame: ${describeError(e)}`);
    }
  }

  private release(frame: DecodedFrame): void {
    for (const a of float32Arrays(frame.body)) sharedBuffers.give(a);
  }

  private onHello(conn: Conn, frame: DecodedFrame): void {
    const fatal = { close: CloseCode.unauthorized };
    if (frame.kind !== 'hello') {
      this.release(frame);
      this.reject(conn, 'unauthenticated', `a ${frame.kind} frame before authentication; the first frame must be a signed hello`, fatal);
      return;
    }
    let hello;
    try {
      hello = parseHello(frame);
    } catch (e) {
      this.reject(conn, 'malformed_message', (e as Error).message, { close: CloseCode.protocolViolation });
      return;
    }
    if (!sameBytes(hello.challenge, conn.challenge)) {
      this.reject(conn, 'bad_challenge', 'the hello does not answer this connection\'s challenge (a replayed or forged hello)', fatal);
      return;
    }
    if (frame.runId !== this.o.runId) {
      this.reject(conn, 'wrong_run', `hello for run "${frame.runId}"; this server runs "${this.o.runId}"`, fatal);
      return;
    }
    if (frame.nonce.length !== NONCE_BYTES) {
      this.reject(conn, 'replay', 'a hello without a nonce (its nonce starts the sequence of this connection)', fatal);
      return;
    }
    const key = ed25519PublicKey(hello.publicKey);
    if (!verifyFrameSync(frame, key, conn.challenge)) {
      this.reject(conn, 'bad_signature', `the hello of client ${hello.clientId} is not signed by the key it presents`, fatal);
      return;
    }
    let enrolled = false;
    const known = this.o.directory.lookup(hello.clientId);
    if (known) {
      if (known.revoked) {
        this.reject(conn, 'revoked', `client ${hello.clientId} has been revoked`, fatal);
        return;
      }
      if (!sameBytes(known.publicKey, hello.publicKey)) {
        this.reject(conn, 'wrong_key', `client ${hello.clientId} is enrolled with another key`, fatal);
        return;
      }
    } else {
      if (hello.enrollmentToken === undefined) {
        this.reject(conn, 'unknown_client', `client ${hello.clientId} is not enrolled; connect once with an enrollment token`, fatal);
        return;
      }
      try {
        this.o.directory.enroll(hello.clientId, hello.publicKey, hello.enrollmentToken);
        enrolled = true;
      } catch (e) {
        const reason = isFederaError(e, 'unauthorized') && e.details?.reason === 'identity_conflict' ? 'identity_conflict' : 'invalid_token';
        this.reject(conn, reason, `enrollment of ${hello.clientId} refused: ${e instanceof Error ? e.message : String(e)}`, fatal);
        return;
      }
      this.logger.info({ clientId: hello.clientId }, 'client enrolled');
    }
    conn.lastNonce = frame.nonce; // the challenge already makes a hello single-use
    const previous = this.ready.get(hello.clientId);
    if (previous) {
      this.logger.info({ clientId: hello.clientId }, 'a new connection replaces the previous one of this client');
      this.closeConn(previous, CloseCode.replaced, 'replaced by a newer connection of the same client');
    }
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
    try {
      this.o.onAuthenticated?.(conn.ws, conn.req);
    } catch (e) {
      this.logger.error({ clientId: hello.clientId, error: describeError(e) }, 'cannot finish the authentication of a connection');
      this.closeConn(conn, 1011, 'internal error');
      return;
    }
    conn.state = 'ready';
    conn.clientId = hello.clientId;
    conn.key = key;
    this.ready.set(hello.clientId, conn);
    this.o.directory.seen?.(hello.clientId);
    this.sendFrame(conn, {
      kind: 'welcome',
      runId: this.o.runId,
      round: this.currentRound,
      clientId: hello.clientId,
      body: welcomeBody({ ...this.o.welcome, clientId: hello.clientId, enrolled, heartbeatMs: this.heartbeatMs, maxFrameBytes: this.maxFrameBytes }),
    });
    this.logger.info({ clientId: hello.clientId, remote: conn.remote, software: logString(hello.software) }, 'client joined');
    this.reportConnections();
    for (const w of [...this.waiters]) w();
  }

  private onClientFrame(conn: Conn, frame: DecodedFrame): void {
    const clientId = conn.clientId!;
    const requestId = frame.requestId || undefined;
    const fail = (code: RejectionCode, reason: string) => {
      this.release(frame);
      this.reject(conn, code, reason, { requestId });
    };
    // Cheap checks first, then the signature (the costly one), then the nonce, which only ever
    // advances for frames whose signature held. A reply's round is checked against its request.
    if (frame.clientId !== clientId) return fail('wrong_client', `frame names client "${frame.clientId}" on the connection of ${clientId}`);
    if (frame.runId !== this.o.runId) return fail('wrong_run', `frame for run "${frame.runId}"; this server runs "${this.o.runId}"`);
    if (frame.round > this.currentRound + 1) return fail('wrong_round', `frame for round ${frame.round}; the run is at round ${this.currentRound}`);
    if (frame.signature.length === 0) return fail('bad_signature', `unsigned ${frame.kind} frame from ${clientId}`);
    if (frame.nonce.length !== NONCE_BYTES) return fail('replay', `${frame.kind} frame without a nonce`);
    if (!verifyFrameSync(frame, conn.key!, conn.challenge)) {
      return fail('bad_signature', `the ${frame.kind} frame's signature does not verify with the enrolled key of ${clientId} for this connection (a frame signed for another connection, or before a server restart, never does)`);
    }
    if (!nonceIncreases(conn.lastNonce!, frame.nonce)) {
      return fail('replay', `nonce ${toHex(frame.nonce).slice(-12)} is not above the last one accepted on this connection (${toHex(conn.lastNonce!).slice(-12)}): a replayed or reordered frame`);
    }
    conn.lastNonce = frame.nonce;
    if (frame.kind !== 'reply' && frame.round < conn.startRound) return fail('wrong_round', `stale ${frame.kind} frame: it claims round ${frame.round}, and this connection began in round ${conn.startRound}`);
    switch (frame.kind) {
      case 'reply':
        this.onReply(conn, frame);
        return;
      case 'ping':
        this.sendFrame(conn, { kind: 'pong', runId: this.o.runId, round: this.currentRound });
        return;
      case 'bye':
        this.logger.info({ clientId, reason: logString(frame.body.reason) }, 'client said goodbye');
        this.closeConn(conn, 1000, 'bye');
        return;
      default:
        return fail('unexpected_frame', `clients do not send ${frame.kind} frames after the handshake`);
    }
  }

  private onReply(conn: Conn, frame: DecodedFrame): void {
    const pending = conn.pending.get(frame.requestId);
    if (!pending) {
      this.release(frame);
      const closedRound = conn.cancelled.get(frame.requestId);
      if (closedRound !== undefined) {
        conn.cancelled.delete(frame.requestId);
        if (closedRound === frame.round) return; // a late answer to a closed exchange (once)
        this.reject(conn, 'wrong_round', `reply for round ${frame.round} to the closed request ${frame.requestId} of round ${closedRound}`, { requestId: frame.requestId });
        return;
      }
      this.reject(conn, 'unexpected_reply', `no open request ${frame.requestId} for ${conn.clientId} on this connection`, { requestId: frame.requestId });
      return;
    }
    if (frame.round !== pending.round) {
      this.release(frame);
      this.reject(conn, 'wrong_round', `reply for round ${frame.round} to a request of round ${pending.round}`, { requestId: frame.requestId });
      return;
    }
    conn.pending.delete(frame.requestId);
    // Strings over their caps are cut (the reply is still used) and count as a violation.
    const { message, truncations } = limitReplyStrings(frameMessage(frame));
    if (truncations.length) this.strike(conn, truncations.map((t) => t.field), describeTruncations(truncations));
    let released = false;
    pending.resolve({
      message,
      bytesDown: pending.bytesDown,
      bytesUp: webSocketMessageBytes(frame.byteLength, true),
      release: () => {
        if (released) return;
        released = true;
        this.release(frame);
      },
    });
  }
}
