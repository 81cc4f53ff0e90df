/** FedYogi (Reddi et al. 2021): v ← v − (1 − β2)·Δ²·sign(v − Δ²). */
import { FedOpt, type FedOptOptions } from './fedopt.js';

export class FedYogi extends FedOpt {
  override readonly name: string = 'fedyogi';

  constructor(options: FedOptOptions = {}) {
    super(options);
  }

  protected secondMoment(v: number, delta2: number): number {
    return v - (1 - this.beta2) * delta2 * Math.sign(v - delta2);
  }
}
