/**
 * A chain of aggregation stages in front of a server optimizer, as one `Strategy`.
 *
 * Each round: the stages add their keys to the train config; every plain update passes the
 * stages' server halves (clip, weight cap) and then the one reducer (the streaming mean by
 * default, a robust rule, or the secure sum a secure-aggregation workflow hands over with
 * `addSecureSum`); the aggregate passes the stages' `aggregate` halves (noise, decode,
 * accounting); and the resulting update goes to the base strategy as the round's only training
 * result, which it applies as it would the mean update (FedAvg moves the model by it; FedAvgM and
 * the FedOpt family use it as their pseudo-gradient). Stages commit what they prepared (ε spent,
 * the next clip norm) only once the base strategy applied the round.
 */
import type { Config, Metrics } from '../core/messages.js';
import type { Params } from '../core/params.js';
import { FederaError } from '../core/errors.js';
import type { RoundEvent } from '../core/records.js';
import type { AggregatedEvaluation, AggregatedTrain, CentralEvaluate, EvaluateResult, Strategy, StrategyState, TrainAggregation, TrainResult } from '../strategy/strategy.js';
import { sharedBuffers } from '../core/buffers.js';
import { checkStages } from './check.js';
import { createMeanStage } from './mean.js';
import { WeightCap, type WeightCapOptions } from './weight-cap.js';
import type { AggregationStage, Reduction, RoundAggregate, SecureSumResult, StageUpdate } from './stage.js';

/** A round's aggregation that also takes a secure sum (what a secure-aggregation workflow feeds). */
export interface StagedAggregation extends TrainAggregation {
  addSecureSum(s: SecureSumResult): void;
}

export interface AggregationStrategyOptions {
  /** The strategy's name (default: the base's name with the stages', e.g. `dp-fedavg`). */
  name?: string;
  /** Prefix of composition errors (default `aggregation`). */
  where?: string;
  /**
   * Cap the example counts federated evaluation weighs by (against the round's own median), so one
   * client claiming 10¹⁵ examples cannot set the evaluated loss (weight-cap.ts).
   */
  evaluationCap?: WeightCapOptions;
}

export class AggregationStrategy implements Strategy {
  readonly name: string;
  readonly base: Strategy;
  readonly stages: readonly AggregationStage[];
  readonly evaluate: CentralEvaluate | undefined;
  private readonly reducer: AggregationStage;
  private readonly perUpdate: readonly AggregationStage[];
  private readonly evaluationCap: WeightCap | undefined;

  constructor(base: Strategy, stages: readonly AggregationStage[], options: AggregationStrategyOptions = {}) {
    if (!base || typeof base.aggregateTrain !== 'function') throw new FederaError('invalid_config', 'AggregationStrategy: base must be a Strategy');
    const reducers = stages.filter((s) => s.reduce);
    const chain: AggregationStage[] = reducers.length === 0 ? [...stages, createMeanStage({ weighting: 'examples' })] : [...stages];
    checkStages(chain, options.where ?? 'aggregation');
    this.base = base;
    this.stages = chain;
    this.reducer = chain.find((s) => s.reduce)!;
    this.perUpdate = chain.filter((s) => s.update);
    this.evaluate = base.evaluate;
    this.evaluationCap = options.evaluationCap ? new WeightCap(options.evaluationCap) : undefined;
    this.name = options.name ?? [chain.map((s) => s.namePrefix ?? '').join('') + base.name, ...chain.flatMap((s) => (s.nameSuffix ? [s.nameSuffix] : []))].join('+');
  }

  /** The stage of this name, for inspection (e.g. a DP stage's ε). */
  stage<T extends AggregationStage = AggregationStage>(name: string): T | undefined {
    return this.stages.find((s) => s.name === name) as T | undefined;
  }

  configureTrain(round: number, global: Params): Config {
    let config = this.base.configureTrain(round, global);
    for (const s of this.stages) if (s.configure) config = s.configure(round, config);
    return config;
  }

  configureEvaluate(round: number, global: Params): Config {
    return this.base.configureEvaluate(round, global);
  }

  aggregateEvaluate(round: number, results: readonly EvaluateResult[]): AggregatedEvaluation {
    const cap = this.evaluationCap;
    if (!cap) return this.base.aggregateEvaluate(round, results);
    const weights = cap.capAll(results.map((r) => r.numExamples));
    const capped = weights.filter((w, i) => w < results[i].numExamples).length;
    const out = this.base.aggregateEvaluate(
      round,
      results.map((r, i) => (weights[i] < r.numExamples ? { ...r, numExamples: Math.max(1, Math.floor(weights[i])) } : r)),
    );
    // Counted like the training cap (`weight_capped`), for the server's capped-weights counter.
    return capped ? { ...out, metrics: { ...out.metrics, weight_capped: capped } } : out;
  }

  aggregateTrain(round: number, global: Params): StagedAggregation {
    const reduction: Reduction = this.reducer.reduce!(round, global);
    const uniform = this.reducer.weighting === 'uniform';
    const perUpdate = this.perUpdate;
    let open = true;
    const close = () => {
      if (open) reduction.discard();
      open = false;
    };
    return {
      add: (r: TrainResult) => {
        if (!open) throw new FederaError('invalid_argument', `round ${round}: aggregation already finished`);
        const u: StageUpdate = { clientId: r.clientId, update: r.update, numExamples: r.numExamples, weight: uniform ? 1 : r.numExamples, metrics: { ...r.metrics } };
        for (const s of perUpdate) s.update!(u, round);
        reduction.add(u);
      },
      addSecureSum: (s: SecureSumResult) => {
        if (!open) throw new FederaError('invalid_argument', `round ${round}: aggregation already finished`);
        reduction.addSecureSum(s);
      },
      get accepted() {
        return reduction.accepted;
      },
      finish: (): AggregatedTrain => {
        if (!open) throw new FederaError('invalid_argument', `round ${round}: aggregation already finished`);
        open = false;
        const aggregate = reduction.finish();
        return this.apply(round, global, aggregate);
      },
      discard: close,
    };
  }

  private apply(round: number, global: Params, a: RoundAggregate): AggregatedTrain {
    const ran: AggregationStage[] = [];
    const undo = () => {
      for (const s of ran) s.rollback?.();
    };
    let result: AggregatedTrain;
    try {
      for (const s of this.stages) {
        if (!s.aggregate) continue;
        ran.push(s);
        s.aggregate(a, global);
      }
      // The mean goes into a pooled buffer (borrowed by `add`, as every update is): a fresh
      // parameter-sized array each round costs page faults, and outside the vector arena the
      // base's running sum would copy it once more.
      const update = a.update ?? meanOf(a, sharedBuffers.take(a.sum.length));
      const inner = this.base.aggregateTrain(round, global);
      try {
        inner.add({ clientId: `aggregate:${this.reducer.name}`, update, numExamples: 1, metrics: a.metrics });
        result = inner.finish();
      } catch (e) {
        inner.discard?.();
        throw e;
      } finally {
        if (update !== a.update) sharedBuffers.give(update);
      }
    } catch (e) {
      undo();
      throw e;
    }
    for (const s of this.stages) s.commit?.(a);
    const events: RoundEvent[] = [...(result.events ?? []), ...a.events];
    const metrics: Metrics = { ...result.metrics, ...a.stageMetrics };
    const privacy = a.privacy ?? result.privacy;
    return { params: result.params, metrics, ...(privacy ? { privacy } : {}), ...(events.length ? { events } : {}) };
  }

  getState(): StrategyState {
    const state: StrategyState = { ...(this.base.getState?.() ?? {}) };
    for (const s of this.stages) Object.assign(state, s.getState?.() ?? {});
    return state;
  }

  setState(state: StrategyState): void {
    const rest: StrategyState = { ...state };
    for (const s of this.stages) {
      if (!s.statePrefix || !s.setState) continue;
      const own: StrategyState = {};
      for (const [k, v] of Object.entries(rest)) {
        if (!k.startsWith(s.statePrefix)) continue;
        own[k] = v;
        delete rest[k];
      }
      s.setState(own);
    }
    this.base.setState?.(rest);
  }
}

/** sum / weight as float32. */
export function meanOf(a: RoundAggregate, out: Float32Array = new Float32Array(a.sum.length)): Float32Array {
  if (!(a.weight > 0)) throw new FederaError('insufficient_results', `round ${a.round}: the updates' weights sum to ${a.weight}; nothing to average`);
  if (out.length !== a.sum.length) throw new FederaError('shape_mismatch', `meanOf: output has ${out.length} values, the sum ${a.sum.length}`);
  const inv = 1 / a.weight;
  for (let i = 0; i < out.length; i++) out[i] = a.sum[i] * inv;
  return out;
}

/** `base` behind `stages` (a mean reducer is added when none of them reduces). */
export function createAggregationStrategy(base: Strategy, stages: readonly AggregationStage[], options: AggregationStrategyOptions = {}): AggregationStrategy {
  return new AggregationStrategy(base, stages, options);
}
