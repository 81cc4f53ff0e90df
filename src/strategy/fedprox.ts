/**
 * FedProx (Li et al. 2020): FedAvg aggregation; clients add mu/2·‖w − w_global‖² to their local loss.
 * The server's part is to send mu with every train instruction, as `proximalMu`.
 */
import type { Config } from '../core/messages.js';
import type { Params } from '../core/params.js';
import { FedAvg, type FedAvgOptions } from './fedavg.js';
import { checkPositive } from './strategy.js';

export interface FedProxOptions extends FedAvgOptions {
  /** Proximal term weight; Li et al. tune it in {0.001, 0.01, 0.1, 1}. */
  mu: number;
}

export class FedProx extends FedAvg {
  override readonly name: string = 'fedprox';
  readonly mu: number;

  constructor(options: FedProxOptions) {
    super(options);
    this.mu = checkPositive('fedprox.mu', options.mu, { allowZero: true });
  }

  override configureTrain(round: number, global: Params): Config {
    return { ...super.configureTrain(round, global), proximalMu: this.mu };
  }
}
