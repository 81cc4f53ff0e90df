/**
 * Reads a TF.js layers-format `model.json` (+ its weight files) from disk: what
 * `model.save('file://dir')` writes and what `tensorflowjs_converter --input_format keras`
 * produces. The topology is checked (src/models/model-json.ts) before TF.js builds anything.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FederaError } from '../core/errors.js';
import { makeParams, type Params } from '../core/params.js';
import { Rng } from '../core/rng.js';
import type { Dataset, Task } from '../data/dataset.js';
import { initBackend } from '../models/backend.js';
import { architectureOf, checkModelForData, checkTopology, type DataShape } from '../models/model-json.js';
import { TfjsTrainer } from '../models/tfjs-trainer.js';
import { initParameters } from '../models/zoo.js';
import type { ModelSpec } from '../wire/protocol.js';

export interface LoadedModelJson {
  model: tf.LayersModel;
  /** Whether the file came with weights (else the model is freshly initialised). */
  hasWeights: boolean;
  /** The topology as JSON text (for the model spec). */
  architecture: string;
}

function dataError(path: string, message: string, cause?: unknown): FederaError {
  return new FederaError('data_error', `${path}: ${message}`, { source: path }, cause === undefined ? undefined : { cause });
}

/** Reads and checks `model.json`; loads its weights when its manifest lists them. */
export async function loadModelJson(path: string): Promise<LoadedModelJson> {
  await initBackend();
  let json: { modelTopology?: unknown; weightsManifest?: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>; format?: string };
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw dataError(path, existsSync(path) ? `is not valid JSON (${(e as Error).message})` : 'does not exist', e);
  }
  if (json === null || typeof json !== 'object' || json.modelTopology === undefined) {
    const format = json && (json as { format?: string }).format;
    const hint =
      format === 'graph-model'
        ? ' (a graph model cannot be trained; convert the Keras model with --output_format tfjs_layers_model)'
        : format === 'float32-le'
          ? ' (this is the parameter file of a federa run, model.bin\'s layout, not a TF.js model)'
          : '';
    throw dataError(path, `has no "modelTopology"${hint}: expected a TF.js layers model (model.save('file://…') or tensorflowjs_converter)`);
  }
  checkTopology(json.modelTopology, path);
  const manifest = json.weightsManifest ?? [];
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of manifest) {
    for (const p of group.paths) {
      const file = join(dirname(path), p);
      try {
        buffers.push(readFileSync(file));
      } catch (e) {
        throw dataError(file, `weight file listed in ${path} cannot be read (${(e as Error).message})`, e);
      }
    }
    weightSpecs.push(...group.weights);
  }
  const total = buffers.reduce((a, b) => a + b.length, 0);
  const weightData = new Uint8Array(total);
  let o = 0;
  for (const b of buffers) {
    weightData.set(b, o);
    o += b.length;
  }
  const expected = weightSpecs.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1) * (w.dtype === 'float32' || w.dtype === 'int32' || w.dtype === undefined ? 4 : 1), 0);
  if (weightSpecs.length > 0 && expected !== total && !weightSpecs.some((w) => w.quantization)) {
    throw dataError(path, `its weight files hold ${total} bytes but the manifest describes ${expected}`);
  }
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(
      tf.io.fromMemory(weightSpecs.length > 0 ? { modelTopology: json.modelTopology as object, weightSpecs, weightData: weightData.buffer } : { modelTopology: json.modelTopology as object }),
    );
  } catch (e) {
    throw dataError(path, `TF.js could not build the model (${(e as Error).message})`, e);
  }
  return { model, hasWeights: weightSpecs.length > 0, architecture: architectureOf(model) };
}

export interface ModelJsonServerModelOptions extends DataShape {
  seed: number | string;
  /** Central evaluation data (test split). */
  evaluationData?: Dataset;
  task?: Task;
}

/**
 * A server model (`FederaServerOptions.model`, `ServerModel` in server.ts) for a model.json:
 * the spec carries the architecture so Node and browser clients build the same model; the
 * initial parameters are the file's weights, or seeded ones when it has none.
 */
export async function modelJsonServerModel(
  path: string,
  o: ModelJsonServerModelOptions,
): Promise<{ spec: ModelSpec; initialParams: Params; evaluate?: (round: number, params: Params) => Promise<{ loss: number; metrics: Record<string, number> }>; dispose(): void }> {
  const loaded = await loadModelJson(path);
  let trainer: TfjsTrainer;
  try {
    checkModelForData(loaded.model, o, path);
    trainer = new TfjsTrainer(loaded.model, { task: o.task });
  } catch (e) {
    loaded.model.dispose();
    throw e;
  }
  if (!loaded.hasWeights) trainer.setParameters(initParameters(trainer.layout, new Rng(o.seed).stream('init')));
  const test = o.evaluationData;
  const inShape = loaded.model.inputs[0].shape.slice(1) as number[];
  return {
    spec: {
      name: loaded.model.name,
      numFeatures: o.numFeatures,
      numClasses: o.numClasses,
      layout: trainer.layout.toJSON(),
      ...(o.task && o.task !== 'classification' ? { task: o.task } : {}),
      ...(inShape.length > 1 ? { inputShape: inShape } : {}),
      architecture: loaded.architecture,
    },
    initialParams: makeParams(trainer.layout, trainer.getParameters()),
    evaluate: test
      ? async (_round, params) => {
          trainer.setParameters(params.data);
          const r = await trainer.evaluate(test);
          return { loss: r.loss, metrics: r.metrics as Record<string, number> };
        }
      : undefined,
    dispose: () => trainer.dispose(),
  };
}
