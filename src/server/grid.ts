/**
 * `WebSocketGrid`: the engine's `Grid` over WebSocket connections (the network twin of
 * `InMemoryGrid`). Clients connect, answer a challenge with a signed HELLO (enrolling with a
 * one-time token the first time), and become available for selection; `request` sends an
 * INSTRUCTION and resolves with the matching signed REPLY.
 *
 * Every client frame is checked in this order: text frames and floods (`rate-limit.ts`: a token
 * bucket per connection; replies to the server's own requests spend solicited passes instead),
 * size, decoding (version, structure, finite values), then the handshake (`handshake.ts`) or the
 * replay guard (`replay-guard.ts`: client id, run id, round, signature for this connection,
 * increasing nonces), and for a reply its request (open on this connection, same round, answered
 * once). A rejected frame is answered with a NOTICE naming the
 * reason, logged, counted, recorded against the client, and fails that client's pending requests
 * (so the round records why and goes on without it); repeated violations close the connection.
 * A disconnect fails the pending requests of that client at once.
 */
import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { FederaError, describeError, isFederaError } from '../core/errors.js';
import type { MessageBase } from '../core/messages.js';
import { silentLogger, type Logger } from '../core/log.js';
import { sharedBuffers } from '../core/buffers.js';
import type { Grid, GridReply } from '../engine/grid.js';
import { DEFAULT_MAX_FRAME_BYTES, decodeFrame, encodeFrame, float32Arrays, frameMessage, messageBody, webSocketMessageBytes, type DecodedFrame, type FrameInit } from '../wire/codec.js';
import { CHALLENGE_BYTES, CloseCode, DEFAULT_HEARTBEAT_MS, PREAUTH_MAX_FRAME_BYTES, challengeBody, noticeBody, welcomeBody, type Welcome } from '../wire/protocol.js';
import type { ClientDirectory } from './store.js';
import type { GridMetrics } from './metrics.js';
import { WIRE_LIMITS, describeTruncations, limitReplyStrings, truncateString } from '../wire/limits.js';
import { REJECTION_ERROR, type RejectionCode } from './rejections.js';
import { DEFAULT_RATE_LIMIT, FloodGate, type RateLimit } from './rate-limit.js';
import { connectionStatus, rememberClosed, type Conn, type ConnectionStatus } from './connection.js';
import { authenticate } from './handshake.js';
import { guardFrame } from './replay-guard.js';

export type { RejectionCode } from './rejections.js';
export type { RateLimit } from './rate-limit.js';
export type { ConnectionStatus } from './connection.js';

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

function nowMs(): number {
  return performance.now();
}

/** A client-chosen value as a log field: strings cut to the message cap. */
function logString(v: unknown): unknown {
  return typeof v === 'string' ? truncateString(v, WIRE_LIMITS.errorMessage).value : v;
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
        rememberClosed(conn, id, message.round);
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
      conn.gate.grant();
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
    const conn: Conn = {
      id: ++this.nextConnId,
      ws,
      remote,
      connectedAt: nowMs(),
      challenge: new Uint8Array(randomBytes(CHALLENGE_BYTES)),
      startRound: this.currentRound,
      ...(req ? { req } : {}),
      state: 'challenged',
      gate: new FloodGate(this.o.rateLimit ?? DEFAULT_RATE_LIMIT, nowMs),
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
    ws.on('error', (e) => {
      // A message over the payload limit is refused by the WebSocket layer from its header (close
      // 1009), before any of it reaches onMessage: counted and recorded like any other rejection.
      if ((e as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.overLimit(conn);
      else this.logger.debug({ remote, clientId: conn.clientId, error: describeError(e) }, 'connection error');
    });
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
    const clients = [...this.conns].map((c) => connectionStatus(c, t));
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
      rememberClosed(conn, id, p.round);
      p.reject(error);
    }
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
      if (conn.pending.size) this.failPending(conn, new FederaError(REJECTION_ERROR[code], `${code}: ${reason}`, { rejection: code }));
    }
    this.sendFrame(conn, { kind: 'notice', body: noticeBody({ code, reason, requestId: options.requestId }) });
    const limit = this.o.maxViolations ?? 10;
    if (options.close !== undefined) this.closeConn(conn, options.close, `${code}: ${reason}`);
    else if (conn.violations >= limit) this.closeConn(conn, code === 'rate_limited' ? CloseCode.rateLimited : CloseCode.protocolViolation, `too many rejected frames (last: ${code})`);
  }

  /** The WebSocket layer refused a message over the payload limit (close 1009, nothing buffered). */
  private overLimit(conn: Conn): void {
    const limit = conn.state === 'ready' ? this.maxFrameBytes : PREAUTH_MAX_FRAME_BYTES;
    const when = conn.state === 'ready' ? 'for authenticated clients (server.maxMessageBytes)' : 'before authentication';
    this.reject(conn, 'payload_too_large', `a message over the ${limit}-byte limit ${when}; the connection was closed (1009) before it was buffered`);
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
    const deferred = conn.state === 'ready' && conn.gate.holdsPasses;
    if (!deferred && !conn.gate.take()) {
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
    const solicited = frame.kind === 'reply' && (conn.pending.has(frame.requestId) || conn.cancelled.has(frame.requestId));
    if (deferred && !conn.gate.admit(solicited)) {
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
    const result = authenticate(frame, conn.challenge, this.o.runId, this.o.directory, this.logger);
    if (!result.ok) {
      this.release(frame);
      this.reject(conn, result.code, result.reason, { close: result.close });
      return;
    }
    const { clientId, key, enrolled } = result;
    conn.lastNonce = frame.nonce; // the challenge already makes a hello single-use
    const previous = this.ready.get(clientId);
    if (previous) {
      this.logger.info({ clientId }, 'a new connection replaces the previous one of this client');
      this.closeConn(previous, CloseCode.replaced, 'replaced by a newer connection of the same client');
    }
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
    try {
      this.o.onAuthenticated?.(conn.ws, conn.req);
    } catch (e) {
      this.logger.error({ clientId: clientId, error: describeError(e) }, 'cannot finish the authentication of a connection');
      this.closeConn(conn, 1011, 'internal error');
      return;
    }
    conn.state = 'ready';
    conn.clientId = clientId;
    conn.key = key;
    this.ready.set(clientId, conn);
    this.o.directory.seen?.(clientId);
    this.sendFrame(conn, {
      kind: 'welcome',
      runId: this.o.runId,
      round: this.currentRound,
      clientId: clientId,
      body: welcomeBody({ ...this.o.welcome, clientId: clientId, enrolled, heartbeatMs: this.heartbeatMs, maxFrameBytes: this.maxFrameBytes }),
    });
    this.logger.info({ clientId: clientId, remote: conn.remote, software: logString(result.software) }, 'client joined');
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
    const refused = guardFrame(conn, frame, this.o.runId, this.currentRound);
    if (refused) return fail(refused.code, refused.reason);
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
