/**
 * Aggregation stages: how a round's client updates become the one update a server optimizer
 * applies, as a chain of small stages in the spirit of TensorFlow Federated's aggregation
 * factories (clip → noise → robust rule or secure sum → decode → optimizer).
 *
 * A stage declares what it needs — its server half works on every client's update, or only on
 * their sum; it needs uniform weights; its client-side encoding can or cannot be summed — and
 * {@link checkStages} derives from those declarations which stages compose, so no feature has to
 * know another one's internals. A stage runs in up to four places of a round, each optional:
 *
 *   configure   keys it adds to the train instruction (its client half reads them)
 *   update      each client's update on the server, in arrival order (clip, cap the weight); side
 *               effects go into the update's `tally`, kept only if the reducer accepts it
 *   reduce      the one stage that turns updates into an aggregate (mean, robust rule, secure sum)
 *   aggregate   the aggregate (noise, decode, account), then `commit` once the optimizer applied it
 */
import type { Config, Metrics } from '../core/messages.js';
import type { Params } from '../core/params.js';
import type { PrivacyRecord, RoundEvent } from '../core/records.js';
import type { SecureSumNoise, SecureSumResult, StrategyState } from '../strategy/strategy.js';

export type { SecureSumResult };

/** What the server holds of the round's updates at a point of the chain. */
export type Holding = 'updates' | 'sum';

/** The properties of a stage that decide what it composes with. */
export interface StageDeclaration {
  /** Short name (`clip`, `dp-noise`, `median`, `secure-sum`, ...). */
  readonly name: string;
  /** The config key that turned the stage on, named in refusals (`privacy.mode`, `robust.aggregator`, ...). */
  readonly field: string;
  /** What a person calls it in a refusal ("robust aggregation (robust.aggregator median)"). */
  readonly title: string;
  /** Put in front of the base strategy's name in the composed strategy's name (DP-FedAvg: `dp-`). */
  readonly namePrefix?: string;
  /** Put after it, with a `+` (a robust rule: `fedavg+median`). */
  readonly nameSuffix?: string;
  /**
   * The server half needs each client's update (central clipping, robust rules, norm bounding):
   * impossible once a secure sum hides them. `hint` says what to use instead.
   */
  readonly needsUpdates?: { reason: string; hint: string };
  /** The stage hides individual updates from the server (a secure sum): later stages hold only the sum. */
  readonly hidesUpdates?: boolean;
  /** The reducer's kind: `linear` (a weighted sum: mean, secure sum) or `robust` (order statistics, selection). */
  readonly reducer?: 'linear' | 'robust';
  /** Weights the reducer gives clients (`examples`: their example counts; `uniform`: 1 each). */
  readonly weighting?: 'examples' | 'uniform';
  /**
   * The stage bounds each client's influence (DP's sensitivity): it needs a linear reducer with
   * uniform weights and no stage whose per-update effect depends on other clients.
   */
  readonly boundsSensitivity?: boolean;
  /** The per-update effect depends on the other clients of the round (a norm bound at the median norm). */
  readonly crossClient?: boolean;
  /**
   * A client-side encoding of the update: `summable` when the sum of encodings decodes to the
   * encoding of the sum (rotation, stochastic quantization on a shared grid); top-k is not.
   */
  readonly encoding?: { summable: boolean; describe: string };
  /**
   * The largest coordinate the stage's client half can emit, noise included up to
   * CLIP_RANGE_SIGMAS standard deviations (DP's clip norm plus its per-client noise).
   */
  readonly emitsCoordinates?: { bound: number; describe: string };
  /** The stage clips every coordinate of the clients' updates to [−range, range] (secure aggregation's encoding). */
  readonly clipsCoordinates?: { range: number; field: string };
  /**
   * Rounds each client's coordinates onto a coarse grid of `step` (secure aggregation's
   * rotate + b-bit quantization): a noisy share rounded on its own is not part of the Gaussian sum
   * the accountant charges, so noise from a stage that `emitsCoordinates` cannot go through it. A
   * DP stage asks such a sum for discrete noise on its codes instead (`discreteNoise`).
   */
  readonly roundsCoordinates?: { step: number; field: string; describe: string };
}

/** One client's update as the server stages see it: the update may be rewritten in place. */
export interface StageUpdate {
  readonly clientId: string;
  readonly update: Float32Array;
  /** The example count the client claimed; a stage may lower the weight it gets (`weight`). */
  readonly numExamples: number;
  /** The weight the reducer will give it (its example count, or 1 with uniform weighting). */
  weight: number;
  /** The client's metrics; stages remove the keys that are theirs (DP's indicators). */
  metrics: Metrics;
  /** The update's L2 norm before a server-side clip changed it (set by the clip stage). */
  norm?: number;
  /** Per-client values summed into the aggregate's `metricSums` once the update is accepted. */
  tally?: Record<string, number>;
}

/** A round's aggregate as it moves through the stages after the reducer. */
export interface RoundAggregate {
  readonly round: number;
  /** Σ wᵢ·uᵢ over the contributors, in float64. */
  readonly sum: Float64Array;
  /** Σ wᵢ. */
  readonly weight: number;
  /** The clients whose updates are in the sum (sorted). */
  readonly contributors: readonly string[];
  /** The sum came from a secure sum: the server never saw an individual update. */
  readonly secure: boolean;
  /** Discrete noise the clients added to the secure sum's codes (asked for by a stage). */
  readonly secureNoise?: SecureSumNoise;
  readonly weighting: 'examples' | 'uniform';
  /** Example-weighted means of the clients' metrics (what the history shows as train metrics). */
  readonly metrics: Metrics;
  /** Sums over the contributors of per-client values stages collected (e.g. DP's clipping indicator). */
  readonly metricSums: Readonly<Record<string, number>>;
  /**
   * The update the optimizer applies. Unset, it is `sum / weight`; a stage may set it (DP-FedAvg
   * divides by the fixed expected number of clients; a robust rule sets its robust update).
   */
  update?: Float32Array;
  /** Metrics the stages add to the round's train metrics (robust_updates, ...). */
  readonly stageMetrics: Metrics;
  readonly events: RoundEvent[];
  privacy?: PrivacyRecord;
}

/** The reducer's work in one round. A rejected `add` must leave the reduction as it was. */
export interface Reduction {
  add(u: StageUpdate): void;
  /** A secure sum (refused by reducers that need each update). */
  addSecureSum(s: SecureSumResult): void;
  /** Results accepted so far (a secure sum counts its contributors). */
  readonly accepted: number;
  finish(): RoundAggregate;
  discard(): void;
}

export interface AggregationStage extends StageDeclaration {
  /** Adds the stage's keys to the train config of `round`; throwing refuses the round (a spent budget). */
  configure?(round: number, config: Config): Config;
  /** Server half on each plain update, before it is reduced: rewrite it in place, or throw to reject it. */
  update?(u: StageUpdate, round: number): void;
  /** Only on the reducer stage. */
  reduce?(round: number, global: Params): Reduction;
  /** Server half on the aggregate, in order; throwing skips the round and releases nothing. */
  aggregate?(a: RoundAggregate, global: Params): void;
  /** The optimizer applied the round: make what `aggregate` prepared permanent (ε spent, clip norm). */
  commit?(a: RoundAggregate): void;
  /** The round was abandoned after `aggregate` ran: undo what it prepared. */
  rollback?(): void;
  /** Prefix of every key of the stage's checkpoint state (`dp.`, `robust/reputation/`). */
  readonly statePrefix?: string;
  /** State for checkpoints, every key under `statePrefix`. */
  getState?(): StrategyState;
  setState?(state: StrategyState): void;
}
