/**
 * Admission of TCP connections before anyone has authenticated (issue 13, finding 3):
 *
 * - at most `maxPerAddress` open TCP connections per remote address (the next is closed at once);
 * - a handshake deadline: a connection must complete TLS and then either send an HTTP request or,
 *   for the WebSocket, authenticate with a HELLO within `deadlineMs`; otherwise it is destroyed,
 *   so idle sockets cannot hold the connection cap;
 * - the WebSocket payload limit of an unauthenticated socket is the pre-auth frame limit, raised
 *   to the authenticated limit only after its HELLO verified ({@link raiseMaxPayload}).
 */
import type { Server as NetServer, Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { FederaError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';

export interface AdmissionOptions {
  /** Open TCP connections allowed per remote address (default 100). */
  maxPerAddress: number;
  /** Time from the TCP accept to an HTTP request or an authenticated HELLO (ms). */
  deadlineMs: number;
  logger?: Logger;
}

interface Admitted {
  readonly socket: Socket;
  readonly address: string;
  timer?: ReturnType<typeof setTimeout>;
}

/** A connection's key: the remote address and port are the same on the TCP and the TLS socket. */
function keyOf(socket: { remoteAddress?: string; remotePort?: number }): string {
  return `${socket.remoteAddress ?? '?'}|${socket.remotePort ?? '?'}`;
}

export class ConnectionAdmission {
  private readonly o: AdmissionOptions;
  private readonly logger: Logger;
  private readonly perAddress = new Map<string, number>();
  private readonly open = new Map<string, Admitted>();
  /** Connections refused (per-address limit) and closed at the deadline, for logs and tests. */
  readonly counts = { refused: 0, timedOut: 0 };
  private lastWarnAt = -Infinity;

  constructor(options: AdmissionOptions) {
    this.o = options;
    this.logger = options.logger ?? silentLogger;
  }

  /** Admits every TCP connection `server` accepts (for TLS servers: before the TLS handshake). */
  attach(server: NetServer): void {
    // prependListener: refused sockets are destroyed before TLS or HTTP spend anything on them.
    server.prependListener('connection', (socket: Socket) => this.admit(socket));
  }

  /** Open TCP connections from `address` now. */
  connectionsFrom(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  private admit(socket: Socket): void {
    const address = socket.remoteAddress ?? '?';
    const n = this.perAddress.get(address) ?? 0;
    if (n >= this.o.maxPerAddress) {
      this.counts.refused++;
      this.warn({ address, limit: this.o.maxPerAddress }, `refused a connection from ${address}: it already has ${n} open (server.maxConnectionsPerAddress)`);
      socket.destroy();
      return;
    }
    this.perAddress.set(address, n + 1);
    const key = keyOf(socket);
    const entry: Admitted = { socket, address };
    entry.timer = setTimeout(() => {
      this.counts.timedOut++;
      this.logger.debug({ address }, 'closed a connection that neither sent a request nor authenticated within the handshake deadline');
      socket.destroy();
    }, this.o.deadlineMs);
    entry.timer.unref?.();
    this.open.set(key, entry);
    socket.once('close', () => {
      if (entry.timer) clearTimeout(entry.timer);
      if (this.open.get(key) === entry) this.open.delete(key);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
  }

  /**
   * The connection of `socket` (the TCP or TLS socket of a request) passed the handshake: an
   * HTTP request arrived (Node's own header and keep-alive timeouts govern it from here) or a
   * WebSocket authenticated.
   */
  settle(socket: { remoteAddress?: string; remotePort?: number }): void {
    const entry = this.open.get(keyOf(socket));
    if (entry?.timer) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  private warn(fields: Record<string, unknown>, msg: string): void {
    // One line per 10 s at most: a flood of connections must not become a flood of log lines.
    const t = performance.now();
    if (t - this.lastWarnAt < 10_000) return this.logger.debug(fields, msg);
    this.lastWarnAt = t;
    this.logger.warn(fields, msg);
  }
}

interface ReceiverLimit {
  _maxPayload: number;
}

/**
 * Raises the largest message `ws` accepts on one socket (after authentication).
 *
 * `ws` (8.x) has no public per-socket limit: `WebSocketServer`'s `maxPayload` is copied into each
 * socket's receiver as `_receiver._maxPayload` and checked against every frame header (so an
 * oversized message is refused, with close code 1009, before it is buffered). This sets that
 * private field. {@link checkReceiverLimit} checks every accepted socket (and
 * test/deploy/hardening-preauth.test.ts checks in CI) that the field still holds the limit, so a
 * `ws` release that moves it makes the server refuse WebSockets loudly rather than silently lose
 * either limit.
 */
export function raiseMaxPayload(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: Partial<ReceiverLimit> })._receiver;
  if (!receiver || typeof receiver._maxPayload !== 'number') {
    throw new FederaError('internal', 'this version of the ws package keeps no per-socket payload limit (_receiver._maxPayload); federa cannot raise the pre-authentication limit after a hello');
  }
  receiver._maxPayload = bytes;
}

/** The payload limit `ws` applies to `ws` now (the private field {@link raiseMaxPayload} sets). */
export function receiverMaxPayload(ws: WebSocket): number | undefined {
  const v = (ws as unknown as { _receiver?: Partial<ReceiverLimit> })._receiver?._maxPayload;
  return typeof v === 'number' ? v : undefined;
}

/**
 * Whether a server-side `ws` socket carries the given limit where {@link raiseMaxPayload} expects
 * it; throws (naming the ws version problem) otherwise.
 */
export function checkReceiverLimit(ws: WebSocket, expected: number): void {
  if (receiverMaxPayload(ws) !== expected) {
    throw new FederaError('internal', `the ws package's per-socket payload limit is not where federa expects it (_receiver._maxPayload is ${String(receiverMaxPayload(ws))}, expected ${expected}); pin ws 8.x`);
  }
}

/**
 * The default limit on an authenticated client's messages: what the largest honest reply needs.
 * An update travels as at most 4 bytes per value, and rotation pads it to a power of two (at most
 * twice the values), hence 8 bytes per parameter; 4 MiB covers everything else a reply carries
 * (metrics, capped strings, secure-aggregation key shares for thousands of peers). Anything larger
 * is refused by the WebSocket layer before it is buffered (close code 1009), so an enrolled client
 * cannot make the server hold tens of megabytes per frame for a small model.
 */
export function defaultMaxMessageBytes(parameters: number): number {
  return 8 * parameters + 4 * 1024 * 1024;
}
