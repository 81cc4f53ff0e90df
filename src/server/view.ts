/**
 * What the HTTP endpoints and the dashboard stream see of a running server: its state, history and
 * events, the store and grid it runs on, and the one action an admin may take on a client. The
 * server implements it; http.ts and dashboard.ts depend on this, never on server.ts (no cycle).
 */
import type { EventEmitter } from 'node:events';
import type { RoundRecord, EvaluationRecord } from '../core/records.js';
import type { DashboardActivity } from '../dashboard/protocol.js';
import type { Store } from './store.js';
import type { WebSocketGrid } from './grid.js';
import type { ServerMetrics } from './metrics.js';

export type Phase = 'starting' | 'waiting' | 'training' | 'completed' | 'stopped' | 'failed';

/** A client's arrival or a rejected frame of an authenticated client, as the server saw it (the dashboard's type). */
export type ClientActivity = DashboardActivity;

/**
 * What a running server reports, for live views (the dashboard's event stream). Listeners run
 * synchronously inside the run loop: they must be quick and must not throw (a throwing listener
 * is logged and ignored).
 */
export interface FederaServerEvents {
  /** A round was committed to the store. */
  round: [record: RoundRecord];
  phase: [phase: Phase, round: number];
  client: [activity: ClientActivity];
}

export interface ServerView {
  readonly runId: string;
  readonly adminToken: string | undefined;
  readonly events: EventEmitter<FederaServerEvents>;
  readonly metrics: ServerMetrics;
  readonly store: Store;
  readonly grid: WebSocketGrid | undefined;
  health(): Record<string, unknown>;
  status(): Record<string, unknown>;
  /** The run's rounds; `page` takes `limit` of them from `offset` (`total` counts them all). */
  history(page?: { offset: number; limit: number }): { runId: string; initialEvaluation?: EvaluationRecord; rounds: RoundRecord[]; total?: number; offset?: number; limit?: number };
  /**
   * Rolls the run back to the end of `round` once the round in progress ends (the rounds after it
   * and their checkpoints are deleted); throws `not_found` for another run, `conflict` when
   * impossible (no checkpoint of `round`, nothing after it, differential privacy).
   */
  rollback(runId: string, round: number): { round: number; appliesAfterRound: number };
  /** Revokes a client identity and closes its connection; false when it is unknown. */
  revokeClient(clientId: string): boolean;
}
