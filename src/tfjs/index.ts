/**
 * `federa/tfjs`: the TensorFlow.js binding — backend selection, reference models and a
 * {@link Trainer} implementation. Kept out of the main entry point so that federa's core never
 * loads tfjs for users who bring their own ML library.
 */
export { initBackend, activeBackend, BACKEND_ENV_VAR } from '../models/backend.js';
export type { BackendName, InitBackendOptions } from '../models/backend.js';
export { logisticRegression, mlp2nn, mnistCnn, cifarCnn, lstmNextToken, createModel, initParameters, ZOO_MODELS } from '../models/zoo.js';
export type { ModelName, ZooModel, CreateModelOptions } from '../models/zoo.js';
export { registerWasmConvKernels, useConvFilterRoute, type ConvFilterRoute } from '../models/wasm-kernels.js';
export { aucRoc, rSquaredFromSse } from '../models/metrics.js';
export { SUPPORTED_LAYERS, checkTopology, checkModelForData, modelFromTopology, architectureOf, trainerFromSpec, type ArchitectureSpec, type DataShape } from '../models/model-json.js';
export { TfjsTrainer, createTfjsTrainer } from '../models/tfjs-trainer.js';
export type { CreateTfjsTrainerOptions, TfjsTrainerOptions } from '../models/tfjs-trainer.js';
export { DpSgdTrainer, dpSgdEpsilon, type DpSgdTrainerOptions, type DpSgdAccounting } from '../models/dp-sgd.js';
export type { Trainer, FitOptions, FitOutcome, EvaluateOutcome } from '../client/trainer.js';
