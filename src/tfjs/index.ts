/**
 * `federa/tfjs`: the TensorFlow.js binding — backend selection, reference models and a
 * {@link Trainer} implementation. Kept out of the main entry point so that federa's core never
 * loads tfjs for users who bring their own ML library.
 */
export { initBackend, activeBackend, BACKEND_ENV_VAR } from '../models/backend.js';
export type { BackendName, InitBackendOptions } from '../models/backend.js';
export { logisticRegression, mlp2nn, createModel, initParameters } from '../models/zoo.js';
export type { ModelName, ZooModel } from '../models/zoo.js';
export { TfjsTrainer, createTfjsTrainer } from '../models/tfjs-trainer.js';
export type { CreateTfjsTrainerOptions, TfjsTrainerOptions } from '../models/tfjs-trainer.js';
export { DpSgdTrainer, dpSgdEpsilon, type DpSgdTrainerOptions, type DpSgdAccounting } from '../models/dp-sgd.js';
export type { Trainer, FitOptions, FitOutcome, EvaluateOutcome } from '../client/trainer.js';
