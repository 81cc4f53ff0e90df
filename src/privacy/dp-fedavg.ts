/**
 * DP-FedAvg (McMahan, Ramage, Talwar & Zhang 2018) as a wrapper around any strategy, with fixed
 * or adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy 2021) and three places for the noise.
 *
 * Each round, every client update is clipped to L2 norm C (by {@link dpClientLayer}, and again
 * by the server in central mode, so the bound holds even for a client without the layer). The
 * updates are summed with **equal weights** and divided by the **fixed** expected number of
 * clients per round m, whatever the number that reported — the fixed-denominator estimator of
 * McMahan et al. 2018 — so one client moves the average by at most C/m, the sensitivity the
 * noise is calibrated to. Example-count weighting would let one client's weight, and so the
 * sensitivity, grow without bound.
 *
 * Noise, N(0, σ²C²) on the sum in total:
 * - `central`: added by the server (trusted server sees individual clipped updates);
 * - `distributed`: each client adds N(0, σ²C²/m), so the sum of m updates carries the full
 *   noise. Meant for secure aggregation, where the server sees only that sum; without it the
 *   server sees each update with 1/m of the noise variance. If only m' < m clients report, the sum
 *   carries σ²C²·m'/m and the round is charged with the smaller multiplier σ·√(m'/m);
 * - `local`: each client adds the full N(0, σ²C²) (each report is private on its own, at a large
 *   cost in accuracy).
 *
 * The noisy average then goes to the inner strategy as one update of weight 1: FedAvg applies it,
 * FedAdam/FedYogi/FedAvgM use it as their pseudo-gradient (post-processing keeps the guarantee).
 *
 * Adaptive clipping: each client reports b − 1/2, b = 1 when its update's norm was ≤ C (not
 * clipped). The server forms b̃ = (Σ(bᵢ − 1/2) + N(0, σ_b²))/m + 1/2, the noisy fraction of
 * updates NOT clipped, and moves C ← C·exp(−η_C·(b̃ − γ)) toward the γ-quantile of the norms: if
 * more than γ of the updates fit, C shrinks. The count is a second Gaussian mechanism
 * (sensitivity 1/2 after centring); to spend the privacy of one Gaussian with multiplier z (the
 * `noiseMultiplier` option), the update noise is raised to z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2)
 * (Andrew et al. 2021, Thm. 1), and the accountant charges z.
 *
 * Accounting: each completed round composes one step of the Poisson-subsampled Gaussian with
 * q = clientsPerRound / populationSize and the round's multiplier (see above), with add/remove-
 * one-client adjacency; ε for δ goes into the round's `privacy` record. Two assumptions, as in
 * TensorFlow Federated: federa samples exactly m clients without replacement, which the
 * accountant treats as Poisson sampling with rate q; and client metrics (train loss, federated
 * evaluation) are not part of the guarantee — only the model updates and the clip norm are.
 * In local mode the record's `epsilon` is instead the local guarantee of the client that took part
 * most often: a Gaussian mechanism per participation (replacement of the client's data, so
 * sensitivity 2C), without amplification by sampling; the central figure is `centralEpsilon`.
 */
import type { Config, Metrics } from '../core/messages.js';
import type { Params } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import { FederaError } from '../core/errors.js';
import { l2Norm, WeightedSum } from '../core/kernels.js';
import type { PrivacyRecord, RoundEvent } from '../core/records.js';
import {
  MetricsMean,
  RoundScratch,
  type AggregatedEvaluation,
  type AggregatedTrain,
  type CentralEvaluate,
  type EvaluateResult,
  type Strategy,
  type StrategyState,
  type TrainAggregation,
  type TrainResult,
} from '../strategy/strategy.js';
import { clipByL2Norm } from './clipping.js';
import { SecureGaussian, SeededGaussian, type GaussianSource } from './noise.js';
import { createAccountant, type AccountantKind, type PrivacyAccountant } from './accountant/calibrate.js';
import { checkClipNorm, checkDelta, checkEpsilon, checkNoiseMultiplier } from './validate.js';
import { DP_CONFIG, DP_METRICS, DP_MODES, DP_PREFIX, type DpMode } from './protocol.js';

/** Keys of DP-FedAvg's own checkpoint state (next to the inner strategy's). */
const DP_STATE = { epsilon: 'dp.epsilonSpent', charges: 'dp.charges', participation: 'dp.participation' } as const;

export interface AdaptiveClippingOptions {
  /** γ: the quantile of update norms C should track, in (0, 1) (Andrew et al. use 0.5). */
  targetQuantile: number;
  /** η_C: geometric learning rate of C (Andrew et al. use 0.2). */
  clipLearningRate: number;
  /**
   * σ_b: standard deviation of the noise on the count of unclipped updates (Andrew et al.
   * suggest m/20). Must exceed noiseMultiplier/2.
   */
  countNoiseMultiplier: number;
}

export interface DpFedAvgOptions {
  /** C: the clip norm (the starting value with adaptive clipping). */
  clipNorm: number;
  /** z: the noise multiplier the accountant charges per round (noise std / sensitivity). */
  noiseMultiplier: number;
  /** Where noise is added (default 'central'). */
  mode?: DpMode;
  adaptive?: AdaptiveClippingOptions;
  /** δ for the ε reported every round. */
  delta: number;
  /** N: number of clients sampling draws from. */
  populationSize: number;
  /** m: clients selected per round (the fixed denominator; q = m/N). */
  clientsPerRound: number;
  /** Accountant for the per-round ε (default 'rdp': exact RDP series; 'pld' is tighter, slower). */
  accountant?: AccountantKind;
  /**
   * A budget: a round whose release would take ε above it is refused (its aggregation fails and
   * nothing is released); {@link DpFedAvg.canRunRound} says in advance whether the next one fits.
   */
  targetEpsilon?: number;
  /** Planned rounds: with `targetEpsilon`, the constructor refuses a plan that exceeds the budget. */
  plannedRounds?: number;
  /** Seeded server noise for simulations (round r uses `noiseRng.stream(r)`); default: the CSPRNG. */
  noiseRng?: Rng;
}

/** The noise multiplier left for the update when σ_b of the privacy goes to the count (Andrew et al. 2021). */
export function updateNoiseMultiplier(noiseMultiplier: number, countNoiseMultiplier: number): number {
  const rest = noiseMultiplier ** -2 - (2 * countNoiseMultiplier) ** -2;
  if (!(rest > 0)) {
    throw new FederaError(
      'invalid_config',
      `adaptive clipping: countNoiseMultiplier (${countNoiseMultiplier}) must exceed noiseMultiplier/2 (${noiseMultiplier / 2}) so that some privacy is left for the update`,
    );
  }
  return rest ** -0.5;
}

function checkInteger(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new FederaError('invalid_config', `${name} must be an integer ≥ 1, got ${String(v)}`);
  return v;
}

export class DpFedAvg implements Strategy {
  readonly name: string;
  readonly evaluate: CentralEvaluate | undefined;
  readonly mode: DpMode;
  readonly delta: number;
  readonly noiseMultiplier: number;
  /** z_Δ: the multiplier of the noise on the update sum (= noiseMultiplier without adaptive clipping). */
  readonly updateNoiseMultiplier: number;
  readonly samplingRate: number;
  readonly clientsPerRound: number;
  readonly targetEpsilon: number | undefined;
  private clip: number;
  private accountant: PrivacyAccountant;
  private readonly localAccountantKind: AccountantKind;
  /** Every charge made to the accountant, as runs of equal multipliers: what a checkpoint replays. */
  private charges: Array<{ sigma: number; rounds: number }> = [];
  private readonly participations = new Map<string, number>();
  private readonly o: DpFedAvgOptions;
  private epsilonSpent = 0;
  private secure: GaussianSource | undefined;
  private readonly sums = new RoundScratch<WeightedSum>();

  constructor(
    private readonly inner: Strategy,
    options: DpFedAvgOptions,
  ) {
    const mode = options.mode ?? 'central';
    if (!DP_MODES.includes(mode)) throw new FederaError('invalid_config', `DP mode must be one of ${DP_MODES.join(', ')}; got ${JSON.stringify(mode)}`);
    this.clip = checkClipNorm(options.clipNorm, 'clipNorm');
    this.noiseMultiplier = checkNoiseMultiplier(options.noiseMultiplier, 'noiseMultiplier');
    this.delta = checkDelta(options.delta, 'delta');
    const population = checkInteger('populationSize', options.populationSize);
    this.clientsPerRound = checkInteger('clientsPerRound', options.clientsPerRound);
    if (this.clientsPerRound > population) {
      throw new FederaError('invalid_config', `clientsPerRound (${this.clientsPerRound}) must be ≤ populationSize (${population})`);
    }
    this.samplingRate = this.clientsPerRound / population;
    const a = options.adaptive;
    if (a) {
      if (!(a.targetQuantile > 0 && a.targetQuantile < 1)) throw new FederaError('invalid_config', `adaptive.targetQuantile must be in (0, 1), got ${a.targetQuantile}`);
      if (!(a.clipLearningRate > 0 && Number.isFinite(a.clipLearningRate))) throw new FederaError('invalid_config', `adaptive.clipLearningRate must be a finite number > 0, got ${a.clipLearningRate}`);
      checkNoiseMultiplier(a.countNoiseMultiplier, 'adaptive.countNoiseMultiplier');
      this.updateNoiseMultiplier = updateNoiseMultiplier(this.noiseMultiplier, a.countNoiseMultiplier);
    } else {
      this.updateNoiseMultiplier = this.noiseMultiplier;
    }
    this.localAccountantKind = options.accountant ?? 'rdp';
    this.accountant = createAccountant(this.localAccountantKind);
    this.targetEpsilon = options.targetEpsilon === undefined ? undefined : checkEpsilon(options.targetEpsilon, 'targetEpsilon');
    this.mode = mode;
    this.o = options;
    this.name = `dp-${inner.name}`;
    this.evaluate = inner.evaluate;
    if (this.targetEpsilon !== undefined && options.plannedRounds !== undefined) {
      const rounds = checkInteger('plannedRounds', options.plannedRounds);
      const planned = this.plannedEpsilon(rounds);
      if (planned > this.targetEpsilon) {
        const fit = this.roundsWithinBudget(rounds);
        throw new FederaError(
          'invalid_config',
          `the planned ${rounds} rounds would spend ε = ${planned.toPrecision(4)} (δ = ${this.delta}, q = ${this.samplingRate.toPrecision(4)}, noise multiplier ${this.noiseMultiplier}, ${mode}), above the target ε = ${this.targetEpsilon}; ${fit === 0 ? 'not even one round fits' : `at most ${fit} round(s) fit`}: raise the noise multiplier or run fewer rounds`,
        );
      }
    }
  }

  /** The current clip norm C. */
  get clipNorm(): number {
    return this.clip;
  }

  /** ε spent so far (the value in the last round's record). */
  get epsilon(): number {
    return this.epsilonSpent;
  }

  /** Rounds charged to the accountant so far. */
  get roundsCharged(): number {
    return this.accountant.steps;
  }

  /** ε after `rounds` more rounds at full participation, from the current state. */
  plannedEpsilon(rounds: number): number {
    if (this.mode === 'local') {
      const most = Math.max(0, ...this.participations.values());
      return createAccountant(this.localAccountantKind).compose(1, this.noiseMultiplier / 2, most + rounds).getEpsilon(this.delta);
    }
    return this.accountant.clone().compose(this.samplingRate, this.noiseMultiplier, rounds).getEpsilon(this.delta);
  }

  /** The most rounds (< `upTo`) that fit the budget from the current state, by bisection (ε grows with rounds). */
  private roundsWithinBudget(upTo: number): number {
    let lo = 0; // fits (nothing spent yet beyond the current state)
    let hi = upTo; // does not fit
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.plannedEpsilon(mid) <= this.targetEpsilon!) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  /** Whether one more round at full participation stays within `targetEpsilon` (always true without one). */
  canRunRound(): boolean {
    return this.targetEpsilon === undefined || this.plannedEpsilon(1) <= this.targetEpsilon;
  }

  configureTrain(round: number, global: Params): Config {
    if (!this.canRunRound()) {
      throw new FederaError('aborted', `privacy budget: round ${round} would take ε above the target ${this.targetEpsilon} (spent ${this.epsilonSpent.toPrecision(4)})`);
    }
    const m = this.clientsPerRound;
    const perClient = this.mode === 'distributed' ? 1 / Math.sqrt(m) : this.mode === 'local' ? 1 : 0;
    const config: Record<string, number | string | boolean> = {
      ...this.inner.configureTrain(round, global),
      [DP_CONFIG.clipNorm]: this.clip,
      [DP_CONFIG.mode]: this.mode,
      [DP_CONFIG.noiseStd]: perClient * this.updateNoiseMultiplier * this.clip,
    };
    if (this.o.adaptive) config[DP_CONFIG.countNoiseStd] = perClient * this.o.adaptive.countNoiseMultiplier;
    return config;
  }

  configureEvaluate(round: number, global: Params): Config {
    return this.inner.configureEvaluate(round, global);
  }

  aggregateEvaluate(round: number, results: readonly EvaluateResult[]): AggregatedEvaluation {
    return this.inner.aggregateEvaluate(round, results);
  }

  /**
   * The inner strategy's state plus DP's: the clip norm, ε spent, every accountant charge (runs
   * of rounds at one multiplier, replayed on restore) and, in local mode, each client's
   * participation count. A server resumed from a checkpoint keeps counting where it stopped.
   */
  getState(): StrategyState {
    const state: StrategyState = { ...(this.inner.getState?.() ?? {}), [DP_CONFIG.clipNorm]: this.clip, [DP_STATE.epsilon]: this.epsilonSpent, [DP_STATE.charges]: this.charges.length };
    this.charges.forEach((c, k) => {
      state[`${DP_STATE.charges}.${k}.sigma`] = c.sigma;
      state[`${DP_STATE.charges}.${k}.rounds`] = c.rounds;
    });
    if (this.mode === 'local') for (const [id, n] of this.participations) state[`${DP_STATE.participation}.${id}`] = n;
    return state;
  }

  setState(state: StrategyState): void {
    const rest = { ...state };
    const take = (key: string): number | undefined => {
      const v = rest[key];
      delete rest[key];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new FederaError('invalid_config', `DP-FedAvg state: ${key} must be a finite number`);
      return v;
    };
    const c = take(DP_CONFIG.clipNorm);
    if (c !== undefined) this.clip = checkClipNorm(c, 'state clip norm');
    const count = take(DP_STATE.charges);
    if (count !== undefined) {
      const charges: Array<{ sigma: number; rounds: number }> = [];
      const accountant = createAccountant(this.localAccountantKind);
      for (let k = 0; k < count; k++) {
        const sigma = checkNoiseMultiplier(take(`${DP_STATE.charges}.${k}.sigma`) ?? NaN, `state charge ${k} noise multiplier`);
        const rounds = checkInteger(`state charge ${k} rounds`, take(`${DP_STATE.charges}.${k}.rounds`) ?? NaN);
        accountant.compose(this.samplingRate, sigma, rounds);
        charges.push({ sigma, rounds });
      }
      this.accountant = accountant;
      this.charges = charges;
    }
    this.epsilonSpent = take(DP_STATE.epsilon) ?? this.epsilonSpent;
    this.participations.clear();
    for (const key of Object.keys(rest)) {
      if (!key.startsWith(`${DP_STATE.participation}.`)) continue;
      this.participations.set(key.slice(DP_STATE.participation.length + 1), checkInteger(`state ${key}`, take(key) ?? NaN));
    }
    this.inner.setState?.(rest);
  }

  aggregateTrain(round: number, global: Params): TrainAggregation {
    const d = global.layout.size;
    const { value: sum, release } = this.sums.acquire((kept) => kept.size === d, () => new WeightedSum(d));
    const metrics = new MetricsMean();
    const clip = this.clip;
    const central = this.mode === 'central';
    const needsClientNoise = !central;
    const adaptive = this.o.adaptive;
    const contributors: string[] = [];
    let unclippedSum = 0;
    let serverClipped = 0;
    // Secure aggregation hands one result for k clients: the mean of their clipped, noised updates
    // (uniform weights) and the means of their metrics. Σ = k·mean; the server clips nothing (it
    // sees no individual update), so only the distributed and local modes can use it.
    const addSecureSum = (r: TrainResult, where: string) => {
      const k = r.contributors!.length;
      if (central) throw new FederaError('invalid_config', `${where}: central DP clips and noises each update on the server, which secure aggregation hides; use the distributed mode`);
      if (r.metrics[DP_METRICS.noised] !== 1) throw new FederaError('malformed_message', `${where}: not every client added its DP noise (${this.mode} mode needs dpClientLayer() inside the secure-aggregation layer)`);
      const centered = r.metrics[DP_METRICS.unclippedCentered];
      if (adaptive && !Number.isFinite(centered)) throw new FederaError('malformed_message', `${where} lacks the metric ${DP_METRICS.unclippedCentered} that adaptive clipping needs`);
      sum.add(r.update, k, where);
      if (adaptive) unclippedSum += centered * k;
      metrics.add(stripDpMetrics(r.metrics), Math.max(1, r.numExamples));
      contributors.push(...r.contributors!);
    };
    return {
      add: (r: TrainResult) => {
        const where = `DP-FedAvg: update from client ${r.clientId}`;
        if (r.contributors) {
          addSecureSum(r, where);
          return;
        }
        let centered = r.metrics[DP_METRICS.unclippedCentered];
        if (needsClientNoise && r.metrics[DP_METRICS.noised] !== 1) {
          throw new FederaError('malformed_message', `${where} carries no DP noise (${this.mode} mode needs the DP client layer, dpClientLayer())`);
        }
        if (adaptive && needsClientNoise && !Number.isFinite(centered)) {
          throw new FederaError('malformed_message', `${where} lacks the metric ${DP_METRICS.unclippedCentered} that adaptive clipping needs`);
        }
        if (central) {
          // The server clips too: the sensitivity bound must not depend on the client's honesty.
          const norm = l2Norm(r.update);
          if (!Number.isFinite(norm)) throw new FederaError('non_finite', `${where} has a non-finite norm`);
          if (centered !== 0.5 && centered !== -0.5) centered = norm <= clip ? 0.5 : -0.5;
          if (norm > clip) {
            clipByL2Norm(r.update, clip);
            serverClipped++;
          }
        }
        sum.add(r.update, 1, where);
        if (adaptive) unclippedSum += centered ?? 0;
        metrics.add(stripDpMetrics(r.metrics), Math.max(1, r.numExamples));
        contributors.push(r.clientId);
      },
      get accepted() {
        return contributors.length;
      },
      finish: (): AggregatedTrain => {
        try {
          return this.finishRound(round, global, sum, metrics, contributors, unclippedSum, serverClipped);
        } finally {
          release();
        }
      },
      discard: release,
    };
  }

  private noiseSource(round: number, what: string): GaussianSource {
    if (this.o.noiseRng) return new SeededGaussian(this.o.noiseRng.stream(round).stream(what));
    return (this.secure ??= new SecureGaussian());
  }

  private finishRound(
    round: number,
    global: Params,
    sum: WeightedSum,
    metrics: MetricsMean,
    contributors: readonly string[],
    unclippedSum: number,
    serverClipped: number,
  ): AggregatedTrain {
    const reported = contributors.length;
    const m = this.clientsPerRound;
    if (reported === 0) throw new FederaError('insufficient_results', `round ${round}: no training result to aggregate`);
    if (reported > m) {
      throw new FederaError(
        'invalid_config',
        `DP-FedAvg is configured for ${m} clients per round (q = ${this.samplingRate}) but ${reported} reported; the sampling rate would be understated`,
      );
    }
    // The multiplier this round actually got (distributed: only the reporting clients' shares).
    const charged = this.mode === 'distributed' ? this.noiseMultiplier * Math.sqrt(reported / m) : this.noiseMultiplier;
    const participations = new Map(this.participations);
    for (const id of contributors) participations.set(id, (participations.get(id) ?? 0) + 1);
    const next = this.accountant.clone().compose(this.samplingRate, charged, 1);
    const centralEpsilon = next.getEpsilon(this.delta);
    const most = Math.max(...participations.values());
    const epsilon = this.mode === 'local' ? createAccountant(this.localAccountantKind).compose(1, this.noiseMultiplier / 2, most).getEpsilon(this.delta) : centralEpsilon;
    if (this.targetEpsilon !== undefined && epsilon > this.targetEpsilon) {
      throw new FederaError('aborted', `privacy budget: releasing round ${round} would take ε to ${epsilon.toPrecision(4)}, above the target ${this.targetEpsilon}; nothing released`);
    }

    const total = sum.sum(); // float64 Σ clipped updates (+ the clients' noise)
    if (this.mode === 'central') {
      this.noiseSource(round, 'update').addTo(total, this.updateNoiseMultiplier * this.clip);
    }
    const update = new Float32Array(total.length);
    for (let i = 0; i < total.length; i++) update[i] = total[i] / m;

    const clipUsed = this.clip;
    let unclippedFraction: number | undefined;
    if (this.o.adaptive) {
      const { targetQuantile, clipLearningRate, countNoiseMultiplier } = this.o.adaptive;
      let noisyCount = unclippedSum;
      if (this.mode === 'central') noisyCount += countNoiseMultiplier * this.noiseSource(round, 'count').normal();
      unclippedFraction = noisyCount / m + 0.5;
      this.clip = clipUsed * Math.exp(-clipLearningRate * (unclippedFraction - targetQuantile));
    }

    const inner = this.inner.aggregateTrain(round, global);
    let result: AggregatedTrain;
    try {
      inner.add({ clientId: 'dp-aggregate', update, numExamples: 1, metrics: metrics.result() });
      result = inner.finish();
    } catch (e) {
      inner.discard?.();
      this.clip = clipUsed;
      throw e;
    }

    // Commit the round's privacy cost only now that the release is certain.
    this.accountant.compose(this.samplingRate, charged, 1);
    const lastCharge = this.charges.at(-1);
    if (lastCharge && lastCharge.sigma === charged) lastCharge.rounds++;
    else this.charges.push({ sigma: charged, rounds: 1 });
    for (const [id, n] of participations) this.participations.set(id, n);
    this.epsilonSpent = epsilon;
    const privacy: PrivacyRecord = {
      epsilon,
      delta: this.delta,
      noiseMultiplier: charged,
      samplingRate: this.samplingRate,
      steps: this.accountant.steps,
      clipNorm: clipUsed,
    };
    if (this.mode === 'local') privacy.centralEpsilon = centralEpsilon;
    if (unclippedFraction !== undefined) {
      privacy.unclippedFraction = unclippedFraction;
      privacy.nextClipNorm = this.clip;
    }
    const events: RoundEvent[] = [...(result.events ?? [])];
    if (serverClipped > 0) {
      events.push({ kind: 'dp-server-clipped', message: `${serverClipped} update(s) arrived above the clip norm ${clipUsed.toPrecision(4)} and were clipped by the server`, count: serverClipped });
    }
    return { ...result, privacy, ...(events.length ? { events } : {}) };
  }
}

function stripDpMetrics(m: Metrics): Metrics {
  const out: Metrics = {};
  for (const [k, v] of Object.entries(m)) if (!k.startsWith(DP_PREFIX)) out[k] = v;
  return out;
}
