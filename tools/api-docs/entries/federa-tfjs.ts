/**
 * TensorFlow.js: backend selection, the `Trainer` adapter (`createTfjsTrainer`), the model zoo (logreg, 2NN).
 * @module federa/tfjs
 */
export * from '../../../src/tfjs/index.js';
