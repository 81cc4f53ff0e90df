/**
 * One client connection as the grid keeps it: its socket, the challenge signed into every frame,
 * the replay guard's last nonce, the flood gate, the requests it has open and those closed whose
 * late answer is expected, and its liveness (heartbeats without a sign of life).
 */
import type { IncomingMessage } from 'node:http';
import type { KeyObject } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { GridReply } from '../engine/grid.js';
import type { FloodGate } from './rate-limit.js';

/** A request sent on a connection and not answered yet. */
export interface Pending {
  readonly id: number;
  readonly round: number;
  readonly type: string;
  readonly sentAt: number;
  readonly bytesDown: number;
  resolve(reply: GridReply): void;
  reject(error: unknown): void;
}

export interface Conn {
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
  readonly gate: FloodGate;
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

/** Most closed request ids a connection remembers (their late replies are dropped once, silently). */
export const MAX_REMEMBERED_REQUESTS = 1024;

/** Remembers a request id (of `round`) whose late reply is expected and harmless. */
export function rememberClosed(conn: Conn, id: number, round: number): void {
  conn.cancelled.set(id, round);
  if (conn.cancelled.size > MAX_REMEMBERED_REQUESTS) conn.cancelled.delete(conn.cancelled.keys().next().value as number);
}

/** A connection as the admin API shows it. */
export interface ConnectionStatus {
  clientId?: string;
  remote: string;
  state: string;
  connectedMs: number;
  lastSeenMs: number;
  violations: number;
  pending: Array<{ requestId: number; type: string; round: number; sinceMs: number }>;
}

export function connectionStatus(c: Conn, now: number): ConnectionStatus {
  return {
    ...(c.clientId ? { clientId: c.clientId } : {}),
    remote: c.remote,
    state: c.state,
    connectedMs: Math.round(now - c.connectedAt),
    lastSeenMs: Math.round(now - c.lastSeen),
    violations: c.violations,
    pending: [...c.pending.values()].map((p) => ({ requestId: p.id, type: p.type, round: p.round, sinceMs: Math.round(now - p.sentAt) })),
  };
}
