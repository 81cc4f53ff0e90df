/**
 * The records of a run: what was asked each round, who answered, what came out, and what it cost.
 * Plain data, shared by the engine, the strategies and aggregation stages, the store and the
 * dashboard, so it lives at the bottom of the import order.
 */
import type { DistributionStats } from './distribution.js';
import type { Metrics } from './messages.js';

export interface ClientFailure {
  readonly clientId: string;
  /** A stable code: `timeout`, `client_error`, `unreachable`, `rejected:<reason code>`, ... */
  readonly code: string;
  readonly reason: string;
}

export interface EvaluationRecord {
  loss: number;
  metrics: Metrics;
}

export interface FederatedEvaluationRecord extends EvaluationRecord {
  numExamples: number;
  /** Clients whose evaluation was used. */
  clients: number;
  failed: ClientFailure[];
  /** How the evaluated clients' accuracy and loss are spread (fairness across clients). */
  distribution?: { accuracy?: DistributionStats; loss?: DistributionStats; personalizedAccuracy?: DistributionStats };
}

/** Privacy spent so far, when the run uses differential privacy. */
export interface PrivacyRecord {
  /** ε after this round, for `delta`. */
  epsilon: number;
  delta: number;
  [key: string]: number;
}

/** Something a strategy or layer noticed in a round (an anomaly, a rejection, a reputation change). */
export interface RoundEvent {
  kind: string;
  clientId?: string;
  message: string;
  [key: string]: unknown;
}

export interface RoundRecord {
  round: number;
  /** `skipped`: too few results (or clients); the global model was left unchanged. */
  status: 'completed' | 'skipped';
  reason?: string;
  /**
   * Why a skipped round was skipped, as a stable code: `no_clients`, `insufficient_results`,
   * `non_finite`, `privacy_budget`, `workflow_failed`, or the code of the error that stopped it.
   */
  code?: string;
  selected: string[];
  succeeded: string[];
  failed: ClientFailure[];
  /** Clients selected but not waited for (over-selection). */
  dropped: string[];
  /** Example-weighted means of the clients' fit metrics. */
  train?: { loss?: number; metrics: Metrics };
  federatedEvaluation?: FederatedEvaluationRecord;
  centralEvaluation?: EvaluationRecord;
  privacy?: PrivacyRecord;
  events?: RoundEvent[];
  /** Payload bytes server → clients and clients → server in this round (training and evaluation). */
  bytes: {
    down: number;
    up: number;
    /**
     * What the same messages would have taken with float32 arrays (before compression layers
     * encoded them); equal to `down`/`up` without compression. Absent in histories written before
     * compression existed.
     */
    downFloat32?: number;
    upFloat32?: number;
    /** downFloat32 / down and upFloat32 / up: how many times fewer bytes were sent (1 without compression). */
    downRatio?: number;
    upRatio?: number;
  };
  /** Wall-clock durations; the only part of a record that differs between two runs with the same seed. */
  timing: { totalMs: number; trainMs: number; evaluateMs: number; centralEvaluateMs: number };
  /** Simulations with device profiles: simulated seconds since the run started, at the end of this round. */
  simulatedTime?: number;
}

/** A copy of the record without `timing`, for comparing runs. */
export function withoutTiming(r: RoundRecord): Omit<RoundRecord, 'timing'> {
  const { timing: _timing, ...rest } = r;
  return rest;
}
