// A tiny deterministic Trainer for engine tests: fit moves every parameter a fraction
// `learningRate` of the way toward the client's `target` value, once per epoch.
import { ParamLayout } from '../../src/core/params.js';
import type { Trainer, FitOptions, FitOutcome, EvaluateOutcome } from '../../src/client/trainer.js';
import type { Dataset } from '../../src/data/dataset.js';

/**
 * Base of the tests' trainers: one flat parameter vector `w` of `size` values; subclasses write
 * `fit` and `evaluate`.
 */
export abstract class VectorTrainer implements Trainer {
  readonly layout: ParamLayout;
  protected w: Float32Array;
  disposed = false;

  constructor(size: number) {
    this.layout = ParamLayout.fromShapes([{ name: 'w', shape: [size] }]);
    this.w = new Float32Array(size);
  }
  getParameters(out?: Float32Array): Float32Array {
    if (!out) return this.w.slice();
    out.set(this.w);
    return out;
  }
  setParameters(p: Float32Array): void {
    this.w = p.slice();
  }
  abstract fit(data: Dataset, o: FitOptions): Promise<FitOutcome>;
  abstract evaluate(data: Dataset): Promise<EvaluateOutcome>;
  dispose(): void {
    this.disposed = true;
  }
}

export class FakeTrainer extends VectorTrainer {
  fits = 0;

  constructor(size: number, private readonly target: number | (() => number), private readonly behaviour: (w: Float32Array) => void = () => {}) {
    super(size);
  }
  async fit(data: Dataset, o: FitOptions): Promise<FitOutcome> {
    this.fits++;
    const t = typeof this.target === 'function' ? this.target() : this.target;
    for (let e = 0; e < o.epochs; e++) for (let i = 0; i < this.w.length; i++) this.w[i] += o.learningRate * (t - this.w[i]);
    this.behaviour(this.w);
    let loss = 0;
    for (let i = 0; i < this.w.length; i++) loss += (t - this.w[i]) ** 2;
    return { numExamples: data.y.length, metrics: { loss } };
  }
  async evaluate(data: Dataset): Promise<EvaluateOutcome> {
    const mean = this.w.reduce((a, b) => a + b, 0) / Math.max(1, this.w.length);
    return { loss: Math.abs(mean), numExamples: data.y.length, metrics: { accuracy: 1 / (1 + Math.abs(mean)) } };
  }
}

/** A dataset of n examples with one feature (only its size matters to FakeTrainer). */
export function sizedDataset(n: number): Dataset {
  return { x: new Float32Array(n), y: new Int32Array(n), numFeatures: 1, numClasses: 1 };
}
