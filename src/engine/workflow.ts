/**
 * Round workflows: what happens inside one round, written against `RoundContext` (select clients,
 * run exchanges). Plain federated training is one exchange; secure aggregation plugs in as a
 * workflow with several exchanges, without touching the engine.
 */
import type { Metrics, MessageBase, TrainInstruction, TrainReply } from '../core/messages.js';
import { checkExampleCount, checkMetrics } from '../core/messages.js';
import type { Params } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import type { Logger } from '../core/log.js';
import { FederaError, describeError } from '../core/errors.js';
import { findNonFinite } from '../core/kernels.js';
import type { Strategy } from '../strategy/strategy.js';
import type { ClientFailure, ExchangeOptions, ExchangeOutcome, ExchangeRequest } from './exchange.js';
import type { PrivacyRecord, RoundEvent } from '../core/records.js';
import type { SimulatedClock } from './clock.js';
import type { ClientFeedback } from './selection.js';

export interface RoundContext {
  readonly runId: string;
  readonly round: number;
  readonly global: Params;
  readonly strategy: Strategy;
  /** This round's random stream (derived from the run seed and the round number). */
  readonly rng: Rng;
  readonly logger: Logger;
  /** Fewest accepted training results for the round to count. */
  readonly minResults: number;
  /** Picks this round's training clients per the engine's sampling options (seeded). */
  selectClients(): { clients: string[]; waitFor: number; reason?: string };
  /** Ids of the clients that can be selected now (a simulation with devices: the ones online). */
  availableClients(): readonly string[];
  /** A simulation's clock (engine/clock.ts); absent in deployment. */
  readonly clock?: SimulatedClock;
  /** The engine's report deadline (ms; simulated ms with a clock). */
  readonly timeoutMs?: number;
  /** Aborted when the run is stopped. */
  readonly signal?: AbortSignal;
  /** A client selector will read the round's per-client feedback (TrainRoundOutcome.feedback). */
  readonly wantsFeedback?: boolean;
  /** Runs one exchange with the engine's deadline; its bytes are added to the round's record. */
  exchange(
    requests: readonly ExchangeRequest[],
    onReply: (clientId: string, reply: MessageBase) => void | Promise<void>,
    options?: ExchangeOptions,
  ): Promise<ExchangeOutcome>;
}

export interface TrainRoundOutcome {
  status: 'completed' | 'skipped';
  reason?: string;
  /** A skipped round's stable reason code (see RoundRecord.code). */
  code?: string;
  /** The next global parameters (completed rounds only). */
  params?: Float32Array;
  metrics?: Metrics;
  privacy?: PrivacyRecord;
  events?: RoundEvent[];
  selected: string[];
  succeeded: string[];
  failed: ClientFailure[];
  dropped: string[];
  /** How each selected client did, for the client selector (engine/selection.ts). */
  feedback?: ClientFeedback[];
}

export interface TrainWorkflow {
  readonly name: string;
  run(ctx: RoundContext): Promise<TrainRoundOutcome>;
  /** Clients still working for the workflow between rounds (asynchronous workflows): not given other work. */
  busyClients?(): ReadonlySet<string>;
}

/** Checks a reply to a train instruction: type, run, round, shapes and numbers (values are checked when aggregated). */
export function checkTrainReply(reply: MessageBase, ctx: { runId: string; round: number; global: Params }, clientId: string): TrainReply {
  const where = `train reply from client ${clientId}`;
  if (reply.type !== 'train_result') throw new FederaError('malformed_message', `${where}: expected type "train_result", got "${reply.type}"`);
  if (reply.runId !== ctx.runId || reply.round !== ctx.round) {
    throw new FederaError('malformed_message', `${where}: is for run ${reply.runId} round ${reply.round}, expected run ${ctx.runId} round ${ctx.round}`);
  }
  const r = reply as TrainReply;
  if (!(r.update instanceof Float32Array)) throw new FederaError('malformed_message', `${where}: update is not a Float32Array`);
  ctx.global.layout.check(r.update, `${where}: update`);
  checkExampleCount(r.numExamples, where);
  checkMetrics(r.metrics, where);
  return r;
}

/** Derives a client's local-training seed from the round stream: the same for a given run seed, round and client. */
export function clientSeed(rng: Rng, clientId: string): number {
  return rng.stream('client-seed').stream(clientId).nextU32();
}

/** Plain federated training: one train exchange, streamed into the strategy's aggregation. */
export class FederatedTrainWorkflow implements TrainWorkflow {
  readonly name = 'federated-training';

  async run(ctx: RoundContext): Promise<TrainRoundOutcome> {
    const { clients, waitFor, reason } = ctx.selectClients();
    if (clients.length === 0) {
      return { status: 'skipped', code: 'no_clients', reason: `no clients selected: ${reason}`, selected: [], succeeded: [], failed: [], dropped: [] };
    }
    const { round, runId, global, strategy } = ctx;
    const config = strategy.configureTrain(round, global);
    const aggregation = strategy.aggregateTrain(round, global);
    const requests = clients.map((clientId) => {
      const message: TrainInstruction = { type: 'train', runId, round, params: global.data, config: { ...config, seed: clientSeed(ctx.rng, clientId) } };
      return { clientId, message };
    });
    // Per-client feedback only when a selector reads it (it costs an object per client).
    const reported = ctx.wantsFeedback ? new Map<string, { numExamples: number; loss?: number }>() : undefined;
    const outcome = await ctx.exchange(
      requests,
      (clientId, reply) => {
        const r = checkTrainReply(reply, ctx, clientId);
        aggregation.add({ clientId, update: r.update, numExamples: r.numExamples, metrics: r.metrics });
        reported?.set(clientId, { numExamples: r.numExamples, ...(typeof r.metrics.loss === 'number' ? { loss: r.metrics.loss } : {}) });
      },
      { stopAfter: waitFor < clients.length ? waitFor : undefined },
    );
    const feedback: ClientFeedback[] | undefined = reported && [
      ...outcome.succeeded.map((clientId) => ({ clientId, succeeded: true, ...reported.get(clientId), ...(outcome.replyMs?.[clientId] !== undefined ? { durationMs: outcome.replyMs[clientId] } : {}) })),
      ...outcome.failures.map((f) => ({ clientId: f.clientId, succeeded: false, ...(f.code === 'timeout' && ctx.timeoutMs !== undefined ? { durationMs: ctx.timeoutMs } : {}) })),
    ];
    const base = { selected: clients, succeeded: outcome.succeeded, failed: outcome.failures, dropped: outcome.dropped, ...(feedback ? { feedback } : {}) };
    if (aggregation.accepted < ctx.minResults) {
      aggregation.discard?.();
      return { ...base, status: 'skipped', code: 'insufficient_results', reason: `${aggregation.accepted} of ${clients.length} selected clients returned a usable result; at least ${ctx.minResults} required` };
    }
    const finished = finishAggregation(aggregation, base);
    if ('skipped' in finished) return finished.skipped;
    const { result } = finished;
    return {
      ...base,
      status: 'completed',
      params: result.params,
      metrics: result.metrics,
      ...(result.privacy ? { privacy: result.privacy } : {}),
      ...(result.events?.length ? { events: [...result.events] } : {}),
    };
  }
}

/** The reason code of a round stopped by `e`: its FederaError code, or `fallback`. */
export function skipCode(e: unknown, fallback: string): string {
  return e instanceof FederaError ? e.code : fallback;
}

type RoundBase = Pick<TrainRoundOutcome, 'selected' | 'succeeded' | 'failed' | 'dropped' | 'feedback'>;

/**
 * Finishes a round's aggregation: its result, or the skipped outcome when the aggregation throws
 * or produces a non-finite parameter (the global model is then kept).
 */
export function finishAggregation(aggregation: ReturnType<Strategy['aggregateTrain']>, base: RoundBase): { result: ReturnType<ReturnType<Strategy['aggregateTrain']>['finish']> } | { skipped: TrainRoundOutcome } {
  let result;
  try {
    result = aggregation.finish();
  } catch (e) {
    return { skipped: { ...base, status: 'skipped', code: skipCode(e, 'aggregation_failed'), reason: `aggregation failed: ${describeError(e)}` } };
  }
  const bad = findNonFinite(result.params);
  if (bad >= 0) return { skipped: { ...base, status: 'skipped', code: 'non_finite', reason: `aggregation produced a non-finite parameter at index ${bad}; global model kept` } };
  return { result };
}
