/**
 * The strategy interface: what to ask clients each round, and how to fold their answers into the
 * next global model. The engine owns sampling, transport, deadlines and failures; a strategy owns
 * the arithmetic.
 */
import type { Config, Metrics } from '../core/messages.js';
import type { Params } from '../core/params.js';
import { FederaError } from '../core/errors.js';
import type { PrivacyRecord, RoundEvent } from '../core/records.js';

/**
 * One client's training result. `update` = trained − global parameters. The array is valid only
 * during `TrainAggregation.add` (transports reuse their buffers): an aggregation that keeps
 * updates (median, Krum) copies them.
 */
export interface TrainResult {
  readonly clientId: string;
  /** Borrowed for the call to `add`: the engine reuses the buffer afterwards (a strategy that keeps an update copies it). */
  readonly update: Float32Array;
  readonly numExamples: number;
  readonly metrics: Metrics;
}

export interface EvaluateResult {
  readonly clientId: string;
  readonly loss: number;
  readonly numExamples: number;
  readonly metrics: Metrics;
}

export interface AggregatedTrain {
  /** The next global parameters. */
  readonly params: Float32Array;
  /** Example-weighted means of the clients' fit metrics (e.g. `loss`), plus strategy metrics. */
  readonly metrics: Metrics;
  /** Privacy spent after this round (DP strategies). */
  readonly privacy?: PrivacyRecord;
  /** Events worth recording in the round's history (anomalies, exclusions). */
  readonly events?: readonly RoundEvent[];
}

export interface AggregatedEvaluation {
  readonly loss: number;
  readonly metrics: Metrics;
  readonly numExamples: number;
}

/**
 * Train-config key listing (comma-separated) the per-client metrics a stage needs summed; under
 * secure aggregation they travel inside the masked vector instead of in the clear.
 */
export const MASKED_METRICS_CONFIG_KEY = 'federa.maskedMetrics';

/**
 * Train-config key asking the client runtime to evaluate the received model on its training data
 * before training and report that loss as the metric `INITIAL_LOSS_METRIC` (q-FedAvg's F_k).
 */
export const INITIAL_LOSS_CONFIG_KEY = 'federa.initialLoss';
export const INITIAL_LOSS_METRIC = 'initial_loss';

/**
 * Evaluate-config key for personalization evaluation (as TensorFlow Federated's): each evaluated
 * client first scores the received model on its validation split, then fine-tunes it for this many
 * epochs on its training split (the config's learningRate and batchSize) and scores it again,
 * reported with the prefix `PERSONALIZED_PREFIX` (`personalized_loss`, `personalized_accuracy`).
 */
export const FINE_TUNE_CONFIG_KEY = 'federa.fineTuneEpochs';

/**
 * Ditto (Li, Hu, Beirami & Smith 2021): train-config keys asking each client to train, after its
 * global update, its own personal model v (kept in its state across rounds) for `epochs` epochs with
 * the proximal term λ/2·‖v − w‖² toward the received global model w; the evaluate-config key
 * `evaluate` asks it to score v too (reported with PERSONALIZED_PREFIX).
 */
export const DITTO_CONFIG = { lambda: 'federa.ditto.lambda', epochs: 'federa.ditto.epochs', evaluate: 'federa.ditto.evaluate' } as const;
/** Where a client keeps its Ditto model. */
export const DITTO_STATE_KEY = 'ditto/personal';
export const PERSONALIZED_PREFIX = 'personalized_';

/**
 * Train-config keys by which a stage asks a quantized secure sum to add discrete noise to the
 * clients' codes (distributed DP): the L2 norm each client's update is clipped to and the standard
 * deviation of the noise each client adds, both in update units. The secure sum turns them into
 * Skellam noise on its integer codes and reports what it added ({@link SecureSumResult.noise}).
 */
export const SECURE_NOISE_CONFIG = { clipNorm: 'federa.secureNoise.clipNorm', std: 'federa.secureNoise.std' } as const;

/** The discrete noise a secure sum added, in its code units (1 = one quantization step). */
export interface SecureSumNoise {
  /** λ: every client added Poisson(λ) − Poisson(λ) to every code. */
  readonly lambda: number;
  /** Δ₂, Δ₁: the L2 and L1 norms one client's rounded codes stay within. */
  readonly l2Sensitivity: number;
  readonly l1Sensitivity: number;
  /** s: codes per unit of the update. */
  readonly scale: number;
  /** The clip norm and per-client std the sum was asked for (update units). */
  readonly clipNorm: number;
  readonly std: number;
}

/** A secure sum, as a secure-aggregation workflow hands it to the round's aggregation. */
export interface SecureSumResult {
  /** Σ wᵢ·xᵢ, decoded. */
  readonly sum: Float64Array;
  /** Σ wᵢ (min(examples/maxWeight, 1) per client, or 1 each with uniform weighting). */
  readonly weight: number;
  /** What one unit of `weight` is worth in examples (maxWeight with example weighting, 1 otherwise). */
  readonly weightUnit: number;
  readonly weighting: 'examples' | 'uniform';
  /** The clients whose inputs are in the sum (sorted). */
  readonly contributors: readonly string[];
  /** Means of the metrics the clients sent in the clear. */
  readonly metrics: Metrics;
  /** Sums of the metrics that travelled under the masks (named by MASKED_METRICS_CONFIG_KEY). */
  readonly maskedSums: Readonly<Record<string, number>>;
  /** Discrete noise the clients added to their codes, when a stage asked for it (SECURE_NOISE_CONFIG). */
  readonly noise?: SecureSumNoise;
}

/**
 * A round's aggregation in progress. The engine calls `add` as each reply arrives, so strategies
 * that can stream (FedAvg and the FedOpt family) hold O(d) memory however many clients report.
 * `add` throws a `FederaError` to reject a result; a rejected result must leave the aggregate as
 * it was, and the engine then records that client as failed.
 */
export interface TrainAggregation {
  add(result: TrainResult): void;
  /** Results accepted so far. */
  readonly accepted: number;
  finish(): AggregatedTrain;
  /** Called instead of `finish` when the round is abandoned, so resources can be reused. */
  discard?(): void;
  /**
   * Takes a secure sum as the round's only input (strategies built from aggregation stages). A
   * strategy without it gets the sum's mean as one result, with the sum's weight.
   */
  addSecureSum?(s: SecureSumResult): void;
}

/** Central evaluation on the server's own test set. */
export type CentralEvaluate = (round: number, params: Params) => Promise<{ loss: number; metrics: Metrics }>;

export interface Strategy {
  readonly name: string;
  /** The config sent with every train instruction of `round`. */
  configureTrain(round: number, global: Params): Config;
  /** Starts the streaming aggregation of `round`'s training results. */
  aggregateTrain(round: number, global: Params): TrainAggregation;
  /** The config sent with every evaluate instruction of `round`. */
  configureEvaluate(round: number, global: Params): Config;
  aggregateEvaluate(round: number, results: readonly EvaluateResult[]): AggregatedEvaluation;
  /** Optional central evaluation, run by the engine after each round's aggregation. */
  readonly evaluate?: CentralEvaluate;
  /** Server-side optimizer state, for checkpoints. */
  getState?(): StrategyState;
  setState?(state: StrategyState): void;
}

export type StrategyState = Record<string, Float32Array | number>;

/** Options every built-in strategy takes. */
export interface StrategyOptions {
  /** Sent to clients with every train instruction (epochs, batchSize, learningRate, ...). */
  trainConfig?: Config | ((round: number) => Config);
  evaluateConfig?: Config | ((round: number) => Config);
  /** Central evaluation function. */
  evaluate?: CentralEvaluate;
  /** Weight client updates by their example counts (default) or equally. */
  weighting?: 'examples' | 'uniform';
}

export function resolveConfig(c: Config | ((round: number) => Config) | undefined, round: number): Config {
  if (c === undefined) return {};
  return typeof c === 'function' ? c(round) : c;
}

/**
 * A per-round working buffer that a strategy keeps across rounds, so its memory is allocated
 * once. A round that starts while the previous one's buffer is still in use gets a fresh one.
 */
export class RoundScratch<T extends { reset(): void }> {
  private kept: T | undefined;
  private inUse = false;

  /** A reset buffer that `fits`, or a new one from `create`; call `release` when the round ends. */
  acquire(fits: (kept: T) => boolean, create: () => T): { value: T; release: () => void } {
    let value: T;
    let owned = false;
    if (this.kept && !this.inUse && fits(this.kept)) {
      value = this.kept;
      value.reset();
      owned = true;
    } else {
      value = create();
      if (!this.inUse) {
        this.kept = value;
        owned = true;
      }
    }
    if (owned) this.inUse = true;
    let open = owned;
    return {
      value,
      release: () => {
        if (open) this.inUse = false;
        open = false;
      },
    };
  }
}

/** Example-weighted means of named metrics. */
export class MetricsMean {
  private readonly sums = new Map<string, number>();
  private readonly weights = new Map<string, number>();

  add(metrics: Metrics, weight: number): void {
    for (const [k, v] of Object.entries(metrics)) {
      if (!Number.isFinite(v)) continue;
      this.sums.set(k, (this.sums.get(k) ?? 0) + v * weight);
      this.weights.set(k, (this.weights.get(k) ?? 0) + weight);
    }
  }

  result(): Metrics {
    const out: Metrics = {};
    for (const [k, s] of this.sums) {
      const w = this.weights.get(k) ?? 0;
      if (w > 0) out[k] = s / w;
    }
    return out;
  }
}

/** The example-weighted federated evaluation every built-in strategy uses. */
export function weightedEvaluation(results: readonly EvaluateResult[]): AggregatedEvaluation {
  let loss = 0;
  let n = 0;
  const metrics = new MetricsMean();
  for (const r of results) {
    loss += r.loss * r.numExamples;
    n += r.numExamples;
    metrics.add(r.metrics, r.numExamples);
  }
  if (n === 0) throw new FederaError('insufficient_results', 'federated evaluation: no client reported any examples');
  return { loss: loss / n, metrics: metrics.result(), numExamples: n };
}

export function checkPositive(name: string, value: number, { allowZero = false } = {}): number {
  const ok = Number.isFinite(value) && (allowZero ? value >= 0 : value > 0);
  if (!ok) throw new FederaError('invalid_config', `${name} must be a finite number ${allowZero ? '≥ 0' : '> 0'}, got ${value}`);
  return value;
}

export function checkUnitInterval(name: string, value: number): number {
  if (!(value >= 0 && value < 1)) throw new FederaError('invalid_config', `${name} must be in [0, 1), got ${value}`);
  return value;
}
