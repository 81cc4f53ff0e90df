/**
 * In-memory labelled datasets: features as one row-major `Float32Array`, labels as class indices.
 */
import { FederaError } from '../core/errors.js';

export interface Dataset {
  /** Row-major features, `length === size * numFeatures`. */
  readonly x: Float32Array;
  /** Class index per example, in [0, numClasses). */
  readonly y: Int32Array;
  readonly numFeatures: number;
  readonly numClasses: number;
  /** Optional shape of one example's features (e.g. [28, 28, 1]); product equals numFeatures. */
  readonly featureShape?: readonly number[];
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
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= d.y.length) throw new FederaError('invalid_argument', `subset: index ${i} out of range [0, ${d.y.length})`);
    x.set(d.x.subarray(i * f, (i + 1) * f), k * f);
    y[k] = d.y[i];
  }
  return { x, y, numFeatures: f, numClasses: d.numClasses, featureShape: d.featureShape };
}

/** Number of examples per class. */
export function labelCounts(d: Dataset): number[] {
  const counts = new Array<number>(d.numClasses).fill(0);
  for (let i = 0; i < d.y.length; i++) counts[d.y[i]]++;
  return counts;
}
