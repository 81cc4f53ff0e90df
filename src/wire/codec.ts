/**
 * The wire codec: `Frame` ↔ bytes, following `proto/federa.proto`. Isomorphic (Node and browsers).
 *
 * Encoding writes the small parts with @bufbuild/protobuf's BinaryWriter and keeps large typed
 * arrays as separate chunks, so a model's parameters are copied exactly once, into the final
 * frame. Decoding validates everything it reads — version, field numbers and wire types, lengths,
 * UTF-8, nesting, counts, size limits and finite floats — and throws a `FederaError`
 * (`malformed_message`, `payload_too_large` or `non_finite`) whose message says what was wrong and
 * where.
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { FederaError, isFederaError } from '../core/errors.js';
import { PROTOCOL_VERSION, type MessageBase } from '../core/messages.js';
import { findNonFinite } from '../core/kernels.js';

/** Frame kinds (`Kind` in the proto file). */
export const FrameKind = {
  hello: 1,
  challenge: 2,
  welcome: 3,
  instruction: 4,
  reply: 5,
  cancel: 6,
  notice: 7,
  ping: 8,
  pong: 9,
  bye: 10,
} as const;
export type FrameKindName = keyof typeof FrameKind;
const KIND_NAMES: readonly (FrameKindName | undefined)[] = (() => {
  const names: (FrameKindName | undefined)[] = [];
  for (const [name, n] of Object.entries(FrameKind)) names[n] = name as FrameKindName;
  return names;
})();

/** A value the wire carries: scalars, typed arrays (raw little-endian bytes), records and lists. */
export type WireValue = number | string | boolean | Uint8Array | Float32Array | Float64Array | Int32Array | Uint32Array | WireRecord | readonly WireValue[];
export interface WireRecord {
  readonly [name: string]: WireValue;
}

export interface FrameInit {
  kind: FrameKindName;
  runId?: string;
  round?: number;
  clientId?: string;
  requestId?: number;
  type?: string;
  nonce?: Uint8Array;
  body?: WireRecord;
}

export interface Frame {
  readonly version: number;
  readonly kind: FrameKindName;
  readonly runId: string;
  readonly round: number;
  readonly clientId: string;
  readonly requestId: number;
  readonly type: string;
  readonly nonce: Uint8Array;
  readonly body: WireRecord;
  /** Empty when the frame is not signed. */
  readonly signature: Uint8Array;
}

export interface DecodedFrame extends Frame {
  /** The frame's bytes before its signature field: what the signature covers. */
  readonly signedPart: Uint8Array;
  /** Size of the whole frame in bytes. */
  readonly byteLength: number;
}

export interface DecodeLimits {
  /** Largest frame accepted (default 64 MiB). */
  maxFrameBytes?: number;
  /** Deepest nesting of records and lists (default 16). */
  maxDepth?: number;
  /** Most fields in one record or values in one list (default 100,000). */
  maxEntries?: number;
  /** Longest header string (run id, client id, type) in bytes (default 256). */
  maxHeaderStringBytes?: number;
  /** Where decoded Float32Arrays live (default: fresh arrays); e.g. a buffer pool. */
  allocFloat32?: (length: number) => Float32Array;
}

export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
export const SIGNATURE_BYTES = 64;
export const NONCE_BYTES = 16;
/** Bytes a signature adds at the end of a frame: tag (1) + length (1) + 64. */
export const SIGNATURE_FIELD_BYTES = 2 + SIGNATURE_BYTES;
const SIGNATURE_TAG = (15 << 3) | WireType.LengthDelimited;
const MAX_NAME_BYTES = 128;
/** Body keys that belong to the header of a message frame. */
const HEADER_KEYS = new Set(['type', 'runId', 'round']);

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------------------------------------
// Encoding

/** Typed arrays at least this large are kept as their own chunk instead of being copied twice. */
const BIG_CHUNK = 1024;

/** A BinaryWriter for the small parts plus a list of chunks; `finish` copies everything once. */
class ChunkWriter {
  readonly w = new BinaryWriter();
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  big(bytes: Uint8Array): void {
    if (bytes.byteLength < BIG_CHUNK) {
      this.w.raw(bytes);
      return;
    }
    this.flush();
    this.chunks.push(bytes);
    this.size += bytes.byteLength;
  }

  private flush(): void {
    const head = this.w.finish();
    if (head.byteLength) {
      this.chunks.push(head);
      this.size += head.byteLength;
    }
  }

  /** One buffer holding every chunk, followed by `reserve` zero bytes. */
  finish(reserve: number): Uint8Array {
    this.flush();
    if (this.chunks.length === 1 && reserve === 0 && this.chunks[0].buffer.byteLength === this.size) return this.chunks[0];
    const out = new Uint8Array(this.size + reserve);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

/** An encodable node: its encoded size (without its own tag and length) and how to write it. */
interface Enc {
  readonly size: number;
  write(cw: ChunkWriter): void;
}

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Size of a length-delimited field: tag + length prefix + content. */
function ldSize(field: number, contentSize: number): number {
  return varintSize(field << 3) + varintSize(contentSize) + contentSize;
}

function bytesOf(view: ArrayBufferView, bytesPerElement: number): Uint8Array {
  if (LITTLE_ENDIAN || bytesPerElement === 1) return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  // Big-endian hosts: write a little-endian copy.
  const out = new Uint8Array(view.byteLength);
  const src = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  for (let i = 0; i < out.length; i += bytesPerElement) for (let j = 0; j < bytesPerElement; j++) out[i + j] = src[i + bytesPerElement - 1 - j];
  return out;
}

function ldBytes(field: number, bytes: Uint8Array): Enc {
  return {
    size: ldSize(field, bytes.byteLength),
    write: (cw) => {
      cw.w.tag(field, WireType.LengthDelimited).uint32(bytes.byteLength);
      cw.big(bytes);
    },
  };
}

function ldMessage(field: number, inner: Enc): Enc {
  return {
    size: ldSize(field, inner.size),
    write: (cw) => {
      cw.w.tag(field, WireType.LengthDelimited).uint32(inner.size);
      inner.write(cw);
    },
  };
}

function seq(parts: Enc[]): Enc {
  return { size: parts.reduce((s, p) => s + p.size, 0), write: (cw) => parts.forEach((p) => p.write(cw)) };
}

function unsupported(path: string, what: string): FederaError {
  return new FederaError('invalid_argument', `wire encode: ${path} is ${what}, which the wire cannot carry (numbers, strings, booleans, typed arrays, plain objects and arrays only)`);
}

/** Encodes a `Value` message's content. */
function encValue(v: unknown, path: string, depth: number): Enc {
  if (depth > 64) throw new FederaError('invalid_argument', `wire encode: ${path} nests too deeply`);
  switch (typeof v) {
    case 'number':
      return { size: 9, write: (cw) => cw.w.tag(1, WireType.Bit64).double(v) };
    case 'string':
      return ldBytes(2, utf8.encode(v));
    case 'boolean':
      return { size: 2, write: (cw) => cw.w.tag(3, WireType.Varint).bool(v) };
    case 'object': {
      if (v === null) throw unsupported(path, 'null');
      if (v instanceof Uint8Array) return ldBytes(4, v);
      if (v instanceof Float32Array) return ldBytes(5, bytesOf(v, 4));
      if (v instanceof Float64Array) return ldBytes(6, bytesOf(v, 8));
      if (v instanceof Int32Array) return ldBytes(7, bytesOf(v, 4));
      if (v instanceof Uint32Array) return ldBytes(8, bytesOf(v, 4));
      if (ArrayBuffer.isView(v)) throw unsupported(path, `a ${v.constructor.name}`);
      if (Array.isArray(v)) return ldMessage(10, seq(v.map((x, i) => ldMessage(1, encValue(x, `${path}[${i}]`, depth + 1)))));
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw unsupported(path, `a ${(v as object).constructor?.name ?? 'class instance'}`);
      return ldMessage(9, encFields(v as Record<string, unknown>, path, depth + 1));
    }
    default:
      throw unsupported(path, typeof v);
  }
}

/** Encodes the fields of a record as repeated `Field` (field number 1 inside Record, 9 inside Frame). */
function encFields(record: Record<string, unknown>, path: string, depth: number, fieldNo = 1): Enc {
  const parts: Enc[] = [];
  for (const [name, value] of Object.entries(record)) {
    if (value === undefined) continue;
    const nameBytes = utf8.encode(name);
    if (nameBytes.length === 0 || nameBytes.length > MAX_NAME_BYTES || name === '__proto__') {
      throw new FederaError('invalid_argument', `wire encode: ${path} has a field name that is empty, longer than ${MAX_NAME_BYTES} bytes or reserved ("${name.slice(0, 40)}")`);
    }
    const sub = path ? `${path}.${name}` : name;
    parts.push(ldMessage(fieldNo, seq([ldBytes(1, nameBytes), ldMessage(2, encValue(value, sub, depth))])));
  }
  return seq(parts);
}

/**
 * Encodes a frame. With `reserveSignature`, the frame ends with an all-zero signature field that
 * `attachSignature` fills in; the bytes before it (`unsignedPart`) are what gets signed.
 */
export function encodeFrame(init: FrameInit, options: { reserveSignature?: boolean } = {}): Uint8Array {
  const kind = FrameKind[init.kind];
  if (kind === undefined) throw new FederaError('invalid_argument', `wire encode: unknown frame kind "${String(init.kind)}"`);
  const round = init.round ?? 0;
  const requestId = init.requestId ?? 0;
  if (!Number.isInteger(round) || round < 0 || round > 0xffffffff) throw new FederaError('invalid_argument', `wire encode: round must be a uint32, got ${round}`);
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > 0xffffffff) throw new FederaError('invalid_argument', `wire encode: requestId must be a uint32, got ${requestId}`);
  const cw = new ChunkWriter();
  const w = cw.w;
  w.tag(1, WireType.Varint).uint32(PROTOCOL_VERSION);
  w.tag(2, WireType.Varint).uint32(kind);
  if (init.runId) w.tag(3, WireType.LengthDelimited).string(init.runId);
  if (round) w.tag(4, WireType.Varint).uint32(round);
  if (init.clientId) w.tag(5, WireType.LengthDelimited).string(init.clientId);
  if (requestId) w.tag(6, WireType.Varint).uint32(requestId);
  if (init.type) w.tag(7, WireType.LengthDelimited).string(init.type);
  if (init.nonce?.length) w.tag(8, WireType.LengthDelimited).bytes(init.nonce);
  if (init.body) encFields(init.body as Record<string, unknown>, '', 1, 9).write(cw);
  if (!options.reserveSignature) return cw.finish(0);
  const out = cw.finish(SIGNATURE_FIELD_BYTES);
  out[out.length - SIGNATURE_FIELD_BYTES] = SIGNATURE_TAG;
  out[out.length - SIGNATURE_FIELD_BYTES + 1] = SIGNATURE_BYTES;
  return out;
}

/** The bytes of a frame made with `reserveSignature` that its signature covers. */
export function unsignedPart(frame: Uint8Array): Uint8Array {
  return frame.subarray(0, frame.length - SIGNATURE_FIELD_BYTES);
}

/** Writes `signature` into the reserved tail of a frame made with `reserveSignature`. */
export function attachSignature(frame: Uint8Array, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_BYTES) throw new FederaError('invalid_argument', `signature must be ${SIGNATURE_BYTES} bytes, got ${signature.length}`);
  if (frame[frame.length - SIGNATURE_FIELD_BYTES] !== SIGNATURE_TAG) throw new FederaError('invalid_argument', 'attachSignature: the frame has no reserved signature field');
  frame.set(signature, frame.length - SIGNATURE_BYTES);
  return frame;
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface Limits {
  maxFrameBytes: number;
  maxDepth: number;
  maxEntries: number;
  maxHeaderStringBytes: number;
  allocFloat32: (length: number) => Float32Array;
}

function limitsOf(l: DecodeLimits): Limits {
  return {
    maxFrameBytes: l.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    maxDepth: l.maxDepth ?? 16,
    maxEntries: l.maxEntries ?? 100_000,
    maxHeaderStringBytes: l.maxHeaderStringBytes ?? 256,
    allocFloat32: l.allocFloat32 ?? ((n) => new Float32Array(n)),
  };
}

/** A BinaryReader that exposes its bytes (sub-messages are read through views of them). */
class Reader extends BinaryReader {
  constructor(readonly data: Uint8Array) {
    super(data);
  }
}

function malformed(reason: string): FederaError {
  return new FederaError('malformed_message', `malformed frame: ${reason}`);
}

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];

function expectWire(field: string, got: number, want: WireType): void {
  if (got !== want) throw malformed(`field ${field} has wire type ${WIRE_NAMES[got] ?? got}, expected ${WIRE_NAMES[want]}`);
}

function text(bytes: Uint8Array, what: string): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    throw malformed(`${what} is not valid UTF-8`);
  }
}

/** A sub-reader over a length-delimited field, bounds-checked against the parent. */
function sub(r: Reader, what: string): Reader {
  const len = r.uint32();
  const start = r.pos;
  if (start + len > r.len) throw malformed(`${what} claims ${len} bytes but only ${r.len - start} remain`);
  r.pos += len;
  return new Reader(r.data.subarray(start, start + len));
}

function ldView(r: Reader, what: string): Uint8Array {
  const len = r.uint32();
  const start = r.pos;
  if (start + len > r.len) throw malformed(`${what} claims ${len} bytes but only ${r.len - start} remain`);
  r.pos += len;
  return r.data.subarray(start, start + len);
}

function typedFrom<T extends Float32Array | Float64Array | Int32Array | Uint32Array>(
  raw: Uint8Array,
  bytesPer: number,
  make: (n: number) => T,
  path: string,
  kind: string,
): T {
  if (raw.length % bytesPer !== 0) throw malformed(`${path}: ${kind} array of ${raw.length} bytes is not a whole number of ${bytesPer}-byte values`);
  const out = make(raw.length / bytesPer);
  if (out.length !== raw.length / bytesPer) throw new FederaError('internal', `${path}: allocator returned ${out.length} values for ${raw.length / bytesPer}`);
  const dst = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  if (LITTLE_ENDIAN) dst.set(raw);
  else for (let i = 0; i < raw.length; i += bytesPer) for (let j = 0; j < bytesPer; j++) dst[i + j] = raw[i + bytesPer - 1 - j];
  return out;
}

function nonFinite(path: string, value: number, index?: number): FederaError {
  return new FederaError('non_finite', `frame field ${path}${index === undefined ? '' : `[${index}]`} is ${value} (only finite numbers are accepted)`, { field: path, index });
}

function decodeValue(r: Reader, path: string, depth: number, l: Limits): WireValue {
  if (depth > l.maxDepth) throw malformed(`${path} nests deeper than ${l.maxDepth} levels`);
  let value: WireValue | undefined;
  let seen = false;
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (seen) throw malformed(`${path} sets more than one member of Value`);
    seen = true;
    switch (no) {
      case 1: {
        expectWire(`${path}.number`, wt, WireType.Bit64);
        if (r.pos + 8 > r.len) throw malformed(`${path}: truncated double`);
        const v = r.double();
        if (!Number.isFinite(v)) throw nonFinite(path, v);
        value = v;
        break;
      }
      case 2:
        expectWire(`${path}.text`, wt, WireType.LengthDelimited);
        value = text(ldView(r, path), path);
        break;
      case 3: {
        expectWire(`${path}.flag`, wt, WireType.Varint);
        const v = r.uint32();
        if (v > 1) throw malformed(`${path}: bool is ${v}`);
        value = v === 1;
        break;
      }
      case 4:
        expectWire(`${path}.u8`, wt, WireType.LengthDelimited);
        value = ldView(r, path).slice();
        break;
      case 5: {
        expectWire(`${path}.f32`, wt, WireType.LengthDelimited);
        const a = typedFrom(ldView(r, path), 4, l.allocFloat32, path, 'float32');
        const bad = findNonFinite(a);
        if (bad >= 0) throw nonFinite(path, a[bad], bad);
        value = a;
        break;
      }
      case 6: {
        expectWire(`${path}.f64`, wt, WireType.LengthDelimited);
        const a = typedFrom(ldView(r, path), 8, (n) => new Float64Array(n), path, 'float64');
        for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) throw nonFinite(path, a[i], i);
        value = a;
        break;
      }
      case 7:
        expectWire(`${path}.i32`, wt, WireType.LengthDelimited);
        value = typedFrom(ldView(r, path), 4, (n) => new Int32Array(n), path, 'int32');
        break;
      case 8:
        expectWire(`${path}.u32`, wt, WireType.LengthDelimited);
        value = typedFrom(ldView(r, path), 4, (n) => new Uint32Array(n), path, 'uint32');
        break;
      case 9:
        expectWire(`${path}.record`, wt, WireType.LengthDelimited);
        value = decodeFields(sub(r, path), 1, path, depth + 1, l);
        break;
      case 10: {
        expectWire(`${path}.list`, wt, WireType.LengthDelimited);
        const lr = sub(r, path);
        const list: WireValue[] = [];
        while (lr.pos < lr.len) {
          const [ln, lwt] = lr.tag();
          if (ln !== 1) throw malformed(`${path}: unknown field ${ln} in List`);
          expectWire(`${path}[${list.length}]`, lwt, WireType.LengthDelimited);
          if (list.length >= l.maxEntries) throw malformed(`${path}: list holds more than ${l.maxEntries} values`);
          list.push(decodeValue(sub(lr, `${path}[${list.length}]`), `${path}[${list.length}]`, depth + 1, l));
        }
        value = list;
        break;
      }
      default:
        throw malformed(`${path}: unknown Value member ${no}`);
    }
  }
  if (value === undefined) throw malformed(`${path} has no value`);
  return value;
}

/** Reads repeated `Field` entries (field number `fieldNo`) until the reader's end. */
function decodeFields(r: Reader, fieldNo: number, path: string, depth: number, l: Limits, until?: () => boolean): Record<string, WireValue> {
  const out: Record<string, WireValue> = {};
  let count = 0;
  while (r.pos < r.len && !until?.()) {
    const [no, wt] = r.tag();
    if (no !== fieldNo) throw malformed(`${path || 'record'}: unknown field ${no}`);
    expectWire(`${path || 'body'} entry`, wt, WireType.LengthDelimited);
    if (++count > l.maxEntries) throw malformed(`${path || 'body'} holds more than ${l.maxEntries} fields`);
    const fr = sub(r, `${path || 'body'} entry`);
    let name: string | undefined;
    let value: WireValue | undefined;
    while (fr.pos < fr.len) {
      const [fno, fwt] = fr.tag();
      if (fno === 1) {
        if (name !== undefined) throw malformed(`${path || 'body'}: a field has two names`);
        expectWire('Field.name', fwt, WireType.LengthDelimited);
        const raw = ldView(fr, 'Field.name');
        if (raw.length === 0 || raw.length > MAX_NAME_BYTES) throw malformed(`${path || 'body'}: field name of ${raw.length} bytes (1..${MAX_NAME_BYTES} allowed)`);
        name = text(raw, 'a field name');
        if (name === '__proto__') throw malformed(`${path || 'body'}: field name "__proto__" is reserved`);
      } else if (fno === 2) {
        if (value !== undefined) throw malformed(`${path || 'body'}: field "${name ?? '?'}" has two values`);
        expectWire('Field.value', fwt, WireType.LengthDelimited);
        const where = `${path ? `${path}.` : ''}${name ?? '?'}`;
        value = decodeValue(sub(fr, where), where, depth, l);
      } else throw malformed(`${path || 'body'}: unknown field ${fno} in Field`);
    }
    if (name === undefined || value === undefined) throw malformed(`${path || 'body'}: a field lacks its ${name === undefined ? 'name' : `value ("${name}")`}`);
    if (Object.prototype.hasOwnProperty.call(out, name)) throw malformed(`${path || 'body'}: field "${name}" appears twice`);
    out[name] = value;
  }
  return out;
}

/**
 * Decodes and validates one frame. Throws `payload_too_large` for a frame over the size limit,
 * `non_finite` for a NaN or ±Infinity anywhere, and `malformed_message` for anything else wrong.
 */
export function decodeFrame(bytes: Uint8Array, limits: DecodeLimits = {}): DecodedFrame {
  const l = limitsOf(limits);
  if (!(bytes instanceof Uint8Array)) throw malformed('not binary data');
  if (bytes.byteLength > l.maxFrameBytes) {
    throw new FederaError('payload_too_large', `frame of ${bytes.byteLength} bytes exceeds the limit of ${l.maxFrameBytes} bytes`, { bytes: bytes.byteLength, limit: l.maxFrameBytes });
  }
  if (bytes.byteLength === 0) throw malformed('empty frame');
  try {
    return decodeFrameUnchecked(bytes, l);
  } catch (e) {
    if (isFederaError(e)) throw e;
    // BinaryReader signals truncation and bad varints with plain Errors.
    throw malformed(e instanceof Error ? e.message : String(e));
  }
}

function decodeFrameUnchecked(bytes: Uint8Array, l: Limits): DecodedFrame {
  const r = new Reader(bytes);
  const seen = new Set<number>();
  let version: number | undefined;
  let kind: FrameKindName | undefined;
  let runId = '';
  let round = 0;
  let clientId = '';
  let requestId = 0;
  let type = '';
  let nonce: Uint8Array = new Uint8Array(0);
  const body: Record<string, WireValue> = {};
  let signature: Uint8Array = new Uint8Array(0);
  let signedEnd = bytes.length;
  const headerString = (name: string): string => {
    const raw = ldView(r, name);
    if (raw.length > l.maxHeaderStringBytes) throw malformed(`${name} is ${raw.length} bytes (at most ${l.maxHeaderStringBytes})`);
    return text(raw, name);
  };
  const uint32 = (name: string): number => {
    const start = r.pos;
    const v = r.uint32();
    if (r.pos - start > 5) throw malformed(`${name} overflows uint32`);
    return v >>> 0;
  };
  let bodyCount = 0;
  while (r.pos < r.len) {
    const fieldStart = r.pos;
    const [no, wt] = r.tag();
    if (seen.has(15)) throw malformed('the signature must be the last field of a frame');
    if (no !== 9 && seen.has(no)) throw malformed(`header field ${no} appears twice`);
    seen.add(no);
    switch (no) {
      case 1:
        expectWire('version', wt, WireType.Varint);
        version = uint32('version');
        if (version !== PROTOCOL_VERSION) {
          throw malformed(`protocol version ${version} is not supported (this side speaks version ${PROTOCOL_VERSION})`);
        }
        break;
      case 2: {
        expectWire('kind', wt, WireType.Varint);
        const k = uint32('kind');
        kind = KIND_NAMES[k];
        if (kind === undefined) throw malformed(`unknown frame kind ${k}`);
        break;
      }
      case 3:
        expectWire('run_id', wt, WireType.LengthDelimited);
        runId = headerString('run_id');
        break;
      case 4:
        expectWire('round', wt, WireType.Varint);
        round = uint32('round');
        break;
      case 5:
        expectWire('client_id', wt, WireType.LengthDelimited);
        clientId = headerString('client_id');
        break;
      case 6:
        expectWire('request_id', wt, WireType.Varint);
        requestId = uint32('request_id');
        break;
      case 7:
        expectWire('type', wt, WireType.LengthDelimited);
        type = headerString('type');
        break;
      case 8:
        expectWire('nonce', wt, WireType.LengthDelimited);
        nonce = ldView(r, 'nonce').slice();
        if (nonce.length !== NONCE_BYTES) throw malformed(`nonce is ${nonce.length} bytes, expected ${NONCE_BYTES}`);
        break;
      case 9: {
        expectWire('body entry', wt, WireType.LengthDelimited);
        r.pos = fieldStart;
        const [[k, v]] = Object.entries(decodeFields(readOne(r), 9, '', 1, l));
        if (Object.prototype.hasOwnProperty.call(body, k)) throw malformed(`body field "${k}" appears twice`);
        if (++bodyCount > l.maxEntries) throw malformed(`body holds more than ${l.maxEntries} fields`);
        body[k] = v;
        break;
      }
      case 15:
        expectWire('signature', wt, WireType.LengthDelimited);
        signedEnd = fieldStart;
        signature = ldView(r, 'signature').slice();
        if (signature.length !== SIGNATURE_BYTES) throw malformed(`signature is ${signature.length} bytes, expected ${SIGNATURE_BYTES}`);
        break;
      default:
        throw malformed(`unknown frame field ${no} (wire type ${WIRE_NAMES[wt] ?? wt})`);
    }
  }
  if (version === undefined) throw malformed('no protocol version');
  if (kind === undefined) throw malformed('no frame kind');
  if ((kind === 'instruction' || kind === 'reply') && type === '') throw malformed(`${kind} frame without a message type`);
  if (kind === 'instruction' || kind === 'reply') {
    for (const k of Object.keys(body)) if (HEADER_KEYS.has(k)) throw malformed(`body field "${k}" duplicates a header field`);
  }
  return { version, kind, runId, round, clientId, requestId, type, nonce, body, signature, signedPart: bytes.subarray(0, signedEnd), byteLength: bytes.byteLength };

  /** A reader over exactly one `body` entry (tag included), advancing `r` past it. */
  function readOne(rr: Reader): Reader {
    const start = rr.pos;
    rr.tag();
    const len = rr.uint32();
    if (rr.pos + len > rr.len) throw malformed(`body entry claims ${len} bytes but only ${rr.len - rr.pos} remain`);
    rr.pos += len;
    return new Reader(rr.data.subarray(start, rr.pos));
  }
}

// ---------------------------------------------------------------------------------------------
// Messages ↔ frames

/** The fields of a message other than its header (type, runId, round), as a wire record. */
export function messageBody(message: MessageBase): WireRecord {
  const out: Record<string, WireValue> = {};
  for (const [k, v] of Object.entries(message)) {
    if (HEADER_KEYS.has(k) || v === undefined) continue;
    out[k] = v as WireValue;
  }
  return out;
}

/** Rebuilds the message an INSTRUCTION or REPLY frame carries. */
export function frameMessage(frame: Frame): MessageBase {
  return { ...frame.body, type: frame.type, runId: frame.runId, round: frame.round } as MessageBase;
}

/** Every Float32Array in a decoded value (to hand pooled buffers back). */
export function float32Arrays(value: WireValue | MessageBase, out: Float32Array[] = []): Float32Array[] {
  if (value instanceof Float32Array) out.push(value);
  else if (Array.isArray(value)) for (const v of value) float32Arrays(v, out);
  else if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value)) for (const v of Object.values(value)) float32Arrays(v as WireValue, out);
  return out;
}

/**
 * On-the-wire size of a WebSocket message carrying `payloadBytes`: the payload plus the frame
 * header (2, 4 or 10 bytes, plus a 4-byte mask on client → server frames). TLS records add ~0.1%.
 */
export function webSocketMessageBytes(payloadBytes: number, masked: boolean): number {
  const header = payloadBytes < 126 ? 2 : payloadBytes < 65536 ? 4 : 10;
  return payloadBytes + header + (masked ? 4 : 0);
}

/** Encodes a record on its own (a `Record` message), e.g. a strategy's state in a checkpoint. */
export function encodeRecord(record: WireRecord): Uint8Array {
  const cw = new ChunkWriter();
  encFields(record as Record<string, unknown>, '', 1, 1).write(cw);
  return cw.finish(0);
}

/** Decodes a `Record` message made by `encodeRecord`, with the same validation as frames. */
export function decodeRecord(bytes: Uint8Array, limits: DecodeLimits = {}): Record<string, WireValue> {
  const l = limitsOf(limits);
  if (bytes.byteLength > l.maxFrameBytes) throw new FederaError('payload_too_large', `record of ${bytes.byteLength} bytes exceeds the limit of ${l.maxFrameBytes} bytes`);
  try {
    return decodeFields(new Reader(bytes), 1, '', 1, l);
  } catch (e) {
    if (isFederaError(e)) throw e;
    throw malformed(e instanceof Error ? e.message : String(e));
  }
}

/** Raw little-endian bytes of a Float32Array (a view on little-endian hosts). */
export function float32Bytes(a: Float32Array): Uint8Array {
  return bytesOf(a, 4);
}

/** A Float32Array from raw little-endian bytes (copied). */
export function float32FromBytes(bytes: Uint8Array, what = 'float32 data'): Float32Array {
  return typedFrom(bytes, 4, (n) => new Float32Array(n), what, 'float32');
}
