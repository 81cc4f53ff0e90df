/**
 * LEAF-format JSON (Caldas et al. 2018: FEMNIST, Shakespeare, Sent140, …) → `Dataset` with its
 * natural partition, one client per LEAF user. Isomorphic: parses text or parsed JSON;
 * `src/node/leaf.ts` reads files and folders.
 *
 * A LEAF file is `{ "users": [u…], "num_samples": [n…], "user_data": { u: { "x": [...], "y": [...] } } }`.
 * Two kinds of `x` are understood:
 *  - numeric: each x is an array of numbers (FEMNIST: 784 pixels), each y an integer class;
 *  - text: each x is a string and each y one character (Shakespeare's next-character task);
 *    characters become indices in {@link LEAF_CHARACTERS} (LEAF's own 80-symbol alphabet).
 */
import { FederaError } from '../core/errors.js';
import { makeDataset, type Dataset } from './dataset.js';

/** LEAF's Shakespeare alphabet (`ALL_LETTERS` in its language_utils.py); index = token id. */
export const LEAF_CHARACTERS = '\n !"&\'(),-.0123456789:;>?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz}';

export interface LeafOptions {
  /** Name used in errors (the file path). */
  source?: string;
  /** Class count for numeric data (default max label + 1; FEMNIST has 62). */
  numClasses?: number;
  /** Shape of one numeric example (default [28, 28, 1] when x has 784 values). */
  featureShape?: readonly number[];
}

export interface LeafData {
  dataset: Dataset;
  /** LEAF users in file order; client i holds `partitions[i]`. */
  users: string[];
  partitions: Int32Array[];
  kind: 'numeric' | 'text';
}

/** The raw LEAF object of one file (after JSON.parse). */
export interface LeafJson {
  users: unknown;
  num_samples?: unknown;
  user_data: unknown;
}

function leafError(source: string, message: string): FederaError {
  return new FederaError('data_error', `${source}: ${message}`, { source });
}

/** Parses one or several LEAF files (their users are concatenated; a user may appear once). */
export function parseLeaf(inputs: string | LeafJson | ReadonlyArray<{ json: string | LeafJson; source: string }>, options: LeafOptions = {}): LeafData {
  const files = typeof inputs === 'string' || !Array.isArray(inputs) ? [{ json: inputs as string | LeafJson, source: options.source ?? 'leaf' }] : (inputs as ReadonlyArray<{ json: string | LeafJson; source: string }>);
  const users: string[] = [];
  const seen = new Map<string, string>();
  const xs: unknown[] = [];
  const ys: unknown[] = [];
  const where: Array<{ source: string; user: string; k: number }> = [];
  const partitions: Int32Array[] = [];
  for (const { json, source } of files) {
    let obj: LeafJson;
    if (typeof json === 'string') {
      try {
        obj = JSON.parse(json) as LeafJson;
      } catch (e) {
        throw leafError(source, `is not valid JSON (${(e as Error).message})`);
      }
    } else obj = json;
    if (obj === null || typeof obj !== 'object') throw leafError(source, 'is not a LEAF object (expected { users, num_samples, user_data })');
    if (!Array.isArray(obj.users)) throw leafError(source, '"users" is missing or not an array');
    if (obj.user_data === null || typeof obj.user_data !== 'object') throw leafError(source, '"user_data" is missing or not an object');
    const numSamples = obj.num_samples;
    if (numSamples !== undefined && (!Array.isArray(numSamples) || numSamples.length !== obj.users.length)) {
      throw leafError(source, `"num_samples" must be an array with one count per user (${obj.users.length})`);
    }
    const data = obj.user_data as Record<string, { x?: unknown; y?: unknown }>;
    obj.users.forEach((u, i) => {
      if (typeof u !== 'string' && typeof u !== 'number') throw leafError(source, `users[${i}] is not a string`);
      const user = String(u);
      const prev = seen.get(user);
      if (prev !== undefined) throw leafError(source, `user "${user}" appears twice${prev === source ? '' : ` (also in ${prev})`}`);
      seen.set(user, source);
      const d = data[user];
      if (d === undefined || !Array.isArray(d.x) || !Array.isArray(d.y)) throw leafError(source, `user_data["${user}"] must have arrays "x" and "y"`);
      if (d.x.length !== d.y.length) throw leafError(source, `user "${user}" has ${d.x.length} x but ${d.y.length} y`);
      if (numSamples !== undefined && (numSamples as unknown[])[i] !== d.x.length) {
        throw leafError(source, `num_samples[${i}] is ${String((numSamples as unknown[])[i])} but user "${user}" has ${d.x.length} samples`);
      }
      const start = xs.length;
      d.x.forEach((x, k) => {
        xs.push(x);
        ys.push((d.y as unknown[])[k]);
        where.push({ source, user, k });
      });
      partitions.push(Int32Array.from({ length: d.x.length }, (_, k) => start + k));
      users.push(user);
    });
  }
  if (xs.length === 0) throw leafError(files[0]?.source ?? 'leaf', 'holds no samples');
  const at = (i: number) => `${where[i].source}: user "${where[i].user}" sample ${where[i].k}`;
  const n = xs.length;
  if (typeof xs[0] === 'string') {
    // Text: one token per character.
    const index = new Map<string, number>();
    for (let c = 0; c < LEAF_CHARACTERS.length; c++) index.set(LEAF_CHARACTERS[c], c);
    const len = (xs[0] as string).length;
    const x = new Float32Array(n * len);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const s = xs[i];
      if (typeof s !== 'string' || s.length !== len) throw new FederaError('data_error', `${at(i)}: x must be a string of ${len} characters like the first sample's, got ${typeof s === 'string' ? s.length + ' characters' : typeof s}`);
      for (let j = 0; j < len; j++) {
        const t = index.get(s[j]);
        if (t === undefined) throw new FederaError('data_error', `${at(i)}: character ${JSON.stringify(s[j])} is not in LEAF's 80-symbol alphabet`);
        x[i * len + j] = t;
      }
      const yc = ys[i];
      const t = typeof yc === 'string' && yc.length === 1 ? index.get(yc) : undefined;
      if (t === undefined) throw new FederaError('data_error', `${at(i)}: y must be one character of LEAF's alphabet, got ${JSON.stringify(yc)}`);
      y[i] = t;
    }
    return { dataset: makeDataset(x, y, len, LEAF_CHARACTERS.length, [len]), users, partitions, kind: 'text' };
  }
  const f = Array.isArray(xs[0]) ? (xs[0] as unknown[]).length : 0;
  if (f === 0) throw new FederaError('data_error', `${at(0)}: x must be a non-empty array of numbers or a string`);
  const x = new Float32Array(n * f);
  const y = new Int32Array(n);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const row = xs[i];
    if (!Array.isArray(row) || row.length !== f) throw new FederaError('data_error', `${at(i)}: x must have ${f} values like the first sample's, got ${Array.isArray(row) ? row.length : typeof row}`);
    for (let j = 0; j < f; j++) {
      const v = row[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new FederaError('data_error', `${at(i)}: x[${j}] is ${JSON.stringify(v)}, not a finite number`);
      x[i * f + j] = v;
    }
    const label = ys[i];
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0) throw new FederaError('data_error', `${at(i)}: y is ${JSON.stringify(label)}, not a class index ≥ 0`);
    if (options.numClasses !== undefined && label >= options.numClasses) throw new FederaError('data_error', `${at(i)}: y = ${label} is not below numClasses=${options.numClasses}`);
    y[i] = label;
    if (label > max) max = label;
  }
  const shape = options.featureShape ?? (f === 784 ? [28, 28, 1] : undefined);
  return { dataset: makeDataset(x, y, f, options.numClasses ?? Math.max(2, max + 1), shape), users, partitions, kind: 'numeric' };
}
