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
import type { Task } from '../data/dataset.js';

/** Names accepted by {@link createModel}. */
export type ModelName = 'logreg' | '2nn' | 'cnn' | 'cifar-cnn' | 'lstm';

/** A freshly built model and what it is. */
export interface ZooModel {
  readonly name: ModelName;
  /**
   * A built (weights allocated) model. For classification its last layer is a separate softmax
   * `Activation` (for binary tasks a sigmoid one), so trainers can take the logits from the layer
   * before it and use a numerically safe loss; for regression the last layer is linear.
   */
  readonly model: tf.Sequential;
  readonly description: string;
  readonly numFeatures: number;
  /** Outputs: classes (classification), 1 (binary), targets (regression). */
  readonly numClasses: number;
  readonly task: Task;
  /** Total number of scalar parameters (sum over all weights). */
  readonly numParameters: number;
}

function checkDim(what: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) {
    throw new FederaError('invalid_argument', `${what} must be an integer ≥ ${min}, got ${n}`, { field: what });
  }
}

/**
 * The output layers for a task: `dense(units)` + softmax for classification, `dense(1)` + sigmoid
 * for binary, linear `dense(units)` for regression.
 */
function head(task: Task, units: number, name: string): tf.layers.Layer[] {
  switch (task) {
    case 'classification':
      checkDim('numClasses', units, 2);
      return [tf.layers.dense({ units, name }), tf.layers.activation({ activation: 'softmax', name: 'softmax' })];
    case 'binary':
      return [tf.layers.dense({ units: 1, name }), tf.layers.activation({ activation: 'sigmoid', name: 'sigmoid' })];
    case 'regression':
      checkDim('numTargets', units, 1);
      return [tf.layers.dense({ units, name })];
    default:
      throw new FederaError('invalid_argument', `unknown task "${String(task)}"; expected classification, binary or regression`, { field: 'task' });
  }
}

function headText(task: Task, units: number): string {
  return task === 'classification' ? `${units} (softmax)` : task === 'binary' ? '1 (sigmoid)' : `${units} (linear)`;
}

function countParams(model: tf.LayersModel): number {
  return model.weights.reduce((s, w) => s + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
}

/**
 * Multinomial logistic regression: one dense layer, softmax output. The convex baseline. With
 * task 'binary' it is binary logistic regression, with 'regression' linear regression
 * (`numClasses` is then the number of targets).
 */
export function logisticRegression(numFeatures: number, numClasses: number, task: Task = 'classification'): ZooModel {
  checkDim('numFeatures', numFeatures, 1);
  const [dense, ...rest] = head(task, numClasses, 'dense_1');
  const model = tf.sequential({ name: 'logreg', layers: [tf.layers.inputLayer({ inputShape: [numFeatures], name: 'input' }), dense, ...rest] });
  const units = task === 'binary' ? 1 : numClasses;
  return {
    name: 'logreg',
    model,
    description: task === 'regression' ? `linear regression ${numFeatures}→${units}` : `logistic regression ${numFeatures}→${headText(task, units)}`,
    numFeatures,
    numClasses: units,
    task,
    numParameters: countParams(model),
  };
}

/**
 * The "2NN" of McMahan et al. 2017 (Communication-Efficient Learning of Deep Networks from
 * Decentralized Data): two hidden ReLU layers of 200 units; 199,210 parameters on MNIST.
 */
export function mlp2nn(numFeatures = 784, hidden = 200, numClasses = 10, task: Task = 'classification'): ZooModel {
  checkDim('numFeatures', numFeatures, 1);
  checkDim('hidden', hidden, 1);
  const model = tf.sequential({
    name: 'mlp2nn',
    layers: [
      tf.layers.dense({ inputShape: [numFeatures], units: hidden, activation: 'relu', name: 'dense_1' }),
      tf.layers.dense({ units: hidden, activation: 'relu', name: 'dense_2' }),
      ...head(task, numClasses, 'dense_3'),
    ],
  });
  const units = task === 'binary' ? 1 : numClasses;
  return {
    name: '2nn',
    model,
    description: `2NN MLP ${numFeatures}-${hidden}-${hidden}-${headText(task, units)} (ReLU)`,
    numFeatures,
    numClasses: units,
    task,
    numParameters: countParams(model),
  };
}

/**
 * The shape of one example for a conv model: `shape` when given (its product must be
 * `numFeatures`), else a square image with `channels` channels.
 */
function imageShape(what: string, numFeatures: number, channels: number, shape?: readonly number[]): [number, number, number] {
  if (shape !== undefined) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (shape.length !== 3 || size !== numFeatures || shape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new FederaError('invalid_argument', `${what}: input shape [${shape.join(', ')}] must be [height, width, channels] with ${numFeatures} values`, { field: 'inputShape' });
    }
    return [shape[0], shape[1], shape[2]];
  }
  const side = Math.round(Math.sqrt(numFeatures / channels));
  if (side * side * channels !== numFeatures) {
    throw new FederaError('invalid_argument', `${what} needs square images with ${channels} channel(s); ${numFeatures} features are not side×side×${channels} (give the data's featureShape)`, { field: 'numFeatures' });
  }
  return [side, side, channels];
}

/**
 * The MNIST CNN of McMahan et al. 2017: two 5×5 convolutions (32 and 64 channels, 'same'
 * padding, ReLU) each followed by 2×2 max pooling, a 512-unit ReLU layer and a softmax output;
 * 1,663,370 parameters on 28×28×1. It takes flat features and reshapes them first, so it fits the
 * same `Dataset` as the dense models.
 */
export function mnistCnn(numFeatures = 784, numClasses = 10, inputShape?: readonly number[], task: Task = 'classification'): ZooModel {
  const shape = imageShape('cnn', numFeatures, 1, inputShape);
  const model = tf.sequential({
    name: 'cnn',
    layers: [
      tf.layers.reshape({ inputShape: [numFeatures], targetShape: shape, name: 'reshape' }),
      tf.layers.conv2d({ filters: 32, kernelSize: 5, padding: 'same', activation: 'relu', name: 'conv_1' }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool_1' }),
      tf.layers.conv2d({ filters: 64, kernelSize: 5, padding: 'same', activation: 'relu', name: 'conv_2' }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool_2' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units: 512, activation: 'relu', name: 'dense_1' }),
      ...head(task, numClasses, 'dense_2'),
    ],
  });
  return {
    name: 'cnn',
    model,
    description: `CNN (McMahan et al.) ${shape.join('×')}: conv5×5·32, pool, conv5×5·64, pool, dense 512, ${headText(task, numClasses)}`,
    numFeatures,
    numClasses: task === 'binary' ? 1 : numClasses,
    task,
    numParameters: countParams(model),
  };
}

/**
 * A small CIFAR-style CNN for 32×32×3 images: three 3×3 'same' convolutions (32, 64, 64
 * channels, ReLU) each followed by 2×2 max pooling, a 128-unit ReLU layer and a softmax output
 * (188,810 parameters on 32×32×3, 10 classes).
 */
export function cifarCnn(numFeatures = 3072, numClasses = 10, inputShape?: readonly number[], task: Task = 'classification'): ZooModel {
  const shape = imageShape('cifar-cnn', numFeatures, 3, inputShape);
  const model = tf.sequential({
    name: 'cifar_cnn',
    layers: [
      tf.layers.reshape({ inputShape: [numFeatures], targetShape: shape, name: 'reshape' }),
      tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_1' }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool_1' }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_2' }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool_2' }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_3' }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool_3' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units: 128, activation: 'relu', name: 'dense_1' }),
      ...head(task, numClasses, 'dense_2'),
    ],
  });
  return {
    name: 'cifar-cnn',
    model,
    description: `CIFAR-style CNN ${shape.join('×')}: 3× (conv3×3, pool) 32/64/64, dense 128, ${headText(task, numClasses)}`,
    numFeatures,
    numClasses: task === 'binary' ? 1 : numClasses,
    task,
    numParameters: countParams(model),
  };
}

/**
 * A next-token model (the Shakespeare / keyboard case): the input is `seqLength` token ids (as
 * floats, like every federa feature), an 8-dimensional embedding, one LSTM layer of `units`
 * (default 128) and a softmax over the vocabulary. `numClasses` is the vocabulary size.
 */
export function lstmNextToken(seqLength: number, vocabularySize: number, units = 128, embedding = 8): ZooModel {
  checkDim('seqLength', seqLength, 1);
  checkDim('numClasses (vocabulary size)', vocabularySize, 2);
  checkDim('units', units, 1);
  const model = tf.sequential({
    name: 'lstm',
    layers: [
      tf.layers.embedding({ inputDim: vocabularySize, outputDim: embedding, inputLength: seqLength, inputShape: [seqLength], name: 'embedding' }),
      // Glorot rather than Keras's orthogonal recurrent initialiser: federa overwrites the weights
      // with initParameters anyway, and tfjs's orthogonal init is slow for big matrices.
      tf.layers.lstm({ units, recurrentInitializer: 'glorotUniform', name: 'lstm_1' }),
      tf.layers.dense({ units: vocabularySize, name: 'dense_1' }),
      tf.layers.activation({ activation: 'softmax', name: 'softmax' }),
    ],
  });
  return {
    name: 'lstm',
    model,
    description: `next-token LSTM: ${seqLength} tokens → embedding ${embedding} → LSTM ${units} → ${vocabularySize} (softmax)`,
    numFeatures: seqLength,
    numClasses: vocabularySize,
    task: 'classification',
    numParameters: countParams(model),
  };
}

/** Options for {@link createModel}. */
export interface CreateModelOptions {
  /** Shape of one example (e.g. the dataset's featureShape); conv models use it, dense ones ignore it. */
  inputShape?: readonly number[];
  /** Output head (default 'classification'); for 'regression' the `numClasses` argument is the number of targets. */
  task?: Task;
}

/** Names and one-line descriptions of the zoo models (for `--help`). */
export const ZOO_MODELS: ReadonlyArray<{ name: ModelName; description: string }> = [
  { name: 'logreg', description: 'multinomial logistic regression (one dense layer)' },
  { name: '2nn', description: 'MLP with two hidden ReLU layers of 200 (McMahan et al. 2017)' },
  { name: 'cnn', description: 'MNIST CNN: two 5×5 convs (32, 64), 2×2 max pools, dense 512 (McMahan et al. 2017)' },
  { name: 'cifar-cnn', description: 'small CNN for 32×32×3 images: three 3×3 convs (32, 64, 64), dense 128' },
  { name: 'lstm', description: 'next-token model: embedding 8, LSTM 128, softmax over the vocabulary (text data)' },
];

/** Builds a zoo model by name (the names a run configuration uses). */
export function createModel(name: ModelName, numFeatures: number, numClasses: number, options: CreateModelOptions = {}): ZooModel {
  switch (name) {
    case 'logreg':
      return logisticRegression(numFeatures, numClasses, options.task);
    case '2nn':
      return mlp2nn(numFeatures, 200, numClasses, options.task);
    case 'cnn':
      return mnistCnn(numFeatures, numClasses, options.inputShape, options.task);
    case 'cifar-cnn':
      return cifarCnn(numFeatures, numClasses, options.inputShape, options.task);
    case 'lstm':
      if ((options.task ?? 'classification') !== 'classification') {
        throw new FederaError('invalid_argument', `the lstm model predicts the next token (classification), not ${options.task}`, { field: 'task' });
      }
      return lstmNextToken(numFeatures, numClasses);
    default:
      throw new FederaError('invalid_argument', `unknown model "${String(name)}"; expected one of ${ZOO_MODELS.map((m) => m.name).join(', ')}`, { field: 'model' });
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
