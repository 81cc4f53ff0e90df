/**
 * The robust-rule stage: a reducer that collects the round's updates (copies: the engine's are
 * borrowed) and aggregates them with a robust rule — coordinate median, trimmed mean, Krum,
 * Multi-Krum, Bulyan, optionally behind norm bounding (robust/) — into one update Δ.
 *
 * Each round it also scores every update against Δ (distance, cosine similarity, norm z-score;
 * robust/anomaly.ts), reports the flagged ones as `robust/anomaly` events, and, with a
 * {@link Reputation}, penalises them: down-weighting (weighted rules) and exclusion of repeat
 * offenders (`robust/excluded` events). It needs every update, so it cannot run under a secure
 * sum, and DP-FedAvg's sensitivity bound does not hold for it.
 */
import type { Metrics } from '../core/messages.js';
import type { Params } from '../core/params.js';
import { FederaError } from '../core/errors.js';
import type { RoundEvent } from '../core/records.js';
import { compareClientIds } from '../core/ids.js';
import type { StrategyState } from '../strategy/strategy.js';
import type { Aggregator } from '../robust/aggregator.js';
import { NormBounding } from '../robust/norm-bound.js';
import { anomalyReasons, anomalyScores, DEFAULT_THRESHOLDS, type AnomalyScore, type AnomalyThresholds } from '../robust/anomaly.js';
import { Reputation, type ReputationOptions } from '../robust/reputation.js';
import { UpdateStore } from '../robust/updates.js';
import { MetricsMean } from '../strategy/strategy.js';
import { addTally, capReport } from './mean.js';
import { WeightCap, type WeightCapOptions } from './weight-cap.js';
import type { AggregationStage, Reduction, RoundAggregate, StageUpdate } from './stage.js';

export interface RobustOptions {
  aggregator: Aggregator;
  /** Thresholds for flagging updates as anomalous; `false` turns scoring off. Default: see anomaly.ts. */
  anomaly?: AnomalyThresholds | false;
  /** Penalise flagged clients across rounds (down-weight, exclude). Default off: flags only produce events. */
  reputation?: Reputation | ReputationOptions | false;
  /** Weights for weighted aggregators: example counts (default) or 1 per client. */
  weighting?: 'examples' | 'uniform';
  /** Cap the example counts clients claim, against the round's median (example weighting only). */
  weightCap?: WeightCapOptions | WeightCap;
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

export class RobustRuleStage implements AggregationStage {
  readonly name: string;
  readonly field = 'robust.aggregator';
  readonly title: string;
  readonly nameSuffix: string;
  readonly reducer: 'linear' | 'robust';
  readonly weighting: 'examples' | 'uniform';
  readonly crossClient: boolean;
  readonly needsUpdates: { reason: string; hint: string };
  readonly statePrefix = STATE_PREFIX;
  readonly aggregator: Aggregator;
  readonly reputation: Reputation | undefined;
  readonly thresholds: Required<AnomalyThresholds> | undefined;
  readonly cap: WeightCap | undefined;
  private store: UpdateStore | undefined;
  private storeInUse = false;
  /** The last finished round. */
  lastReport: RobustRoundReport | undefined;

  constructor(options: RobustOptions) {
    if (!options || !options.aggregator || typeof options.aggregator.aggregate !== 'function') {
      throw new FederaError('invalid_config', 'RobustStrategy: options.aggregator must be an Aggregator');
    }
    if (options.weighting !== undefined && options.weighting !== 'examples' && options.weighting !== 'uniform') {
      throw new FederaError('invalid_config', `weighting must be "examples" or "uniform", got "${String(options.weighting)}"`);
    }
    this.aggregator = options.aggregator;
    this.name = options.aggregator.name;
    this.nameSuffix = options.aggregator.name;
    this.weighting = options.weighting ?? 'examples';
    const c = options.weightCap;
    this.cap = this.weighting === 'examples' && c ? (c instanceof WeightCap ? c : new WeightCap(c)) : undefined;
    this.thresholds = options.anomaly === false ? undefined : { ...DEFAULT_THRESHOLDS, ...(options.anomaly ?? {}) };
    const rep = options.reputation;
    this.reputation = rep instanceof Reputation ? rep : rep ? new Reputation(rep) : undefined;
    if (this.reputation && !this.thresholds) {
      throw new FederaError('invalid_config', 'RobustStrategy: reputation needs anomaly scoring (anomaly must not be false)');
    }
    const agg = options.aggregator;
    const bounding = agg instanceof NormBounding ? agg : undefined;
    // Norm bounding at a fixed bound in front of the mean is a clip and a weighted sum: linear.
    const linear = agg.name === 'mean' || (bounding !== undefined && bounding.inner === undefined && bounding.threshold !== 'median');
    this.reducer = linear && !this.reputation?.downweight ? 'linear' : 'robust';
    this.crossClient = (bounding !== undefined && bounding.threshold === 'median') || this.reputation !== undefined;
    this.title = this.reducer === 'linear' && bounding ? `norm bounding (robust.normBound ${String(bounding.threshold)})` : `robust aggregation (robust.aggregator ${agg.name})`;
    this.needsUpdates = { reason: `${this.title} needs every client's update`, hint: 'use one or the other' };
  }

  reduce(round: number, global: Params): Reduction {
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
    const tallies: Record<string, number> = {};
    const uniform = this.weighting === 'uniform';
    return {
      add: (u: StageUpdate) => {
        if (!open) throw new FederaError('invalid_argument', `round ${round}: aggregation already finished`);
        if (!uniform && !(u.numExamples > 0)) {
          throw new FederaError('invalid_argument', `client ${u.clientId} reported ${u.numExamples} examples; weighting by examples needs > 0`);
        }
        store.push(u.clientId, u.update, u.weight);
        metrics.add(u.metrics, uniform ? 1 : u.numExamples);
        addTally(tallies, u.tally);
      },
      addSecureSum: () => {
        throw new FederaError('invalid_config', `strategy ${this.name} aggregates individual updates robustly, which secure aggregation hides; use a FedAvg-family strategy`);
      },
      get accepted() {
        return store.n;
      },
      finish: (): RoundAggregate => {
        try {
          return this.finishRound(round, store, metrics.result(), tallies);
        } finally {
          release();
        }
      },
      discard: release,
    };
  }

  private finishRound(round: number, store: UpdateStore, clientMetrics: Metrics, tallies: Record<string, number>): RoundAggregate {
    const n = store.n;
    if (n === 0) throw new FederaError('insufficient_results', `round ${round}: no training result to aggregate`);
    // Aggregation order is by client id, so the result does not depend on arrival order.
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => compareClientIds(store.clientIds[a], store.clientIds[b]) || a - b);
    const ids = order.map((i) => store.clientIds[i]);
    const rows = order.map((i) => store.row(i));
    const claimed = order.map((i) => store.numExamples[i]);
    const weightsIn = this.cap ? this.cap.capAll(claimed) : claimed;
    const capped = this.cap ? capReport(round, ids.flatMap((clientId, i) => (weightsIn[i] < claimed[i] ? [{ clientId, claim: claimed[i], weight: weightsIn[i] }] : []))) : undefined;
    const events: RoundEvent[] = [...(capped?.events ?? [])];
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
    const weights = included.map((i) => weightsIn[i] * (rep?.downweight ? rep.reputation(ids[i], round) : 1));
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

    const stageMetrics: Metrics = {
      robust_updates: n,
      robust_used: used.length,
      robust_excluded: excluded.size,
      robust_flagged: flagged.length,
    };
    if (result.clipped) stageMetrics.robust_clipped = result.clipped.length;
    if (result.clipNorm !== undefined) stageMetrics.robust_clip_norm = result.clipNorm;
    Object.assign(stageMetrics, capped?.metrics ?? {});
    // The aggregate as a sum: Δ times the total weight of the updates it stands for.
    const usedWeight = used.length;
    const sum = new Float64Array(update.length);
    for (let j = 0; j < update.length; j++) sum[j] = update[j] * usedWeight;
    return {
      round,
      sum,
      weight: usedWeight,
      contributors: used,
      secure: false,
      weighting: this.weighting,
      metrics: clientMetrics,
      metricSums: tallies,
      update,
      stageMetrics,
      events,
    };
  }

  getState(): StrategyState {
    return this.reputation?.toState(STATE_PREFIX) ?? {};
  }

  setState(state: StrategyState): void {
    this.reputation?.loadState(state as Record<string, unknown>, STATE_PREFIX);
  }
}
