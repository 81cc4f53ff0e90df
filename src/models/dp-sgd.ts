/**
 * Sample-level DP-SGD (Abadi et al. 2016) for the TF.js trainer.
 *
 * Per batch: each example's gradient (over all trainable weights) is clipped to L2 norm C, the
 * clipped gradients are summed, N(0, σ²C²) is added to every coordinate of the sum, and the
 * result is divided by the configured batch size B (a fixed denominator, also for the last,
 * shorter batch) before the SGD step. The FedProx term, which does not depend on the data, is
 * added after the noise.
 *
 * Per-example gradients, two ways (TF.js has no vectorising map, `vmap`):
 * - **vectorised**, for models that are a stack of Dense layers (linear/ReLU) ending in softmax
 *   (the zoo's logreg and 2NN): one batched forward pass and a hand-written batched backward pass
 *   give each example's error signal δᵢ at every layer; example i's gradient for a dense layer is
 *   the outer product aᵢᵀδᵢ, so its squared norm is (‖aᵢ‖² + 1)·‖δᵢ‖² (the +1 for the bias) and
 *   the clipped sum is Aᵀ·diag(cᵢ)·Δ — no per-example gradient is ever materialised (the
 *   "ghost norm" of Goodfellow 2015). Cost: about one plain training step.
 * - **microbatches of one**, for any other model (or with `perExampleGradients: 'microbatch'`):
 *   one forward and backward pass per example, about B× the passes of plain training.
 * Both give the same step up to float rounding (tested). `bench/privacy-dpsgd.ts` measures the
 * cost of each against plain SGD (docs/privacy.md).
 *
 * Batches are formed by shuffling, not Poisson sampling; the accountant's q = B/n is the usual
 * approximation (as in TensorFlow Privacy's DP-SGD tutorials).
 */
import * as tf from '@tensorflow/tfjs';
import { FederaError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { DpSgdOptions, FitOptions, FitOutcome, EvaluateOutcome, Trainer } from '../client/trainer.js';
import type { Dataset } from '../data/dataset.js';
import type { ParamLayout } from '../core/params.js';
import { SecureGaussian, SeededGaussian, type GaussianSource } from '../privacy/noise.js';
import { computeEpsilon, type AccountantKind } from '../privacy/accountant/calibrate.js';

export type { DpSgdOptions };

/** Throws `invalid_argument` (naming the field) unless the options are usable. */
export function checkDpSgdOptions(o: DpSgdOptions): void {
  const fail = (field: string, msg: string) => new FederaError('invalid_argument', `fit: dpSgd.${field} ${msg}`, { field: `dpSgd.${field}` });
  if (typeof o !== 'object' || o === null) throw fail('', 'must be an object');
  if (typeof o.l2NormClip !== 'number' || !(o.l2NormClip > 0) || !Number.isFinite(o.l2NormClip)) throw fail('l2NormClip', `must be a finite number > 0, got ${String(o.l2NormClip)}`);
  if (typeof o.noiseMultiplier !== 'number' || !(o.noiseMultiplier >= 0) || !Number.isFinite(o.noiseMultiplier)) {
    throw fail('noiseMultiplier', `must be a finite number ≥ 0, got ${String(o.noiseMultiplier)}`);
  }
  if (o.noise !== undefined && o.noise !== 'secure' && o.noise !== 'seeded') throw fail('noise', `must be "secure" or "seeded", got ${JSON.stringify(o.noise)}`);
  if (o.perExampleGradients !== undefined && o.perExampleGradients !== 'auto' && o.perExampleGradients !== 'microbatch') {
    throw fail('perExampleGradients', `must be "auto" or "microbatch", got ${JSON.stringify(o.perExampleGradients)}`);
  }
}

/** One Dense layer of a stack: act(x·kernel + bias). */
export interface DenseLayer {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly relu: boolean;
}

const stacks = new WeakMap<tf.LayersModel, readonly DenseLayer[] | null>();

/**
 * The model as a stack of Dense layers (linear or ReLU, the last linear) followed by a softmax
 * Activation, or null when it is anything else (then DP-SGD uses microbatches of one).
 */
export function denseStack(model: tf.LayersModel): readonly DenseLayer[] | null {
  const known = stacks.get(model);
  if (known !== undefined) return known;
  let result: DenseLayer[] | null = null;
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const last = layers[layers.length - 1];
  const activation = (l: tf.layers.Layer) => (l.getConfig() as { activation?: unknown }).activation;
  if (model instanceof tf.Sequential && last?.getClassName() === 'Activation' && activation(last) === 'softmax' && layers.length >= 2) {
    const body = layers.slice(0, -1);
    const ok = body.every((l, i) => {
      const a = activation(l);
      const ws = l.weights;
      return l.getClassName() === 'Dense' && (a === 'linear' || (a === 'relu' && i < body.length - 1)) && ws.length >= 1 && ws.length <= 2 && ws.every((w) => w.trainable) && ws[0].shape.length === 2;
    });
    if (ok && model.inputs[0].shape.length === 2) {
      result = body.map((l) => ({ kernel: l.weights[0].read() as tf.Variable, bias: l.weights.length === 2 ? (l.weights[1].read() as tf.Variable) : null, relu: activation(l) === 'relu' }));
    }
  }
  stacks.set(model, result);
  return result;
}

/** a·b, arranged for the wasm backend with the per-batch operand on the right (see tfjs-trainer.ts). */
function matMulBatchRight(a: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return tf.getBackend() === 'wasm' ? tf.transpose(tf.matMul(tf.transpose(w), tf.transpose(a))) : tf.matMul(a, w);
}

/**
 * Clipped per-example gradient sums of a dense stack for a batch, vectorised: returns the sums in
 * the order of `trainable`, and [lossSum, correct] when `record`.
 */
function denseClippedSums(layers: readonly DenseLayer[], trainable: readonly tf.Variable[], x: tf.Tensor2D, y: tf.Tensor1D, numClasses: number, clip: number, record: boolean): { sums: tf.Tensor[]; stats?: tf.Tensor } {
  return tf.tidy(() => {
    const inputs: tf.Tensor2D[] = [];
    const pre: tf.Tensor2D[] = [];
    let h = x;
    for (const l of layers) {
      inputs.push(h);
      let z = matMulBatchRight(h, l.kernel as tf.Tensor2D);
      if (l.bias) z = tf.add(z, l.bias);
      pre.push(z);
      h = l.relu ? tf.relu(z) : z;
    }
    const logProbs = tf.logSoftmax(h);
    const oneHot = tf.oneHot(y, numClasses).toFloat() as tf.Tensor2D;
    // d(cross-entropy of example i)/d(logits of example i) = softmax − one-hot, row by row.
    const deltas: tf.Tensor2D[] = new Array(layers.length);
    deltas[layers.length - 1] = tf.sub(tf.exp(logProbs), oneHot);
    for (let l = layers.length - 1; l >= 1; l--) {
      // δ_{l−1} = (δ_l·W_lᵀ) ⊙ relu'(z_{l−1}); on wasm as (W_l·δ_lᵀ)ᵀ.
      const back: tf.Tensor2D =
        tf.getBackend() === 'wasm' ? tf.transpose(tf.matMul(layers[l].kernel as tf.Tensor2D, tf.transpose(deltas[l]))) : tf.matMul(deltas[l], layers[l].kernel as tf.Tensor2D, false, true);
      deltas[l - 1] = layers[l - 1].relu ? (tf.mul(back, tf.step(pre[l - 1])) as tf.Tensor2D) : back;
    }
    // ‖g_i‖² = Σ_l (‖a_{l,i}‖² + [bias]) · ‖δ_{l,i}‖²
    let sq: tf.Tensor = tf.zeros([x.shape[0]]);
    layers.forEach((l, k) => {
      const a2 = tf.sum(tf.square(inputs[k]), 1);
      sq = tf.add(sq, tf.mul(l.bias ? tf.add(a2, 1) : a2, tf.sum(tf.square(deltas[k]), 1)));
    });
    const factor = tf.minimum(1, tf.div(clip, tf.maximum(tf.sqrt(sq), 1e-30))).expandDims(1);
    const byVariable = new Map<tf.Variable, tf.Tensor>();
    layers.forEach((l, k) => {
      const scaled = tf.mul(deltas[k], factor);
      byVariable.set(l.kernel, tf.matMul(tf.transpose(inputs[k]), scaled));
      if (l.bias) byVariable.set(l.bias, tf.sum(scaled, 0));
    });
    const sums = trainable.map((v) => {
      const g = byVariable.get(v);
      if (!g) throw new FederaError('internal', `DP-SGD: no gradient for weight ${v.name}`);
      return g;
    });
    if (!record) return { sums };
    const ceSum = tf.neg(tf.sum(tf.mul(oneHot, logProbs)));
    const correct = tf.sum(tf.equal(tf.argMax(logProbs, 1), y).toFloat());
    return { sums, stats: tf.stack([ceSum, correct]) };
  });
}

/** The noise source of one fit. */
export function dpSgdNoiseSource(o: DpSgdOptions, seed: number | string): GaussianSource {
  return o.noise === 'seeded' ? new SeededGaussian(new Rng(seed).stream('dp-sgd-noise')) : new SecureGaussian();
}

export interface DpSgdBatch {
  /** The model (its dense stack, if it is one, is trained with vectorised per-example gradients). */
  readonly model: tf.LayersModel;
  readonly numClasses: number;
  readonly trainable: readonly tf.Variable[];
  /** Summed cross-entropy and correct count of a batch (here: of one example). */
  readonly loss: (x: tf.Tensor, y: tf.Tensor1D) => { ceSum: tf.Scalar; correct: tf.Scalar };
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly inputShape: readonly number[];
  /** The fixed denominator: the configured batch size. */
  readonly batchSize: number;
  readonly options: DpSgdOptions;
  readonly source: GaussianSource;
  readonly optimizer: tf.Optimizer;
  /** Gradient of the data-independent part of the loss (FedProx), added after the noise. */
  readonly extraGradients?: () => tf.Tensor[];
  readonly record: boolean;
}

/** One DP-SGD step; returns [lossSum, correct] of the batch when `record`. */
export function dpSgdStep(b: DpSgdBatch): tf.Tensor | undefined {
  const n = b.y.length;
  const f = b.x.length / n;
  const clip = b.options.l2NormClip;
  const dense = b.options.perExampleGradients === 'microbatch' || b.inputShape.length !== 1 ? null : denseStack(b.model);
  let sums: tf.Tensor[] = [];
  let stats: tf.Tensor | undefined;
  try {
    if (dense) {
      const x = tf.tensor2d(b.x, [n, f]);
      const y = tf.tensor1d(b.y, 'int32');
      try {
        ({ sums, stats } = denseClippedSums(dense, b.trainable, x, y, b.numClasses, clip, b.record));
      } finally {
        x.dispose();
        y.dispose();
      }
    } else {
      sums = b.trainable.map((v) => tf.zerosLike(v));
      stats = b.record ? tf.zeros([2]) : undefined;
    }
    // Microbatches of one (no-op after the vectorised path, whose loop bound is 0).
    for (let i = 0; i < (dense ? 0 : n); i++) {
      const next = tf.tidy(() => {
        const x = tf.tensor(b.x.subarray(i * f, (i + 1) * f), [1, ...b.inputShape], 'float32');
        const y = tf.tensor1d([b.y[i]], 'int32');
        let st: tf.Tensor | undefined;
        const { grads } = tf.variableGrads(() => {
          const { ceSum, correct } = b.loss(x, y);
          // Kept: variableGrads disposes everything f creates except its result.
          if (b.record) st = tf.keep(tf.stack([ceSum, correct]));
          return ceSum;
        }, b.trainable as tf.Variable[]);
        const g = b.trainable.map((v) => grads[v.name]);
        const norm = tf.sqrt(tf.addN(g.map((t) => tf.sum(tf.square(t)))));
        // min(1, C/‖g‖): the example's whole gradient is scaled to norm ≤ C.
        const factor = tf.minimum(1, tf.div(clip, tf.maximum(norm, 1e-30)));
        const acc = g.map((t, j) => tf.add(sums[j], tf.mul(t, factor)));
        const total = b.record ? tf.add(stats!, st!) : undefined;
        st?.dispose();
        return { acc, st: total };
      });
      tf.dispose(sums);
      sums = next.acc;
      if (next.st) {
        stats!.dispose();
        stats = next.st;
      }
    }
    const std = b.options.noiseMultiplier * clip;
    const extra = b.extraGradients?.();
    const gradients = tf.tidy(() =>
      b.trainable.map((v, j) => {
        let g = sums[j];
        if (std > 0) {
          const noise = new Float32Array(v.size);
          b.source.addTo(noise, std);
          g = tf.add(g, tf.tensor(noise, v.shape, 'float32'));
        }
        g = tf.div(g, b.batchSize);
        if (extra) g = tf.add(g, extra[j]);
        return { name: v.name, tensor: g };
      }),
    );
    if (extra) tf.dispose(extra);
    b.optimizer.applyGradients(gradients);
    tf.dispose(gradients.map((g) => g.tensor));
    const out = stats;
    stats = undefined;
    return out;
  } finally {
    tf.dispose(sums);
    stats?.dispose();
  }
}

export interface DpSgdTrainerOptions extends DpSgdOptions {}

/**
 * Wraps a trainer that supports `FitOptions.dpSgd` (TfjsTrainer does) so that every `fit` —
 * including those the client runtime makes from a server's train config — runs DP-SGD with these
 * settings. Everything else is delegated.
 */
export class DpSgdTrainer implements Trainer {
  readonly layout: ParamLayout;

  constructor(
    readonly inner: Trainer,
    private readonly dp: DpSgdTrainerOptions,
  ) {
    checkDpSgdOptions(dp);
    this.layout = inner.layout;
  }

  getParameters(out?: Float32Array): Float32Array {
    return this.inner.getParameters(out);
  }

  setParameters(params: Float32Array): void {
    this.inner.setParameters(params);
  }

  fit(data: Dataset, options: FitOptions): Promise<FitOutcome> {
    return this.inner.fit(data, { ...options, dpSgd: { ...this.dp } });
  }

  evaluate(data: Dataset, options?: { batchSize?: number }): Promise<EvaluateOutcome> {
    return this.inner.evaluate(data, options);
  }

  dispose(): void {
    this.inner.dispose();
  }
}

export interface DpSgdAccounting {
  /** Examples in the client's training set. */
  datasetSize: number;
  batchSize: number;
  /** Local epochs per round. */
  epochs: number;
  noiseMultiplier: number;
  /** Rounds the client takes part in (default 1). */
  rounds?: number;
  delta: number;
  accountant?: AccountantKind;
}

/**
 * Sample-level ε of a client's local DP-SGD: q = B/n, ⌈n/B⌉·epochs steps per round it takes part
 * in (shuffled batches treated as Poisson sampling, the usual approximation).
 */
export function dpSgdEpsilon(a: DpSgdAccounting): number {
  if (!(Number.isInteger(a.datasetSize) && a.datasetSize >= 1)) throw new FederaError('invalid_config', `datasetSize must be an integer ≥ 1, got ${a.datasetSize}`);
  if (!(Number.isInteger(a.batchSize) && a.batchSize >= 1)) throw new FederaError('invalid_config', `batchSize must be an integer ≥ 1, got ${a.batchSize}`);
  if (!(Number.isInteger(a.epochs) && a.epochs >= 1)) throw new FederaError('invalid_config', `epochs must be an integer ≥ 1, got ${a.epochs}`);
  const q = Math.min(1, a.batchSize / a.datasetSize);
  const steps = Math.ceil(a.datasetSize / a.batchSize) * a.epochs * (a.rounds ?? 1);
  return computeEpsilon({ q, sigma: a.noiseMultiplier, steps, delta: a.delta, accountant: a.accountant });
}
