/**
 * A {@link Trainer} backed by a TensorFlow.js layers model.
 *
 * Training is a hand-written SGD loop rather than `model.fit`, because federa needs things
 * `model.fit` does not give: shuffling driven by federa's seeded {@link Rng} (bitwise-reproducible
 * runs), the FedProx proximal term, exact control over the last partial batch, and no tensors left
 * behind between rounds.
 */
import * as tf from '@tensorflow/tfjs';
import { FederaError } from '../core/errors.js';
import { ParamLayout } from '../core/params.js';
import { Rng } from '../core/rng.js';
import { numTargetsOf, type Dataset, type Task } from '../data/dataset.js';
import { aucRoc, rSquaredFromSse } from './metrics.js';
import type { EvaluateOutcome, FitOptions, FitOutcome, Trainer } from '../client/trainer.js';
import { initBackend, type BackendName } from './backend.js';
import { createModel, initParameters, type ModelName } from './zoo.js';
import { checkDpSgdOptions, dpSgdNoiseSource, dpSgdStep } from './dp-sgd.js';
import { softmaxSgdScratch, softmaxSgdStep, transpose } from './softmax-sgd.js';

/** Floor applied to probabilities before the log when a model only exposes softmax outputs. */
const PROB_EPSILON = 1e-7;
/** Longest stretch of synchronous work before fit/evaluate yield to the event loop. */
const YIELD_EVERY_MS = 50;

type OutputKind = 'logits' | 'probs';

/** Forward function of one dense layer with a hand-written gradient (see {@link makeDenseOp}). */
type DenseOp = (x: tf.Tensor2D) => tf.Tensor2D;

/**
 * A dense layer `act(x·W + b)` as one custom-gradient op, for training.
 *
 * Why: on the wasm backend a matrix product packs its right operand for XNNPACK and caches the
 * packing per tensor. Weights change at every SGD step, so `x·W` repacks the whole kernel each
 * step, and tfjs's own MatMul gradient uses transposed products (`xᵀ·dy`, `dy·Wᵀ`) that wasm runs
 * with a slow generic loop. Measured on the 2NN at batch 10: `xᵀ·dy` 2.6 ms vs 0.2 ms with an
 * explicit transpose; `x·W` after an update 1.6–5 ms vs ~0.7 ms as `(Wᵀ·xᵀ)ᵀ`. So on wasm every
 * product here is arranged to have the small, per-batch matrix on the right. Other backends get
 * the plain forms. The first layer skips the gradient with respect to its input (the data).
 */
function makeDenseOp(kernel: tf.Variable, bias: tf.Variable | null, relu: boolean, needInputGrad: boolean): DenseOp {
  const activation = relu ? 'relu' : 'linear';
  const op = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const x = args[0] as tf.Tensor2D;
    const w = args[1] as tf.Tensor2D;
    const b = bias === null ? undefined : (args[2] as tf.Tensor1D);
    const smallOnRight = tf.getBackend() === 'wasm';
    let z: tf.Tensor2D;
    if (smallOnRight) {
      // Bias and activation after the transpose: wasm's fused kernel takes the bias per output
      // column and would misread a [units, 1] bias.
      z = tf.transpose(tf.matMul(tf.transpose(w), tf.transpose(x)));
      if (b !== undefined) z = tf.add(z, b) as tf.Tensor2D;
      if (relu) z = tf.relu(z);
    } else {
      z = tf.fused.matMul({ a: x, b: w, bias: b, activation }) as tf.Tensor2D;
    }
    save([x, w, z]);
    return {
      value: z,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [sx, sw, sz] = saved as tf.Tensor2D[];
        const dz: tf.Tensor2D = relu ? tf.mul(dy, tf.step(sz)) : dy;
        const dw = tf.matMul(tf.transpose(sx), dz);
        const dx = !needInputGrad
          ? tf.zerosLike(sx)
          : smallOnRight
            ? tf.transpose(tf.matMul(sw, tf.transpose(dz)))
            : tf.matMul(dz, sw, false, true);
        return bias === null ? [dx, dw] : [dx, dw, tf.sum(dz, 0)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return bias === null ? (x) => op(x, kernel) as tf.Tensor2D : (x) => op(x, kernel, bias) as tf.Tensor2D;
}

function invalid(field: string, message: string): FederaError {
  return new FederaError('invalid_argument', message, { field });
}

/**
 * Whether logistic regression trains faster on flat arrays (softmax-sgd.ts) than through TF.js:
 * measured per CPU second on 784→10, the flat loops win at small batches (TF.js's per-step cost
 * dominates: B = 10, 72–78k vs 16k examples/s on MNIST, 17–21k vs 14k on dense random data) and
 * on sparse data at any batch (B = 50 on MNIST: 58–77k vs 54k); TF.js's matmul wins on dense data
 * at large batches (B = 50: 49k vs 17k). Density is estimated from up to 4,096 evenly spread values.
 */
function preferFlatSoftmax(data: Dataset, batchSize: number): boolean {
  if (batchSize <= 16) return true;
  const step = Math.max(1, Math.floor(data.x.length / 4096));
  let seen = 0;
  let zeros = 0;
  for (let i = 0; i < data.x.length; i += step, seen++) if (data.x[i] === 0) zeros++;
  return zeros * 2 > seen;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

function layerActivation(layer: tf.layers.Layer): string | undefined {
  const a = (layer.getConfig() as { activation?: unknown }).activation;
  return typeof a === 'string' ? a : undefined;
}

/** The output activation each task reads probabilities through. */
const TASK_ACTIVATION: Record<Task, string | undefined> = { classification: 'softmax', binary: 'sigmoid', regression: undefined };

/**
 * Trains and evaluates a tfjs `LayersModel` for federa.
 *
 * The model must have one input and one output of shape `[batch, units]`, and float32 weights.
 * The task (option `task`, else inferred: a sigmoid output is `binary`, two or more outputs
 * `classification`, one linear output `regression`) decides the loss and the metrics:
 *  - classification: softmax cross-entropy; `loss`, `accuracy`.
 *  - binary: one output, sigmoid cross-entropy; `loss`, `accuracy` (threshold 0.5), and in
 *    evaluation `auc` (ROC AUC).
 *  - regression: `units` float targets, mean squared error; `loss` (= `mse`), `mae`, and in
 *    evaluation `r2` (1 − SSE/SST over all targets, SST around the evaluated data's own mean).
 * The output is read as logits when the last layer is linear; when the last layer is a separate
 * softmax/sigmoid `Activation` (as in the zoo models) the logits are taken from the layer before
 * it; an activation fused into the last layer is handled by a clipped log. The trainer takes
 * ownership of the model: {@link TfjsTrainer.dispose} frees it.
 *
 * Not re-entrant: one `fit`/`evaluate` at a time per trainer.
 */
export class TfjsTrainer implements Trainer {
  /** All model weights, in `model.weights` order, named by their layer-scoped names. */
  readonly layout: ParamLayout;
  readonly model: tf.LayersModel;
  readonly numFeatures: number;
  /** Classes the model tells apart: its outputs (classification), 2 (binary), 1 (regression). */
  readonly numClasses: number;
  readonly task: Task;
  /** Model outputs: classes, 1 (binary) or targets (regression). */
  readonly numOutputs: number;

  private readonly inputShape: number[];
  private readonly logitsModel: tf.LayersModel;
  private readonly outputKind: OutputKind;
  /** Set when the model is a plain stack of dense layers: the fast forward (see makeDenseOp). */
  private readonly denseOps: DenseOp[] | undefined;
  /** Set when the model is logistic regression (one Dense layer, softmax): fit runs softmax-sgd.ts. */
  private readonly softmaxRegression: { kernel: tf.Variable; bias: tf.Variable } | undefined;
  private readonly weights: tf.LayerVariable[];
  private readonly trainable: tf.Variable[];
  /** Constant copy of the trainable weights at the start of a FedProx fit. */
  private proximalAnchor: tf.Tensor[] | undefined;
  private busy = false;
  private disposed = false;

  constructor(model: tf.LayersModel, options: TfjsTrainerOptions = {}) {
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      throw new FederaError('unsupported', `TfjsTrainer: the model must have one input and one output, got ${model.inputs.length} and ${model.outputs.length}`);
    }
    const inShape = model.inputs[0].shape.slice(1);
    if (inShape.length === 0 || inShape.some((d) => d === null || !Number.isInteger(d) || d <= 0)) {
      throw new FederaError('unsupported', `TfjsTrainer: the model input shape [${model.inputs[0].shape.join(', ')}] must be fully defined apart from the batch`);
    }
    const outShape = model.outputs[0].shape;
    if (outShape.length !== 2 || outShape[1] === null || outShape[1] < 1) {
      throw new FederaError('unsupported', `TfjsTrainer: the model output shape must be [batch, units], got [${outShape.join(', ')}]`);
    }
    const units = outShape[1];
    const last = model.layers[model.layers.length - 1];
    const activation = layerActivation(last);
    const task: Task = options.task ?? (activation === 'sigmoid' ? 'binary' : units >= 2 ? 'classification' : 'regression');
    if (task === 'classification' && units < 2) {
      throw new FederaError('unsupported', `TfjsTrainer: a classification model needs [batch, numClasses ≥ 2] outputs, got [${outShape.join(', ')}] (one output: use task 'binary' or 'regression')`);
    }
    if (task === 'binary' && units !== 1) {
      throw new FederaError('unsupported', `TfjsTrainer: a binary model has one (sigmoid) output, got [${outShape.join(', ')}]`);
    }
    this.model = model;
    this.task = task;
    this.numOutputs = units;
    this.inputShape = inShape as number[];
    this.numFeatures = this.inputShape.reduce((a, b) => a * b, 1);
    this.numClasses = task === 'classification' ? units : task === 'binary' ? 2 : 1;

    const probability = TASK_ACTIVATION[task];
    if (probability !== undefined && last.getClassName() === 'Activation' && activation === probability && model.layers.length > 1) {
      // Shares the layers (and weights) of `model`; building it allocates no tensors.
      this.logitsModel = tf.model({ inputs: model.inputs, outputs: last.input as tf.SymbolicTensor });
      this.outputKind = 'logits';
    } else if (probability !== undefined && activation === probability) {
      this.logitsModel = model;
      this.outputKind = 'probs';
    } else if (activation === undefined || activation === 'linear') {
      this.logitsModel = model;
      this.outputKind = 'logits';
    } else {
      const allowed = probability === undefined ? 'linear' : `${probability} or linear`;
      throw new FederaError('unsupported', `TfjsTrainer: the last layer ("${last.name}") has activation "${activation}"; a ${task} model's output must be ${allowed}`, { layer: last.name });
    }

    this.weights = [...model.weights];
    const names = new Map<string, number>();
    const specs = this.weights.map((w) => {
      if (w.dtype !== 'float32') throw new FederaError('unsupported', `TfjsTrainer: weight "${w.originalName}" has dtype ${w.dtype}; only float32 is supported`);
      // originalName is the layer-scoped name ("dense_1/kernel"); `name` gets a process-global
      // suffix ("dense_1/kernel_3") that would differ between two copies of the same model.
      const seen = names.get(w.originalName) ?? 0;
      names.set(w.originalName, seen + 1);
      const name = seen === 0 ? w.originalName : `${w.originalName}#${seen}`;
      return { name, shape: w.shape as number[] };
    });
    this.layout = ParamLayout.fromShapes(specs);
    this.trainable = this.weights.filter((w) => w.trainable).map((w) => w.read() as tf.Variable);
    this.denseOps = options.denseFastPath === false ? undefined : this.buildDenseOps();
    this.softmaxRegression = options.denseFastPath === false ? undefined : this.findSoftmaxRegression();
  }

  /** The kernel and bias of a one-Dense-layer softmax classifier (linear Dense, then softmax or logits). */
  private findSoftmaxRegression(): { kernel: tf.Variable; bias: tf.Variable } | undefined {
    if (this.task !== 'classification' || this.outputKind !== 'logits' || !(this.model instanceof tf.Sequential)) return undefined;
    const layers = this.model.layers.filter((l) => l.getClassName() !== 'InputLayer');
    const body = this.logitsModel !== this.model ? layers.slice(0, -1) : layers;
    if (body.length !== 1) return undefined;
    const dense = body[0];
    const ws = dense.weights;
    const ok =
      dense.getClassName() === 'Dense' &&
      (layerActivation(dense) ?? 'linear') === 'linear' &&
      ws.length === 2 &&
      ws.every((w) => w.trainable) &&
      this.weights.length === 2 &&
      ws[0].shape.length === 2 &&
      ws[0].shape[0] === this.numFeatures &&
      ws[0].shape[1] === this.numClasses &&
      (dense.input as tf.SymbolicTensor).shape.length === 2;
    return ok ? { kernel: ws[0].read() as tf.Variable, bias: ws[1].read() as tf.Variable } : undefined;
  }

  /** fit() for logistic regression: the same shuffles, batches, loss and metrics, on flat arrays. */
  private async fitSoftmaxRegression(data: Dataset, options: FitOptions, mu: number, seed: number | string): Promise<FitOutcome> {
    const { kernel, bias } = this.softmaxRegression!;
    const { epochs, batchSize, learningRate } = options;
    const n = data.y.length;
    const W = transpose(kernel.dataSync() as Float32Array, this.numFeatures, this.numClasses);
    const b = bias.dataSync().slice() as Float32Array;
    // The proximal anchor: the parameters set before fit, or the ones given (Ditto: the global model).
    const a = options.proximalAnchor;
    const anchorOf = (): { kernelT: Float32Array; bias: Float32Array } => {
      if (!a) return { kernelT: W.slice(), bias: b.slice() };
      const [k, bs] = this.layout.tensors;
      return { kernelT: transpose(a.subarray(k.offset, k.offset + k.size), this.numFeatures, this.numClasses), bias: a.slice(bs.offset, bs.offset + bs.size) };
    };
    const state = { kernelT: W, bias: b, numFeatures: this.numFeatures, numClasses: this.numClasses, ...(mu > 0 ? { anchor: { ...anchorOf(), mu } } : {}) };
    const scratch = softmaxSgdScratch(Math.min(batchSize, n), this.numFeatures, this.numClasses);
    const rng = new Rng(seed);
    const order = new Int32Array(n);
    let lossSum = 0;
    let correct = 0;
    let lastYield = now();
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let i = 0; i < n; i++) order[i] = i;
      rng.stream(`epoch-${epoch}`).shuffle(order);
      lossSum = 0;
      correct = 0;
      for (let start = 0; start < n; start += batchSize) {
        const stats = softmaxSgdStep(state, scratch, data.x, data.y, order.subarray(start, Math.min(start + batchSize, n)), learningRate);
        lossSum += stats.lossSum;
        correct += stats.correct;
        if (now() - lastYield > YIELD_EVERY_MS) {
          options.onProgress?.(epoch * n + Math.min(start + batchSize, n), epochs * n);
          await yieldToEventLoop();
          lastYield = now();
        }
      }
      options.onProgress?.((epoch + 1) * n, epochs * n);
    }
    const loss = lossSum / n;
    if (!Number.isFinite(loss)) {
      throw new FederaError('non_finite', `fit: training diverged (mean loss ${loss} in the last epoch); try a lower learningRate`, { loss });
    }
    const write = (v: tf.Variable, values: Float32Array) => {
      const t = tf.tensor(values, v.shape, 'float32');
      try {
        v.assign(t);
      } finally {
        t.dispose();
      }
    };
    write(kernel, transpose(W, this.numClasses, this.numFeatures));
    write(bias, b);
    return { numExamples: n, metrics: this.metricsOf(lossSum, correct, n) };
  }

  /**
   * The fast path, if `model` is a Sequential whose Dense layers are linear/ReLU with trainable
   * weights and rank-2 inputs (the zoo's dense models, and the dense head of its CNNs): those run
   * as {@link makeDenseOp}; every other layer (reshape, conv, pooling, flatten, …) runs through
   * its own `apply`. Undefined when no layer would take the fast op.
   */
  private buildDenseOps(): DenseOp[] | undefined {
    if (!(this.model instanceof tf.Sequential)) return undefined;
    const layers = this.model.layers.filter((l) => l.getClassName() !== 'InputLayer');
    const last = layers[layers.length - 1];
    const body = this.logitsModel !== this.model ? layers.slice(0, -1) : layers;
    if (body.length === 0 || this.outputKind !== 'logits') return undefined;
    const ops: DenseOp[] = [];
    let fast = 0;
    for (const [i, layer] of body.entries()) {
      const activation = layerActivation(layer) ?? 'linear';
      const ws = layer.weights;
      const inputRank = (layer.input as tf.SymbolicTensor).shape.length;
      const denseFast =
        layer.getClassName() === 'Dense' &&
        (activation === 'linear' || activation === 'relu') &&
        ws.length >= 1 &&
        ws.length <= 2 &&
        ws.every((w) => w.trainable) &&
        ws[0].shape.length === 2 &&
        inputRank === 2;
      if (denseFast) {
        const kernel = ws[0].read() as tf.Variable;
        const bias = ws.length === 2 ? (ws[1].read() as tf.Variable) : null;
        ops.push(makeDenseOp(kernel, bias, activation === 'relu', i > 0));
        fast++;
      } else {
        ops.push((h) => layer.apply(h, { training: true }) as tf.Tensor2D);
      }
    }
    return fast > 0 ? ops : undefined;
  }

  /**
   * Pre-softmax outputs (or probabilities when outputKind is 'probs') for a batch. Evaluation
   * uses the layers forward: weights do not change between its batches, so tfjs's cached
   * operand packing makes it as fast as it gets.
   */
  private forward(x: tf.Tensor, training: boolean): tf.Tensor2D {
    if (training && this.denseOps !== undefined) {
      let h = x as tf.Tensor2D;
      for (const op of this.denseOps) h = op(h);
      return h;
    }
    return this.logitsModel.apply(x, { training }) as tf.Tensor2D;
  }

  /** A flat copy of every weight, in layout order, into `into` when given. */
  getParameters(into?: Float32Array): Float32Array {
    this.assertUsable();
    if (into !== undefined) this.layout.check(into, 'getParameters: out');
    const out = into ?? new Float32Array(this.layout.size);
    this.weights.forEach((w, i) => {
      out.set(w.read().dataSync() as Float32Array, this.layout.tensors[i].offset);
    });
    return out;
  }

  /** Copies `params` into the model's variables (the caller keeps ownership of its array). */
  setParameters(params: Float32Array): void {
    this.assertUsable();
    if (!(params instanceof Float32Array)) throw invalid('params', 'setParameters: params must be a Float32Array');
    this.layout.check(params);
    this.weights.forEach((w, i) => {
      const spec = this.layout.tensors[i];
      // slice(): some backends (cpu) keep the array given to tf.tensor as the tensor's storage,
      // and the variable then shares it; a private copy means the caller's array is never aliased.
      const value = tf.tensor(params.slice(spec.offset, spec.offset + spec.size), spec.shape as number[], 'float32');
      try {
        w.write(value);
      } finally {
        value.dispose();
      }
    });
  }

  async fit(data: Dataset, options: FitOptions): Promise<FitOutcome> {
    this.assertUsable();
    const { epochs, batchSize, learningRate } = options;
    const mu = options.proximalMu ?? 0;
    const seed = options.seed ?? 0;
    if (!Number.isInteger(epochs) || epochs < 1) throw invalid('epochs', `fit: epochs must be an integer ≥ 1, got ${epochs}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw invalid('batchSize', `fit: batchSize must be an integer ≥ 1, got ${batchSize}`);
    if (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || learningRate <= 0) {
      throw invalid('learningRate', `fit: learningRate must be a finite number > 0, got ${learningRate}`);
    }
    if (typeof mu !== 'number' || !Number.isFinite(mu) || mu < 0) throw invalid('proximalMu', `fit: proximalMu must be a finite number ≥ 0, got ${mu}`);
    if (options.proximalAnchor !== undefined) {
      if (!(options.proximalAnchor instanceof Float32Array)) throw invalid('proximalAnchor', 'fit: proximalAnchor must be a Float32Array');
      this.layout.check(options.proximalAnchor, 'fit: proximalAnchor');
    }
    if (!((typeof seed === 'number' && Number.isFinite(seed)) || typeof seed === 'string')) {
      throw invalid('seed', `fit: seed must be a finite number or a string, got ${String(seed)}`);
    }
    if (options.dpSgd !== undefined) {
      checkDpSgdOptions(options.dpSgd);
      if (this.task !== 'classification') throw new FederaError('unsupported', `fit: DP-SGD is implemented for classification models only, not ${this.task}`, { field: 'dpSgd' });
    }
    this.checkData(data, 'fit');
    const n = data.y.length;
    if (n === 0) return { numExamples: 0, metrics: this.metricsOf(0, 0, 1) };

    if (this.softmaxRegression !== undefined && options.dpSgd === undefined && preferFlatSoftmax(data, batchSize)) {
      this.busy = true;
      try {
        await null; // always settle asynchronously, so callers never see a synchronous fit
        return await this.fitSoftmaxRegression(data, options, mu, seed);
      } finally {
        this.busy = false;
      }
    }
    this.busy = true;
    let optimizer: tf.Optimizer | undefined;
    let totals: tf.Tensor | undefined; // [lossSum, correct] over the last epoch
    try {
      await null; // always settle asynchronously, so callers never see a synchronous fit
      optimizer = tf.train.sgd(learningRate);
      if (mu > 0) {
        const a = options.proximalAnchor;
        this.proximalAnchor = a
          ? this.weights.flatMap((w, i) => {
              if (!w.trainable) return [];
              const spec = this.layout.tensors[i];
              return [tf.tensor(a.slice(spec.offset, spec.offset + spec.size), spec.shape as number[], 'float32')];
            })
          : this.trainable.map((v) => tf.clone(v));
      }
      const rng = new Rng(seed);
      const dpNoise = options.dpSgd ? dpSgdNoiseSource(options.dpSgd, seed) : undefined;
      const order = new Int32Array(n);
      let lastYield = now();
      for (let epoch = 0; epoch < epochs; epoch++) {
        for (let i = 0; i < n; i++) order[i] = i;
        rng.stream(`epoch-${epoch}`).shuffle(order);
        const record = epoch === epochs - 1;
        if (record) totals = tf.zeros([2]);
        for (let start = 0; start < n; start += batchSize) {
          const idx = order.subarray(start, Math.min(start + batchSize, n));
          const stats = dpNoise
            ? this.dpTrainStep(optimizer, data, idx, mu, record, batchSize, options.dpSgd!, dpNoise)
            : this.trainStep(optimizer, data, idx, mu, record);
          if (stats !== undefined) {
            const next = tf.add(totals!, stats);
            totals!.dispose();
            stats.dispose();
            totals = next;
          }
          if (now() - lastYield > YIELD_EVERY_MS) {
            options.onProgress?.(epoch * n + idx.length + start, epochs * n);
            await yieldToEventLoop();
            lastYield = now();
          }
        }
        options.onProgress?.((epoch + 1) * n, epochs * n);
      }
      const [lossSum, second] = totals!.dataSync();
      const loss = lossSum / n;
      if (!Number.isFinite(loss)) {
        throw new FederaError('non_finite', `fit: training diverged (mean loss ${loss} in the last epoch); try a lower learningRate`, { loss });
      }
      return { numExamples: n, metrics: this.metricsOf(lossSum, second, n) };
    } finally {
      totals?.dispose();
      optimizer?.dispose();
      this.disposeAnchor();
      this.busy = false;
    }
  }

  async evaluate(data: Dataset, options: { batchSize?: number } = {}): Promise<EvaluateOutcome> {
    this.assertUsable();
    const batchSize = options.batchSize ?? 1000;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw invalid('batchSize', `evaluate: batchSize must be an integer ≥ 1, got ${batchSize}`);
    this.checkData(data, 'evaluate');
    const n = data.y.length;
    if (n === 0) {
      const metrics = this.metricsOf(0, 0, 1);
      if (this.task === 'binary') metrics.auc = 0.5;
      if (this.task === 'regression') metrics.r2 = 0;
      return { loss: 0, numExamples: 0, metrics };
    }

    this.busy = true;
    let totals = tf.zeros([2]);
    // Binary: every example's logit (or probability), for the AUC.
    const scores = this.task === 'binary' ? new Float32Array(n) : undefined;
    try {
      await null; // see fit
      let lastYield = now();
      for (let start = 0; start < n; start += batchSize) {
        const end = Math.min(start + batchSize, n);
        let batchScores: tf.Tensor | undefined;
        const next = tf.tidy(() => {
          const x = tf.tensor(data.x.slice(start * this.numFeatures, end * this.numFeatures), [end - start, ...this.inputShape], 'float32');
          const { lossSum, second, out } = this.batchLoss(x, this.targetTensor(data, start, end), false);
          if (scores) batchScores = tf.keep(out);
          return tf.add(totals, tf.stack([lossSum, second]));
        });
        totals.dispose();
        totals = next;
        if (batchScores) {
          scores!.set(batchScores.dataSync() as Float32Array, start);
          batchScores.dispose();
        }
        if (now() - lastYield > YIELD_EVERY_MS) {
          await yieldToEventLoop();
          lastYield = now();
        }
      }
      const [lossSum, second] = totals.dataSync();
      const metrics = this.metricsOf(lossSum, second, n);
      if (scores) metrics.auc = aucRoc(scores, data.y);
      if (this.task === 'regression') metrics.r2 = rSquaredFromSse(lossSum * this.numOutputs, data.targets!, this.numOutputs);
      return { loss: metrics.loss, numExamples: n, metrics };
    } finally {
      totals.dispose();
      this.busy = false;
    }
  }

  /** Named metrics from the summed loss and the task's second statistic over `n` examples. */
  private metricsOf(lossSum: number, second: number, n: number): Record<string, number> {
    const loss = lossSum / n;
    if (this.task === 'regression') return { loss, mse: loss, mae: second / n };
    return { loss, accuracy: second / n };
  }

  /**
   * The batch's targets as the loss wants them: int32 labels (classification), float 0/1
   * [b] (binary), float [b, numTargets] (regression). `rows` picks examples, or [start, end).
   */
  private targetTensor(data: Dataset, start: number, end: number, rows?: Int32Array): tf.Tensor {
    const count = rows ? rows.length : end - start;
    if (this.task === 'regression') {
      const t = this.numOutputs;
      const out = new Float32Array(count * t);
      for (let k = 0; k < count; k++) {
        const i = rows ? rows[k] : start + k;
        out.set(data.targets!.subarray(i * t, (i + 1) * t), k * t);
      }
      return tf.tensor2d(out, [count, t], 'float32');
    }
    const ys = this.task === 'binary' ? new Float32Array(count) : new Int32Array(count);
    for (let k = 0; k < count; k++) ys[k] = data.y[rows ? rows[k] : start + k];
    return tf.tensor1d(ys, this.task === 'binary' ? 'float32' : 'int32');
  }

  /** Frees the model's weights and any FedProx copy. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.disposeAnchor();
    // logitsModel shares model's layers; disposing model alone releases every weight once.
    this.model.dispose();
  }

  /** One SGD step on the examples `idx`; returns [lossSum, correct] for the batch when `record`. */
  private trainStep(optimizer: tf.Optimizer, data: Dataset, idx: Int32Array, mu: number, record: boolean): tf.Tensor | undefined {
    const f = this.numFeatures;
    const xs = new Float32Array(idx.length * f);
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k];
      xs.set(data.x.subarray(i * f, (i + 1) * f), k * f);
    }
    let stats: tf.Tensor | undefined;
    tf.tidy(() => {
      const x = tf.tensor(xs, [idx.length, ...this.inputShape], 'float32');
      const y = this.targetTensor(data, 0, 0, idx);
      optimizer.minimize(
        () => {
          const { lossSum, second } = this.batchLoss(x, y, true);
          if (record) stats = tf.keep(tf.stack([lossSum, second]));
          let loss: tf.Tensor = tf.div(lossSum, idx.length);
          if (mu > 0) {
            const anchor = this.proximalAnchor!;
            const sq = this.trainable.map((v, j) => tf.sum(tf.square(tf.sub(v, anchor[j]))));
            loss = tf.add(loss, tf.mul(mu / 2, tf.addN(sq)));
          }
          return loss as tf.Scalar;
        },
        false,
        this.trainable,
      );
    });
    return stats;
  }

  /** One DP-SGD step (per-example clipping, noise; see dp-sgd.ts) on the examples `idx`. */
  private dpTrainStep(
    optimizer: tf.Optimizer,
    data: Dataset,
    idx: Int32Array,
    mu: number,
    record: boolean,
    batchSize: number,
    dp: NonNullable<FitOptions['dpSgd']>,
    source: ReturnType<typeof dpSgdNoiseSource>,
  ): tf.Tensor | undefined {
    const f = this.numFeatures;
    const xs = new Float32Array(idx.length * f);
    const ys = new Int32Array(idx.length);
    for (let k = 0; k < idx.length; k++) {
      xs.set(data.x.subarray(idx[k] * f, (idx[k] + 1) * f), k * f);
      ys[k] = data.y[idx[k]];
    }
    const anchor = this.proximalAnchor;
    return dpSgdStep({
      model: this.model,
      numClasses: this.numClasses,
      trainable: this.trainable,
      loss: (x, y) => {
        const { lossSum, second } = this.batchLoss(x, y, true);
        return { ceSum: lossSum, correct: second };
      },
      x: xs,
      y: ys,
      inputShape: this.inputShape,
      batchSize,
      options: dp,
      source,
      optimizer,
      extraGradients: mu > 0 && anchor ? () => this.trainable.map((v, j) => tf.tidy(() => tf.mul(mu, tf.sub(v, anchor[j])))) : undefined,
      record,
    });
  }

  /**
   * The batch's summed loss and the task's second statistic (scalars): cross-entropy and correct
   * predictions (classification, binary), or squared and absolute errors averaged over the
   * targets (regression). `out` is the raw output (logits or probabilities), flattened for binary.
   */
  private batchLoss(x: tf.Tensor, y: tf.Tensor, training: boolean): { lossSum: tf.Scalar; second: tf.Scalar; out: tf.Tensor } {
    const out = this.forward(x, training);
    if (this.task === 'classification') {
      const labels = y as tf.Tensor1D;
      const logProbs = this.outputKind === 'logits' ? tf.logSoftmax(out) : tf.log(tf.clipByValue(out, PROB_EPSILON, 1));
      const oneHot = tf.oneHot(labels, this.numClasses).toFloat();
      const lossSum = tf.neg(tf.sum(tf.mul(oneHot, logProbs))) as tf.Scalar;
      const second = tf.sum(tf.equal(tf.argMax(logProbs, 1), labels).toFloat()) as tf.Scalar;
      return { lossSum, second, out };
    }
    if (this.task === 'binary') {
      const z = tf.reshape(out, [-1]);
      let lossSum: tf.Scalar;
      let predicted: tf.Tensor;
      if (this.outputKind === 'logits') {
        // Stable sigmoid cross-entropy: max(z, 0) − z·y + log(1 + e^−|z|).
        lossSum = tf.sum(tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))))) as tf.Scalar;
        predicted = tf.greater(z, 0);
      } else {
        const p = tf.clipByValue(z, PROB_EPSILON, 1 - PROB_EPSILON);
        lossSum = tf.neg(tf.sum(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p)))))) as tf.Scalar;
        predicted = tf.greater(z, 0.5);
      }
      const second = tf.sum(tf.equal(predicted.toFloat(), y).toFloat()) as tf.Scalar;
      return { lossSum, second, out: z };
    }
    const diff = tf.sub(out, y);
    const lossSum = tf.div(tf.sum(tf.square(diff)), this.numOutputs) as tf.Scalar;
    const second = tf.div(tf.sum(tf.abs(diff)), this.numOutputs) as tf.Scalar;
    return { lossSum, second, out };
  }

  private checkData(data: Dataset, where: string): void {
    if (data.numFeatures !== this.numFeatures) {
      throw invalid('numFeatures', `${where}: data.numFeatures is ${data.numFeatures} but the model takes ${this.numFeatures} features`);
    }
    if (data.x.length !== data.y.length * this.numFeatures) {
      throw invalid('x', `${where}: data.x has ${data.x.length} values; expected ${data.y.length} examples × ${this.numFeatures} features`);
    }
    const targets = numTargetsOf(data);
    if (this.task === 'regression') {
      if (targets === 0) throw invalid('targets', `${where}: a regression model needs a dataset with float targets (this one has class labels only)`);
      if (targets !== this.numOutputs) throw invalid('numTargets', `${where}: the data has ${targets} target(s) per example but the model has ${this.numOutputs} output(s)`);
      if (data.targets!.length !== data.y.length * targets) throw invalid('targets', `${where}: data.targets has ${data.targets!.length} values; expected ${data.y.length} × ${targets}`);
      return;
    }
    if (targets > 0) throw invalid('targets', `${where}: the data has float targets, which a ${this.task} model cannot learn (use task 'regression')`);
    if (data.numClasses > this.numClasses) {
      throw invalid('numClasses', `${where}: data.numClasses is ${data.numClasses} but the model has ${this.numClasses} outputs`);
    }
    const y = data.y;
    for (let i = 0; i < y.length; i++) {
      if (!(y[i] >= 0 && y[i] < this.numClasses)) {
        throw invalid('y', `${where}: data.y has label ${y[i]} at example ${i}, outside [0, ${this.numClasses})`);
      }
    }
  }

  private assertUsable(): void {
    if (this.disposed) throw new FederaError('unsupported', 'TfjsTrainer: used after dispose()');
    if (this.busy) throw new FederaError('unsupported', 'TfjsTrainer: another fit/evaluate is still running on this trainer');
  }

  private disposeAnchor(): void {
    if (this.proximalAnchor) tf.dispose(this.proximalAnchor);
    this.proximalAnchor = undefined;
  }
}

export interface TfjsTrainerOptions {
  /**
   * Use federa's dense-layer op with explicitly transposed gradients for the linear/ReLU Dense
   * layers of a Sequential model (2–3× faster on wasm; other layers run as usual). Default true; false forces the
   * generic tfjs-layers forward and tfjs's own gradients (same maths, for comparison).
   */
  denseFastPath?: boolean;
  /** The task; inferred from the output layer when absent (see {@link TfjsTrainer}). */
  task?: Task;
}

export interface CreateTfjsTrainerOptions {
  /** Output head of the zoo model and the trainer's loss (default 'classification'). */
  task?: Task;
  /** Shape of one example (the dataset's featureShape), for conv models. */
  inputShape?: readonly number[];
  /** Seed for {@link initParameters}; pass the run seed. Default 0. */
  seed?: number | string;
  /** Backend preference handed to {@link initBackend} (ignored once a backend is active). */
  backend?: BackendName;
}

/**
 * Builds a zoo model on an initialised backend (`numClasses`: classes, or targets for
 * regression; ignored for binary), with deterministic initial weights drawn from
 * `new Rng(seed).stream('init')`, so every process of a run starts from the same parameters.
 */
export async function createTfjsTrainer(
  model: ModelName,
  numFeatures: number,
  numClasses: number,
  options: CreateTfjsTrainerOptions = {},
): Promise<TfjsTrainer> {
  await initBackend(options.backend);
  const task = options.task ?? 'classification';
  const trainer = new TfjsTrainer(createModel(model, numFeatures, numClasses, { task, inputShape: options.inputShape }).model, { task });
  try {
    trainer.setParameters(initParameters(trainer.layout, new Rng(options.seed ?? 0).stream('init')));
  } catch (e) {
    trainer.dispose();
    throw e;
  }
  return trainer;
}
