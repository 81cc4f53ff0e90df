/** Reads a text corpus (src/data/text.ts) from JSON Lines (`.jsonl`: one record per line) or JSON (an array of records). */
import { readFileSync } from 'node:fs';
import { FederaError } from '../core/errors.js';
import { textCorpus, type TextCorpus, type TextCorpusOptions, type TextRecord } from '../data/text.js';

/** Parses the records of a `.jsonl` or `.json` file; errors name the file and line. */
export function readTextRecords(path: string): TextRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FederaError('data_error', `${path}: cannot be read (${(e as Error).message})`, { source: path }, { cause: e });
  }
  if (path.endsWith('.json')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new FederaError('data_error', `${path}: is not valid JSON (${(e as Error).message})`, { source: path });
    }
    if (!Array.isArray(v)) throw new FederaError('data_error', `${path}: expected a JSON array of records`, { source: path });
    return v as TextRecord[];
  }
  const out: TextRecord[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as TextRecord);
    } catch (e) {
      throw new FederaError('data_error', `${path} line ${i + 1}: is not valid JSON (${(e as Error).message})`, { source: path, line: i + 1 });
    }
  });
  return out;
}

export function loadTextCorpus(path: string, options: Omit<TextCorpusOptions, 'source'> = {}): TextCorpus {
  return textCorpus(readTextRecords(path), { ...options, source: path });
}
