/**
 * Client selection behind one interface: which `count` of the available clients train this
 * round. The engine asks the selector for every synchronous training round (not under DP's
 * Poisson sampling, whose accounting assumes uniform independent draws) and tells it afterwards
 * how each selected client did.
 *
 * - `uniform`: a uniform sample (the engine's behaviour without a selector; same draws).
 * - `availability`: with a simulated clock, only clients whose online session will last through
 *   the work they are expected to do (their last observed duration, else the round deadline);
 *   the rest only when too few qualify, longest remaining session first. Without a clock (a
 *   deployment, where the server does not know the future), uniform.
 * - `oort` (Lai et al. 2021, "Oort: Efficient Federated Learning via Guided Participant
 *   Selection"): statistical utility |Bᵢ|·√(mean loss²) from a client's last participation,
 *   times (T/tᵢ)^α when its duration tᵢ exceeds the preferred round duration T, plus a confidence
 *   bonus √(0.1·ln(round)/lastRoundᵢ) for clients not seen for a while; an exploration share that
 *   decays from 0.9 by 0.98 a round to a floor of 0.2 goes to clients never tried (fastest first
 *   when their speed is known, else at random); exploitation samples among the clients whose
 *   utility is at least 0.95 × the k-th highest, with probability proportional to utility. T is
 *   the round duration that keeps 95 % of the observed durations (Oort's pacer, without its
 *   step changes). Clients report their loss and example count with every result; durations are
 *   measured by the exchange (simulated time with devices, wall time in deployment).
 */
import { FederaError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { MessageBase } from '../core/messages.js';
import type { SimulatedClock } from './clock.js';
import { sortClientIds } from '../core/ids.js';
import { sampleClients } from './sampling.js';

/** How a selected client did in a training round. */
export interface ClientFeedback {
  readonly clientId: string;
  /** Its reply was accepted. */
  readonly succeeded: boolean;
  readonly numExamples?: number;
  /** Mean training loss it reported. */
  readonly loss?: number;
  /** ms from the request to its reply (simulated with devices). */
  readonly durationMs?: number;
}

export interface SelectionContext {
  readonly round: number;
  readonly clock?: SimulatedClock;
  /** The round's report deadline, ms. */
  readonly timeoutMs?: number;
}

export interface ClientSelector {
  readonly name: string;
  select(available: readonly string[], count: number, rng: Rng, context: SelectionContext): string[];
  /** What the round's selected clients did. */
  observe?(round: number, feedback: readonly ClientFeedback[]): void;
}

export type SelectorKind = 'uniform' | 'availability' | 'oort';

export interface OortOptions {
  /** Initial exploration share (default 0.9), decay per round (0.98) and floor (0.2). */
  exploration?: number;
  explorationDecay?: number;
  minExploration?: number;
  /** α of the system-utility penalty (T/t)^α for slow clients (default 2). */
  stragglerPenalty?: number;
  /** Exploitation samples among utilities ≥ cutoff × the k-th highest (default 0.95). */
  cutoff?: number;
  /** Preferred round duration T in ms; default: the 95th percentile of observed durations. */
  preferredDurationMs?: number;
}

export function createSelector(kind: SelectorKind, options: OortOptions = {}): ClientSelector {
  if (kind === 'uniform') return { name: 'uniform', select: (available, count, rng) => sampleClients(available, count, rng) };
  if (kind === 'availability') return new AvailabilitySelector();
  if (kind === 'oort') return new OortSelector(options);
  throw new FederaError('invalid_config', `selection must be "uniform", "availability" or "oort", got ${JSON.stringify(kind)}`);
}

/** Clients whose online session covers their expected work first. */
class AvailabilitySelector implements ClientSelector {
  readonly name = 'availability';
  private readonly durations = new Map<string, number>();

  select(available: readonly string[], count: number, rng: Rng, context: SelectionContext): string[] {
    const clock = context.clock;
    if (!clock?.onlineFor) return sampleClients(available, count, rng);
    const now = clock.now();
    const sorted = sortClientIds(available);
    const left = new Map(sorted.map((id) => [id, clock.onlineFor!(id, now)]));
    const need = (id: string) => this.durations.get(id) ?? context.timeoutMs ?? 0;
    const safe = sorted.filter((id) => left.get(id)! >= need(id));
    if (safe.length >= count) return rng.sample(safe, count);
    const rest = sorted.filter((id) => left.get(id)! < need(id)).sort((a, b) => left.get(b)! - left.get(a)! || (a < b ? -1 : 1));
    return [...safe, ...rest.slice(0, count - safe.length)];
  }

  observe(_round: number, feedback: readonly ClientFeedback[]): void {
    for (const f of feedback) if (f.durationMs !== undefined) this.durations.set(f.clientId, f.durationMs);
  }
}

interface OortStats {
  utility: number;
  durationMs?: number;
  lastRound: number;
}

class OortSelector implements ClientSelector {
  readonly name = 'oort';
  private readonly stats = new Map<string, OortStats>();
  private readonly o: Required<Omit<OortOptions, 'preferredDurationMs'>> & { preferredDurationMs?: number };
  private exploration: number;

  constructor(options: OortOptions) {
    this.o = {
      exploration: options.exploration ?? 0.9,
      explorationDecay: options.explorationDecay ?? 0.98,
      minExploration: options.minExploration ?? 0.2,
      stragglerPenalty: options.stragglerPenalty ?? 2,
      cutoff: options.cutoff ?? 0.95,
      ...(options.preferredDurationMs !== undefined ? { preferredDurationMs: options.preferredDurationMs } : {}),
    };
    const unit = (name: string, v: number) => {
      if (!(v >= 0 && v <= 1)) throw new FederaError('invalid_config', `selection.${name} must be in [0, 1], got ${v}`);
    };
    unit('exploration', this.o.exploration);
    unit('explorationDecay', this.o.explorationDecay);
    unit('minExploration', this.o.minExploration);
    unit('cutoff', this.o.cutoff);
    if (!(this.o.stragglerPenalty >= 0 && Number.isFinite(this.o.stragglerPenalty))) throw new FederaError('invalid_config', `selection.stragglerPenalty must be a finite number ≥ 0, got ${this.o.stragglerPenalty}`);
    this.exploration = this.o.exploration;
  }

  /** T: the configured preferred duration, or the 95th percentile of the observed ones. */
  private preferredDuration(): number | undefined {
    if (this.o.preferredDurationMs !== undefined) return this.o.preferredDurationMs;
    const d = [...this.stats.values()].map((s) => s.durationMs).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    return d.length ? d[Math.min(d.length - 1, Math.floor(0.95 * d.length))] : undefined;
  }

  private score(id: string, s: OortStats, round: number, T: number | undefined): number {
    let u = s.utility + Math.sqrt((0.1 * Math.log(Math.max(round, 2))) / Math.max(s.lastRound, 1));
    if (T !== undefined && s.durationMs !== undefined && s.durationMs > T) u *= (T / s.durationMs) ** this.o.stragglerPenalty;
    return u;
  }

  select(available: readonly string[], count: number, rng: Rng, context: SelectionContext): string[] {
    const sorted = sortClientIds(available);
    const n = Math.min(count, sorted.length);
    const explored = sorted.filter((id) => this.stats.has(id));
    const fresh = sorted.filter((id) => !this.stats.has(id));
    const exploreCount = Math.min(fresh.length, Math.max(n - explored.length, Math.round(this.exploration * n)));
    const picked: string[] = [];
    // Exploitation: sample among the top utilities, with probability proportional to utility.
    const T = this.preferredDuration();
    const scored = explored.map((id) => ({ id, u: this.score(id, this.stats.get(id)!, context.round, T) })).sort((a, b) => b.u - a.u || (a.id < b.id ? -1 : 1));
    const exploit = n - exploreCount;
    if (exploit > 0 && scored.length) {
      const kth = scored[Math.min(exploit, scored.length) - 1].u;
      const pool = scored.filter((s) => s.u >= this.o.cutoff * kth);
      while (picked.length < exploit && pool.length) {
        const total = pool.reduce((a, s) => a + Math.max(s.u, 1e-12), 0);
        let r = rng.next() * total;
        let k = 0;
        for (; k < pool.length - 1; k++) {
          r -= Math.max(pool[k].u, 1e-12);
          if (r < 0) break;
        }
        picked.push(pool[k].id);
        pool.splice(k, 1);
      }
      // Too few above the cutoff: the next best.
      for (const s of scored) if (picked.length < exploit && !picked.includes(s.id)) picked.push(s.id);
    }
    // Exploration: clients never tried, fastest first when the clock knows their speed.
    let explore = rng.sample(fresh, exploreCount);
    if (context.clock && T !== undefined) {
      const probe = context.clock;
      const probeMessage: MessageBase = { type: 'train', runId: '', round: context.round };
      const expected = (id: string) => probe.timing(id, probeMessage).durationMs;
      explore = rng.sample(fresh, Math.min(fresh.length, 2 * exploreCount)).sort((a, b) => expected(a) - expected(b) || (a < b ? -1 : 1)).slice(0, exploreCount);
    }
    picked.push(...explore);
    // Fill from whatever is left (fewer explored or fresh clients than asked).
    for (const id of rng.sample(sorted, sorted.length)) if (picked.length < n && !picked.includes(id)) picked.push(id);
    this.exploration = Math.max(this.o.minExploration, this.exploration * this.o.explorationDecay);
    return picked;
  }

  observe(round: number, feedback: readonly ClientFeedback[]): void {
    for (const f of feedback) {
      const prev = this.stats.get(f.clientId);
      if (!f.succeeded) {
        // A failed client keeps its utility but is seen as slow: at least the deadline it missed.
        const durationMs = f.durationMs !== undefined ? Math.max(f.durationMs, prev?.durationMs ?? 0) : prev?.durationMs;
        this.stats.set(f.clientId, { utility: prev?.utility ?? 0, ...(durationMs !== undefined ? { durationMs } : {}), lastRound: round });
        continue;
      }
      const loss = f.loss !== undefined && Number.isFinite(f.loss) ? Math.abs(f.loss) : (prev?.utility ?? 0);
      const utility = (f.numExamples ?? 1) * loss;
      this.stats.set(f.clientId, { utility, ...(f.durationMs !== undefined ? { durationMs: f.durationMs } : {}), lastRound: round });
    }
  }
}
