/** FedAdam (Reddi et al. 2021): v ← β2·v + (1 − β2)·Δ². */
import { FederaError } from '../core/errors.js';
import { FedOpt, type FedOptOptions } from './fedopt.js';

export interface FedAdamOptions extends FedOptOptions {
  /**
   * Adam's bias correction, which Reddi et al. do not use (default false); `'flower'`: Flower's
   * FedAdam exponent, t = step + 1 (so its numbers can be reproduced).
   */
  biasCorrection?: boolean | 'flower';
}

export class FedAdam extends FedOpt {
  override readonly name: string = 'fedadam';
  readonly biasCorrection: boolean | 'flower';

  constructor(options: FedAdamOptions = {}) {
    super(options);
    const b = options.biasCorrection ?? false;
    if (b !== true && b !== false && b !== 'flower') throw new FederaError('invalid_config', `biasCorrection must be true, false or "flower", got ${JSON.stringify(b)}`);
    this.biasCorrection = b;
  }

  protected secondMoment(v: number, delta2: number): number {
    return this.beta2 * v + (1 - this.beta2) * delta2;
  }

  protected override stepScale(t: number): number {
    if (!this.biasCorrection) return 1;
    if (this.biasCorrection === 'flower') t += 1;
    return Math.sqrt(1 - this.beta2 ** t) / (1 - this.beta1 ** t);
  }
}
