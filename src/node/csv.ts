/**
 * Node loader for CSV datasets.
 */
import { readFileSync } from 'node:fs';
import { FederaError } from '../core/errors.js';
import { parseCsv, type CsvData, type CsvOptions } from '../data/csv.js';

/**
 * Reads a UTF-8 CSV file and parses it with `parseCsv`, using the path as the error-message source
 * (so errors read `data/clinic-a.csv line 17, column "age": ...`). A missing or unreadable file
 * throws `not_found`.
 */
export function loadCsvFile(path: string, options: Omit<CsvOptions, 'source'>): CsvData {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FederaError('not_found', `cannot read CSV file ${path}: ${(e as Error).message}`, { path }, { cause: e });
  }
  return parseCsv(text, { ...options, source: path });
}
