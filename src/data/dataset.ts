/**
 * In-memory datasets: features as one row-major `Float32Array`; class indices as labels, or float
 * targets (one or several per example) for regression.
 */
import { FederaError } from '../core/errors.js';

/**
 * What a model learns from a dataset: `classification` (softmax over numClasses ≥ 2),
 * `binary` (one sigmoid output; labels 0/1), `regression` (float targets, MSE).
 */
export type Task = 'classification' | 'binary' | 'regression';

export const TASKS: readonly Task[] = ['classification', 'binary', 'regression'];

export interface Dataset {
  /** Row-major features, `length === size * numFeatures`. */
  readonly x: Float32Array;
  /**
   * Class index per example, in [0, numClasses). For a regression dataset (one with `targets`)
   * all zeros with numClasses 1, so every size- and label-based helper keeps working.
   */
  readonly y: Int32Array;
  readonly numFeatures: number;
  readonly numClasses: number;
  /** Optional shape of one example's features (e.g. [28, 28, 1]); product equals numFeatures. */
  readonly featureShape?: readonly number[];
  /** Float targets, row-major `size × numTargets` (regression datasets only). */
  readonly targets?: Float32Array;
  /** Targets per example (with `targets`; default 1). */
  readonly numTargets?: number;
}

/** Targets per example of a regression dataset, 0 for a labelled one. */
export function numTargetsOf(d: Dataset): number {
  return d.targets === undefined ? 0 : (d.numTargets ?? 1);
}

/** A regression dataset: `targets` holds `numTargets` finite floats per example. */
export function makeRegressionDataset(x: Float32Array, targets: Float32Array, numFeatures: number, numTargets = 1, featureShape?: readonly number[]): Dataset {
  if (!Number.isInteger(numFeatures) || numFeatures <= 0) throw new FederaError('data_error', `numFeatures must be a positive integer, got ${numFeatures}`);
  if (!Number.isInteger(numTargets) || numTargets <= 0) throw new FederaError('data_error', `numTargets must be a positive integer, got ${numTargets}`);
  if (targets.length % numTargets !== 0) throw new FederaError('data_error', `targets have ${targets.length} values, not a multiple of numTargets=${numTargets}`);
  const n = targets.length / numTargets;
  if (x.length !== n * numFeatures) {
    throw new FederaError('data_error', `features have ${x.length} values; expected ${n} examples × ${numFeatures} features = ${n * numFeatures}`);
  }
  for (let i = 0; i < targets.length; i++) {
    if (!Number.isFinite(targets[i])) throw new FederaError('data_error', `target ${i % numTargets} of example ${Math.floor(i / numTargets)} is ${targets[i]}, not a finite number`);
  }
  return { x, y: new Int32Array(n), numFeatures, numClasses: 1, featureShape, targets, numTargets };
}

export function datasetSize(d: Dataset): number {
  return d.y.length;
}

export function makeDataset(x: Float32Array, y: Int32Array, numFeatures: number, numClasses: number, featureShape?: readonly number[]): Dataset {
  if (!Number.isInteger(numFeatures) || numFeatures <= 0) throw new FederaError('data_error', `numFeatures must be a positive integer, got ${numFeatures}`);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new FederaError('data_error', `numClasses must be a positive integer, got ${numClasses}`);
  if (x.length !== y.length * numFeatures) {
    throw new FederaError('data_error', `features have ${x.length} values; expected ${y.length} examples × ${numFeatures} features = ${y.length * numFeatures}`);
  }
  for (let i = 0; i < y.length; i++) {
    if (y[i] < 0 || y[i] >= numClasses) throw new FederaError('data_error', `label ${y[i]} of example ${i} is outside [0, ${numClasses})`);
  }
  return { x, y, numFeatures, numClasses, featureShape };
}

/** A new dataset holding the examples at `indices`, in that order (copies). */
export function subset(d: Dataset, indices: ArrayLike<number>): Dataset {
  const f = d.numFeatures;
  const x = new Float32Array(indices.length * f);
  const y = new Int32Array(indices.length);
  const t = numTargetsOf(d);
  const targets = t > 0 ? new Float32Array(indices.length * t) : undefined;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= d.y.length) throw new FederaError('invalid_argument', `subset: index ${i} out of range [0, ${d.y.length})`);
    x.set(d.x.subarray(i * f, (i + 1) * f), k * f);
    y[k] = d.y[i];
    if (targets) targets.set(d.targets!.subarray(i * t, (i + 1) * t), k * t);
  }
  const out: Dataset = { x, y, numFeatures: f, numClasses: d.numClasses, featureShape: d.featureShape };
  return targets ? { ...out, targets, numTargets: t } : out;
}

/** Number of examples per class. */
export function labelCounts(d: Dataset): number[] {
  const counts = new Array<number>(d.numClasses).fill(0);
  for (let i = 0; i < d.y.length; i++) counts[d.y[i]]++;
  return counts;
}
