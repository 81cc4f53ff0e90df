/**
 * Reads IDX files (MNIST, Fashion-MNIST) from disk, gzip or not: one images/labels pair, or a
 * folder holding the standard four files (`train-images-idx3-ubyte[.gz]`,
 * `train-labels-idx1-ubyte[.gz]`, `t10k-…`). Fashion-MNIST comes from Debian's
 * `dataset-fashion-mnist` package when it is installed ({@link FASHION_MNIST_DIR}).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FederaError } from '../core/errors.js';
import { idxDataset, isGzip, parseIdx, type IdxArray, type IdxDatasetOptions } from '../data/idx.js';
import type { Dataset } from '../data/dataset.js';

/** Where Debian's `dataset-fashion-mnist` installs its files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Fashion-MNIST's class names, index = label. */
export const FASHION_MNIST_CLASSES: readonly string[] = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** Reads and parses one IDX file, gunzipping it when it is gzip data. */
export function readIdxFile(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new FederaError('data_error', `${path}: cannot be read (${(e as Error).message})`, { source: path }, { cause: e });
  }
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new FederaError('data_error', `${path}: is not valid gzip data (${(e as Error).message})`, { source: path }, { cause: e });
    }
  }
  return parseIdx(bytes, path);
}

/** A dataset from an images file and a labels file. */
export function loadIdxPair(imagesPath: string, labelsPath: string, options: Omit<IdxDatasetOptions, 'imagesSource' | 'labelsSource'> = {}): Dataset {
  return idxDataset(readIdxFile(imagesPath), readIdxFile(labelsPath), { ...options, imagesSource: imagesPath, labelsSource: labelsPath });
}

export interface IdxFolder {
  train: Dataset;
  /** The `t10k` (test) pair, when the folder has one. */
  test?: Dataset;
}

function findFile(dir: string, names: string[], split: string, kind: string): string | undefined {
  const re = new RegExp(`^${split}-${kind}[-.]idx\\d-ubyte(\\.gz)?$`);
  const name = names.find((n) => re.test(n));
  return name === undefined ? undefined : join(dir, name);
}

/**
 * Loads a folder with `train-images-idx3-ubyte`, `train-labels-idx1-ubyte` and optionally the
 * `t10k-` pair (gzip or not; `train-images.idx3-ubyte` spelling accepted).
 */
export function loadIdxFolder(dir: string, options: Omit<IdxDatasetOptions, 'imagesSource' | 'labelsSource'> = {}): IdxFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new FederaError('data_error', `${dir}: not a folder`, { source: dir });
  const names = readdirSync(dir);
  const trainImages = findFile(dir, names, 'train', 'images');
  const trainLabels = findFile(dir, names, 'train', 'labels');
  if (!trainImages || !trainLabels) {
    throw new FederaError('data_error', `${dir}: no ${!trainImages ? 'train-images-idx3-ubyte[.gz]' : 'train-labels-idx1-ubyte[.gz]'} in the folder (it has ${names.length ? names.join(', ') : 'no files'})`, { source: dir });
  }
  const train = loadIdxPair(trainImages, trainLabels, options);
  const testImages = findFile(dir, names, 't10k', 'images');
  const testLabels = findFile(dir, names, 't10k', 'labels');
  if (!!testImages !== !!testLabels) {
    throw new FederaError('data_error', `${dir}: has ${testImages ? 't10k images but no t10k labels' : 't10k labels but no t10k images'}`, { source: dir });
  }
  const test = testImages && testLabels ? loadIdxPair(testImages, testLabels, { numClasses: train.numClasses, ...options }) : undefined;
  return test ? { train, test } : { train };
}

/**
 * Fashion-MNIST (60,000 train / 10,000 test, 28×28, 10 classes) from Debian's package. Throws
 * `unsupported` saying how to install it when it is absent.
 */
export function loadFashionMnist(dir = FASHION_MNIST_DIR): IdxFolder {
  if (!existsSync(dir)) {
    throw new FederaError('unsupported', `Fashion-MNIST not found at ${dir}; install Debian's package: sudo apt-get install dataset-fashion-mnist (or pass idx:<folder>)`, { source: dir });
  }
  return loadIdxFolder(dir, { numClasses: 10 });
}
