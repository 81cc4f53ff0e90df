/**
 * The privacy ledger of a DP-FedAvg run: every charge made to the accountant (runs of rounds at
 * one sampling rate and noise multiplier), each client's participation count (local mode), the ε
 * spent, and the budget. A round is charged in two steps — `prepare` computes what releasing it
 * would cost and refuses a release above the budget, `commit` makes it permanent once the round was
 * applied — so a round that fails after the noise was drawn costs nothing. Its state round-trips
 * through checkpoints, so a resumed run keeps counting.
 */
import { FederaError } from '../core/errors.js';
import type { StrategyState } from '../strategy/strategy.js';
import { createAccountant, type AccountantKind, type PrivacyAccountant } from './accountant/calibrate.js';
import { RdpAccountant } from './accountant/rdp.js';
import { checkSkellamStep, rdpPoissonSkellam, type SkellamStep } from './accountant/skellam.js';
import { checkEpsilon, checkNoiseMultiplier, checkSamplingRate } from './validate.js';
import type { DpMode } from './protocol.js';

/** Keys of the ledger's checkpoint state. */
export const LEDGER_STATE = { epsilon: 'dp.epsilonSpent', charges: 'dp.charges', participation: 'dp.participation' } as const;

export interface PrivacyLedgerOptions {
  delta: number;
  /** q: the sampling rate every round is charged at unless `prepare` is told otherwise. */
  samplingRate: number;
  /** z: the noise multiplier of a round at full participation. */
  noiseMultiplier: number;
  mode: DpMode;
  accountant?: AccountantKind;
  targetEpsilon?: number;
  /**
   * Distributed DP under quantized secure aggregation: rounds are charged as the distributed
   * Skellam mechanism (accountant/skellam.ts), this the step of a round at full participation with
   * the current clip norm (for the planned ε and the budget). RDP only.
   */
  plannedSkellam?: () => SkellamStep;
}

interface Charge {
  q: number;
  sigma: number;
  rounds: number;
  /** A Skellam round (σ is then its Gaussian equivalent √(2μ)/Δ₂, for the record). */
  skellam?: SkellamStep;
}

const SKELLAM_KEYS = ['mu', 'l2', 'l1', 'countRho'] as const;

function sameStep(a: SkellamStep | undefined, b: SkellamStep | undefined): boolean {
  if (!a || !b) return a === b;
  return SKELLAM_KEYS.every((k) => (a[k] ?? 0) === (b[k] ?? 0));
}

/** What one round's release would cost; handed back to `commit`. */
export interface PendingCharge {
  readonly round: number;
  readonly q: number;
  readonly sigma: number;
  readonly epsilon: number;
  readonly centralEpsilon: number;
  readonly contributors: readonly string[];
  readonly skellam?: SkellamStep;
}

function checkInteger(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new FederaError('invalid_config', `${name} must be an integer ≥ 1, got ${String(v)}`);
  return v;
}

export class PrivacyLedger {
  readonly delta: number;
  readonly samplingRate: number;
  readonly noiseMultiplier: number;
  readonly mode: DpMode;
  readonly targetEpsilon: number | undefined;
  private readonly kind: AccountantKind;
  private accountant: PrivacyAccountant;
  private charges: Charge[] = [];
  private readonly participations = new Map<string, number>();
  private spent = 0;
  private readonly plannedSkellam: (() => SkellamStep) | undefined;

  constructor(o: PrivacyLedgerOptions) {
    this.delta = o.delta;
    this.samplingRate = checkSamplingRate(o.samplingRate, 'sampling rate q');
    this.noiseMultiplier = o.noiseMultiplier;
    this.mode = o.mode;
    this.kind = o.accountant ?? 'rdp';
    this.accountant = createAccountant(this.kind);
    this.plannedSkellam = o.plannedSkellam;
    if (o.plannedSkellam && this.kind !== 'rdp') {
      throw new FederaError('invalid_config', `privacy.accountant "${this.kind}" composes Gaussian privacy loss distributions, but distributed DP under quantized secure aggregation adds Skellam noise, which federa accounts in RDP: set privacy.accountant = "rdp"`);
    }
    this.targetEpsilon = o.targetEpsilon === undefined ? undefined : checkEpsilon(o.targetEpsilon, 'targetEpsilon');
  }

  /** ε spent so far. */
  get epsilon(): number {
    return this.spent;
  }

  /** Rounds charged so far. */
  get steps(): number {
    return this.accountant.steps;
  }

  /** Local mode: the guarantee of a client that took part `participations` times (sensitivity 2C, no amplification). */
  private localEpsilon(participations: number): number {
    return createAccountant(this.kind).compose(1, this.noiseMultiplier / 2, participations).getEpsilon(this.delta);
  }

  /** ε after `rounds` more rounds at full participation, from the current state. */
  plannedEpsilon(rounds: number): number {
    if (this.noiseMultiplier === 0) return rounds > 0 || this.spent === Infinity ? Infinity : this.spent;
    if (this.mode === 'local') return this.localEpsilon(Math.max(0, ...this.participations.values()) + rounds);
    if (rounds === 0) return this.spent;
    return compose(this.accountant.clone(), this.samplingRate, this.noiseMultiplier, rounds, this.plannedSkellam?.()).getEpsilon(this.delta);
  }

  /** The most rounds (< `upTo`) that fit the budget from the current state (ε grows with rounds). */
  roundsWithinBudget(upTo: number): number {
    if (this.targetEpsilon === undefined) return upTo;
    let lo = 0;
    let hi = upTo;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.plannedEpsilon(mid) <= this.targetEpsilon) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  /** Whether one more round at full participation stays within the budget (always, without one). */
  canRunRound(): boolean {
    return this.targetEpsilon === undefined || this.plannedEpsilon(1) <= this.targetEpsilon;
  }

  /** Refuses a plan of `rounds` rounds above the budget, saying how many fit. */
  checkPlan(rounds: number, describe: string): void {
    if (this.targetEpsilon === undefined) return;
    checkInteger('plannedRounds', rounds);
    const planned = this.plannedEpsilon(rounds);
    if (planned <= this.targetEpsilon) return;
    const fit = this.roundsWithinBudget(rounds);
    throw new FederaError(
      'invalid_config',
      `the planned ${rounds} rounds would spend ε = ${planned.toPrecision(4)} (δ = ${this.delta}, q = ${this.samplingRate.toPrecision(4)}, ${describe}), above the target ε = ${this.targetEpsilon}; ${fit === 0 ? 'not even one round fits' : `at most ${fit} round(s) fit`}: raise the noise multiplier or run fewer rounds`,
    );
  }

  /**
   * What releasing `round` with multiplier `sigma`, sampled at rate `q`, with these contributors
   * would cost; throws `privacy_budget` (nothing released) when it exceeds the target.
   */
  prepare(round: number, sigma: number, contributors: readonly string[], q = this.samplingRate, skellam?: SkellamStep): PendingCharge {
    if (skellam) checkSkellamStep(skellam, `round ${round}`);
    // σ = 0 (clipping only) releases the clipped sum as is: no finite ε holds.
    const centralEpsilon = sigma === 0 ? Infinity : compose(this.accountant.clone(), q, sigma, 1, skellam).getEpsilon(this.delta);
    let most = 0;
    for (const id of contributors) most = Math.max(most, (this.participations.get(id) ?? 0) + 1);
    for (const n of this.participations.values()) most = Math.max(most, n);
    const epsilon = sigma === 0 ? Infinity : this.mode === 'local' ? this.localEpsilon(most) : centralEpsilon;
    if (this.targetEpsilon !== undefined && epsilon > this.targetEpsilon) {
      throw new FederaError('privacy_budget', `privacy budget: releasing round ${round} would take ε to ${epsilon.toPrecision(4)}, above the target ${this.targetEpsilon}; nothing released`);
    }
    return { round, q, sigma, epsilon, centralEpsilon, contributors: [...contributors], ...(skellam ? { skellam } : {}) };
  }

  commit(p: PendingCharge): void {
    if (p.sigma > 0) compose(this.accountant, p.q, p.sigma, 1, p.skellam);
    const last = this.charges.at(-1);
    if (last && last.sigma === p.sigma && last.q === p.q && sameStep(last.skellam, p.skellam)) last.rounds++;
    else this.charges.push({ q: p.q, sigma: p.sigma, rounds: 1, ...(p.skellam ? { skellam: p.skellam } : {}) });
    for (const id of p.contributors) this.participations.set(id, (this.participations.get(id) ?? 0) + 1);
    this.spent = p.epsilon;
  }

  getState(): StrategyState {
    // ε = ∞ (a clipping-only charge) is not a finite state value: it is implied by a charge with σ = 0.
    const state: StrategyState = { [LEDGER_STATE.charges]: this.charges.length, ...(Number.isFinite(this.spent) ? { [LEDGER_STATE.epsilon]: this.spent } : {}) };
    this.charges.forEach((c, k) => {
      state[`${LEDGER_STATE.charges}.${k}.sigma`] = c.sigma;
      state[`${LEDGER_STATE.charges}.${k}.rounds`] = c.rounds;
      // Written only when it differs from the run's rate, so older checkpoints read the same.
      if (c.q !== this.samplingRate) state[`${LEDGER_STATE.charges}.${k}.q`] = c.q;
      if (c.skellam) for (const key of SKELLAM_KEYS) if (c.skellam[key] !== undefined) state[`${LEDGER_STATE.charges}.${k}.skellam.${key}`] = c.skellam[key];
    });
    if (this.mode === 'local') for (const [id, n] of this.participations) state[`${LEDGER_STATE.participation}.${id}`] = n;
    return state;
  }

  /** Restores a checkpoint's ledger (replaying every charge); takes its keys out of `rest`. */
  setState(rest: Record<string, unknown>): void {
    const take = (key: string): number | undefined => {
      const v = rest[key];
      delete rest[key];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new FederaError('invalid_config', `DP-FedAvg state: ${key} must be a finite number`);
      return v;
    };
    const count = take(LEDGER_STATE.charges);
    if (count !== undefined) {
      const charges: Charge[] = [];
      const accountant = createAccountant(this.kind);
      for (let k = 0; k < count; k++) {
        const raw = take(`${LEDGER_STATE.charges}.${k}.sigma`) ?? NaN;
        const sigma = raw === 0 ? 0 : checkNoiseMultiplier(raw, `state charge ${k} noise multiplier`);
        const rounds = checkInteger(`state charge ${k} rounds`, take(`${LEDGER_STATE.charges}.${k}.rounds`) ?? NaN);
        const q = checkSamplingRate(take(`${LEDGER_STATE.charges}.${k}.q`) ?? this.samplingRate, `state charge ${k} sampling rate`);
        const mu = take(`${LEDGER_STATE.charges}.${k}.skellam.mu`);
        const l2 = take(`${LEDGER_STATE.charges}.${k}.skellam.l2`);
        const l1 = take(`${LEDGER_STATE.charges}.${k}.skellam.l1`);
        const countRho = take(`${LEDGER_STATE.charges}.${k}.skellam.countRho`);
        const skellam = mu === undefined && l2 === undefined && l1 === undefined ? undefined : checkSkellamStep({ mu: mu ?? NaN, l2: l2 ?? NaN, l1: l1 ?? NaN, ...(countRho !== undefined ? { countRho } : {}) }, `state charge ${k}`);
        if (skellam && this.kind !== 'rdp') throw new FederaError('invalid_config', `DP-FedAvg state: charge ${k} is a Skellam round, which only the RDP accountant composes`);
        if (sigma > 0) compose(accountant, q, sigma, rounds, skellam);
        charges.push({ q, sigma, rounds, ...(skellam ? { skellam } : {}) });
      }
      this.accountant = accountant;
      this.charges = charges;
    }
    this.spent = this.charges.some((c) => c.sigma === 0) ? Infinity : (take(LEDGER_STATE.epsilon) ?? this.spent);
    delete rest[LEDGER_STATE.epsilon];
    this.participations.clear();
    for (const key of Object.keys(rest)) {
      if (!key.startsWith(`${LEDGER_STATE.participation}.`)) continue;
      this.participations.set(key.slice(LEDGER_STATE.participation.length + 1), checkInteger(`state ${key}`, take(key) ?? NaN));
    }
  }
}

/** Composes `rounds` rounds into `accountant`: Poisson-subsampled Gaussian steps, or Skellam steps (RDP only). */
function compose(accountant: PrivacyAccountant, q: number, sigma: number, rounds: number, skellam: SkellamStep | undefined): PrivacyAccountant {
  if (!skellam) return accountant.compose(q, sigma, rounds);
  if (!(accountant instanceof RdpAccountant)) throw new FederaError('invalid_config', 'Skellam rounds are accounted in RDP only (privacy.accountant = "rdp")');
  return accountant.composeRdp(rdpPoissonSkellam(q, skellam, accountant.orders), rounds);
}
