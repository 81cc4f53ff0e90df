/**
 * The container every compressed payload travels in: a fixed header naming the format version,
 * the decoded length and the pipeline's stages with their parameters, then length-prefixed
 * sections (indices, values). Layout (little-endian, every section 4-byte aligned):
 *
 * ```
 *  0  u8[2]  magic "FZ" (0x46 0x5A)
 *  2  u8     format version (1)
 *  3  u8     number of stages S (0‥4)
 *  4  u32    n, the length of the decoded Float32Array
 *  8  S × 8-byte stage descriptors, in pipeline order:
 *       u8 codec id, u8 a, u16 reserved (0), u32 b
 *       topk:     a = 0,               b = k (values kept)
 *       rotate:   a = log2(block),     b = rotation seed
 *       fp16:     a = 0,               b = 0
 *       quantize: a = bits (1|2|4|8),  b = chunk (values per scale)
 *       lossless: a = 0,               b = 0
 *  then sections, each a u32 byte length, the bytes, and zero padding to a multiple of 4:
 *       indices  (only with topk)
 *       values
 * ```
 */
import { FederaError } from '../core/errors.js';

export const MAGIC0 = 0x46; // 'F'
export const MAGIC1 = 0x5a; // 'Z'
/** The container version this build writes and reads. */
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 8;
export const STAGE_BYTES = 8;

export const CODEC_ID = { topk: 1, rotate: 2, fp16: 3, quantize: 4, lossless: 5 } as const;
export type CodecName = keyof typeof CODEC_ID;
export const CODEC_BY_ID: Readonly<Record<number, CodecName>> = { 1: 'topk', 2: 'rotate', 3: 'fp16', 4: 'quantize', 5: 'lossless' };

/** Typed-array views over the payload assume a little-endian platform (every current browser and Node target is). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function align4(n: number): number {
  return (n + 3) & ~3;
}

export function malformed(where: string, message: string, details?: Record<string, unknown>): FederaError {
  return new FederaError('malformed_message', `${where}: ${message}`, details);
}

export function invalidConfig(where: string, message: string): FederaError {
  return new FederaError('invalid_config', `${where}: ${message}`);
}

export function requireLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new FederaError('unsupported', 'federa compression needs a little-endian platform');
}

/** Bytes a section occupies: its u32 length prefix plus its data padded to 4. */
export function sectionBytes(dataBytes: number): number {
  return 4 + align4(dataBytes);
}

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function isPow2(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}
