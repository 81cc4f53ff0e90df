/**
 * A compression pipeline: encodes a Float32Array into one self-describing Uint8Array (see
 * format.ts for the layout) and decodes it back. Decoding needs no spec: the header says which
 * stages ran with which parameters (including the rotation seed), so a receiver decodes whatever
 * valid pipeline the sender used, and refuses anything malformed with a `malformed_message` error
 * that names the payload and the problem.
 */
import { FederaError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { findNonFinite } from '../core/kernels.js';
import {
  CODEC_BY_ID,
  CODEC_ID,
  FORMAT_VERSION,
  HEADER_BYTES,
  MAGIC0,
  MAGIC1,
  STAGE_BYTES,
  align4,
  malformed,
  requireLittleEndian,
  sectionBytes,
} from './format.js';
import { MAX_ROTATE_BLOCK, QUANTIZE_BITS, parsePipeline, validatePipeline, type CodecSpec, type PipelineSpec, type QuantizeBits } from './spec.js';
import { encodeFloat16, decodeFloat16 } from './float16.js';
import { dequantize, quantize, quantizedBytes, scaleCount } from './quantize.js';
import { gather, scatter, selectTopK, topkCount } from './topk.js';
import { rotate, rotatedLength, unrotate } from './hadamard.js';
import { packIndices, planPackedIndices, readRawIndices, unpackIndices } from './lossless.js';

/** What a payload's header says. */
export interface PayloadHeader {
  version: number;
  /** Length of the decoded vector. */
  length: number;
  /** Values kept by top-k (the sparse payload's size), when the payload is sparse. */
  k?: number;
  rotate?: { block: number; seed: number };
  values: { codec: 'float32' } | { codec: 'fp16' } | { codec: 'quantize'; bits: QuantizeBits; chunk: number };
  lossless: boolean;
  /** Byte offset of the first section. */
  headerBytes: number;
}

export interface DecodeOptions {
  /** Refuse a payload whose decoded length differs (checked on the header, before anything is allocated). */
  expectedLength?: number;
  /** Names the payload in error messages, e.g. `train reply from client c3: encoded update`. */
  where?: string;
  /** Decode into this array (its length must be the payload's length) instead of a new one. */
  out?: Float32Array;
  /** Largest length decoded into a new array (default 2^28 values, 1 GiB); above it `payload_too_large`. */
  maxLength?: number;
}

const DEFAULT_MAX_LENGTH = 2 ** 28;

export class CompressionPipeline {
  /** The validated stages, defaults filled in. */
  readonly spec: readonly CodecSpec[];
  private readonly topk: Extract<CodecSpec, { codec: 'topk' }> | undefined;
  private readonly rotation: Extract<CodecSpec, { codec: 'rotate' }> | undefined;
  private readonly value: Extract<CodecSpec, { codec: 'fp16' | 'quantize' }> | undefined;
  private readonly lossless: boolean;

  /** `spec` as stage objects or the shorthand (`topk:0.01,quantize:8,lossless`); throws `invalid_config`. */
  constructor(spec: PipelineSpec | string, where = 'pipeline') {
    this.spec = Object.freeze(typeof spec === 'string' ? parsePipeline(spec, where) : validatePipeline(spec, where));
    this.topk = this.spec.find((s) => s.codec === 'topk') as CompressionPipeline['topk'];
    this.rotation = this.spec.find((s) => s.codec === 'rotate') as CompressionPipeline['rotation'];
    this.value = this.spec.find((s) => s.codec === 'fp16' || s.codec === 'quantize') as CompressionPipeline['value'];
    this.lossless = this.spec.some((s) => s.codec === 'lossless');
  }

  /** Whether encoding draws random numbers (stochastic quantization, rotation seed). */
  get stochastic(): boolean {
    return this.rotation !== undefined || this.value?.codec === 'quantize';
  }

  /**
   * Encodes `x`. `rng` is required when the pipeline is stochastic (quantize, rotate); the same
   * stream gives the same bytes. Throws `non_finite` for NaN/±Infinity (or a value beyond float16's
   * range with fp16) and `invalid_config` for an impossible k.
   */
  encode(x: Float32Array, rng?: Rng, where = 'encode'): Uint8Array {
    requireLittleEndian();
    const n = x.length;
    if (n > 0xffffffff) throw new FederaError('payload_too_large', `${where}: ${n} values do not fit a u32 length`);
    if (this.stochastic && !rng) throw new FederaError('invalid_argument', `${where}: pipeline ${this.spec.map((s) => s.codec).join(',')} needs an Rng`);
    let values = x;
    let indices: Uint32Array | null = null;
    const tk = this.topk;
    if (tk) {
      const k = topkCount(tk, n, `${where}: topk`);
      indices = new Uint32Array(k);
      const bad = selectTopK(x, indices);
      if (bad >= 0) throw nonFinite(where, x[bad], bad);
      values = new Float32Array(k);
      gather(x, indices, values);
    } else if (!this.value || this.rotation) {
      const bad = findNonFinite(x);
      if (bad >= 0) throw nonFinite(where, x[bad], bad);
    }
    let seed = 0;
    const rot = this.rotation;
    if (rot) {
      seed = rng!.nextU32();
      const rotated = new Float32Array(rotatedLength(values.length, rot.block!));
      rotate(values, rot.block!, seed, rotated);
      values = rotated;
    }
    const m = values.length;
    const plan = indices && this.lossless ? planPackedIndices(indices) : null;
    const indexBytes = indices ? (plan ? plan.bytes : 4 * indices.length) : 0;
    const v = this.value;
    const valueBytes = v?.codec === 'fp16' ? 2 * m : v?.codec === 'quantize' ? quantizedBytes(m, v.bits, v.chunk!) : 4 * m;
    const stages = this.spec.length;
    const head = HEADER_BYTES + STAGE_BYTES * stages;
    const total = head + (indices ? sectionBytes(indexBytes) : 0) + sectionBytes(valueBytes);
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    out[0] = MAGIC0;
    out[1] = MAGIC1;
    out[2] = FORMAT_VERSION;
    out[3] = stages;
    dv.setUint32(4, n, true);
    this.spec.forEach((s, i) => {
      const at = HEADER_BYTES + STAGE_BYTES * i;
      out[at] = CODEC_ID[s.codec];
      if (s.codec === 'topk') dv.setUint32(at + 4, indices!.length, true);
      else if (s.codec === 'rotate') {
        out[at + 1] = Math.log2(s.block!);
        dv.setUint32(at + 4, seed, true);
      } else if (s.codec === 'quantize') {
        out[at + 1] = s.bits;
        dv.setUint32(at + 4, s.chunk!, true);
      }
    });
    let at = head;
    if (indices) {
      dv.setUint32(at, indexBytes, true);
      at += 4;
      if (plan) packIndices(indices, plan, out.subarray(at, at + align4(indexBytes)));
      else new Uint32Array(out.buffer, at, indices.length).set(indices);
      at += align4(indexBytes);
    }
    dv.setUint32(at, valueBytes, true);
    at += 4;
    if (v?.codec === 'fp16') {
      const bad = encodeFloat16(values, new Uint16Array(out.buffer, at, m));
      if (bad >= 0) {
        const i = indices ? indices[bad] : bad;
        throw new FederaError('non_finite', `${where}: value ${x[i]} at index ${i} has no finite float16 (|x| must be < 65520)`, { index: i });
      }
    } else if (v?.codec === 'quantize') {
      const r = rng!;
      const seeds = [r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()];
      const chunks = scaleCount(m, v.chunk!);
      const scales = new Float32Array(out.buffer, at, 2 * chunks);
      const codes = new Uint8Array(out.buffer, at + 8 * chunks, align4(Math.ceil((m * v.bits) / 8)));
      const bad = quantize(values, v.bits, v.chunk!, seeds, scales, codes);
      if (bad >= 0) {
        if (rot) throw new FederaError('non_finite', `${where}: rotated value ${bad} is not finite (input too large)`);
        const i = indices ? indices[bad] : bad;
        throw nonFinite(where, x[i], i);
      }
      if (bad < -1) throw new FederaError('non_finite', `${where}: the range of chunk ${-2 - bad} does not fit a float32 scale`);
    } else {
      new Float32Array(out.buffer, at, m).set(values);
    }
    return out;
  }

  /** Decodes a payload (any valid pipeline, not only this one's). */
  decode(bytes: Uint8Array, options: DecodeOptions = {}): Float32Array {
    return decodePayload(bytes, options);
  }

  /** The shorthand of this pipeline's stages. */
  toString(): string {
    return this.spec.map((s) => s.codec).join(',') || 'float32';
  }
}

function nonFinite(where: string, value: number, index: number): FederaError {
  return new FederaError('non_finite', `${where}: value ${value} at index ${index} is not finite`, { index });
}

/** Reads and checks a payload's header; throws `malformed_message` naming `where`. */
export function readHeader(bytes: unknown, where = 'payload'): PayloadHeader {
  if (!(bytes instanceof Uint8Array)) throw malformed(where, `expected a Uint8Array, got ${describeValue(bytes)}`);
  if (bytes.byteLength < HEADER_BYTES) throw malformed(where, `truncated: ${bytes.byteLength} bytes, a header needs at least ${HEADER_BYTES}`);
  if (bytes[0] !== MAGIC0 || bytes[1] !== MAGIC1) {
    throw malformed(where, `not a federa compressed payload (starts with 0x${hex(bytes[0])} 0x${hex(bytes[1])}, expected 0x46 0x5a "FZ")`);
  }
  const version = bytes[2];
  if (version !== FORMAT_VERSION) throw malformed(where, `unknown format version ${version} (this build reads version ${FORMAT_VERSION})`, { version });
  const stages = bytes[3];
  if (stages > 4) throw malformed(where, `${stages} stages (at most 4)`);
  const headerBytes = HEADER_BYTES + STAGE_BYTES * stages;
  if (bytes.byteLength < headerBytes) throw malformed(where, `truncated: ${bytes.byteLength} bytes, the header of ${stages} stages needs ${headerBytes}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = dv.getUint32(4, true);
  const header: PayloadHeader = { version, length, values: { codec: 'float32' }, lossless: false, headerBytes };
  const names: string[] = [];
  for (let i = 0; i < stages; i++) {
    const at = HEADER_BYTES + STAGE_BYTES * i;
    const name = CODEC_BY_ID[bytes[at]];
    const a = bytes[at + 1];
    const b = dv.getUint32(at + 4, true);
    const stage = `${where}: stage ${i}`;
    if (!name) throw malformed(stage, `unknown codec id ${bytes[at]}`);
    if (dv.getUint16(at + 2, true) !== 0) throw malformed(stage, `(${name}) reserved bytes are not zero`);
    names.push(name);
    switch (name) {
      case 'topk':
        if (b > length) throw malformed(stage, `(topk) keeps k = ${b} of ${length} values; k must be ≤ the length`);
        header.k = b;
        break;
      case 'rotate':
        if (a > Math.log2(MAX_ROTATE_BLOCK)) throw malformed(stage, `(rotate) block 2^${a} is larger than ${MAX_ROTATE_BLOCK}`);
        header.rotate = { block: 2 ** a, seed: b };
        break;
      case 'fp16':
        header.values = { codec: 'fp16' };
        break;
      case 'quantize':
        if (!QUANTIZE_BITS.includes(a as QuantizeBits)) throw malformed(stage, `(quantize) bits = ${a}; must be 1, 2, 4 or 8`);
        if (b < 1) throw malformed(stage, `(quantize) chunk = 0`);
        header.values = { codec: 'quantize', bits: a as QuantizeBits, chunk: b };
        break;
      case 'lossless':
        header.lossless = true;
        break;
    }
  }
  // The same order rules as a spec.
  try {
    validatePipeline(
      names.map((codec) =>
        codec === 'topk' ? { codec, k: Math.max(1, header.k ?? 1) } : codec === 'quantize' ? { codec, bits: (header.values as { bits: number }).bits } : codec === 'rotate' ? { codec, block: header.rotate!.block } : { codec },
      ),
      'stages',
    );
  } catch (e) {
    throw malformed(where, `invalid stage list ${names.join(',')}: ${(e as Error).message}`);
  }
  return header;
}

/**
 * Decodes a payload into a Float32Array of the length its header states. Throws
 * `malformed_message` for: not a Uint8Array, a truncated buffer, a wrong magic or unknown version,
 * an unknown codec or impossible parameters (bits, k > length, block), sections whose sizes do not
 * match the header, trailing bytes, indices out of range, invalid scales or float16 infinities,
 * and a length other than `expectedLength`.
 */
export function decodePayload(bytes: Uint8Array, options: DecodeOptions = {}): Float32Array {
  requireLittleEndian();
  const where = options.where ?? 'payload';
  const h = readHeader(bytes, where);
  const n = h.length;
  if (options.expectedLength !== undefined && n !== options.expectedLength) {
    throw malformed(where, `decodes to ${n} values, expected ${options.expectedLength}`, { expected: options.expectedLength, actual: n });
  }
  if (options.out && options.out.length !== n) throw malformed(where, `decodes to ${n} values, but the output array holds ${options.out.length}`);
  // Typed-array views need 4-byte alignment; a payload cut out of a larger frame may lack it.
  const buf = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = h.headerBytes;
  const section = (name: string): Uint8Array => {
    if (at + 4 > buf.byteLength) throw malformed(where, `truncated: the ${name} section's length is missing (${buf.byteLength} bytes)`);
    const len = dv.getUint32(at, true);
    const start = at + 4;
    if (start + align4(len) > buf.byteLength) {
      throw malformed(where, `truncated: the ${name} section needs ${align4(len)} bytes at offset ${start}, the payload has ${buf.byteLength}`);
    }
    at = start + align4(len);
    return buf.subarray(start, start + len);
  };
  // Every size is checked against the bytes actually present before anything is allocated.
  const k = h.k;
  const indexData = k !== undefined ? section('index') : null;
  const m0 = k ?? n;
  const m = h.rotate ? rotatedLength(m0, h.rotate.block) : m0;
  const v = h.values;
  const expectedValueBytes = v.codec === 'fp16' ? 2 * m : v.codec === 'quantize' ? quantizedBytes(m, v.bits, v.chunk) : 4 * m;
  const data = section('values');
  if (data.byteLength !== expectedValueBytes) {
    throw malformed(where, `values section has ${data.byteLength} bytes; ${m} ${v.codec} values need ${expectedValueBytes}`);
  }
  if (at !== buf.byteLength) throw malformed(where, `${buf.byteLength - at} unexpected bytes after the last section`);
  const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
  if (n > maxLength && !options.out) {
    throw new FederaError('payload_too_large', `${where}: decodes to ${n} values, more than the ${maxLength} allowed (DecodeOptions.maxLength)`);
  }
  let indices: Uint32Array | null = null;
  if (indexData && k !== undefined) {
    indices = new Uint32Array(k);
    if (h.lossless) unpackIndices(indexData, n, indices, `${where}: index section`);
    else readRawIndices(indexData, n, indices, `${where}: index section`);
  }
  const out = options.out ?? new Float32Array(n);
  // Values decode straight into `out` unless they are sparse or rotated.
  const dense = k === undefined && !h.rotate;
  const vals = dense ? out : new Float32Array(m);
  if (v.codec === 'fp16') {
    const bad = decodeFloat16(new Uint16Array(data.buffer, data.byteOffset, m), vals);
    if (bad >= 0) throw malformed(where, `value ${bad} is a float16 infinity or NaN`);
  } else if (v.codec === 'quantize') {
    const chunks = scaleCount(m, v.chunk);
    const scales = new Float32Array(data.buffer, data.byteOffset, 2 * chunks);
    const codes = new Uint8Array(data.buffer, data.byteOffset + 8 * chunks, align4(Math.ceil((m * v.bits) / 8)));
    const bad = dequantize(scales, codes, v.bits, v.chunk, vals);
    if (bad >= 0) throw malformed(where, `chunk ${bad} has an invalid scale (min ${scales[2 * bad]}, step ${scales[2 * bad + 1]})`);
  } else {
    vals.set(new Float32Array(data.buffer, data.byteOffset, m));
    const bad = findNonFinite(vals);
    if (bad >= 0) throw malformed(where, `value ${bad} is not finite (${vals[bad]})`);
  }
  if (dense) return out;
  let sparse = vals;
  if (h.rotate) {
    sparse = k === undefined ? out : new Float32Array(m0);
    unrotate(vals, h.rotate.block, h.rotate.seed, sparse);
  }
  if (indices) scatter(indices, sparse, out);
  return out;
}

function hex(b: number | undefined): string {
  return (b ?? 0).toString(16).padStart(2, '0');
}

function describeValue(x: unknown): string {
  if (x === null) return 'null';
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  return typeof x;
}
