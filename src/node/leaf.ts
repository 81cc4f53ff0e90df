/** Reads LEAF-format JSON (src/data/leaf.ts) from a file or from every `*.json` in a folder. */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FederaError } from '../core/errors.js';
import { parseLeaf, type LeafData, type LeafOptions } from '../data/leaf.js';

export function loadLeaf(path: string, options: Omit<LeafOptions, 'source'> = {}): LeafData {
  let files: string[];
  try {
    files = statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((n) => n.endsWith('.json'))
          .sort()
          .map((n) => join(path, n))
      : [path];
  } catch (e) {
    throw new FederaError('data_error', `${path}: cannot be read (${(e as Error).message})`, { source: path }, { cause: e });
  }
  if (files.length === 0) throw new FederaError('data_error', `${path}: no .json files in the folder`, { source: path });
  return parseLeaf(
    files.map((f) => ({ json: readFileSync(f, 'utf8'), source: f })),
    options,
  );
}
