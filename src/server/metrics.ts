/** Prometheus metrics of a federa server (prom-client), served at `/metrics`. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RoundRecord } from '../core/records.js';

/** What the WebSocket grid reports as it goes. */
export interface GridMetrics {
  frameIn(bytes: number): void;
  frameOut(bytes: number): void;
  rejected(reason: string): void;
  connections(open: number, authenticated: number): void;
  /** A client string cut to its cap (wire/limits.ts): `field` is code, message, metric_name, metrics or string. */
  truncated?(field: string): void;
}

/** Client failure codes that are label values as they are; any other becomes `other` (`client_error:other`, …). */
const FAILURE_CODES = new Set([
  'timeout', 'aborted', 'dropped', 'disconnected', 'unreachable', 'client_exception', 'error',
  'invalid_config', 'invalid_argument', 'shape_mismatch', 'non_finite', 'malformed_message', 'payload_too_large', 'client_failed',
  'insufficient_results', 'not_found', 'conflict', 'data_error', 'unsupported', 'unauthorized', 'rate_limited', 'privacy_budget', 'tls_error', 'internal',
]);
const TRUNCATED_FIELDS = new Set(['code', 'message', 'metric_name', 'metrics', 'string']);

/**
 * The label value of a client failure code: codes the server makes pass; the part a client chose
 * (`client_error:<its code>`) only when it is a known code. Label values come from a fixed set, so
 * a client cannot create time series (or put its strings) on /metrics.
 */
export function failureLabel(code: string): string {
  const colon = code.indexOf(':');
  if (colon < 0) return FAILURE_CODES.has(code) ? code : 'other';
  const kind = code.slice(0, colon);
  const sub = code.slice(colon + 1);
  if (kind !== 'client_error' && kind !== 'rejected') return 'other';
  return `${kind}:${FAILURE_CODES.has(sub) ? sub : 'other'}`;
}

/** Rejection reasons are the grid's own codes; anything that does not look like one is `other`. */
function reasonLabel(reason: string): string {
  return /^[a-z_]{1,40}$/.test(reason) ? reason : 'other';
}

export class ServerMetrics implements GridMetrics {
  readonly registry = new Registry();
  private readonly rounds = new Counter({ name: 'federa_rounds_total', help: 'Rounds finished, by status', labelNames: ['status'], registers: [this.registry] });
  private readonly currentRound = new Gauge({ name: 'federa_round', help: 'Last finished round', registers: [this.registry] });
  private readonly connected = new Gauge({ name: 'federa_connected_clients', help: 'Open client connections (authenticated or not)', registers: [this.registry] });
  private readonly authenticated = new Gauge({ name: 'federa_authenticated_clients', help: 'Authenticated clients available for selection', registers: [this.registry] });
  private readonly bytesIn = new Counter({ name: 'federa_bytes_received_total', help: 'WebSocket payload bytes received from clients', registers: [this.registry] });
  private readonly bytesOut = new Counter({ name: 'federa_bytes_sent_total', help: 'WebSocket payload bytes sent to clients', registers: [this.registry] });
  private readonly framesIn = new Counter({ name: 'federa_frames_received_total', help: 'Frames received from clients', registers: [this.registry] });
  private readonly roundDuration = new Histogram({
    name: 'federa_round_duration_seconds',
    help: 'Wall time of a round (training, evaluation, central evaluation)',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  private readonly failures = new Counter({ name: 'federa_client_failures_total', help: 'Clients that failed in a round, by code', labelNames: ['code'], registers: [this.registry] });
  private readonly dropped = new Counter({ name: 'federa_clients_dropped_total', help: 'Selected clients not waited for (over-selection)', registers: [this.registry] });
  private readonly rejections = new Counter({ name: 'federa_rejected_frames_total', help: 'Frames rejected by the server, by reason', labelNames: ['reason'], registers: [this.registry] });
  private readonly truncations = new Counter({ name: 'federa_truncated_strings_total', help: 'Client strings cut to their caps (wire/limits.ts), by field', labelNames: ['field'], registers: [this.registry] });
  private readonly cappedWeights = new Counter({ name: 'federa_capped_weights_total', help: 'Example counts capped by the weight cap, by where (train, evaluation)', labelNames: ['reason'], registers: [this.registry] });
  private readonly accuracy = new Gauge({ name: 'federa_central_accuracy', help: 'Central test accuracy after the last evaluated round', registers: [this.registry] });
  private readonly loss = new Gauge({ name: 'federa_central_loss', help: 'Central test loss after the last evaluated round', registers: [this.registry] });
  private readonly epsilon = new Gauge({ name: 'federa_privacy_epsilon', help: 'Privacy budget ε spent so far (DP-FedAvg), at the δ of federa_privacy_delta', registers: [this.registry] });
  private readonly delta = new Gauge({ name: 'federa_privacy_delta', help: 'The δ at which federa_privacy_epsilon is stated', registers: [this.registry] });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'federa_' });
  }

  frameIn(bytes: number): void {
    this.bytesIn.inc(bytes);
    this.framesIn.inc();
  }

  frameOut(bytes: number): void {
    this.bytesOut.inc(bytes);
  }

  rejected(reason: string): void {
    this.rejections.inc({ reason: reasonLabel(reason) });
  }

  truncated(field: string): void {
    this.truncations.inc({ field: TRUNCATED_FIELDS.has(field) ? field : 'other' });
  }

  connections(open: number, authenticated: number): void {
    this.connected.set(open);
    this.authenticated.set(authenticated);
  }

  round(record: RoundRecord): void {
    this.rounds.inc({ status: record.status });
    this.currentRound.set(record.round);
    this.roundDuration.observe(record.timing.totalMs / 1000);
    for (const f of record.failed) this.failures.inc({ code: failureLabel(f.code) });
    const trainCapped = record.events?.filter((e) => e.kind === 'weight-capped').length ?? 0;
    if (trainCapped) this.cappedWeights.inc({ reason: 'train' }, trainCapped);
    const evalCapped = record.federatedEvaluation?.metrics.weight_capped;
    if (typeof evalCapped === 'number' && evalCapped > 0) this.cappedWeights.inc({ reason: 'evaluation' }, evalCapped);
    if (record.dropped.length) this.dropped.inc(record.dropped.length);
    const acc = record.centralEvaluation?.metrics.accuracy;
    if (typeof acc === 'number') this.accuracy.set(acc);
    if (record.centralEvaluation) this.loss.set(record.centralEvaluation.loss);
    if (record.privacy) {
      this.epsilon.set(record.privacy.epsilon);
      this.delta.set(record.privacy.delta);
    }
  }

  /** Sets the round gauge when a run resumes. */
  resumedAt(round: number): void {
    this.currentRound.set(round);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
