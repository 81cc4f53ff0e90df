/**
 * FedAvgM (Hsu et al. 2019), FedAvg with server momentum: m ← β·m + Δ; x ← x + η·m, Δ being the
 * example-weighted mean update. With β = 0 and η = 1 it is FedAvg.
 */
import type { Params } from '../core/params.js';
import type { WeightedSum } from '../core/kernels.js';
import { FederaError } from '../core/errors.js';
import { FedAvg, type FedAvgOptions } from './fedavg.js';
import { checkPositive, checkUnitInterval, type StrategyState } from './strategy.js';

export interface FedAvgMOptions extends FedAvgOptions {
  /** Server learning rate η (default 1). */
  serverLearningRate?: number;
  /** Server momentum β (default 0.9). */
  momentum?: number;
}

export class FedAvgM extends FedAvg {
  override readonly name: string = 'fedavgm';
  readonly serverLearningRate: number;
  readonly momentum: number;
  private m: Float32Array | undefined;

  constructor(options: FedAvgMOptions = {}) {
    super(options);
    this.serverLearningRate = checkPositive('serverLearningRate', options.serverLearningRate ?? 1);
    this.momentum = checkUnitInterval('momentum', options.momentum ?? 0.9);
  }

  protected override applyUpdate(global: Params, sum: WeightedSum): Float32Array {
    const delta = sum.mean();
    if (!this.m || this.m.length !== delta.length) this.m = new Float32Array(delta.length);
    const m = this.m, x = global.data, beta = this.momentum, eta = this.serverLearningRate;
    const out = new Float32Array(delta.length);
    for (let i = 0; i < delta.length; i++) {
      const mi = beta * m[i] + delta[i];
      m[i] = mi;
      out[i] = x[i] + eta * mi;
    }
    return out;
  }

  getState(): StrategyState {
    return this.m ? { m: this.m.slice() } : {};
  }

  setState(state: StrategyState): void {
    if (state.m !== undefined && !(state.m instanceof Float32Array)) throw new FederaError('invalid_argument', 'fedavgm: state.m must be a Float32Array');
    this.m = state.m?.slice();
  }
}
