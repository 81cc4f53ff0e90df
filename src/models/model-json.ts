/**
 * Bring-your-own model: a TF.js layers-format model (the `model.json` that `model.save('file://…')`
 * writes, or that `tensorflowjs_converter` makes from a Keras model), checked so that federa can
 * train it, and shipped to clients as its architecture in the model spec.
 *
 * Checked before anything trains, each refusal naming the layer: every layer is of a class federa
 * trains on its backends ({@link SUPPORTED_LAYERS}); no nested models; the model has at least one
 * trainable weight; its input takes as many values as the data has features; its output has as
 * many units as the task needs (classes, 1 for binary, targets for regression).
 *
 * Isomorphic (tfjs only); reading files is `src/node/model-json.ts`.
 */
import * as tf from '@tensorflow/tfjs';
import { FederaError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { Task } from '../data/dataset.js';
import { initBackend } from './backend.js';
import { TfjsTrainer } from './tfjs-trainer.js';
import { initParameters } from './zoo.js';

/**
 * Layer classes federa can train (forward and gradient on the wasm and cpu backends). Not here:
 * BatchNormalization (tfjs-layers does not update its moving statistics while training),
 * depthwise/separable/transposed convolutions (no wasm gradients), wrappers (Bidirectional,
 * TimeDistributed) and nested models.
 */
export const SUPPORTED_LAYERS: ReadonlySet<string> = new Set([
  'InputLayer',
  'Dense',
  'Conv1D',
  'Conv2D',
  'MaxPooling1D',
  'MaxPooling2D',
  'AveragePooling1D',
  'AveragePooling2D',
  'GlobalAveragePooling1D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling1D',
  'GlobalMaxPooling2D',
  'ZeroPadding2D',
  'Flatten',
  'Reshape',
  'Permute',
  'Dropout',
  'SpatialDropout1D',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ELU',
  'Softmax',
  'Embedding',
  'LSTM',
  'GRU',
  'SimpleRNN',
  'Add',
  'Concatenate',
  'Multiply',
  'Average',
]);

interface TopologyLayer {
  class_name?: unknown;
  name?: unknown;
  config?: { name?: unknown; layers?: unknown };
}

function refuse(source: string, message: string, layer?: string): FederaError {
  return new FederaError('unsupported', `${source}: ${message}`, layer === undefined ? { source } : { source, layer });
}

/** The layers of a Sequential or functional topology (Keras ≥ 2.0 and tfjs forms). */
function topologyLayers(topology: unknown, source: string): TopologyLayer[] {
  const t = topology as { class_name?: unknown; config?: unknown };
  if (t === null || typeof t !== 'object' || typeof t.class_name !== 'string') {
    throw new FederaError('data_error', `${source}: modelTopology must be an object with a "class_name" (is this a TF.js layers model? graph models are not trainable)`, { source });
  }
  const config = t.config as { layers?: unknown } | unknown[] | undefined;
  const layers = Array.isArray(config) ? config : (config as { layers?: unknown } | undefined)?.layers;
  if (!Array.isArray(layers)) throw new FederaError('data_error', `${source}: modelTopology.config has no "layers" list`, { source });
  return layers as TopologyLayer[];
}

/** Throws naming the first layer federa cannot train. */
export function checkTopology(topology: unknown, source = 'model'): void {
  const layers = topologyLayers(topology, source);
  if (layers.length === 0) throw refuse(source, 'the model has no layers');
  layers.forEach((l, i) => {
    const cls = typeof l?.class_name === 'string' ? l.class_name : '?';
    const name = String(l?.config?.name ?? l?.name ?? `#${i}`);
    if (cls === 'Sequential' || cls === 'Model' || cls === 'Functional') {
      throw refuse(source, `layer "${name}" is a nested model (${cls}); flatten it into one model`, name);
    }
    if (!SUPPORTED_LAYERS.has(cls)) {
      throw refuse(source, `layer "${name}" (${cls}) is not supported; federa trains ${[...SUPPORTED_LAYERS].filter((c) => c !== 'InputLayer').join(', ')}`, name);
    }
  });
}

/** Builds an (untrained, randomly initialised) model from a topology after {@link checkTopology}. */
export async function modelFromTopology(topology: unknown, source = 'model'): Promise<tf.LayersModel> {
  checkTopology(topology, source);
  try {
    return await tf.models.modelFromJSON({ modelTopology: topology as tf.io.ModelJSON['modelTopology'] } as tf.io.ModelJSON);
  } catch (e) {
    throw new FederaError('data_error', `${source}: TF.js could not build the model (${(e as Error).message})`, { source }, { cause: e });
  }
}

export interface DataShape {
  numFeatures: number;
  /** Classes (classification/binary) or targets (regression). */
  numClasses: number;
  task?: Task;
}

/** Outputs a task needs for `shape`. */
function outputsFor(shape: DataShape): number {
  const task = shape.task ?? 'classification';
  return task === 'binary' ? 1 : shape.numClasses;
}

/** Throws, naming the input or output layer, when `model` cannot train on data of `shape`. */
export function checkModelForData(model: tf.LayersModel, shape: DataShape, source = 'model'): void {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw refuse(source, `the model must have one input and one output, it has ${model.inputs.length} and ${model.outputs.length}`);
  }
  if (model.trainableWeights.length === 0) {
    throw refuse(source, `the model has no trainable weight (layers: ${model.layers.map((l) => `${l.name} (${l.getClassName()})`).join(', ')})`);
  }
  // The user's first layer (a Sequential's InputLayer is implicit and auto-named).
  const inputLayer = model.layers.find((l) => l.getClassName() !== 'InputLayer')?.name ?? model.inputNames[0];
  const inShape = model.inputs[0].shape.slice(1);
  if (inShape.some((d) => d === null)) throw refuse(source, `the first layer "${inputLayer}" takes an unknown dimension in [${model.inputs[0].shape.join(', ')}]; give every dimension but the batch`, inputLayer);
  const size = (inShape as number[]).reduce((a, b) => a * b, 1);
  if (size !== shape.numFeatures) {
    throw refuse(source, `the first layer "${inputLayer}" takes [${inShape.join(', ')}] = ${size} values per example but the data has ${shape.numFeatures} features`, inputLayer);
  }
  const outLayer = model.outputNames[0]?.split('/')[0] ?? model.layers[model.layers.length - 1].name;
  const outShape = model.outputs[0].shape;
  const want = outputsFor(shape);
  const task = shape.task ?? 'classification';
  if (outShape.length !== 2 || outShape[1] !== want) {
    const what = task === 'classification' ? `${want} classes` : task === 'binary' ? 'one sigmoid output (binary)' : `${want} target(s)`;
    throw refuse(source, `output layer "${outLayer}" gives [${outShape.slice(1).join(', ')}] per example but the data needs ${what}`, outLayer);
  }
}

/** The part of a deployment model spec (wire/protocol.ts `ModelSpec`) a bring-your-own model needs. */
export interface ArchitectureSpec {
  name: string;
  numFeatures: number;
  numClasses: number;
  task?: Task;
  /** The model topology as JSON text. */
  architecture?: string;
}

/** The topology of `model` as JSON text, for the model spec's `architecture`. */
export function architectureOf(model: tf.LayersModel): string {
  return JSON.stringify(model.toJSON(undefined, false));
}

/**
 * A trainer for a spec carrying an architecture (what a client does with a bring-your-own
 * model): builds it, checks it against the spec's sizes, and initialises it from the seed (the
 * server's parameters replace them with every round).
 */
export async function trainerFromSpec(spec: ArchitectureSpec, seed: number | string): Promise<TfjsTrainer> {
  if (spec.architecture === undefined) throw new FederaError('invalid_argument', `model spec "${spec.name}" has no architecture`);
  await initBackend();
  let topology: unknown;
  try {
    topology = JSON.parse(spec.architecture);
  } catch (e) {
    throw new FederaError('data_error', `the server's model "${spec.name}": architecture is not valid JSON (${(e as Error).message})`);
  }
  const model = await modelFromTopology(topology, `the server's model "${spec.name}"`);
  try {
    checkModelForData(model, { numFeatures: spec.numFeatures, numClasses: spec.numClasses, task: spec.task }, `the server's model "${spec.name}"`);
    const trainer = new TfjsTrainer(model, { task: spec.task });
    trainer.setParameters(initParameters(trainer.layout, new Rng(seed).stream('init')));
    return trainer;
  } catch (e) {
    model.dispose();
    throw e;
  }
}
