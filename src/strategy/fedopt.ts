/**
 * The adaptive server optimizers of Reddi et al. 2021 ("Adaptive Federated Optimization",
 * Algorithm 2). Each round the pseudo-gradient Δ is the example-weighted mean client update; then
 *
 *   m ← β1·m + (1 − β1)·Δ
 *   v ← update rule of FedAdagrad / FedAdam / FedYogi
 *   x ← x + η · m / (√v + τ)
 *
 * with m₋₁ = 0 and v₋₁ = τ² (the paper requires v₋₁ ≥ τ²; `initialSecondMoment: 'zero'` starts
 * from 0 as Flower does). Like the paper, no bias correction is applied unless `biasCorrection`
 * (FedAdam only) scales η by √(1−β2ᵗ)/(1−β1ᵗ) — with t the step, or t = step + 1 as Flower's
 * `FedAdam` computes it (`biasCorrection: 'flower'`). docs/strategies.md compares the defaults.
 */
import type { Params } from '../core/params.js';
import type { WeightedSum } from '../core/kernels.js';
import { FederaError } from '../core/errors.js';
import { FedAvg, type FedAvgOptions } from './fedavg.js';
import { checkPositive, checkUnitInterval, type StrategyState } from './strategy.js';

export interface FedOptOptions extends FedAvgOptions {
  /** Server learning rate η (default 0.1). */
  serverLearningRate?: number;
  /** β1, momentum of the first moment (default 0.9). */
  beta1?: number;
  /** β2, decay of the second moment for FedAdam/FedYogi (default 0.99). */
  beta2?: number;
  /** τ, adaptivity: added to √v (default 1e-9). */
  tau?: number;
  /** v₋₁: τ² as in Reddi et al. (default) or 0 as in Flower. */
  initialSecondMoment?: 'tau-squared' | 'zero';
}

export abstract class FedOpt extends FedAvg {
  readonly serverLearningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly tau: number;
  readonly initialSecondMoment: 'tau-squared' | 'zero';
  protected m: Float32Array | undefined;
  protected v: Float32Array | undefined;
  /** Number of server steps taken (t in the bias correction). */
  protected steps = 0;

  constructor(options: FedOptOptions = {}) {
    super(options);
    this.serverLearningRate = checkPositive('serverLearningRate', options.serverLearningRate ?? 0.1);
    this.beta1 = checkUnitInterval('beta1', options.beta1 ?? 0.9);
    this.beta2 = checkUnitInterval('beta2', options.beta2 ?? 0.99);
    this.tau = checkPositive('tau', options.tau ?? 1e-9);
    const v0 = options.initialSecondMoment ?? 'tau-squared';
    if (v0 !== 'tau-squared' && v0 !== 'zero') throw new FederaError('invalid_config', `initialSecondMoment must be "tau-squared" or "zero", got ${JSON.stringify(v0)}`);
    this.initialSecondMoment = v0;
  }

  /** v ← rule(v, Δ²), element-wise. */
  protected abstract secondMoment(v: number, delta2: number): number;

  /** Multiplier on η for step t (1-based); 1 unless a subclass corrects bias. */
  protected stepScale(_t: number): number {
    return 1;
  }

  protected override applyUpdate(global: Params, sum: WeightedSum): Float32Array {
    const delta = sum.mean();
    const d = delta.length;
    if (!this.m || this.m.length !== d) {
      this.m = new Float32Array(d);
      this.v = new Float32Array(d).fill(this.initialSecondMoment === 'zero' ? 0 : this.tau * this.tau);
    }
    const m = this.m, v = this.v!, x = global.data;
    const b1 = this.beta1, tau = this.tau;
    this.steps++;
    const eta = this.serverLearningRate * this.stepScale(this.steps);
    const out = new Float32Array(d);
    for (let i = 0; i < d; i++) {
      const g = delta[i];
      const mi = b1 * m[i] + (1 - b1) * g;
      const vi = this.secondMoment(v[i], g * g);
      m[i] = mi;
      v[i] = vi;
      out[i] = x[i] + (eta * mi) / (Math.sqrt(vi) + tau);
    }
    return out;
  }

  getState(): StrategyState {
    const state: StrategyState = { steps: this.steps };
    if (this.m) state.m = this.m.slice();
    if (this.v) state.v = this.v.slice();
    return state;
  }

  setState(state: StrategyState): void {
    const { m, v, steps } = state;
    // m and v are used together (applyUpdate only re-creates them when m is missing), and steps
    // feeds the bias correction: a NaN or fractional step count would silently corrupt the model.
    if (
      typeof steps !== 'number' || !Number.isInteger(steps) || steps < 0 ||
      (m !== undefined && !(m instanceof Float32Array)) ||
      (v !== undefined && !(v instanceof Float32Array)) ||
      (m === undefined) !== (v === undefined) ||
      (m !== undefined && v !== undefined && m.length !== v.length)
    ) {
      throw new FederaError('invalid_argument', `${this.name}: state must hold steps (an integer ≥ 0) and either both or neither of m, v (Float32Arrays of equal length)`);
    }
    this.steps = steps;
    this.m = m?.slice();
    this.v = v?.slice();
  }
}
