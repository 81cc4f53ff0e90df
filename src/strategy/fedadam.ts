/** FedAdam (Reddi et al. 2021): v ← β2·v + (1 − β2)·Δ². */
import { FedOpt, type FedOptOptions } from './fedopt.js';

export interface FedAdamOptions extends FedOptOptions {
  /** Adam's bias correction, which Reddi et al. do not use (default false). */
  biasCorrection?: boolean;
}

export class FedAdam extends FedOpt {
  override readonly name: string = 'fedadam';
  readonly biasCorrection: boolean;

  constructor(options: FedAdamOptions = {}) {
    super(options);
    this.biasCorrection = options.biasCorrection ?? false;
  }

  protected secondMoment(v: number, delta2: number): number {
    return this.beta2 * v + (1 - this.beta2) * delta2;
  }

  protected override stepScale(t: number): number {
    if (!this.biasCorrection) return 1;
    return Math.sqrt(1 - this.beta2 ** t) / (1 - this.beta1 ** t);
  }
}
