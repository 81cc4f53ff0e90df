/**
 * q-FedAvg (q-FFL; Li, Sanjabi, Beirami & Smith 2020, "Fair Resource Allocation in Federated
 * Learning"): clients whose loss is high get more weight, which narrows the spread of accuracy
 * across clients as q grows (q = 0 is FedAvg with equal weights).
 *
 * Per client k, with F_k its loss on its training data at the global model w, w̄_k the model
 * after local training and L the Lipschitz estimate (1/learning rate by default):
 *
 *   Δ_k = L·(w − w̄_k),  δ_k = F_k^q·Δ_k,  h_k = q·F_k^(q−1)·‖Δ_k‖² + L·F_k^q,
 *   w ← w − Σ_k δ_k / Σ_k h_k.
 *
 * Both halves are here. The client half (`qfflClientLayer`) measures F_k before training (the
 * runtime evaluates the received model when the config asks for `initial_loss`) and replaces its
 * update u_k = w̄_k − w by −δ_k = F_k^q·L·u_k, reporting h_k as a metric. The server half (the
 * stage) sums both: −Σδ_k comes from the equal-weight sum of the updates, Σh_k from a tally —
 * or, under secure aggregation, from the masked sums (both are per-client sums, so the server
 * never needs an individual update), and the update applied is −Σδ/Σh.
 */
import type { Config, MessageBase, TrainInstruction, TrainReply } from '../core/messages.js';
import { FederaError } from '../core/errors.js';
import type { ClientLayer } from '../client/runtime.js';
import { INITIAL_LOSS_CONFIG_KEY, INITIAL_LOSS_METRIC, MASKED_METRICS_CONFIG_KEY } from '../strategy/strategy.js';
import type { AggregationStage, RoundAggregate, StageUpdate } from './stage.js';

/** Train-config keys of q-FFL and the metric carrying h_k. */
export const QFFL_CONFIG = { q: 'qffl.q', lipschitz: 'qffl.L' } as const;
export const QFFL_H_METRIC = 'qffl.h';
/**
 * The range h_k is clipped to under secure aggregation: with n clients its 32-bit step is
 * range·n/2³¹ per client (10⁵ and 100 clients: 0.005), and h_k above it would be clipped.
 */
export const QFFL_H_RANGE = 1e5;

export interface QfflOptions {
  /** q ≥ 0 (default 1): 0 is FedAvg with equal weights; larger is fairer. */
  q?: number;
  /** L > 0: the Lipschitz estimate; default 1 / the round's local learning rate. */
  lipschitz?: number;
}

/** Smallest loss F used in F^(q−1) (a client at exactly zero loss would divide by zero for q < 1). */
const MIN_LOSS = 1e-10;

function checkQ(q: number): number {
  if (!(q >= 0 && Number.isFinite(q))) throw new FederaError('invalid_config', `q-FedAvg: q must be a finite number ≥ 0, got ${q}`);
  return q;
}

/** The q-FFL server stage (with the equal-weight mean stage as its reducer). */
export function createQfflStage(options: QfflOptions = {}): AggregationStage {
  const q = checkQ(options.q ?? 1);
  if (options.lipschitz !== undefined && !(options.lipschitz > 0 && Number.isFinite(options.lipschitz))) throw new FederaError('invalid_config', `q-FedAvg: lipschitz must be a finite number > 0, got ${options.lipschitz}`);
  return {
    name: 'qffl',
    field: 'strategy.name',
    title: `q-FedAvg (q = ${q})`,
    configure(_round: number, config: Config): Config {
      const lr = config.learningRate;
      const L = options.lipschitz ?? (typeof lr === 'number' && lr > 0 ? 1 / lr : undefined);
      if (L === undefined) throw new FederaError('invalid_config', 'q-FedAvg: no Lipschitz estimate: set strategy.lipschitz, or a local learning rate (L = 1/lr)');
      // Under secure aggregation h travels masked, clipped to its own range (not the default ±64).
      const entry = `${QFFL_H_METRIC}:${QFFL_H_RANGE}`;
      const masked = typeof config[MASKED_METRICS_CONFIG_KEY] === 'string' && config[MASKED_METRICS_CONFIG_KEY] !== '' ? `${config[MASKED_METRICS_CONFIG_KEY]},${entry}` : entry;
      return { ...config, [QFFL_CONFIG.q]: q, [QFFL_CONFIG.lipschitz]: L, [INITIAL_LOSS_CONFIG_KEY]: true, [MASKED_METRICS_CONFIG_KEY]: masked };
    },
    update(u: StageUpdate): void {
      const h = u.metrics[QFFL_H_METRIC];
      if (typeof h !== 'number' || !Number.isFinite(h) || h < 0) {
        throw new FederaError('malformed_message', `q-FedAvg: the update from client ${u.clientId} carries no valid ${QFFL_H_METRIC} (${String(h)}); q-FedAvg needs qfflClientLayer()`);
      }
      delete u.metrics[QFFL_H_METRIC];
      const tally = (u.tally ??= {});
      tally[QFFL_H_METRIC] = (tally[QFFL_H_METRIC] ?? 0) + h;
    },
    aggregate(a: RoundAggregate): void {
      const H = a.metricSums[QFFL_H_METRIC];
      if (typeof H !== 'number' || !(H > 0) || !Number.isFinite(H)) throw new FederaError('insufficient_results', `q-FedAvg: round ${a.round}: Σh = ${String(H)}; nothing to apply`);
      if (Math.abs(a.weight - a.contributors.length) > 1e-6 * Math.max(1, a.contributors.length)) {
        throw new FederaError('invalid_config', `q-FedAvg: round ${a.round}: the sum's total weight is ${a.weight} for ${a.contributors.length} client(s); q-FedAvg needs every client weighted 1`);
      }
      const update = new Float32Array(a.sum.length);
      for (let i = 0; i < update.length; i++) update[i] = a.sum[i] / H;
      a.update = update;
      a.stageMetrics.qffl_h_mean = H / a.contributors.length;
    },
  };
}

/**
 * The client half: on a train instruction carrying q-FFL's keys, replaces the update u by
 * F^q·L·u and reports h = q·F^(q−1)·L²·‖u‖² + L·F^q, F the `initial_loss` the runtime measured.
 */
export function qfflClientLayer(): ClientLayer {
  return (next, client) => async (message: MessageBase) => {
    if (message.type !== 'train') return next(message);
    const config = (message as TrainInstruction).config ?? {};
    if (config[QFFL_CONFIG.q] === undefined) return next(message);
    const where = `client ${client.clientId} q-FedAvg layer (round ${message.round})`;
    const q = config[QFFL_CONFIG.q];
    const L = config[QFFL_CONFIG.lipschitz];
    if (typeof q !== 'number' || !(q >= 0) || !Number.isFinite(q)) throw new FederaError('invalid_config', `${where}: config.${QFFL_CONFIG.q} must be a finite number ≥ 0, got ${JSON.stringify(q)}`);
    if (typeof L !== 'number' || !(L > 0) || !Number.isFinite(L)) throw new FederaError('invalid_config', `${where}: config.${QFFL_CONFIG.lipschitz} must be a finite number > 0, got ${JSON.stringify(L)}`);
    const reply = await next(message);
    if (reply.type !== 'train_result') return reply;
    const r = reply as TrainReply;
    const loss = r.metrics[INITIAL_LOSS_METRIC];
    if (typeof loss !== 'number' || !Number.isFinite(loss) || loss < 0) throw new FederaError('malformed_message', `${where}: the runtime reported no ${INITIAL_LOSS_METRIC} (got ${String(loss)})`);
    const F = Math.max(loss, MIN_LOSS);
    const Fq = F ** q;
    let norm2 = 0;
    const u = r.update;
    for (let i = 0; i < u.length; i++) norm2 += u[i] * u[i];
    const h = q * F ** (q - 1) * L * L * norm2 + L * Fq;
    const scale = Fq * L;
    for (let i = 0; i < u.length; i++) u[i] *= scale;
    return { ...r, metrics: { ...r.metrics, [QFFL_H_METRIC]: h } };
  };
}
