/** Builds a built-in strategy from its name and settings (used by config files and the CLI). */
import { FederaError } from '../core/errors.js';
import type { Strategy, StrategyOptions } from './strategy.js';
import { FedAvg } from './fedavg.js';
import { FedProx } from './fedprox.js';
import { FedAvgM } from './fedavgm.js';
import { FedAdam } from './fedadam.js';
import { FedYogi } from './fedyogi.js';
import { FedAdagrad } from './fedadagrad.js';

export const STRATEGY_NAMES = ['fedavg', 'fedprox', 'fedavgm', 'fedadam', 'fedyogi', 'fedadagrad', 'fedbuff', 'qffl'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export interface StrategySettings {
  name: StrategyName;
  /** FedProx proximal weight. */
  mu?: number;
  /** FedAvgM / FedOpt server learning rate. */
  serverLearningRate?: number;
  /** FedAvgM server momentum. */
  momentum?: number;
  beta1?: number;
  beta2?: number;
  tau?: number;
  /** FedAdam only: Adam's bias correction (true), or Flower's exponent ('flower'). */
  biasCorrection?: boolean | 'flower';
  /** FedAdam / FedYogi / FedAdagrad: v₋₁ = τ² (the paper) or 0 (Flower). */
  initialSecondMoment?: 'tau-squared' | 'zero';
  /** FedBuff (engine/fedbuff.ts): K, C and the staleness function; the workflow reads them. */
  bufferSize?: number;
  concurrency?: number;
  staleness?: 'constant' | 'polynomial' | 'hinge';
  stalenessExponent?: number;
  hingeStaleness?: number;
  maxStaleness?: number;
  /** q-FedAvg: q and the Lipschitz estimate L (aggregate/qffl.ts). */
  q?: number;
  lipschitz?: number;
}

/** q-FedAvg's server step: w + (−Σδ/Σh), the update its stage computes (aggregate/qffl.ts). */
class QfflServer extends FedAvg {
  override readonly name: string = 'qffl';
}

/**
 * FedBuff's server step: the buffer's mean (Σ s(τ)·Δ / K, engine/fedbuff.ts) applied with the
 * server learning rate η_g — FedAvgM with β = 0 unless a momentum is given.
 */
class FedBuffServer extends FedAvgM {
  override readonly name: string = 'fedbuff';
}

export function createStrategy(settings: StrategySettings, common: StrategyOptions = {}): Strategy {
  const s = settings;
  switch (s.name) {
    case 'fedavg':
      return new FedAvg(common);
    case 'fedprox':
      return new FedProx({ ...common, mu: s.mu ?? 0.01 });
    case 'fedavgm':
      return new FedAvgM({ ...common, serverLearningRate: s.serverLearningRate, momentum: s.momentum });
    case 'fedadam':
      return new FedAdam({ ...common, serverLearningRate: s.serverLearningRate, beta1: s.beta1, beta2: s.beta2, tau: s.tau, biasCorrection: s.biasCorrection, initialSecondMoment: s.initialSecondMoment });
    case 'fedyogi':
      return new FedYogi({ ...common, serverLearningRate: s.serverLearningRate, beta1: s.beta1, beta2: s.beta2, tau: s.tau, initialSecondMoment: s.initialSecondMoment });
    case 'qffl':
      return new QfflServer(common);
    case 'fedbuff':
      return new FedBuffServer({ ...common, serverLearningRate: s.serverLearningRate ?? 1, momentum: s.momentum ?? 0 });
    case 'fedadagrad':
      return new FedAdagrad({ ...common, serverLearningRate: s.serverLearningRate, beta1: s.beta1, tau: s.tau, initialSecondMoment: s.initialSecondMoment });
    default:
      throw new FederaError('invalid_config', `strategy.name must be one of ${STRATEGY_NAMES.join(', ')}; got "${String((s as { name: unknown }).name)}"`);
  }
}
