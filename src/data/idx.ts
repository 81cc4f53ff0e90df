/**
 * IDX files (the MNIST / Fashion-MNIST format) → `Dataset`. Isomorphic: parses bytes;
 * `src/node/idx.ts` reads (and gunzips) files and folders.
 *
 * Format (LeCun et al.): two zero bytes, a type byte (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32,
 * 0x0D f32, 0x0E f64), a byte with the number of dimensions, each dimension as a big-endian u32,
 * then the values, big-endian, row-major.
 */
import { FederaError } from '../core/errors.js';
import { makeDataset, type Dataset } from './dataset.js';

export interface IdxArray {
  /** Dimensions, the first being the number of items. */
  readonly dims: number[];
  /** Values as float64 (exact for every IDX type). */
  readonly values: Float64Array;
  /** The IDX type byte. */
  readonly type: number;
}

const TYPE_SIZE: Record<number, number> = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 };

function idxError(source: string, message: string): FederaError {
  return new FederaError('data_error', `${source}: ${message}`, { source });
}

/** True for gzip data (magic 1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses one IDX file's bytes; `source` names it in errors. */
export function parseIdx(bytes: Uint8Array, source = 'idx'): IdxArray {
  if (isGzip(bytes)) throw idxError(source, 'is gzip-compressed; decompress it first (the Node loader does this)');
  if (bytes.length < 4) throw idxError(source, `is ${bytes.length} bytes long, too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw idxError(source, `is not an IDX file (first bytes ${hex(bytes[0])} ${hex(bytes[1])}, expected 00 00)`);
  const type = bytes[2];
  const size = TYPE_SIZE[type];
  if (size === undefined) throw idxError(source, `has unknown IDX value type ${hex(type)} (expected 08, 09, 0b, 0c, 0d or 0e)`);
  const rank = bytes[3];
  if (rank < 1) throw idxError(source, 'declares 0 dimensions');
  const header = 4 + 4 * rank;
  if (bytes.length < header) throw idxError(source, `is truncated inside its header (${rank} dimensions need ${header} bytes, the file has ${bytes.length})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = header + count * size;
  if (bytes.length !== expected) {
    throw idxError(source, `has ${bytes.length} bytes but its header [${dims.join(' × ')}] of ${size}-byte values needs ${expected}${bytes.length < expected ? ' (truncated?)' : ''}`);
  }
  const values = new Float64Array(count);
  for (let i = 0, o = header; i < count; i++, o += size) {
    switch (type) {
      case 0x08: values[i] = bytes[o]; break;
      case 0x09: values[i] = view.getInt8(o); break;
      case 0x0b: values[i] = view.getInt16(o, false); break;
      case 0x0c: values[i] = view.getInt32(o, false); break;
      case 0x0d: values[i] = view.getFloat32(o, false); break;
      default: values[i] = view.getFloat64(o, false);
    }
  }
  return { dims, values, type };
}

function hex(b: number | undefined): string {
  return b === undefined ? '--' : b.toString(16).padStart(2, '0');
}

export interface IdxDatasetOptions {
  /** Class count (default: max label + 1, at least 2). */
  numClasses?: number;
  /** Divide pixel values by this (default 255 for u8 images, 1 otherwise). */
  scale?: number;
  /** Names of the two inputs in errors. */
  imagesSource?: string;
  labelsSource?: string;
}

/**
 * A dataset from an images IDX array ([n, rows, cols] or [n, rows, cols, channels], or
 * [n, features]) and a labels IDX array ([n]). Images become `featureShape` [rows, cols, channels].
 */
export function idxDataset(images: IdxArray, labels: IdxArray, options: IdxDatasetOptions = {}): Dataset {
  const is = options.imagesSource ?? 'images';
  const ls = options.labelsSource ?? 'labels';
  if (labels.dims.length !== 1) throw idxError(ls, `labels must have one dimension, got [${labels.dims.join(' × ')}]`);
  if (images.dims.length < 2 || images.dims.length > 4) throw idxError(is, `images must have 2 to 4 dimensions, got [${images.dims.join(' × ')}]`);
  const n = images.dims[0];
  if (labels.dims[0] !== n) throw idxError(ls, `has ${labels.dims[0]} labels but ${is} has ${n} images`);
  const shape = images.dims.slice(1);
  const featureShape = shape.length === 1 ? undefined : shape.length === 2 ? [shape[0], shape[1], 1] : shape;
  const f = shape.reduce((a, b) => a * b, 1);
  let max = 0;
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = labels.values[i];
    if (!Number.isInteger(v) || v < 0) throw idxError(ls, `label ${v} of item ${i} is not a non-negative integer`);
    if (options.numClasses !== undefined && v >= options.numClasses) throw idxError(ls, `label ${v} of item ${i} is not below numClasses=${options.numClasses}`);
    y[i] = v;
    if (v > max) max = v;
  }
  const scale = options.scale ?? (images.type === 0x08 ? 255 : 1);
  const x = new Float32Array(n * f);
  for (let i = 0; i < x.length; i++) x[i] = images.values[i] / scale;
  return makeDataset(x, y, f, options.numClasses ?? Math.max(2, max + 1), featureShape);
}
