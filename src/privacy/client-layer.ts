/**
 * The client half of DP-FedAvg: a {@link ClientLayer} that clips the update the trainer produced
 * to the round's clip norm, reports whether it had to (for adaptive clipping), and, in the
 * distributed and local modes, adds this client's Gaussian noise before the update leaves.
 *
 * It acts only on train instructions whose config carries `dp.clipNorm` (sent by
 * {@link DpFedAvg}); everything else passes through untouched.
 */
import type { MessageBase, TrainInstruction, TrainReply } from '../core/messages.js';
import { FederaError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { ClientLayer } from '../client/runtime.js';
import { clipByL2Norm } from './clipping.js';
import { SecureGaussian, SeededGaussian, addGaussianNoise, type GaussianSource } from './noise.js';
import { DP_CONFIG, DP_METRICS } from './protocol.js';

export interface DpClientLayerOptions {
  /**
   * Where the client's noise comes from: `'secure'` (default) uses the platform CSPRNG;
   * `'seeded'` derives a seeded stream from the instruction's seed, for reproducible simulations.
   */
  noise?: 'secure' | 'seeded';
}

function readNumber(config: TrainInstruction['config'], key: string, where: string, required: boolean): number {
  const v = config[key];
  if (v === undefined && !required) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new FederaError('invalid_config', `${where}: config.${key} must be a finite number ≥ 0, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function dpClientLayer(options: DpClientLayerOptions = {}): ClientLayer {
  const noiseKind = options.noise ?? 'secure';
  if (noiseKind !== 'secure' && noiseKind !== 'seeded') throw new FederaError('invalid_config', `dpClientLayer: noise must be "secure" or "seeded", got ${JSON.stringify(noiseKind)}`);
  return (next, client) => async (message: MessageBase) => {
    if (message.type !== 'train') return next(message);
    const config = (message as TrainInstruction).config ?? {};
    if (config[DP_CONFIG.clipNorm] === undefined) return next(message);
    const where = `client ${client.clientId} DP layer (round ${message.round})`;
    const clipNorm = readNumber(config, DP_CONFIG.clipNorm, where, true);
    if (!(clipNorm > 0)) throw new FederaError('invalid_config', `${where}: config.${DP_CONFIG.clipNorm} must be > 0, got ${clipNorm}`);
    const noiseStd = readNumber(config, DP_CONFIG.noiseStd, where, false);
    const countNoiseStd = readNumber(config, DP_CONFIG.countNoiseStd, where, false);

    const reply = await next(message);
    if (reply.type !== 'train_result') return reply;
    const r = reply as TrainReply;
    const { clipped } = clipByL2Norm(r.update, clipNorm);
    let unclipped = (clipped ? 0 : 1) - 0.5;
    if (noiseStd > 0 || countNoiseStd > 0) {
      const source: GaussianSource =
        noiseKind === 'secure' ? new SecureGaussian() : new SeededGaussian(new Rng(`dp-noise/${String(config.seed ?? message.round)}/${client.clientId}`));
      addGaussianNoise(r.update, noiseStd, source);
      if (countNoiseStd > 0) unclipped += countNoiseStd * source.normal();
    }
    const out: TrainReply = {
      ...r,
      metrics: { ...r.metrics, [DP_METRICS.unclippedCentered]: unclipped, [DP_METRICS.noised]: noiseStd > 0 ? 1 : 0 },
    };
    return out;
  };
}
