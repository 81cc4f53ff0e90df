// What the server sends the dashboard: the snapshot (`GET /admin/dashboard`, and the first event
// of the live stream) and the events of `GET /admin/events` (server-sent events). Types only, so
// the browser bundle and the server share them without sharing code.
import type { RoundRecord, EvaluationRecord } from '../core/records.js';

/** A run in the server's database (without its config). */
export interface DashboardRun {
  id: string;
  status: string;
  rounds: number;
  lastRound: number;
  createdAt: string;
  updatedAt: string;
}

/** One enrolled client: registry facts plus, when connected, its live connection. */
export interface DashboardClient {
  id: string;
  connected: boolean;
  revoked: boolean;
  /** ISO time of the last frame or pong (connected clients) or of the last login. */
  lastSeenAt: string | null;
  /** Rounds whose result was used / that failed. */
  participations: number;
  failures: number;
  /** Rejected frames. */
  violations: number;
  enrolledAt: string;
}

/** A client joining, or a frame of it rejected (with the reason sent to the client). */
export interface DashboardActivity {
  kind: 'joined' | 'rejected';
  clientId: string;
  /** ISO time. */
  at: string;
  round: number | null;
  /** Rejections: the rejection code and the reason sent to the client. */
  code?: string;
  reason?: string;
}

/** The run's status line: `/api/status` without its connection list (the fields the dashboard reads are typed). */
export interface DashboardStatus {
  runId: string;
  status?: string;
  phase: string;
  rounds: number;
  round: number;
  completedRounds: number;
  quorum: number;
  connections: number;
  [key: string]: unknown;
}

export interface DashboardSnapshot {
  /** Server clock (ISO), so "last seen" ages do not depend on the viewer's clock. */
  serverTime: string;
  status: DashboardStatus;
  runs: DashboardRun[];
  history: { runId: string; initialEvaluation?: EvaluationRecord; rounds: RoundRecord[] };
  clients: DashboardClient[];
  /** Recent rejections, newest first (at most 100). */
  activity: DashboardActivity[];
}

/**
 * Events of the live stream, by SSE event name:
 * - `snapshot`: {@link DashboardSnapshot} — always first; again after every reconnect
 * - `round`: a committed `RoundRecord`
 * - `status`: `{ serverTime, status, runs }` — on phase changes and every few seconds
 * - `clients`: `{ serverTime, clients }` — when a client joins and every few seconds
 * - `activity`: {@link DashboardActivity}
 */
export interface DashboardEvents {
  snapshot: DashboardSnapshot;
  round: RoundRecord;
  status: { serverTime: string; status: DashboardStatus; runs: DashboardRun[] };
  clients: { serverTime: string; clients: DashboardClient[] };
  activity: DashboardActivity;
}
