/**
 * Reference models (the ones the FedAvg paper and most FL benchmarks use) and a seeded
 * initialiser, so that a run's starting point is fixed by its seed rather than by tfjs's own
 * random state.
 *
 * Layers are named explicitly (`dense_1`, `dense_2`, ...): tfjs auto-names layers with a global
 * counter, so the second model built in a process would otherwise get different parameter names
 * and its layout would not match the first one's.
 */
import * as tf from '@tensorflow/tfjs';
import { FederaError } from '../core/errors.js';
import type { ParamLayout } from '../core/params.js';
import type { Rng } from '../core/rng.js';

/** Names accepted by {@link createModel}. */
export type ModelName = 'logreg' | '2nn';

/** A freshly built model and what it is. */
export interface ZooModel {
  readonly name: ModelName;
  /**
   * A built (weights allocated) model. Its last layer is a separate softmax `Activation`, so
   * trainers can take the logits from the layer before it and use a numerically safe loss.
   */
  readonly model: tf.Sequential;
  readonly description: string;
  readonly numFeatures: number;
  readonly numClasses: number;
  /** Total number of scalar parameters (sum over all weights). */
  readonly numParameters: number;
}

function checkDim(what: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) {
    throw new FederaError('invalid_argument', `${what} must be an integer ≥ ${min}, got ${n}`, { field: what });
  }
}

function countParams(model: tf.LayersModel): number {
  return model.weights.reduce((s, w) => s + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
}

/** Multinomial logistic regression: one dense layer, softmax output. The convex baseline. */
export function logisticRegression(numFeatures: number, numClasses: number): ZooModel {
  checkDim('numFeatures', numFeatures, 1);
  checkDim('numClasses', numClasses, 2);
  const model = tf.sequential({
    name: 'logreg',
    layers: [
      tf.layers.dense({ inputShape: [numFeatures], units: numClasses, name: 'dense_1' }),
      tf.layers.activation({ activation: 'softmax', name: 'softmax' }),
    ],
  });
  return {
    name: 'logreg',
    model,
    description: `logistic regression ${numFeatures}→${numClasses} (softmax)`,
    numFeatures,
    numClasses,
    numParameters: countParams(model),
  };
}

/**
 * The "2NN" of McMahan et al. 2017 (Communication-Efficient Learning of Deep Networks from
 * Decentralized Data): two hidden ReLU layers of 200 units; 199,210 parameters on MNIST.
 */
export function mlp2nn(numFeatures = 784, hidden = 200, numClasses = 10): ZooModel {
  checkDim('numFeatures', numFeatures, 1);
  checkDim('hidden', hidden, 1);
  checkDim('numClasses', numClasses, 2);
  const model = tf.sequential({
    name: 'mlp2nn',
    layers: [
      tf.layers.dense({ inputShape: [numFeatures], units: hidden, activation: 'relu', name: 'dense_1' }),
      tf.layers.dense({ units: hidden, activation: 'relu', name: 'dense_2' }),
      tf.layers.dense({ units: numClasses, name: 'dense_3' }),
      tf.layers.activation({ activation: 'softmax', name: 'softmax' }),
    ],
  });
  return {
    name: '2nn',
    model,
    description: `2NN MLP ${numFeatures}-${hidden}-${hidden}-${numClasses} (ReLU, softmax)`,
    numFeatures,
    numClasses,
    numParameters: countParams(model),
  };
}

/** Builds a zoo model by name (the names a run configuration uses). */
export function createModel(name: ModelName, numFeatures: number, numClasses: number): ZooModel {
  switch (name) {
    case 'logreg':
      return logisticRegression(numFeatures, numClasses);
    case '2nn':
      return mlp2nn(numFeatures, 200, numClasses);
    default:
      throw new FederaError('invalid_argument', `unknown model "${String(name)}"; expected "logreg" or "2nn"`, { field: 'model' });
  }
}

/**
 * Deterministic initial parameters for `layout`: Glorot-uniform for kernels (tensors of rank ≥ 2,
 * fan-in/fan-out taken from the shape as Keras does: the last two dimensions times the receptive
 * field), zeros for biases and other rank-0/1 tensors.
 *
 * Each tensor draws from `rng.stream(tensorName)`, so its values depend only on the seed and its
 * name — adding or reordering tensors does not change the others.
 */
export function initParameters(layout: ParamLayout, rng: Rng): Float32Array {
  const out = new Float32Array(layout.size);
  for (const t of layout.tensors) {
    const shape = t.shape;
    if (shape.length < 2 || t.size === 0) continue; // biases: zeros
    const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    const fanIn = shape[shape.length - 2] * receptive;
    const fanOut = shape[shape.length - 1] * receptive;
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const r = rng.stream(t.name);
    for (let i = 0; i < t.size; i++) out[t.offset + i] = (2 * r.next() - 1) * limit;
  }
  return out;
}
