/**
 * CSV → `Dataset`, for tabular federated data (e.g. one file per hospital or clinic).
 *
 * Isomorphic: parses a string. `src/node/csv.ts` reads files from disk.
 *
 * Dialect: RFC 4180 style. One header row (required). Fields may be quoted with `"`; inside quotes
 * the delimiter and line breaks are literal and `""` is one `"`. Line endings `\n`, `\r\n` or `\r`.
 * A leading byte-order mark is ignored. Empty (or whitespace-only) lines are skipped. Header names,
 * labels, group values and numbers are trimmed of surrounding whitespace.
 */
import { FederaError } from '../core/errors.js';
import { makeDataset, makeRegressionDataset, type Dataset } from './dataset.js';

export interface CsvOptions {
  /** Header name of the column holding the class label (give this or `targetColumns`). */
  labelColumn?: string;
  /**
   * Columns holding float targets, for regression (give this or `labelColumn`): the dataset then
   * has `targets` (one per column, in this order) instead of class labels.
   */
  targetColumns?: readonly string[];
  /** Feature columns, in this order. Default: every column except the label and group columns, in file order. */
  featureColumns?: readonly string[];
  /** Column whose value says which client/site an example belongs to (see `partitionNatural`). */
  groupColumn?: string;
  /**
   * Number of classes. With integer labels the default is max label + 1; give it when a file may
   * lack the highest classes (e.g. one clinic's file) so every client agrees on the class count.
   */
  numClasses?: number;
  /**
   * Fixed class names, index = position. Every label must be one of them. Use this when labels are
   * names and several files must map them identically (sorting each file's own names does not
   * give the same indices when a file lacks a class).
   */
  classNames?: readonly string[];
  /** One character; default `,`. */
  delimiter?: string;
  /** Name used in error messages, e.g. the file path; default `"csv"`. */
  source?: string;
}

export interface CsvData {
  dataset: Dataset;
  /** Class names in index order; `labels.length === dataset.numClasses`. Empty for float targets. */
  labels: string[];
  /** Names of the target columns (float targets only). */
  targetColumns?: string[];
  /** Per example, the value of `groupColumn` (only when `groupColumn` was given). */
  groups?: string[];
  /** Names of the feature columns, in feature order. */
  featureColumns: string[];
}

/** Integer labels above this are rejected: they would allocate absurd class counts (e.g. a date used as a label). */
const MAX_INTEGER_LABEL = 1_000_000;
const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const NON_FINITE_RE = /^[+-]?(?:inf|infinity|nan)$/i;
const INTEGER_RE = /^\d+$/;

/**
 * Parses CSV text into a dataset.
 *
 * Labels: if every label is a non-negative integer (digits only), the class index is that integer
 * and `numClasses` defaults to max + 1 (`labels` are then `"0"`, `"1"`, ...). Otherwise the distinct
 * label strings are sorted (by code unit, locale-independent) and numbered in that order — unless
 * `classNames` fixes the mapping.
 *
 * Every problem throws `FederaError('data_error')` with a message naming the source, the 1-based
 * line number (of the line where the record starts) and the column, e.g.
 * `clinic-a.csv line 17, column "age": "abc" is not a number`. Contradictory options
 * (bad delimiter, label column also a feature, ...) throw `invalid_config`.
 */
export function parseCsv(text: string, options: CsvOptions): CsvData {
  const source = options.source ?? 'csv';
  const delimiter = options.delimiter ?? ',';
  checkOptions(options, delimiter, source);

  let header: string[] | undefined;
  const columnLabel = (i: number): string => (header && i < header.length ? `column "${header[i]}"` : `field ${i + 1}`);
  const records = scanRecords(text, delimiter, source, columnLabel);

  // Header.
  let headerLine = 0;
  for (const rec of records) {
    headerLine = rec.line;
    header = rec.fields.map((f) => f.trim());
    break;
  }
  if (!header) throw new FederaError('data_error', `${source}: no header row (the input is empty)`, { source });
  const names = header;
  const where = (line: number, col: number): string => `${source} line ${line}, column "${names[col]}"`;

  const seen = new Map<string, number>();
  for (let i = 0; i < names.length; i++) {
    const prev = seen.get(names[i]);
    if (prev !== undefined) {
      throw new FederaError('data_error', `${source} line ${headerLine}: column name "${names[i]}" appears twice (fields ${prev + 1} and ${i + 1})`, { source, line: headerLine, column: names[i] });
    }
    seen.set(names[i], i);
  }
  const find = (name: string, role: string): number => {
    const idx = seen.get(name);
    if (idx === undefined) {
      throw new FederaError(
        'data_error',
        `${source} line ${headerLine}, column "${name}": no such column (${role}); the header has ${names.map((n) => `"${n}"`).join(', ')}`,
        { source, line: headerLine, column: name },
      );
    }
    return idx;
  };
  const targetCols = options.targetColumns ? options.targetColumns.map((name) => find(name, 'targetColumns')) : undefined;
  const labelCol = targetCols ? -1 : find(options.labelColumn!, 'labelColumn');
  const groupCol = options.groupColumn === undefined ? -1 : find(options.groupColumn, 'groupColumn');
  let featureCols: number[];
  if (options.featureColumns) {
    featureCols = options.featureColumns.map((name) => find(name, 'featureColumns'));
  } else {
    featureCols = [];
    for (let i = 0; i < names.length; i++) if (i !== labelCol && i !== groupCol && !targetCols?.includes(i)) featureCols.push(i);
  }
  if (featureCols.length === 0) {
    throw new FederaError('data_error', `${source} line ${headerLine}: no feature columns (the header has only the ${targetCols ? 'target' : 'label'}${groupCol >= 0 ? ' and group' : ''} column${targetCols && targetCols.length > 1 ? 's' : ''})`, { source, line: headerLine });
  }

  // Rows.
  const numFeatures = featureCols.length;
  let x = new Float32Array(numFeatures * 1024);
  const rawLabels: string[] = [];
  const lines: number[] = [];
  const numTargets = targetCols?.length ?? 0;
  const targetValues: number[] = [];
  const groups: string[] | undefined = groupCol >= 0 ? [] : undefined;
  for (const rec of records) {
    const f = rec.fields;
    if (f.length !== names.length) {
      throw new FederaError('data_error', `${source} line ${rec.line}: expected ${names.length} fields (as in the header), got ${f.length}`, { source, line: rec.line });
    }
    const row = rawLabels.length;
    if ((row + 1) * numFeatures > x.length) {
      const grown = new Float32Array(x.length * 2);
      grown.set(x);
      x = grown;
    }
    for (let j = 0; j < numFeatures; j++) {
      const col = featureCols[j];
      const v = parseFeature(f[col]);
      if (typeof v === 'string') {
        throw new FederaError('data_error', `${where(rec.line, col)}: ${v}`, { source, line: rec.line, column: names[col], value: f[col] });
      }
      x[row * numFeatures + j] = v;
    }
    if (targetCols) {
      for (const col of targetCols) {
        const v = parseFeature(f[col]);
        if (typeof v === 'string') {
          throw new FederaError('data_error', `${where(rec.line, col)}: target ${v}`, { source, line: rec.line, column: names[col], value: f[col] });
        }
        targetValues.push(v);
      }
      rawLabels.push('');
    } else {
      const label = f[labelCol].trim();
      if (label === '') throw new FederaError('data_error', `${where(rec.line, labelCol)}: missing label`, { source, line: rec.line, column: names[labelCol] });
      rawLabels.push(label);
    }
    lines.push(rec.line);
    if (groups) {
      const g = f[groupCol].trim();
      if (g === '') throw new FederaError('data_error', `${where(rec.line, groupCol)}: missing group`, { source, line: rec.line, column: names[groupCol] });
      groups.push(g);
    }
  }
  const n = rawLabels.length;
  if (n === 0) throw new FederaError('data_error', `${source}: no data rows after the header`, { source });
  const features = x.length === n * numFeatures ? x : x.slice(0, n * numFeatures);
  if (targetCols) {
    const dataset = makeRegressionDataset(features, Float32Array.from(targetValues), numFeatures, numTargets);
    const result: CsvData = { dataset, labels: [], targetColumns: targetCols.map((c) => names[c]), featureColumns: featureCols.map((c) => names[c]) };
    if (groups) result.groups = groups;
    return result;
  }

  // Labels.
  const y = new Int32Array(n);
  let labels: string[];
  const labelWhere = (i: number): string => where(lines[i], labelCol);
  const labelErr = (i: number, msg: string): FederaError =>
    new FederaError('data_error', `${labelWhere(i)}: ${msg}`, { source, line: lines[i], column: names[labelCol] });
  if (options.classNames) {
    const index = new Map<string, number>();
    options.classNames.forEach((name, i) => index.set(name, i));
    for (let i = 0; i < n; i++) {
      const c = index.get(rawLabels[i]);
      if (c === undefined) throw labelErr(i, `label "${rawLabels[i]}" is not one of the classNames`);
      y[i] = c;
    }
    labels = [...options.classNames];
  } else if (rawLabels.every((l) => INTEGER_RE.test(l))) {
    let max = 0;
    for (let i = 0; i < n; i++) {
      const v = Number(rawLabels[i]);
      if (v > MAX_INTEGER_LABEL) throw labelErr(i, `integer label ${rawLabels[i]} is above ${MAX_INTEGER_LABEL}; map labels to 0..numClasses-1 or use classNames`);
      if (options.numClasses !== undefined && v >= options.numClasses) throw labelErr(i, `label ${v} is not below numClasses=${options.numClasses}`);
      y[i] = v;
      if (v > max) max = v;
    }
    const k = options.numClasses ?? max + 1;
    labels = Array.from({ length: k }, (_, i) => String(i));
  } else {
    const distinct = [...new Set(rawLabels)].sort(compareCodeUnits);
    if (options.numClasses !== undefined && distinct.length > options.numClasses) {
      throw new FederaError('data_error', `${source}: ${distinct.length} distinct labels in column "${names[labelCol]}" but numClasses=${options.numClasses}`, { source, column: names[labelCol] });
    }
    const index = new Map<string, number>();
    distinct.forEach((name, i) => index.set(name, i));
    for (let i = 0; i < n; i++) y[i] = index.get(rawLabels[i])!;
    labels = distinct;
    // Pad so labels.length === numClasses; unnamed classes are named by their index.
    for (let i = distinct.length; i < (options.numClasses ?? 0); i++) labels.push(String(i));
  }

  const dataset = makeDataset(features, y, numFeatures, labels.length);
  const result: CsvData = { dataset, labels, featureColumns: featureCols.map((c) => names[c]) };
  if (groups) result.groups = groups;
  return result;
}

function checkOptions(options: CsvOptions, delimiter: string, source: string): void {
  const bad = (msg: string): FederaError => new FederaError('invalid_config', `${source}: ${msg}`, { source });
  if (typeof delimiter !== 'string' || delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw bad(`delimiter must be one character other than a quote or line break, got ${JSON.stringify(delimiter)}`);
  }
  if (options.targetColumns !== undefined) {
    if (options.labelColumn !== undefined) throw bad('give labelColumn (class labels) or targetColumns (float targets), not both');
    if (!Array.isArray(options.targetColumns) || options.targetColumns.length === 0 || options.targetColumns.some((c) => typeof c !== 'string')) {
      throw bad('targetColumns must be a non-empty list of column names');
    }
    if (new Set(options.targetColumns).size !== options.targetColumns.length) throw bad('targetColumns lists a column twice');
    if (options.groupColumn !== undefined && options.targetColumns.includes(options.groupColumn)) throw bad(`groupColumn "${options.groupColumn}" is also a target column`);
    if (options.classNames !== undefined || options.numClasses !== undefined) throw bad('classNames and numClasses are for class labels, not targetColumns');
    for (const name of options.featureColumns ?? []) if (options.targetColumns.includes(name)) throw bad(`featureColumns includes the target column "${name}"`);
  } else if (typeof options.labelColumn !== 'string') {
    throw bad(`labelColumn must be a string, got ${String(options.labelColumn)}`);
  }
  if (options.groupColumn !== undefined && options.groupColumn === options.labelColumn) {
    throw bad(`groupColumn and labelColumn are both "${options.labelColumn}"`);
  }
  if (options.featureColumns) {
    const set = new Set<string>();
    for (const name of options.featureColumns) {
      if (name === options.labelColumn) throw bad(`featureColumns includes the label column "${name}"`);
      if (name === options.groupColumn) throw bad(`featureColumns includes the group column "${name}"`);
      if (set.has(name)) throw bad(`featureColumns lists "${name}" twice`);
      set.add(name);
    }
    if (set.size === 0) throw bad('featureColumns is empty; omit it to use every other column');
  }
  if (options.numClasses !== undefined && (!Number.isInteger(options.numClasses) || options.numClasses < 1)) {
    throw bad(`numClasses must be an integer >= 1, got ${options.numClasses}`);
  }
  if (options.classNames) {
    if (options.classNames.length === 0) throw bad('classNames is empty');
    if (new Set(options.classNames).size !== options.classNames.length) throw bad('classNames has duplicates');
    if (options.numClasses !== undefined && options.numClasses !== options.classNames.length) {
      throw bad(`numClasses=${options.numClasses} but classNames has ${options.classNames.length} names`);
    }
  }
}

/** The feature's value, or a description of why it is not a usable number. Allocation-free on the happy path. */
function parseFeature(raw: string): number | string {
  const s = raw.trim();
  if (s === '') return 'missing value';
  if (!NUMBER_RE.test(s)) {
    return NON_FINITE_RE.test(s) ? `${JSON.stringify(raw)} is not a finite number` : `${JSON.stringify(raw)} is not a number`;
  }
  const v = Number(s);
  if (!Number.isFinite(v)) return `${JSON.stringify(raw)} is not a finite number`;
  if (!Number.isFinite(Math.fround(v))) return `${JSON.stringify(raw)} is outside the float32 range`;
  return v;
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface CsvRecord {
  fields: string[];
  /** 1-based line where the record starts. */
  line: number;
}

/** Lazily splits `text` into records, skipping blank lines. Resumable: the header is read first, then the rows. */
function scanRecords(text: string, delimiter: string, source: string, columnLabel: (i: number) => string): IterableIterator<CsvRecord> {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const len = text.length;
  const d = delimiter.charCodeAt(0);
  const QUOTE = 34, LF = 10, CR = 13, SPACE = 32, TAB = 9;

  function next(): CsvRecord | undefined {
    while (i < len) {
      const recLine = line;
      const fields: string[] = [];
      let anyQuoted = false;
      for (;;) {
        if (text.charCodeAt(i) === QUOTE) {
          anyQuoted = true;
          const openLine = line;
          i++;
          let value = '';
          let segStart = i;
          for (;;) {
            if (i >= len) {
              throw new FederaError('data_error', `${source} line ${openLine}, ${columnLabel(fields.length)}: quoted field is never closed`, { source, line: openLine });
            }
            const ch = text.charCodeAt(i);
            if (ch === QUOTE) {
              if (text.charCodeAt(i + 1) === QUOTE) {
                value += text.slice(segStart, i + 1);
                i += 2;
                segStart = i;
                continue;
              }
              value += text.slice(segStart, i);
              i++;
              break;
            }
            if (ch === LF || (ch === CR && text.charCodeAt(i + 1) !== LF)) line++;
            i++;
          }
          // Tolerate spaces/tabs between the closing quote and the delimiter or line end.
          while (i < len && (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB) && text.charCodeAt(i) !== d) i++;
          const c = text.charCodeAt(i);
          if (i < len && c !== d && c !== LF && c !== CR) {
            throw new FederaError(
              'data_error',
              `${source} line ${line}, ${columnLabel(fields.length)}: unexpected ${JSON.stringify(text[i])} after a closing quote (write "" for a quote inside a quoted field)`,
              { source, line },
            );
          }
          fields.push(value);
        } else {
          const start = i;
          while (i < len) {
            const c = text.charCodeAt(i);
            if (c === d || c === LF || c === CR) break;
            i++;
          }
          fields.push(text.slice(start, i));
        }
        if (i < len && text.charCodeAt(i) === d) {
          i++;
          continue;
        }
        // End of record: consume the line break.
        if (i < len) {
          if (text.charCodeAt(i) === CR && text.charCodeAt(i + 1) === LF) i += 2;
          else i++;
          line++;
        }
        break;
      }
      if (fields.length === 1 && !anyQuoted && fields[0].trim() === '') continue; // blank line
      return { fields, line: recLine };
    }
    return undefined;
  }

  const it: IterableIterator<CsvRecord> = {
    next: () => {
      const value = next();
      return value ? { value, done: false } : { value: undefined, done: true };
    },
    [Symbol.iterator]: () => it,
  };
  return it;
}
