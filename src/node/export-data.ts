/**
 * Client data files from a simulation config: each client's partition of the training set as a
 * CSV (features `f0…`, then `label`, or `target0…` for a regression), in partition order — exactly
 * what the same-seed simulation gives that virtual client (float32 values round-trip through their
 * shortest decimal form). `federa export-data` writes them so a first deployment has data that
 * fits the zoo models; the deployment tests use them to compare with simulation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { numTargetsOf } from '../data/dataset.js';
import type { SimulationConfig } from '../config/schema.js';
import { prepareData } from './prepare-data.js';

export interface ExportedData {
  files: string[];
  ids: string[];
  sizes: number[];
  /** The test split's file, when asked for. */
  testFile?: string;
}

function csvOf(d: Dataset, indices: ArrayLike<number>): string {
  const f = d.numFeatures;
  const t = numTargetsOf(d);
  const header = [...Array.from({ length: f }, (_, j) => `f${j}`), ...(t > 0 ? Array.from({ length: t }, (_, j) => `target${j}`) : ['label'])].join(',');
  const rows: string[] = [header];
  const row: string[] = new Array(f + Math.max(t, 1));
  for (let n = 0; n < indices.length; n++) {
    const i = indices[n];
    for (let j = 0; j < f; j++) row[j] = String(d.x[i * f + j]);
    if (t > 0) for (let j = 0; j < t; j++) row[f + j] = String(d.targets![i * t + j]);
    else row[f] = String(d.y[i]);
    rows.push(row.join(','));
  }
  return rows.join('\n') + '\n';
}

/** Writes `client-<i>.csv` per client of `data` into `dir` (and `test.csv` with `withTest`). */
export function writeClientCsvs(data: { train: Dataset; test: Dataset; partitions: Int32Array[]; clientIds?: string[] }, dir: string, o: { withTest?: boolean } = {}): ExportedData {
  mkdirSync(dir, { recursive: true });
  const width = String(data.partitions.length - 1).length;
  const files: string[] = [];
  const ids: string[] = [];
  data.partitions.forEach((indices, c) => {
    const file = join(dir, `client-${c}.csv`);
    writeFileSync(file, csvOf(data.train, indices));
    files.push(file);
    ids.push(data.clientIds?.[c] ?? `client-${String(c).padStart(width, '0')}`);
  });
  let testFile: string | undefined;
  if (o.withTest) {
    testFile = join(dir, 'test.csv');
    writeFileSync(testFile, csvOf(data.test, Int32Array.from({ length: data.test.y.length }, (_, i) => i)));
  }
  return { files, ids, sizes: data.partitions.map((p) => p.length), ...(testFile ? { testFile } : {}) };
}

/** The client files of a simulation config (its data, partition and seed). */
export function exportClientData(config: SimulationConfig, dir: string, o: { withTest?: boolean } = {}): ExportedData {
  return writeClientCsvs(prepareData(config), dir, o);
}
