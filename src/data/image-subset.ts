/**
 * The compact image-subset format: the MNIST subset a federa server serves at
 * /client/mnist-subset.bin for demo browser clients. Shared by the server (encodes) and browser
 * pages (decode), so it lives below both.
 */
import { FederaError } from '../core/errors.js';
import { makeDataset, subset, type Dataset } from './dataset.js';


/**
 * `FMN1` | u32 count | u32 numFeatures | u32 numClasses | u8 labels[count] | u8 pixels[count × numFeatures]
 * (little-endian; pixel byte p means p/255).
 */
export const MNIST_SUBSET_MAGIC = 'FMN1';
const HEADER_BYTES = 16;

/** Encodes a dataset with values in [0, 1] as the compact subset format (pixels rounded to 1/255). */
export function encodeImageSubset(d: Dataset): Uint8Array {
  const n = d.y.length;
  const out = new Uint8Array(HEADER_BYTES + n + n * d.numFeatures);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = MNIST_SUBSET_MAGIC.charCodeAt(i);
  view.setUint32(4, n, true);
  view.setUint32(8, d.numFeatures, true);
  view.setUint32(12, d.numClasses, true);
  for (let i = 0; i < n; i++) out[HEADER_BYTES + i] = d.y[i];
  const px = HEADER_BYTES + n;
  for (let i = 0; i < d.x.length; i++) out[px + i] = Math.round(Math.min(1, Math.max(0, d.x[i])) * 255);
  return out;
}

/** Decodes the subset format; `shard`/`shards` keep examples i with i mod shards = shard. */
export function decodeImageSubset(bytes: Uint8Array, options: { shard?: number; shards?: number } = {}): Dataset {
  const bad = (why: string) => new FederaError('data_error', `MNIST subset: ${why}`);
  if (bytes.length < HEADER_BYTES || String.fromCharCode(...bytes.subarray(0, 4)) !== MNIST_SUBSET_MAGIC) throw bad(`not a ${MNIST_SUBSET_MAGIC} file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(4, true);
  const f = view.getUint32(8, true);
  const c = view.getUint32(12, true);
  if (bytes.length !== HEADER_BYTES + n + n * f) throw bad(`${bytes.length} bytes, expected ${HEADER_BYTES + n + n * f} for ${n} examples of ${f} features`);
  const x = new Float32Array(n * f);
  const px = HEADER_BYTES + n;
  for (let i = 0; i < x.length; i++) x[i] = bytes[px + i] / 255;
  const y = Int32Array.from(bytes.subarray(HEADER_BYTES, HEADER_BYTES + n));
  const side = squareSide(f);
  const all = makeDataset(x, y, f, c, side ? [side, side, 1] : undefined);
  const shards = options.shards ?? 1;
  const shard = options.shard ?? 0;
  if (!Number.isInteger(shards) || shards < 1 || !Number.isInteger(shard) || shard < 0 || shard >= shards) {
    throw new FederaError('invalid_argument', `shard must be an integer in [0, ${shards}) and shards ≥ 1; got shard ${shard} of ${shards}`);
  }
  if (shards === 1) return all;
  const keep: number[] = [];
  for (let i = shard; i < n; i += shards) keep.push(i);
  return subset(all, keep);
}

/** The side of a square image of `numFeatures` pixels, or undefined when it is not a square. */
export function squareSide(numFeatures: number): number | undefined {
  const side = Math.round(Math.sqrt(numFeatures));
  return side * side === numFeatures ? side : undefined;
}
