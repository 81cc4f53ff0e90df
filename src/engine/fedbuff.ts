/**
 * FedBuff (Nguyen et al. 2022, "Federated Learning with Buffered Asynchronous Aggregation") as a
 * round workflow: at most C clients train at once, each on the model version it downloaded; every
 * upload is weighted by a staleness function s(τ) of τ = (current version − the version it trained
 * on) and buffered; after K uploads the buffer is applied through the strategy's server optimizer
 * and the version advances. One engine "round" is one buffer, so history, checkpoints, evaluation
 * and the privacy of a round keep their meaning; the clients still training carry over into the
 * next round and arrive staler.
 *
 * Normalisation: the buffer is Σ s(τₖ)·Δₖ / K — divided by the count K, as in the paper's
 * Algorithm 1 and NVIDIA FLARE. FLSim applies the plain sum (a server learning rate K times
 * smaller is the same thing); FedScale divides by Σ s(τₖ), which undoes the down-weighting when
 * every update in a buffer is equally stale. With uniform weights (the run plan sets them for
 * FedBuff) the strategy's mean of the pre-scaled updates is exactly that; the server optimizer
 * then applies it with its learning rate (FedBuff's η_g is FedAvgM's η with β = 0).
 *
 * Time: with a simulated clock on the grid (engine/clock.ts) the workflow orders its own events —
 * each started client's reply arrives at its device's simulated time; the earliest is run next, on
 * the model version it downloaded — so a run is deterministic and advances simulated time, not
 * wall time. Without one (deployment) the started exchanges run concurrently and are taken in
 * the order their replies arrive; a client is given work as soon as it is free.
 */
import type { Config, Metrics, TrainInstruction } from '../core/messages.js';
import { FederaError, describeError } from '../core/errors.js';
import type { Params } from '../core/params.js';
import type { ClientFailure, RoundEvent } from '../core/records.js';
import type { SimulatedClock } from './clock.js';
import { checkTrainReply, clientSeed, finishAggregation, skipCode, type RoundContext, type TrainRoundOutcome, type TrainWorkflow } from './workflow.js';

export type StalenessKind = 'constant' | 'polynomial' | 'hinge';

export interface FedBuffOptions {
  /** K: uploads per buffer (default 10). */
  bufferSize?: number;
  /** C: clients training at the same time (default 10·K, at most the available clients). */
  concurrency?: number;
  /** s(τ): `constant` (1), `polynomial` ((1 + τ)^−a, the paper's choice with a = 0.5), `hinge` (1 for τ ≤ b, then 1/(a·(τ − b) + 1)). */
  staleness?: StalenessKind;
  /** a (default 0.5 polynomial, 10 hinge). */
  stalenessExponent?: number;
  /** b of the hinge (default 10). */
  hingeStaleness?: number;
  /** Uploads staler than this are refused (default: none). */
  maxStaleness?: number;
  /** Deployment: ms the buffer may wait for its K uploads before the round is skipped (the engine's round deadline). */
  timeoutMs?: number;
}

/** s(τ) of `options`, checked. */
export function stalenessWeight(options: FedBuffOptions): (tau: number) => number {
  const kind = options.staleness ?? 'polynomial';
  if (kind === 'constant') return () => 1;
  if (kind === 'polynomial') {
    const a = options.stalenessExponent ?? 0.5;
    if (!(a >= 0 && Number.isFinite(a))) throw new FederaError('invalid_config', `fedbuff: stalenessExponent must be a finite number ≥ 0, got ${a}`);
    return (tau) => (1 + tau) ** -a;
  }
  if (kind === 'hinge') {
    const a = options.stalenessExponent ?? 10;
    const b = options.hingeStaleness ?? 10;
    if (!(a > 0 && Number.isFinite(a))) throw new FederaError('invalid_config', `fedbuff: stalenessExponent (the hinge's slope a) must be a finite number > 0, got ${a}`);
    if (!(b >= 0 && Number.isFinite(b))) throw new FederaError('invalid_config', `fedbuff: hingeStaleness must be a finite number ≥ 0, got ${b}`);
    return (tau) => (tau <= b ? 1 : 1 / (a * (tau - b) + 1));
  }
  throw new FederaError('invalid_config', `fedbuff: staleness must be "constant", "polynomial" or "hinge", got ${JSON.stringify(kind)}`);
}

/** A client given work: the version it trains on, and (simulated) when its reply arrives. */
interface Started {
  readonly clientId: string;
  readonly version: number;
  readonly params: Float32Array;
  readonly config: Config;
  /** Simulated: when its reply arrives, or when its device goes offline first. */
  readonly arrivesAt?: number;
  readonly offlineAt?: number;
}

/** What came back from a started client. */
type Arrival =
  | { kind: 'result'; clientId: string; version: number; update: Float32Array; numExamples: number; metrics: Metrics }
  | { kind: 'failure'; clientId: string; version: number; failure: ClientFailure };

export class FedBuffWorkflow implements TrainWorkflow {
  readonly name = 'fedbuff';
  readonly bufferSize: number;
  private readonly concurrency: number | undefined;
  private readonly weight: (tau: number) => number;
  private readonly o: FedBuffOptions;
  private readonly inFlight = new Map<string, Started>();
  /** Deployment: arrivals not consumed yet (a reply may come between two rounds). */
  private readonly arrived: Arrival[] = [];
  private wake: (() => void) | undefined;
  private version = 0;
  private lastGlobal: Float32Array | undefined;

  constructor(options: FedBuffOptions = {}) {
    this.o = options;
    this.bufferSize = options.bufferSize ?? 10;
    if (!(Number.isInteger(this.bufferSize) && this.bufferSize >= 1)) throw new FederaError('invalid_config', `fedbuff: bufferSize must be an integer ≥ 1, got ${this.bufferSize}`);
    this.concurrency = options.concurrency;
    if (this.concurrency !== undefined && !(Number.isInteger(this.concurrency) && this.concurrency >= 1)) throw new FederaError('invalid_config', `fedbuff: concurrency must be an integer ≥ 1, got ${this.concurrency}`);
    if (options.maxStaleness !== undefined && !(Number.isInteger(options.maxStaleness) && options.maxStaleness >= 0)) throw new FederaError('invalid_config', `fedbuff: maxStaleness must be an integer ≥ 0, got ${options.maxStaleness}`);
    this.weight = stalenessWeight(options);
  }

  /** Clients training now. */
  get training(): number {
    return this.inFlight.size;
  }

  busyClients(): ReadonlySet<string> {
    return new Set(this.inFlight.keys());
  }

  async run(ctx: RoundContext): Promise<TrainRoundOutcome> {
    // The model's version counts the global models actually applied (a skipped or rejected round
    // leaves it, so it does not make the clients still training look staler).
    if (this.lastGlobal !== undefined && ctx.global.data !== this.lastGlobal) this.version++;
    this.lastGlobal = ctx.global.data;
    const version = this.version;
    const clock = ctx.clock;
    const aggregation = ctx.strategy.aggregateTrain(ctx.round, ctx.global);
    const config = ctx.strategy.configureTrain(ctx.round, ctx.global);
    const selected: string[] = [];
    const succeeded: string[] = [];
    const failed: ClientFailure[] = [];
    const staleness: number[] = [];
    let stalenessSum = 0;
    let stalest = 0;
    const limit = this.concurrency ?? 10 * this.bufferSize;
    let draws = 0;
    const refill = () => {
      const busy = new Set(this.inFlight.keys());
      const idle = ctx.availableClients().filter((id) => !busy.has(id));
      const want = Math.min(limit - this.inFlight.size, idle.length);
      if (want <= 0) return;
      // Uniformly among the idle available clients, from the round's stream (sorted first: the grid's order is not part of the seed).
      const pick = ctx.rng.stream('fedbuff-select').stream(draws++).sample([...idle].sort(), want);
      for (const clientId of pick) {
        selected.push(clientId);
        this.start(ctx, clock, clientId, version, ctx.global, config);
      }
    };
    refill();
    const deadline = clock ? undefined : Date.now() + (this.o.timeoutMs ?? ctx.timeoutMs ?? 600_000);
    while (aggregation.accepted < this.bufferSize) {
      if (this.inFlight.size === 0 && this.arrived.length === 0) {
        aggregation.discard?.();
        return { status: 'skipped', code: 'no_clients', reason: `fedbuff: no client is available to train (buffer ${aggregation.accepted}/${this.bufferSize})`, selected, succeeded, failed, dropped: [] };
      }
      const next = clock ? await this.nextSimulated(ctx, clock) : await this.nextArrival(deadline!, ctx.signal);
      if (!next) {
        aggregation.discard?.();
        return { status: 'skipped', code: 'insufficient_results', reason: `fedbuff: ${aggregation.accepted} of ${this.bufferSize} uploads arrived before the round deadline`, selected, succeeded, failed, dropped: [] };
      }
      if (next.kind === 'failure') failed.push(next.failure);
      else {
        const tau = version - next.version;
        if (this.o.maxStaleness !== undefined && tau > this.o.maxStaleness) {
          failed.push({ clientId: next.clientId, code: 'stale', reason: `its update was trained on version ${next.version}, ${tau} versions old (fedbuff.maxStaleness ${this.o.maxStaleness})` });
        } else {
          const s = this.weight(tau);
          const update = next.update;
          for (let i = 0; i < update.length; i++) update[i] *= s;
          try {
            aggregation.add({ clientId: next.clientId, update, numExamples: next.numExamples, metrics: next.metrics });
            succeeded.push(next.clientId);
            staleness.push(tau);
            stalenessSum += tau;
            stalest = Math.max(stalest, tau);
          } catch (e) {
            failed.push({ clientId: next.clientId, code: `rejected:${e instanceof FederaError ? e.code : 'error'}`, reason: describeError(e) });
          }
        }
      }
      if (ctx.signal?.aborted) break;
      refill();
    }
    const base = { selected, succeeded, failed, dropped: [] as string[] };
    if (aggregation.accepted < this.bufferSize) {
      aggregation.discard?.();
      return { ...base, status: 'skipped', code: 'aborted', reason: 'fedbuff: the run was stopped before the buffer was full' };
    }
    const finished = finishAggregation(aggregation, base);
    if ('skipped' in finished) return finished.skipped;
    const { result } = finished;
    const metrics: Metrics = { ...result.metrics, staleness_mean: stalenessSum / succeeded.length, staleness_max: stalest, training_clients: this.inFlight.size };
    // Each buffered upload's staleness and weight, in the order of `succeeded`.
    const buffer: RoundEvent = { kind: 'fedbuff-buffer', message: `buffer of version ${version}: ${succeeded.length} uploads, staleness mean ${(stalenessSum / succeeded.length).toFixed(2)}, max ${stalest}`, version, staleness: [...staleness], weights: staleness.map((t) => this.weight(t)) };
    return { ...base, status: 'completed', params: result.params, metrics, ...(result.privacy ? { privacy: result.privacy } : {}), events: [buffer, ...(result.events ?? [])] };
  }

  /** Gives `clientId` the model of `version` to train on. */
  private start(ctx: RoundContext, clock: SimulatedClock | undefined, clientId: string, version: number, global: Params, config: Config): void {
    const message: TrainInstruction = { type: 'train', runId: ctx.runId, round: ctx.round, params: global.data, config: { ...config, seed: clientSeed(ctx.rng, clientId) } };
    if (clock) {
      const t = clock.timing(clientId, message);
      const now = clock.now();
      const offline = t.offlineAfterMs !== undefined && t.offlineAfterMs < t.durationMs;
      this.inFlight.set(clientId, { clientId, version, params: global.data, config: message.config, arrivesAt: now + t.durationMs, ...(offline ? { offlineAt: now + t.offlineAfterMs! } : {}) });
      return;
    }
    this.inFlight.set(clientId, { clientId, version, params: global.data, config: message.config });
    void this.exchangeOne(ctx, clientId, message, version, this.o.timeoutMs ?? ctx.timeoutMs).then((a) => {
      this.inFlight.delete(clientId);
      this.arrived.push(a);
      this.wake?.();
    });
  }

  /**
   * One client's train exchange outside the clock, its reply copied (the transport reuses its
   * buffers); `timeoutMs` in wall time (none in simulation, where the clock decided already).
   */
  private async exchangeOne(ctx: RoundContext, who: string, message: TrainInstruction, version: number, timeoutMs: number | undefined): Promise<Arrival> {
    let arrival: Arrival | undefined;
    try {
      const outcome = await ctx.exchange(
        [{ clientId: who, message }],
        (c, reply) => {
          // The reply names the round it was given in, which may be earlier than the current one.
          const r = checkTrainReply(reply, { runId: ctx.runId, round: message.round, global: ctx.global }, c);
          arrival = { kind: 'result', clientId: c, version, update: r.update.slice(), numExamples: r.numExamples, metrics: { ...r.metrics } };
        },
        { useClock: false, ...(timeoutMs !== undefined ? { timeoutMs } : {}) },
      );
      if (arrival) return arrival;
      const failure = outcome.failures[0] ?? { clientId: who, code: 'dropped', reason: 'no reply' };
      return { kind: 'failure', clientId: who, version, failure };
    } catch (e) {
      return { kind: 'failure', clientId: who, version, failure: { clientId: who, code: skipCode(e, 'unreachable'), reason: describeError(e) } };
    }
  }

  /** Simulated: the started client whose reply (or disconnect) comes first, run now on the model it downloaded. */
  private async nextSimulated(ctx: RoundContext, clock: SimulatedClock): Promise<Arrival | undefined> {
    let first: Started | undefined;
    let at = Infinity;
    for (const s of this.inFlight.values()) {
      const t = s.offlineAt ?? s.arrivesAt!;
      if (t < at || (t === at && first && s.clientId < first.clientId)) (first = s), (at = t);
    }
    if (!first) return undefined;
    this.inFlight.delete(first.clientId);
    clock.advanceTo(at);
    if (first.offlineAt !== undefined) {
      return { kind: 'failure', clientId: first.clientId, version: first.version, failure: { clientId: first.clientId, code: 'offline', reason: `the device went offline at ${(at / 1000).toFixed(1)} s (simulated time), before its upload at ${(first.arrivesAt! / 1000).toFixed(1)} s` } };
    }
    return this.exchangeOne(ctx, first.clientId, { type: 'train', runId: ctx.runId, round: ctx.round, params: first.params, config: first.config }, first.version, undefined);
  }

  /** Deployment: the next arrival, waiting until `deadline` (undefined when it passes). */
  private async nextArrival(deadline: number, signal: AbortSignal | undefined): Promise<Arrival | undefined> {
    while (this.arrived.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return this.arrived.shift();
  }
}
