/**
 * The model-agnostic trainer interface: the only thing a client runtime needs from an ML library.
 */
import type { ParamLayout } from '../core/params.js';
import type { Dataset } from '../data/dataset.js';
import type { Metrics } from '../core/messages.js';

export interface FitOptions {
  /** Local epochs over the client's training data. */
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** FedProx: adds mu/2·‖w − w_global‖² to the local loss, w_global being the parameters set before fit. 0 disables it. */
  proximalMu?: number;
  /**
   * The parameters the proximal term pulls toward, when not the ones set before fit (Ditto: the
   * personal model trains from its own parameters toward the global model). Flat, the layout's size.
   */
  proximalAnchor?: Float32Array;
  /** Seed for local shuffling; the same seed and data give the same training. */
  seed?: number | string;
  /**
   * Sample-level DP-SGD (Abadi et al. 2016): each example's gradient clipped to L2 norm
   * `l2NormClip`, N(0, (noiseMultiplier·l2NormClip)²) added to each batch's sum, divided by the
   * batch size. A trainer that cannot do it must refuse it (`unsupported`), never ignore it.
   */
  dpSgd?: DpSgdOptions;
  /**
   * Progress of the fit, for displays (a browser page): examples processed so far over
   * `epochs × examples`. Called now and then and at the end of every epoch; never required.
   */
  onProgress?: (done: number, total: number) => void;
}

export interface DpSgdOptions {
  /** C: per-example gradient clip norm, > 0. */
  l2NormClip: number;
  /** σ ≥ 0: noise std / C on each batch's sum of clipped gradients (0: clipping only, no privacy). */
  noiseMultiplier: number;
  /** 'secure' (default): platform CSPRNG; 'seeded': derived from `seed`, for reproducible simulations. */
  noise?: 'secure' | 'seeded';
  /**
   * How per-example gradients are obtained: 'auto' (default) lets the trainer vectorise where it
   * can; 'microbatch' forces one forward/backward pass per example. Same result, different cost.
   */
  perExampleGradients?: 'auto' | 'microbatch';
}

export interface FitOutcome {
  /** Examples seen per epoch (the client's training set size). */
  numExamples: number;
  /** Averaged over the last epoch; `loss` at least. */
  metrics: Metrics;
}

export interface EvaluateOutcome {
  loss: number;
  numExamples: number;
  metrics: Metrics;
}

export interface Trainer {
  /** Names, shapes and order of the parameters in the flat array. */
  readonly layout: ParamLayout;
  /**
   * The current parameters: written into `out` when it is given (and has `layout.size` elements),
   * otherwise into a fresh array. Never returns an array the trainer keeps using.
   */
  getParameters(out?: Float32Array): Float32Array;
  /** Copies `params` into the model; never keeps a reference to the array. */
  setParameters(params: Float32Array): void;
  fit(data: Dataset, options: FitOptions): Promise<FitOutcome>;
  evaluate(data: Dataset, options?: { batchSize?: number }): Promise<EvaluateOutcome>;
  /** Frees resources (tensors, workers). The trainer is unusable afterwards. */
  dispose(): void;
}
