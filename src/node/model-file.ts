/**
 * Saves and loads flat parameters: `model.bin` (raw little-endian float32) beside `model.json`
 * (the layout and a checksum), the same layout the wire uses.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { FederaError } from '../core/errors.js';
import { ParamLayout, makeParams, type Params } from '../core/params.js';

export interface ModelFiles {
  json: string;
  bin: string;
  sha256: string;
}

function littleEndianBytes(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.byteLength);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return bytes;
}

export function writeModel(dir: string, params: Params, name = 'model'): ModelFiles {
  const bytes = littleEndianBytes(params.data);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const bin = join(dir, `${name}.bin`);
  const json = join(dir, `${name}.json`);
  writeFileSync(bin, bytes);
  writeFileSync(json, JSON.stringify({ format: 'float32-le', size: params.layout.size, sha256, layout: params.layout.toJSON() }, null, 2) + '\n');
  return { json, bin, sha256 };
}

export function readModel(dir: string, name = 'model'): Params {
  const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { format?: string; size?: number; sha256?: string; layout?: unknown };
  if (meta.format !== 'float32-le') throw new FederaError('data_error', `${name}.json: unsupported format ${String(meta.format)}`);
  const layout = ParamLayout.fromJSON(meta.layout);
  const bytes = readFileSync(join(dir, `${name}.bin`));
  if (bytes.length !== layout.size * 4) throw new FederaError('shape_mismatch', `${name}.bin has ${bytes.length} bytes, expected ${layout.size * 4}`);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (meta.sha256 && sha !== meta.sha256) throw new FederaError('data_error', `${name}.bin checksum ${sha} does not match ${name}.json (${meta.sha256})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(layout.size);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
  return makeParams(layout, data);
}
