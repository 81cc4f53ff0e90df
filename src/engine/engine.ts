/**
 * The round engine: runs rounds of a workflow over a `Grid`, evaluates, and keeps the history.
 * It knows nothing of the transport: simulation and deployment run this same code.
 */
import type { MessageBase } from '../core/messages.js';
import { payloadBytes } from '../core/messages.js';
import { makeParams, type Params } from '../core/params.js';
import { Rng } from '../core/rng.js';
import { silentLogger, type Logger } from '../core/log.js';
import { FederaError, describeError } from '../core/errors.js';
import type { Strategy } from '../strategy/strategy.js';
import type { Grid } from './grid.js';
import { exchange, now, yieldToEventLoop, type ClientFailure, type ExchangeOptions, type ExchangeRequest } from './exchange.js';
import { checkSamplingOptions, planSampling, sampleClients, sampleClientsPoisson, type SamplingOptions } from './sampling.js';
import type { EvaluationRecord, FederatedEvaluationRecord, RoundRecord } from '../core/records.js';
import type { ClientSelector } from './selection.js';
import { FederatedTrainWorkflow, skipCode, type RoundContext, type TrainWorkflow } from './workflow.js';
import { applyIncoming, applyOutgoing, type ServerLayer } from './server-layer.js';
import { FederatedEvaluationWorkflow, type EvaluationWorkflow } from './evaluate.js';
import { ModelGuard, type ModelGuardOptions } from './model-guard.js';
import type { StrategyState } from '../strategy/strategy.js';

export interface EngineGuardOptions extends ModelGuardOptions {
  /**
   * Strategy state kept as it is after the round when a round is rejected (the rest is restored to
   * before it): what the round spent and must stay spent, such as a DP ledger's ε.
   */
  keepState?: (key: string) => boolean;
}

export interface EvaluationOptions extends SamplingOptions {
  /** Run federated evaluation every this many rounds (default 1); 0 turns it off. */
  every?: number;
}

export interface EngineOptions {
  grid: Grid;
  strategy: Strategy;
  initialParams: Params;
  rounds: number;
  /** Seeds client sampling and per-client training seeds. */
  seed: number | string;
  runId?: string;
  /** Training client selection (default fraction 0.1, at least 2). */
  sampling?: SamplingOptions;
  /**
   * Draws client selection from this stream instead of the seeded round streams: a deployment under
   * DP passes a CSPRNG (`new SecureRng()`), so nobody who knows the run seed can predict the sample.
   */
  samplingRng?: Rng;
  /** Over-selection (Bonawitz et al. 2019): select ⌈k·(1+o)⌉ and close after k accepted results. Default 0. */
  overSelection?: number;
  /** Chooses the training clients of a synchronous round (engine/selection.ts); default uniform. Not used with Poisson sampling. */
  selector?: ClientSelector;
  /** Federated evaluation; `false` turns it off. Defaults to the training sampling, every round. */
  evaluation?: EvaluationOptions | false;
  /** Central evaluation (strategy.evaluate) every this many rounds (default 1); also run once before round 1. */
  centralEvaluationEvery?: number;
  /** Fewest accepted training results for a round to update the model (default 1). */
  minResults?: number;
  /** Deadline of each exchange in milliseconds (default: none). */
  roundTimeoutMs?: number;
  workflow?: TrainWorkflow;
  /** Federated evaluation's workflow (default: one evaluate exchange, example-weighted). */
  evaluationWorkflow?: EvaluationWorkflow;
  /** Server halves of client layers (e.g. decompress updates); applied to every exchange. */
  serverLayers?: readonly ServerLayer[];
  logger?: Logger;
  /** First round to run (resuming); rounds before it are taken as done. Default 1. */
  startRound?: number;
  /**
   * Called after every round with its record and the global parameters after it. When it throws
   * (a failed commit), the round is undone (model and strategy state as before it) and it is called
   * once more with the round recorded as skipped, code `commit_failed`; the run goes on.
   */
  onRound?: (record: RoundRecord, params: Params) => void | Promise<void>;
  /** The check of every next global model (model-guard.ts); `false` turns it off. Default factor 100. */
  guard?: EngineGuardOptions | false;
  signal?: AbortSignal;
}

export interface RunResult {
  runId: string;
  params: Params;
  history: RoundRecord[];
  /** Central evaluation of the initial parameters, when the strategy evaluates centrally. */
  initialEvaluation?: EvaluationRecord;
}

export class RoundEngine {
  readonly runId: string;
  readonly history: RoundRecord[] = [];
  private global: Params;
  private readonly o: EngineOptions;
  private readonly rng: Rng;
  private readonly logger: Logger;
  private readonly workflow: TrainWorkflow;
  private readonly evaluationWorkflow: EvaluationWorkflow;
  private readonly guard: ModelGuard | undefined;
  private nextRound = 1;
  private rewound: { round: number; params: Float32Array; state?: StrategyState } | undefined;

  constructor(options: EngineOptions) {
    validateEngineOptions(options);
    this.o = options;
    this.runId = options.runId ?? `run-${String(options.seed)}`;
    this.global = makeParams(options.initialParams.layout, options.initialParams.data.slice());
    this.rng = new Rng(options.seed);
    this.logger = options.logger ?? silentLogger;
    this.workflow = options.workflow ?? new FederatedTrainWorkflow();
    this.evaluationWorkflow = options.evaluationWorkflow ?? new FederatedEvaluationWorkflow();
    this.guard = options.guard === false ? undefined : new ModelGuard(options.guard ?? {});
  }

  /**
   * Continues the run after `round` from these parameters and strategy state (an operator's
   * rollback): applied when the round in progress ends; the history after `round` is dropped.
   */
  rewind(round: number, params: Float32Array, state?: StrategyState): void {
    if (!(Number.isInteger(round) && round >= 0)) throw new FederaError('invalid_argument', `rewind: round must be an integer ≥ 0, got ${round}`);
    this.global.layout.check(params, 'rewind: parameters');
    this.rewound = { round, params: params.slice(), ...(state ? { state } : {}) };
  }

  /** The current global parameters. */
  get params(): Params {
    return this.global;
  }

  async run(): Promise<RunResult> {
    const start = this.o.startRound ?? 1;
    let initialEvaluation: EvaluationRecord | undefined;
    if (start === 1 && this.o.strategy.evaluate && (this.o.centralEvaluationEvery ?? 1) > 0) {
      initialEvaluation = await this.evaluateCentral(0);
    }
    for (this.nextRound = start; this.nextRound <= this.o.rounds; this.nextRound++) {
      const round = this.nextRound;
      if (this.o.signal?.aborted) {
        this.logger.warn({ runId: this.runId, round }, 'run aborted before the round started');
        break;
      }
      await this.runRound(round);
      this.applyRewind();
      await yieldToEventLoop();
    }
    return { runId: this.runId, params: this.global, history: this.history, initialEvaluation };
  }

  async runRound(round: number): Promise<RoundRecord> {
    const t0 = now();
    // Wire bytes as the transport measured them, and what the same messages take with float32
    // arrays (they differ when a server layer encodes instructions or decodes replies).
    const bytes = { down: 0, up: 0, downFloat32: 0, upFloat32: 0 };
    const roundRng = this.rng.stream('round').stream(round);
    const exchangeWithDefaults = async (
      requests: readonly ExchangeRequest[],
      onReply: (clientId: string, reply: MessageBase) => void | Promise<void>,
      options: ExchangeOptions = {},
    ) => {
      const layers = this.o.serverLayers ?? [];
      const wrapped = layers.length
        ? requests.map((r) => {
            const message = applyOutgoing(layers, r.message, { runId: this.runId, round, clientId: r.clientId });
            return message === r.message ? r : { clientId: r.clientId, message, float32Bytes: r.float32Bytes ?? payloadBytes(r.message) };
          })
        : requests;
      let upFloat32Extra = 0;
      const handle = layers.length
        ? (clientId: string, reply: MessageBase) => {
            const decoded = applyIncoming(layers, reply, { runId: this.runId, round, clientId });
            if (decoded !== reply) upFloat32Extra += payloadBytes(decoded) - payloadBytes(reply);
            return onReply(clientId, decoded);
          }
        : onReply;
      const outcome = await exchange(this.o.grid, wrapped, handle, {
        timeoutMs: this.o.roundTimeoutMs,
        signal: this.o.signal,
        ...options,
      });
      bytes.down += outcome.bytesDown;
      bytes.up += outcome.bytesUp;
      bytes.downFloat32 += outcome.bytesDownFloat32 ?? outcome.bytesDown;
      bytes.upFloat32 += outcome.bytesUp + upFloat32Extra;
      return outcome;
    };
    const ctx: RoundContext = {
      runId: this.runId,
      round,
      global: this.global,
      strategy: this.o.strategy,
      rng: roundRng,
      logger: this.logger,
      minResults: this.o.minResults ?? 1,
      selectClients: () => this.select(this.o.samplingRng ?? roundRng.stream('train-sampling'), this.o.sampling ?? {}, this.o.overSelection ?? 0, round, this.o.selector),
      availableClients: () => this.o.grid.availableClients(),
      ...(this.o.grid.clock ? { clock: this.o.grid.clock } : {}),
      ...(this.o.roundTimeoutMs !== undefined ? { timeoutMs: this.o.roundTimeoutMs } : {}),
      ...(this.o.signal ? { signal: this.o.signal } : {}),
      ...(this.o.selector?.observe ? { wantsFeedback: true } : {}),
      exchange: exchangeWithDefaults,
    };

    // What the round may have to undo: the model (kept as it is) and the strategy's state.
    const before = this.global;
    const stateBefore = copyState(this.o.strategy.getState?.());
    let outcome: Awaited<ReturnType<TrainWorkflow['run']>>;
    try {
      outcome = await this.workflow.run(ctx);
    } catch (e) {
      outcome = { status: 'skipped' as const, code: skipCode(e, 'workflow_failed'), privacy: undefined, events: undefined, reason: `workflow ${this.workflow.name} failed: ${describeError(e)}`, selected: [], succeeded: [], failed: [], dropped: [] };
    }
    const t1 = now();
    if (outcome.feedback && this.o.selector?.observe) this.o.selector.observe(round, outcome.feedback);
    if (outcome.status === 'completed' && outcome.params) {
      const verdict = this.guard?.check(outcome.params, before.data) ?? { ok: true as const };
      if (verdict.ok) {
        this.global = makeParams(this.global.layout, outcome.params);
      } else {
        this.restoreState(stateBefore);
        const { params: _rejected, ...rest } = outcome;
        outcome = { ...rest, status: 'skipped', code: verdict.code, reason: `${verdict.reason}; model rejected` };
      }
    }
    for (const f of outcome.failed) this.logger.warn({ runId: this.runId, round, clientId: f.clientId, code: f.code, reason: f.reason }, 'client failed');
    // Strategy and layer events (anomalies, exclusions) go to the log as well as the history.
    for (const e of outcome.events ?? []) this.logger.info({ ...e, runId: this.runId, round }, e.message);
    // A round cut short by the caller's stop is theirs to report (a server re-runs it on resume):
    // no evaluation, no summary line, not in the history.
    const interrupted = this.o.signal?.aborted === true;
    if (outcome.status === 'skipped' && !interrupted) {
      this.logger.warn({ runId: this.runId, round, reason: outcome.reason }, `round ${round} skipped: ${outcome.reason}; global model unchanged`);
    }

    let federatedEvaluation: FederatedEvaluationRecord | undefined;
    const evalOpts = this.o.evaluation;
    if (!interrupted && evalOpts !== false && (evalOpts?.every ?? 1) > 0 && round % (evalOpts?.every ?? 1) === 0) {
      // The evaluation workflow sees the model after training, and samples with the evaluation options.
      const { poissonRate: _train, ...trainSampling } = this.o.sampling ?? {};
      const evalCtx: RoundContext = {
        ...ctx,
        global: this.global,
        // Clients still training for an asynchronous workflow (FedBuff) are not asked to evaluate.
        selectClients: () => this.select(roundRng.stream('evaluate-sampling'), { ...trainSampling, ...(evalOpts || {}) }, 0, round, undefined, this.workflow.busyClients?.()),
      };
      try {
        federatedEvaluation = await this.evaluationWorkflow.run(evalCtx);
      } catch (e) {
        this.logger.warn({ runId: this.runId, round, error: describeError(e) }, `federated evaluation (${this.evaluationWorkflow.name}) failed`);
      }
    }
    const t2 = now();
    let centralEvaluation: EvaluationRecord | undefined;
    const every = this.o.centralEvaluationEvery ?? 1;
    if (!interrupted && this.o.strategy.evaluate && every > 0 && (round % every === 0 || round === this.o.rounds)) {
      centralEvaluation = await this.evaluateCentral(round);
    }
    if (centralEvaluation && !Number.isFinite(centralEvaluation.loss)) {
      // A model the server's own test set cannot score is not kept: undo the round.
      const what = `central evaluation of round ${round} returned a non-finite loss (${centralEvaluation.loss})`;
      centralEvaluation = undefined;
      if (outcome.status === 'completed') {
        this.global = before;
        this.restoreState(stateBefore);
        outcome = { ...outcome, status: 'skipped', code: 'non_finite_evaluation', reason: `${what}; model rejected` };
      } else {
        outcome = { ...outcome, code: outcome.code ?? 'non_finite_evaluation', reason: `${outcome.reason ?? 'skipped'}; ${what}` };
      }
      this.logger.warn({ runId: this.runId, round }, `round ${round} skipped: ${what}; global model unchanged`);
    }
    const t3 = now();

    const record: RoundRecord = {
      round,
      status: outcome.status,
      ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}),
      ...(outcome.status === 'skipped' && outcome.code !== undefined ? { code: outcome.code } : {}),
      selected: outcome.selected,
      succeeded: outcome.succeeded,
      failed: outcome.failed,
      dropped: outcome.dropped,
      ...(outcome.metrics ? { train: { loss: outcome.metrics.loss, metrics: outcome.metrics } } : {}),
      ...(federatedEvaluation ? { federatedEvaluation } : {}),
      ...(centralEvaluation ? { centralEvaluation } : {}),
      ...(outcome.privacy ? { privacy: outcome.privacy } : {}),
      ...(outcome.events?.length ? { events: outcome.events } : {}),
      bytes: { ...bytes, downRatio: bytes.down > 0 ? bytes.downFloat32 / bytes.down : 1, upRatio: bytes.up > 0 ? bytes.upFloat32 / bytes.up : 1 },
      timing: { totalMs: t3 - t0, trainMs: t1 - t0, evaluateMs: t2 - t1, centralEvaluateMs: t3 - t2 },
      ...(this.o.grid.clock ? { simulatedTime: this.o.grid.clock.now() / 1000 } : {}),
    };
    if (interrupted) {
      await this.o.onRound?.(record, this.global);
      return record;
    }
    this.history.push(record);
    this.logger.info(
      {
        runId: this.runId,
        round,
        status: record.status,
        selected: record.selected.length,
        succeeded: record.succeeded.length,
        failed: record.failed.length,
        trainLoss: record.train?.loss,
        accuracy: centralEvaluation?.metrics.accuracy ?? federatedEvaluation?.metrics.accuracy,
        bytesDown: record.bytes.down,
        bytesUp: record.bytes.up,
        ms: Math.round(record.timing.totalMs),
      },
      `round ${round} ${record.status}`,
    );
    try {
      await this.o.onRound?.(record, this.global);
    } catch (e) {
      // A round that cannot be recorded is undone, so memory and storage agree; the run goes on.
      const reason = `the round could not be committed: ${describeError(e)}`;
      this.logger.error({ runId: this.runId, round, error: describeError(e) }, `round ${round} failed: ${reason}; global model unchanged`);
      this.global = before;
      this.restoreState(stateBefore);
      const { train: _t, federatedEvaluation: _f, centralEvaluation: _c, events: _e, ...kept } = record;
      const failed: RoundRecord = { ...kept, status: 'skipped', code: 'commit_failed', reason };
      this.history[this.history.length - 1] = failed;
      try {
        await this.o.onRound?.(failed, this.global);
      } catch (e2) {
        this.logger.error({ runId: this.runId, round, error: describeError(e2) }, `round ${round}: recording the failure failed too (${describeError(e2)}); the round runs again on resume`);
      }
      return failed;
    }
    return record;
  }

  /** Restores the strategy state of before a round, keeping what `guard.keepState` names as it is now. */
  private restoreState(state: StrategyState | undefined): void {
    const strategy = this.o.strategy;
    if (!state || !strategy.setState) return;
    const keep = this.o.guard ? this.o.guard.keepState : undefined;
    const restored: StrategyState = { ...state };
    if (keep) {
      for (const k of Object.keys(restored)) if (keep(k)) delete restored[k];
      for (const [k, v] of Object.entries(strategy.getState?.() ?? {})) if (keep(k)) restored[k] = v;
    }
    strategy.setState(restored);
  }

  private applyRewind(): void {
    const r = this.rewound;
    if (!r) return;
    this.rewound = undefined;
    this.global = makeParams(this.global.layout, r.params);
    if (r.state && this.o.strategy.setState) this.o.strategy.setState(r.state);
    while (this.history.length && this.history[this.history.length - 1].round > r.round) this.history.pop();
    this.nextRound = r.round; // the loop's increment makes it r.round + 1
    this.logger.warn({ runId: this.runId, round: r.round }, `run rolled back: continuing after round ${r.round}`);
  }

  private select(rng: Rng, sampling: SamplingOptions, overSelection: number, round: number, selector?: ClientSelector, exclude?: ReadonlySet<string>): { clients: string[]; waitFor: number; reason?: string } {
    const all = this.o.grid.availableClients();
    const available = exclude?.size ? all.filter((id) => !exclude.has(id)) : all;
    if (sampling.poissonRate !== undefined) {
      // Poisson: each available client independently with probability q; no over-selection (it would change q).
      const need = sampling.minAvailable ?? 1;
      if (available.length < need) return { clients: [], waitFor: 0, reason: `${available.length} clients available, at least ${need} required` };
      const clients = sampleClientsPoisson(available, sampling.poissonRate, rng);
      return clients.length ? { clients, waitFor: clients.length } : { clients: [], waitFor: 0, reason: `the Poisson sample at rate ${sampling.poissonRate} of ${available.length} clients selected none` };
    }
    const plan = planSampling(available.length, sampling);
    if (plan.count === 0) return { clients: [], waitFor: 0, reason: plan.reason };
    const count = Math.min(available.length, Math.ceil(plan.count * (1 + overSelection) - 1e-9));
    const clients = selector ? selector.select(available, count, rng, { round, ...(this.o.grid.clock ? { clock: this.o.grid.clock } : {}), ...(this.o.roundTimeoutMs !== undefined ? { timeoutMs: this.o.roundTimeoutMs } : {}) }) : sampleClients(available, count, rng);
    return { clients, waitFor: plan.count };
  }

  private async evaluateCentral(round: number): Promise<EvaluationRecord | undefined> {
    const evaluate = this.o.strategy.evaluate;
    if (!evaluate) return undefined;
    try {
      const { loss, metrics } = await evaluate(round, this.global);
      return { loss, metrics };
    } catch (e) {
      this.logger.error({ runId: this.runId, round, error: describeError(e) }, 'central evaluation failed');
      return undefined;
    }
  }
}

function validateEngineOptions(o: EngineOptions): void {
  if (!Number.isInteger(o.rounds) || o.rounds < 0) throw new FederaError('invalid_config', `rounds must be an integer ≥ 0, got ${o.rounds}`);
  if (o.sampling) checkSamplingOptions(o.sampling, 'sampling');
  if (o.evaluation) checkSamplingOptions(o.evaluation, 'evaluation');
  if (o.minResults !== undefined && !(Number.isInteger(o.minResults) && o.minResults >= 1)) {
    throw new FederaError('invalid_config', `minResults must be an integer ≥ 1, got ${o.minResults}`);
  }
  if (o.overSelection !== undefined && !(o.overSelection >= 0 && Number.isFinite(o.overSelection))) {
    throw new FederaError('invalid_config', `overSelection must be a number ≥ 0, got ${o.overSelection}`);
  }
  if (o.roundTimeoutMs !== undefined && !(o.roundTimeoutMs > 0)) throw new FederaError('invalid_config', `roundTimeoutMs must be > 0, got ${o.roundTimeoutMs}`);
  if (o.startRound !== undefined && !(Number.isInteger(o.startRound) && o.startRound >= 1)) {
    throw new FederaError('invalid_config', `startRound must be an integer ≥ 1, got ${o.startRound}`);
  }
  const every = o.centralEvaluationEvery;
  if (every !== undefined && !(Number.isInteger(every) && every >= 0)) throw new FederaError('invalid_config', `centralEvaluationEvery must be an integer ≥ 0, got ${every}`);
}

/** A deep copy of a strategy state (optimizers may update their arrays in place). */
function copyState(state: StrategyState | undefined): StrategyState | undefined {
  if (!state) return undefined;
  const out: StrategyState = {};
  for (const [k, v] of Object.entries(state)) out[k] = typeof v === 'number' ? v : v.slice();
  return out;
}

export type { ClientFailure };
