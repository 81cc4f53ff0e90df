/** FedAdagrad (Reddi et al. 2021): v ← v + Δ². */
import { FedOpt, type FedOptOptions } from './fedopt.js';

export class FedAdagrad extends FedOpt {
  override readonly name: string = 'fedadagrad';

  constructor(options: FedOptOptions = {}) {
    super(options);
  }

  protected secondMoment(v: number, delta2: number): number {
    return v + delta2;
  }
}
