/**
 * The DP-FedAvg stage (McMahan, Ramage, Talwar & Zhang 2018), with fixed or adaptive clipping
 * (Andrew, Thakkar, McMahan & Ramaswamy 2021) and three places for the noise.
 *
 * Each round every client update is clipped to L2 norm C — by the client's DP layer
 * (`dpClientLayer`), and in central mode again by the server (the clip stage in front of this
 * one), so the bound holds even for a client without the layer. The updates are summed with
 * **equal weights** and divided by the **fixed** expected number of clients per round m, whatever
 * the number that reported (the fixed-denominator estimator of McMahan et al. 2018), so one client
 * moves the average by at most C/m, the sensitivity the noise is calibrated to.
 *
 * Noise, N(0, σ²C²) on the sum in total:
 * - `central`: added by the server (a trusted server sees individual clipped updates);
 * - `distributed`: each client adds N(0, σ²C²/m), so the sum of m updates carries the full noise.
 *   Meant for secure aggregation, where the server sees only that sum. If only m' < m clients
 *   report, the sum carries σ²C²·m'/m and the round is charged σ·√(m'/m);
 * - `local`: each client adds the full N(0, σ²C²).
 *
 * Adaptive clipping: each client reports b − 1/2, b = 1 when its update's norm was ≤ C. The server
 * forms b̃ = (Σ(bᵢ − 1/2) + N(0, σ_b²))/m + 1/2, the noisy fraction of updates NOT clipped, and
 * moves C ← C·exp(−η_C·(b̃ − γ)) toward the γ-quantile of the norms. The count is a second Gaussian
 * mechanism; to spend the privacy of one Gaussian with multiplier z, the update noise is raised to
 * z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2) (Andrew et al. 2021, Thm. 1), and the accountant charges z.
 *
 * Distributed DP under quantized secure aggregation (`discrete`): a rounded Gaussian share is not
 * the Gaussian the accountant charges, so the clients add no float noise; the stage asks the secure
 * sum (SECURE_NOISE_CONFIG) for Skellam noise on its integer codes with the same variance, checks
 * the sum reports exactly that noise, and charges the distributed Skellam mechanism
 * (privacy/accountant/skellam.ts) with the rounded codes' sensitivity.
 *
 * Under a secure sum the stage receives the sum of the clients' clipped, noised updates and the
 * masked sums of their indicators; it refuses a sum whose total weight is not the number of its
 * contributors (example weights would scale one client's contribution beyond C).
 *
 * Accounting: each released round composes one step of the Poisson-subsampled Gaussian with
 * q = m / N and the round's multiplier, with add/remove-one-client adjacency (privacy/ledger.ts).
 */
import type { Config } from '../core/messages.js';
import type { Params } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import { FederaError } from '../core/errors.js';
import type { PrivacyRecord } from '../core/records.js';
import { MASKED_METRICS_CONFIG_KEY, SECURE_NOISE_CONFIG, type SecureSumNoise, type StrategyState } from '../strategy/strategy.js';
import { SecureGaussian, SeededGaussian, type GaussianSource } from '../privacy/noise.js';
import { normalSf } from '../privacy/special.js';
import type { AccountantKind } from '../privacy/accountant/calibrate.js';
import { checkClipNorm, checkDelta, checkNoiseMultiplier } from '../privacy/validate.js';
import { DP_CONFIG, DP_METRICS, DP_MODES, DP_PREFIX, type DpMode } from '../privacy/protocol.js';
import { PrivacyLedger, type PendingCharge } from '../privacy/ledger.js';
import type { SkellamStep } from '../privacy/accountant/skellam.js';
import { discreteNoiseFor } from '../secagg/encoding.js';
import { CLIPPED_TALLY } from './clip.js';
import type { AggregationStage, RoundAggregate, StageUpdate } from './stage.js';

export interface AdaptiveClippingOptions {
  /** γ: the quantile of update norms C should track, in (0, 1) (Andrew et al. use 0.5). */
  targetQuantile: number;
  /** η_C: geometric learning rate of C (Andrew et al. use 0.2). */
  clipLearningRate: number;
  /** σ_b: standard deviation of the noise on the count of unclipped updates (Andrew et al. suggest m/20). Must exceed noiseMultiplier/2. */
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
  /** A budget: a round whose release would take ε above it is refused (nothing is released). */
  targetEpsilon?: number;
  /** Planned rounds: with `targetEpsilon`, construction refuses a plan that exceeds the budget. */
  plannedRounds?: number;
  /** Seeded server noise for simulations (round r uses `noiseRng.stream(r)`); default: the CSPRNG. */
  noiseRng?: Rng;
  /**
   * How clients are sampled: `fixed` (exactly m a round; more than m results are refused, the
   * accountant treats the sample as Poisson at q) or `poisson` (each client independently with
   * probability q, as the accountant assumes; any number may report).
   */
  sampling?: 'fixed' | 'poisson';
  /**
   * c: a later stage clips every coordinate of the clients' noisy updates to [−c, c] (secure
   * aggregation's encoding). The clip norm is then kept at most c / (1 + CLIP_RANGE_SIGMAS·σᵢ/C)
   * every round, adaptive clipping included, so that C + 6σᵢ ≤ c (σᵢ the per-client noise std).
   */
  coordinateRange?: number;
  /**
   * Distributed DP under secure aggregation with rotation + quantization: the noise is Skellam on
   * the secure sum's codes. `scale`: codes per unit of the update ((2^b − 1)/(2c)); `dimension`:
   * the rotated length, needed for the planned ε (the rounding's sensitivity grows with it); unset
   * while a config is only checked, when the planned ε is not computed.
   */
  discrete?: { scale: number; dimension?: number };
}

/**
 * The clipping range must exceed the clip norm by this many per-client noise standard deviations:
 * a coordinate of a clipped, noised share then leaves [−c, c] with probability at most 2Φ(−6).
 */
export const CLIP_RANGE_SIGMAS = 6;

/** P(|N(0, 1)| > k): the chance that one coordinate at the clip norm is clipped with range C + kσᵢ. */
export function coordinateClipProbability(sigmas = CLIP_RANGE_SIGMAS): number {
  return 2 * normalSf(sigmas);
}

/** Names of the per-client values the stage sums: what travels under the masks of a secure sum. */
export const DP_MASKED_METRICS = [DP_METRICS.unclippedCentered, DP_METRICS.noised] as const;
/** Tally key counting the updates the stage took in. */
const COUNT_TALLY = 'dp.count';

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

interface Prepared {
  charge: PendingCharge;
  nextClip: number;
}

/** The DP-FedAvg stage: its state (clip norm, ledger) and the numbers a run reports. */
export class DpNoiseStage implements AggregationStage {
  readonly name = 'dp-noise';
  readonly field = 'privacy';
  readonly title = 'DP-FedAvg';
  readonly namePrefix = 'dp-';
  readonly statePrefix = DP_PREFIX;
  readonly boundsSensitivity = true;
  readonly needsUpdates: AggregationStage['needsUpdates'];
  readonly mode: DpMode;
  readonly delta: number;
  readonly noiseMultiplier: number;
  /** z_Δ: the multiplier of the noise on the update sum (= noiseMultiplier without adaptive clipping). */
  readonly updateNoiseMultiplier: number;
  readonly samplingRate: number;
  readonly clientsPerRound: number;
  readonly targetEpsilon: number | undefined;
  readonly ledger: PrivacyLedger;
  private clip: number;
  private readonly o: DpFedAvgOptions;
  private secure: GaussianSource | undefined;
  private prepared: Prepared | undefined;

  constructor(options: DpFedAvgOptions) {
    const mode = options.mode ?? 'central';
    if (!DP_MODES.includes(mode)) throw new FederaError('invalid_config', `DP mode must be one of ${DP_MODES.join(', ')}; got ${JSON.stringify(mode)}`);
    this.clip = checkClipNorm(options.clipNorm, 'clipNorm');
    // 0: clipping only (ε = ∞, reported as such); anything else must be a finite σ > 0.
    this.noiseMultiplier = options.noiseMultiplier === 0 ? 0 : checkNoiseMultiplier(options.noiseMultiplier, 'noiseMultiplier');
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
    if (options.sampling !== undefined && options.sampling !== 'fixed' && options.sampling !== 'poisson') {
      throw new FederaError('invalid_config', `DP sampling must be "fixed" or "poisson", got ${JSON.stringify(options.sampling)}`);
    }
    this.mode = mode;
    this.o = options;
    const discrete = options.discrete;
    if (discrete) {
      if (mode !== 'distributed') throw new FederaError('invalid_config', `DP-FedAvg: discrete (Skellam) noise on a quantized secure sum is the distributed mode's; privacy.mode is "${mode}"`);
      if (!(discrete.scale > 0 && Number.isFinite(discrete.scale))) throw new FederaError('invalid_config', `DP-FedAvg: the secure sum's scale must be a finite number > 0, got ${discrete.scale}`);
      if (discrete.dimension !== undefined) checkInteger('the rotated dimension', discrete.dimension);
    }
    this.ledger = new PrivacyLedger({
      delta: this.delta,
      samplingRate: this.samplingRate,
      noiseMultiplier: this.noiseMultiplier,
      mode,
      accountant: options.accountant,
      targetEpsilon: options.targetEpsilon,
      ...(discrete && this.noiseMultiplier > 0 ? { plannedSkellam: () => this.skellamStep(this.plannedNoise(), this.clientsPerRound) } : {}),
    });
    this.targetEpsilon = this.ledger.targetEpsilon;
    this.needsUpdates =
      mode === 'central'
        ? { reason: 'privacy.mode "central" has the server clip and noise each update', hint: 'use privacy.mode "distributed" (noise added by each client before masking)' }
        : undefined;
    if (this.targetEpsilon !== undefined && options.plannedRounds !== undefined && this.canPlan) {
      this.ledger.checkPlan(options.plannedRounds, `noise multiplier ${this.noiseMultiplier}, ${mode}`);
    }
  }

  /** The planned ε can be computed (discrete noise needs the rotated dimension). */
  get canPlan(): boolean {
    return !this.o.discrete || this.noiseMultiplier === 0 || this.o.discrete.dimension !== undefined;
  }

  /** Discrete noise: the secure sum's noise at the current clip norm and full participation. */
  private plannedNoise(): SecureSumNoise {
    const d = this.o.discrete!;
    if (d.dimension === undefined) throw new FederaError('internal', 'DP-FedAvg: the planned ε of discrete noise needs the model dimension');
    const n = discreteNoiseFor(this.clip, this.clientNoiseFactor * this.clip, d.scale, d.dimension);
    return { lambda: n.lambda, l2Sensitivity: n.roundingBound, l1Sensitivity: n.l1Bound, scale: d.scale, clipNorm: this.clip, std: this.clientNoiseFactor * this.clip };
  }

  /** The Skellam round `noise` amounts to when `reported` clients added it (their λ sum). */
  private skellamStep(noise: SecureSumNoise, reported: number): SkellamStep {
    const a = this.o.adaptive;
    // The count: each client adds N(0, σ_b²/m) to its ±1/2 indicator, so the reported sum carries σ_b²·r/m.
    const countRho = a ? this.clientsPerRound / (8 * a.countNoiseMultiplier ** 2 * reported) : 0;
    // As for Gaussian noise, the shares of clients beyond m are not credited (the charge never falls below m's).
    return { mu: noise.lambda * Math.min(reported, this.clientsPerRound), l2: noise.l2Sensitivity, l1: noise.l1Sensitivity, ...(countRho > 0 ? { countRho } : {}) };
  }

  /** Discrete noise: Δ₂ / (s·C), how much the rounding of the codes raises the sensitivity (undefined otherwise). */
  get roundingInflation(): number | undefined {
    if (!this.o.discrete || this.o.discrete.dimension === undefined || this.clientNoiseFactor === 0) return undefined;
    const n = this.plannedNoise();
    return n.l2Sensitivity / (n.scale * n.clipNorm);
  }

  /** The current clip norm C. */
  get clipNorm(): number {
    return this.clip;
  }

  /** σᵢ / C: the noise each client adds, per unit of clip norm (distributed: z/√m; local: z; central: 0). */
  get clientNoiseFactor(): number {
    const perClient = this.mode === 'distributed' ? 1 / Math.sqrt(this.clientsPerRound) : this.mode === 'local' ? 1 : 0;
    return perClient * this.updateNoiseMultiplier;
  }

  /** The largest clip norm whose noisy coordinates stay within `coordinateRange` (C + 6σᵢ ≤ c); ∞ without one. */
  get maxClipNorm(): number {
    const c = this.o.coordinateRange;
    // Discrete noise is added to the codes, after the coordinates were clipped: no float noise to keep in range.
    if (this.o.discrete) return Infinity;
    return c === undefined ? Infinity : c / (1 + CLIP_RANGE_SIGMAS * this.clientNoiseFactor);
  }

  /** Declared for the composition check: a coordinate of a client's share is within C + 6σᵢ but for ≈ 2·10⁻⁹. */
  get emitsCoordinates(): AggregationStage['emitsCoordinates'] {
    const f = this.clientNoiseFactor;
    if (f === 0 || this.o.discrete) return undefined;
    const sigma = f * this.clip;
    return {
      bound: this.clip + CLIP_RANGE_SIGMAS * sigma,
      describe: `a coordinate at the clip norm C = ${this.clip} plus ${CLIP_RANGE_SIGMAS} per-client noise standard deviations σᵢ = ${sigma.toPrecision(3)} (${this.mode === 'distributed' ? 'z·C/√m' : 'z·C'}) reaches ${(this.clip + CLIP_RANGE_SIGMAS * sigma).toPrecision(4)}`,
    };
  }

  /** ε spent so far. */
  get epsilon(): number {
    return this.ledger.epsilon;
  }

  /** Rounds charged to the budget so far. */
  get roundsCharged(): number {
    return this.ledger.steps;
  }

  /** ε after `rounds` more rounds at full participation. */
  plannedEpsilon(rounds: number): number {
    return this.ledger.plannedEpsilon(rounds);
  }

  canRunRound(): boolean {
    return this.ledger.canRunRound();
  }

  configure(round: number, config: Config): Config {
    if (!this.canRunRound()) {
      throw new FederaError('privacy_budget', `privacy budget: round ${round} would take ε above the target ${this.targetEpsilon} (spent ${this.epsilon.toPrecision(4)})`);
    }
    const m = this.clientsPerRound;
    const perClient = this.mode === 'distributed' ? 1 / Math.sqrt(m) : this.mode === 'local' ? 1 : 0;
    // Never above the largest clip norm the coordinate range allows (a resumed or adapted C included).
    this.clip = Math.min(this.clip, this.maxClipNorm);
    const out: Record<string, number | string | boolean> = {
      ...config,
      [DP_CONFIG.clipNorm]: this.clip,
      [DP_CONFIG.mode]: this.mode,
      [DP_CONFIG.noiseStd]: this.clientNoiseFactor * this.clip,
      [MASKED_METRICS_CONFIG_KEY]: DP_MASKED_METRICS.join(','),
    };
    if (this.o.discrete && this.clientNoiseFactor > 0) {
      // The clients add no float noise; the secure sum adds Skellam noise of this std to its codes.
      out[DP_CONFIG.noiseStd] = 0;
      out[SECURE_NOISE_CONFIG.clipNorm] = this.clip;
      out[SECURE_NOISE_CONFIG.std] = this.clientNoiseFactor * this.clip;
    }
    if (this.o.adaptive) out[DP_CONFIG.countNoiseStd] = perClient * this.o.adaptive.countNoiseMultiplier;
    return out;
  }

  update(u: StageUpdate): void {
    const where = `DP-FedAvg: update from client ${u.clientId}`;
    const central = this.mode === 'central';
    let centered = u.metrics[DP_METRICS.unclippedCentered];
    if (this.o.discrete && this.clientNoiseFactor > 0) {
      throw new FederaError('malformed_message', `${where} arrived in the clear, but this run's noise is added by the quantized secure sum`);
    }
    if (!central && u.metrics[DP_METRICS.noised] !== 1) {
      throw new FederaError('malformed_message', `${where} carries no DP noise (${this.mode} mode needs the DP client layer, dpClientLayer())`);
    }
    if (this.o.adaptive && !central && !Number.isFinite(centered)) {
      throw new FederaError('malformed_message', `${where} lacks the metric ${DP_METRICS.unclippedCentered} that adaptive clipping needs`);
    }
    if (central && centered !== 0.5 && centered !== -0.5) {
      // The server's clip stage ran first and measured the norm the client sent.
      if (u.norm === undefined) throw new FederaError('internal', `${where}: central DP needs the clip stage in front of it`);
      centered = u.norm <= this.clip ? 0.5 : -0.5;
    }
    for (const k of Object.keys(u.metrics)) if (k.startsWith(DP_PREFIX)) delete u.metrics[k];
    const tally = (u.tally ??= {});
    tally[COUNT_TALLY] = (tally[COUNT_TALLY] ?? 0) + 1;
    if (this.o.adaptive) tally[DP_METRICS.unclippedCentered] = (tally[DP_METRICS.unclippedCentered] ?? 0) + (centered ?? 0);
  }

  private noiseSource(round: number, what: string): GaussianSource {
    if (this.o.noiseRng) return new SeededGaussian(this.o.noiseRng.stream(round).stream(what));
    return (this.secure ??= new SecureGaussian());
  }

  aggregate(a: RoundAggregate): void {
    const where = `DP-FedAvg: round ${a.round}`;
    const reported = a.contributors.length;
    const m = this.clientsPerRound;
    if (reported === 0) throw new FederaError('insufficient_results', `round ${a.round}: no training result to aggregate`);
    if (a.secure) {
      if (this.mode === 'central') throw new FederaError('invalid_config', `${where}: central DP clips and noises each update on the server, which secure aggregation hides; use the distributed mode`);
      const discrete = this.o.discrete && this.updateNoiseMultiplier > 0;
      if (discrete) {
        const n = a.secureNoise;
        const std = this.clientNoiseFactor * this.clip;
        if (!n) throw new FederaError('invalid_config', `${where}: the secure sum added no discrete noise; distributed DP under quantized secure aggregation needs it (SECURE_NOISE_CONFIG)`);
        if (n.clipNorm !== this.clip || Math.abs(n.std - std) > 1e-12 * std) {
          throw new FederaError('invalid_config', `${where}: the secure sum's noise (clip ${n.clipNorm}, std ${n.std}) is not the noise this round asked for (clip ${this.clip}, std ${std})`);
        }
      } else if (this.updateNoiseMultiplier > 0 && Math.round(a.metricSums[DP_METRICS.noised] ?? 0) !== reported) {
        throw new FederaError('malformed_message', `${where}: not every client added its DP noise (${this.mode} mode needs dpClientLayer() inside the secure-aggregation layer)`);
      }
      if (this.o.adaptive && !Number.isFinite(a.metricSums[DP_METRICS.unclippedCentered])) {
        throw new FederaError('malformed_message', `${where}: the secure sum lacks the metric ${DP_METRICS.unclippedCentered} that adaptive clipping needs`);
      }
    }
    if (Math.abs(a.weight - reported) > 1e-6 * Math.max(1, reported)) {
      throw new FederaError(
        'invalid_config',
        `${where}: the sum's total weight is ${a.weight} for ${reported} contributor(s); DP-FedAvg needs every client weighted 1 (its sensitivity bound C/m allows no example weights)`,
      );
    }
    if ((this.o.sampling ?? 'fixed') === 'fixed' && reported > m) {
      throw new FederaError('invalid_config', `DP-FedAvg is configured for ${m} clients per round (q = ${this.samplingRate}) but ${reported} reported; the sampling rate would be understated`);
    }
    // The multiplier this round actually got (distributed: only the reporting clients' shares).
    const skellam = a.secure && a.secureNoise && this.o.discrete && this.updateNoiseMultiplier > 0 ? this.skellamStep(a.secureNoise, reported) : undefined;
    // Skellam: the Gaussian equivalent √(2μ)/Δ₂ of the update noise, for the record (the charge is the Skellam RDP).
    const charged = skellam
      ? Math.sqrt(2 * skellam.mu) / skellam.l2
      : this.mode === 'distributed'
        ? this.noiseMultiplier * Math.min(1, Math.sqrt(reported / m))
        : this.noiseMultiplier;
    const charge = this.ledger.prepare(a.round, charged, a.contributors, this.samplingRate, skellam);

    const total = new Float64Array(a.sum); // Σ clipped updates (+ the clients' noise)
    if (this.mode === 'central') this.noiseSource(a.round, 'update').addTo(total, this.updateNoiseMultiplier * this.clip);
    const update = new Float32Array(total.length);
    for (let i = 0; i < total.length; i++) update[i] = total[i] / m;

    let nextClip = this.clip;
    let unclippedFraction: number | undefined;
    if (this.o.adaptive) {
      const { targetQuantile, clipLearningRate, countNoiseMultiplier } = this.o.adaptive;
      let noisyCount = a.metricSums[DP_METRICS.unclippedCentered] ?? 0;
      if (this.mode === 'central') noisyCount += countNoiseMultiplier * this.noiseSource(a.round, 'count').normal();
      unclippedFraction = noisyCount / m + 0.5;
      nextClip = this.clip * Math.exp(-clipLearningRate * (unclippedFraction - targetQuantile));
      // Adaptive clipping stays within the coordinate range: C + 6σᵢ ≤ c every round.
      if (nextClip > this.maxClipNorm) {
        a.events.push({ kind: 'dp-clip-capped', message: `adaptive clipping wanted C = ${nextClip.toPrecision(4)}; capped at ${this.maxClipNorm.toPrecision(4)} so that C + ${CLIP_RANGE_SIGMAS}σᵢ stays within the clipping range ${this.o.coordinateRange}`, wanted: nextClip, cap: this.maxClipNorm });
        nextClip = this.maxClipNorm;
      }
    }
    a.update = update;
    const privacy: PrivacyRecord = {
      epsilon: charge.epsilon,
      delta: this.delta,
      noiseMultiplier: charged,
      samplingRate: this.samplingRate,
      steps: this.ledger.steps + 1,
      clipNorm: this.clip,
    };
    if (this.mode === 'local') privacy.centralEpsilon = charge.centralEpsilon;
    if (skellam) {
      privacy.skellamMu = skellam.mu;
      privacy.l2Sensitivity = skellam.l2;
    }
    if (unclippedFraction !== undefined) {
      privacy.unclippedFraction = unclippedFraction;
      privacy.nextClipNorm = nextClip;
    }
    a.privacy = privacy;
    const serverClipped = a.metricSums[CLIPPED_TALLY] ?? 0;
    if (serverClipped > 0) {
      a.events.push({ kind: 'dp-server-clipped', message: `${serverClipped} update(s) arrived above the clip norm ${this.clip.toPrecision(4)} and were clipped by the server`, count: serverClipped });
    }
    this.prepared = { charge, nextClip };
  }

  commit(): void {
    const p = this.prepared;
    if (!p) return;
    this.ledger.commit(p.charge);
    this.clip = p.nextClip;
    this.prepared = undefined;
  }

  rollback(): void {
    this.prepared = undefined;
  }

  getState(): StrategyState {
    return { [DP_CONFIG.clipNorm]: this.clip, ...this.ledger.getState() };
  }

  setState(state: StrategyState): void {
    const rest: Record<string, unknown> = { ...state };
    const c = rest[DP_CONFIG.clipNorm];
    delete rest[DP_CONFIG.clipNorm];
    if (c !== undefined) {
      if (typeof c !== 'number' || !Number.isFinite(c)) throw new FederaError('invalid_config', `DP-FedAvg state: ${DP_CONFIG.clipNorm} must be a finite number`);
      this.clip = checkClipNorm(c, 'state clip norm');
    }
    this.ledger.setState(rest);
  }
}
