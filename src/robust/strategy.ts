/**
 * A strategy that aggregates robustly and then hands the result to another strategy.
 *
 * `new RobustStrategy(base, { aggregator })` collects the round's updates (copies: the engine's are
 * borrowed), aggregates them with the robust rule into one update Δ, and feeds Δ to `base` as the
 * round's only training result. `base` then does what it does with a mean update: FedAvg moves the
 * model by Δ, FedAvgM and the FedOpt family (FedAdam, FedYogi, FedAdagrad) use Δ as their
 * pseudo-gradient. Training and evaluation configs, central evaluation and federated evaluation
 * come from `base` unchanged.
 *
 * Each round it also scores every update against Δ (distance, cosine similarity, norm z-score;
 * see anomaly.ts), reports the flagged ones as `robust/anomaly` events, and, with a
 * {@link Reputation}, penalises them: down-weighting (weighted aggregators) and exclusion of
 * repeat offenders (`robust/excluded` events). Events go to the round's history and, through the
 * engine, to the log.
 *
 * `base` must treat its input as the mean update. A strategy that clips or noises individual
 * updates (central DP) would see a single "client" and is not a valid base.
 */
import type { Config, Metrics } from '../core/messages.js';
import type { Params } from '../core/params.js';
import { FederaError } from '../core/errors.js';
import type { RoundEvent } from '../core/records.js';
import {
  MetricsMean,
  type AggregatedEvaluation,
  type AggregatedTrain,
  type CentralEvaluate,
  type EvaluateResult,
  type Strategy,
  type StrategyState,
  type TrainAggregation,
  type TrainResult,
} from '../strategy/strategy.js';
import type { Aggregator } from './aggregator.js';
import { anomalyReasons, anomalyScores, DEFAULT_THRESHOLDS, type AnomalyScore, type AnomalyThresholds } from './anomaly.js';
import { Reputation, type ReputationOptions } from './reputation.js';
import { UpdateStore } from './updates.js';

export interface RobustOptions {
  aggregator: Aggregator;
  /** Thresholds for flagging updates as anomalous; `false` turns scoring off. Default: see anomaly.ts. */
  anomaly?: AnomalyThresholds | false;
  /** Penalise flagged clients across rounds (down-weight, exclude). Default off: flags only produce events. */
  reputation?: Reputation | ReputationOptions | false;
  /** Weights for weighted aggregators: example counts (default) or 1 per client. */
  weighting?: 'examples' | 'uniform';
}

/** What the last finished round looked like, for inspection and tests. */
export interface RobustRoundReport {
  round: number;
  /** Client ids in aggregation order (sorted). */
  clientIds: string[];
  /** Clients left out because of their reputation. */
  excluded: string[];
  /** Clients the aggregator selected (Krum, Multi-Krum, Bulyan); all included clients otherwise. */
  used: string[];
  /** Clients whose update was flagged. */
  flagged: string[];
  /** Anomaly scores by client id (when scoring is on). */
  scores: Map<string, AnomalyScore>;
  /** The robust update Δ handed to the base strategy. */
  update: Float32Array;
}

const STATE_PREFIX = 'robust/reputation/';

export class RobustStrategy implements Strategy {
  readonly name: string;
  readonly base: Strategy;
  readonly aggregator: Aggregator;
  readonly reputation: Reputation | undefined;
  readonly thresholds: Required<AnomalyThresholds> | undefined;
  readonly evaluate: CentralEvaluate | undefined;
  private readonly uniform: boolean;
  private store: UpdateStore | undefined;
  private storeInUse = false;
  /** The last finished round. */
  lastReport: RobustRoundReport | undefined;

  constructor(base: Strategy, options: RobustOptions) {
    if (!options || !options.aggregator || typeof options.aggregator.aggregate !== 'function') {
      throw new FederaError('invalid_config', 'RobustStrategy: options.aggregator must be an Aggregator');
    }
    if (options.weighting !== undefined && options.weighting !== 'examples' && options.weighting !== 'uniform') {
      throw new FederaError('invalid_config', `weighting must be "examples" or "uniform", got "${String(options.weighting)}"`);
    }
    this.base = base;
    this.aggregator = options.aggregator;
    this.name = `${base.name}+${options.aggregator.name}`;
    this.evaluate = base.evaluate;
    this.uniform = options.weighting === 'uniform';
    this.thresholds = options.anomaly === false ? undefined : { ...DEFAULT_THRESHOLDS, ...(options.anomaly ?? {}) };
    const rep = options.reputation;
    this.reputation = rep instanceof Reputation ? rep : rep ? new Reputation(rep) : undefined;
    if (this.reputation && !this.thresholds) {
      throw new FederaError('invalid_config', 'RobustStrategy: reputation needs anomaly scoring (anomaly must not be false)');
    }
  }

  configureTrain(round: number, global: Params): Config {
    return this.base.configureTrain(round, global);
  }

  configureEvaluate(round: number, global: Params): Config {
    return this.base.configureEvaluate(round, global);
  }

  aggregateEvaluate(round: number, results: readonly EvaluateResult[]): AggregatedEvaluation {
    return this.base.aggregateEvaluate(round, results);
  }

  aggregateTrain(round: number, global: Params): TrainAggregation {
    const d = global.layout.size;
    // One store reused across rounds, unless an earlier aggregation is still open.
    let store: UpdateStore;
    if (this.store && !this.storeInUse && this.store.d === d) {
      store = this.store;
      store.reset();
    } else {
      store = new UpdateStore(d);
      if (!this.storeInUse) this.store = store;
    }
    const owned = store === this.store;
    if (owned) this.storeInUse = true;
    let open = true;
    const release = () => {
      if (open && owned) this.storeInUse = false;
      open = false;
    };
    const metrics = new MetricsMean();
    return {
      add: (r: TrainResult) => {
        if (!open) throw new FederaError('invalid_argument', `round ${round}: aggregation already finished`);
        if (!this.uniform && !(r.numExamples > 0)) {
          throw new FederaError('invalid_argument', `client ${r.clientId} reported ${r.numExamples} examples; weighting by examples needs > 0`);
        }
        store.push(r.clientId, r.update, r.numExamples);
        metrics.add(r.metrics, this.uniform ? 1 : r.numExamples);
      },
      get accepted() {
        return store.n;
      },
      finish: (): AggregatedTrain => {
        try {
          return this.finishRound(round, global, store, metrics.result());
        } finally {
          release();
        }
      },
      discard: release,
    };
  }

  private finishRound(round: number, global: Params, store: UpdateStore, clientMetrics: Metrics): AggregatedTrain {
    const n = store.n;
    if (n === 0) throw new FederaError('insufficient_results', `round ${round}: no training result to aggregate`);
    // Aggregation order is by client id, so the result does not depend on arrival order.
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (store.clientIds[a] < store.clientIds[b] ? -1 : store.clientIds[a] > store.clientIds[b] ? 1 : a - b));
    const ids = order.map((i) => store.clientIds[i]);
    const rows = order.map((i) => store.row(i));
    const examples = order.map((i) => store.numExamples[i]);
    const events: RoundEvent[] = [];
    const rep = this.reputation;

    // 1. Leave out repeat offenders, worst first, as long as the aggregator keeps enough updates.
    const excluded = new Set<number>();
    if (rep) {
      const candidates = ids.map((id, i) => ({ i, id, p: rep.penalty(id, round) })).filter((c) => c.p >= rep.excludeAt);
      candidates.sort((a, b) => b.p - a.p || a.i - b.i);
      const room = Math.max(0, n - this.aggregator.minUpdates());
      for (const [k, c] of candidates.entries()) {
        const reputation = 1 / (1 + c.p);
        if (k < room) {
          excluded.add(c.i);
          events.push({ kind: 'robust/excluded', clientId: c.id, message: `client ${c.id} excluded from round ${round}: penalty ${c.p.toFixed(2)} ≥ ${rep.excludeAt} (reputation ${reputation.toFixed(2)})`, penalty: c.p, reputation });
        } else {
          events.push({ kind: 'robust/kept', clientId: c.id, message: `client ${c.id} kept in round ${round} despite penalty ${c.p.toFixed(2)}: ${this.aggregator.name} needs at least ${this.aggregator.minUpdates()} updates`, penalty: c.p, reputation });
        }
      }
    }
    const included = order.map((_, i) => i).filter((i) => !excluded.has(i));

    // 2. Aggregate.
    const weights = included.map((i) => (this.uniform ? 1 : examples[i]) * (rep?.downweight ? rep.reputation(ids[i], round) : 1));
    const result = this.aggregator.aggregate(
      included.map((i) => rows[i]),
      { weights },
    );
    const update = result.update;
    const used = (result.selected ?? included.map((_, k) => k)).map((k) => ids[included[k]]);

    // 3. Score every update (excluded ones too) against the aggregate; flag, penalise.
    const scores = new Map<string, AnomalyScore>();
    const flagged: string[] = [];
    if (this.thresholds) {
      const all = anomalyScores(rows, update);
      for (let i = 0; i < n; i++) {
        const s = all[i];
        scores.set(ids[i], s);
        const reasons = anomalyReasons(s, this.thresholds);
        if (reasons.length === 0) continue;
        flagged.push(ids[i]);
        const penalty = rep?.penalize(ids[i], round);
        events.push({
          kind: 'robust/anomaly',
          clientId: ids[i],
          message: `client ${ids[i]} flagged in round ${round}: ${reasons.join('; ')}${penalty !== undefined ? ` (penalty ${penalty.toFixed(2)})` : ''}`,
          norm: s.norm,
          distance: s.distance,
          cosine: s.cosine,
          normZ: s.normZ,
          distanceZ: s.distanceZ,
          excluded: excluded.has(i),
          ...(penalty !== undefined ? { penalty, reputation: 1 / (1 + penalty) } : {}),
        });
      }
    }
    this.lastReport = { round, clientIds: ids, excluded: [...excluded].map((i) => ids[i]), used, flagged, scores, update };

    // 4. The base strategy applies Δ as if it were the round's only (mean) update.
    const baseAggregation = this.base.aggregateTrain(round, global);
    let applied: AggregatedTrain;
    try {
      baseAggregation.add({ clientId: `robust:${this.aggregator.name}`, update, numExamples: 1, metrics: clientMetrics });
      applied = baseAggregation.finish();
    } catch (e) {
      baseAggregation.discard?.();
      throw e;
    }
    const robustMetrics: Metrics = {
      robust_updates: n,
      robust_used: used.length,
      robust_excluded: excluded.size,
      robust_flagged: flagged.length,
    };
    if (result.clipped) robustMetrics.robust_clipped = result.clipped.length;
    if (result.clipNorm !== undefined) robustMetrics.robust_clip_norm = result.clipNorm;
    return {
      params: applied.params,
      metrics: { ...applied.metrics, ...robustMetrics },
      ...(applied.privacy ? { privacy: applied.privacy } : {}),
      events: [...(applied.events ?? []), ...events],
    };
  }

  getState(): StrategyState {
    return { ...(this.base.getState?.() ?? {}), ...(this.reputation?.toState(STATE_PREFIX) ?? {}) };
  }

  setState(state: StrategyState): void {
    const own: Record<string, unknown> = {};
    const rest: StrategyState = {};
    for (const [k, v] of Object.entries(state)) {
      if (k.startsWith(STATE_PREFIX)) own[k] = v;
      else rest[k] = v;
    }
    this.base.setState?.(rest);
    this.reputation?.loadState(own, STATE_PREFIX);
  }
}
