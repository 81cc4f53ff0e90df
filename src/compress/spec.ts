/**
 * Pipeline specs: which codecs, in which order, with which parameters. A pipeline is
 * `[topk] [rotate] [fp16 | quantize] [lossless]` — each stage optional, in that order:
 *
 * - `topk` keeps the k largest magnitudes (a fraction of the vector or a count) and must come first;
 * - `rotate` (random Hadamard rotation) must come right before `quantize`;
 * - `fp16` or `quantize` encodes the values (float32 when neither is given);
 * - `lossless` (delta-coded, bit-packed indices) comes last.
 *
 * The shorthand used by the CLI lists stages separated by commas, each `name[:value][:key=value]`:
 * `topk:0.01,quantize:8,lossless`, `rotate,quantize:2`, `fp16`, `topk:k=1000:ef=false`.
 */
import { invalidConfig, isPow2 } from './format.js';

export const QUANTIZE_BITS = [1, 2, 4, 8] as const;
export type QuantizeBits = (typeof QUANTIZE_BITS)[number];

export interface TopKSpec {
  readonly codec: 'topk';
  /** Fraction of the values kept, in (0, 1]; k = max(1, round(fraction · n)). Give this or `k`. */
  readonly fraction?: number;
  /** Number of values kept (must be ≤ the vector's length). */
  readonly k?: number;
  /**
   * Client-side error feedback (Stich et al. 2018): what this client's pipeline dropped is added to
   * its next update. Default true. Applies to the uplink only.
   */
  readonly errorFeedback?: boolean;
}
export interface RotateSpec {
  readonly codec: 'rotate';
  /** Rotation block (a power of two, default 1024); the last partial block is padded to a power of two. */
  readonly block?: number;
}
export interface Float16Spec {
  readonly codec: 'fp16';
}
export interface QuantizeSpec {
  readonly codec: 'quantize';
  readonly bits: QuantizeBits;
  /** Values sharing one (min, step) scale; default 1024. */
  readonly chunk?: number;
}
export interface LosslessSpec {
  readonly codec: 'lossless';
}
export type CodecSpec = TopKSpec | RotateSpec | Float16Spec | QuantizeSpec | LosslessSpec;
export type PipelineSpec = readonly CodecSpec[];

export const DEFAULT_ROTATE_BLOCK = 1024;
export const DEFAULT_QUANTIZE_CHUNK = 1024;
/** Largest rotation block (2^24 values). */
export const MAX_ROTATE_BLOCK = 1 << 24;
const MAX_U32 = 0xffffffff;

const ORDER: Record<CodecSpec['codec'], number> = { topk: 0, rotate: 1, fp16: 2, quantize: 2, lossless: 3 };
const KEYS: Record<CodecSpec['codec'], readonly string[]> = {
  topk: ['codec', 'fraction', 'k', 'errorFeedback'],
  rotate: ['codec', 'block'],
  fp16: ['codec'],
  quantize: ['codec', 'bits', 'chunk'],
  lossless: ['codec'],
};

/**
 * Checks a pipeline (stage names, parameters and order) and returns it with defaults filled in.
 * Throws `invalid_config` naming the stage, e.g. `uplink[1] (quantize): bits must be one of 1, 2, 4, 8; got 3`.
 */
export function validatePipeline(spec: unknown, where = 'pipeline'): CodecSpec[] {
  if (!Array.isArray(spec)) throw invalidConfig(where, `expected an array of codec stages, got ${JSON.stringify(spec)}`);
  const out: CodecSpec[] = [];
  let last = -1;
  for (let i = 0; i < spec.length; i++) {
    const s = spec[i] as Record<string, unknown>;
    const at = `${where}[${i}]`;
    if (typeof s !== 'object' || s === null) throw invalidConfig(at, `expected a codec stage object, got ${JSON.stringify(s)}`);
    const codec = s.codec;
    if (typeof codec !== 'string' || !(codec in ORDER)) {
      throw invalidConfig(at, `codec must be one of "topk" | "rotate" | "fp16" | "quantize" | "lossless"; got ${JSON.stringify(codec)}`);
    }
    const name = codec as CodecSpec['codec'];
    const here = `${at} (${name})`;
    for (const key of Object.keys(s)) if (!KEYS[name].includes(key)) throw invalidConfig(here, `unknown field "${key}" (allowed: ${KEYS[name].join(', ')})`);
    const order = ORDER[name];
    if (order <= last) {
      const reason = out.some((x) => x.codec === name) ? `appears twice` : `is out of order (the order is topk, rotate, fp16|quantize, lossless)`;
      throw invalidConfig(here, reason);
    }
    last = order;
    out.push(validateStage(name, s, here));
  }
  for (let i = 0; i < out.length; i++) {
    if (out[i].codec === 'rotate' && out[i + 1]?.codec !== 'quantize') {
      throw invalidConfig(`${where}[${i}] (rotate)`, 'must be followed directly by quantize (the rotation only serves quantization)');
    }
  }
  return out;
}

function validateStage(name: CodecSpec['codec'], s: Record<string, unknown>, here: string): CodecSpec {
  switch (name) {
    case 'topk': {
      const { fraction, k, errorFeedback } = s;
      if ((fraction === undefined) === (k === undefined)) throw invalidConfig(here, `give exactly one of fraction or k; got ${JSON.stringify(s)}`);
      if (fraction !== undefined && !(typeof fraction === 'number' && fraction > 0 && fraction <= 1)) {
        throw invalidConfig(here, `fraction must be a number in (0, 1]; got ${JSON.stringify(fraction)}`);
      }
      if (k !== undefined && !(typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= MAX_U32)) {
        throw invalidConfig(here, `k must be an integer ≥ 1; got ${JSON.stringify(k)}`);
      }
      if (errorFeedback !== undefined && typeof errorFeedback !== 'boolean') throw invalidConfig(here, `errorFeedback must be true or false; got ${JSON.stringify(errorFeedback)}`);
      return { codec: 'topk', ...(fraction !== undefined ? { fraction: fraction as number } : { k: k as number }), errorFeedback: errorFeedback !== false };
    }
    case 'rotate': {
      const block = s.block ?? DEFAULT_ROTATE_BLOCK;
      if (!(typeof block === 'number' && isPow2(block) && block <= MAX_ROTATE_BLOCK)) {
        throw invalidConfig(here, `block must be a power of two between 1 and ${MAX_ROTATE_BLOCK}; got ${JSON.stringify(s.block)}`);
      }
      return { codec: 'rotate', block };
    }
    case 'fp16':
      return { codec: 'fp16' };
    case 'quantize': {
      const bits = s.bits;
      if (!QUANTIZE_BITS.includes(bits as QuantizeBits)) throw invalidConfig(here, `bits must be one of 1, 2, 4, 8; got ${JSON.stringify(bits)}`);
      const chunk = s.chunk ?? DEFAULT_QUANTIZE_CHUNK;
      if (!(typeof chunk === 'number' && Number.isInteger(chunk) && chunk >= 1 && chunk <= MAX_U32)) {
        throw invalidConfig(here, `chunk must be an integer ≥ 1; got ${JSON.stringify(s.chunk)}`);
      }
      return { codec: 'quantize', bits: bits as QuantizeBits, chunk };
    }
    case 'lossless':
      return { codec: 'lossless' };
  }
}

const ALIASES: Record<string, string> = { float16: 'fp16', half: 'fp16', q: 'quantize', quant: 'quantize', pack: 'lossless', hadamard: 'rotate', sparse: 'topk' };

/**
 * Parses the shorthand `topk:0.01,quantize:8,lossless` into a validated pipeline. `none` or
 * `float32` (or an empty string) is the empty pipeline. Positional values: `topk:<fraction in
 * (0,1) or a count ≥ 1, or n%>`, `quantize:<bits>`, `rotate:<block>`; `q8` is `quantize:8`;
 * options `key=value` (`k=`, `fraction=`, `ef=true|false`, `chunk=`, `block=`, `bits=`).
 */
export function parsePipeline(text: string, where = 'pipeline'): CodecSpec[] {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'none' || trimmed === 'float32') return [];
  const stages = trimmed.split(',').map((part, i) => parseStage(part.trim(), `${where}[${i}]`));
  return validatePipeline(stages, where);
}

function parseStage(part: string, at: string): Record<string, unknown> {
  const [head, ...rest] = part.split(':').map((x) => x.trim());
  let name = ALIASES[head] ?? head;
  const stage: Record<string, unknown> = {};
  const qm = /^q([1248])$/.exec(head);
  if (qm) {
    name = 'quantize';
    stage.bits = Number(qm[1]);
  }
  stage.codec = name;
  const num = (v: string, key: string): number => {
    const x = Number(v);
    if (v === '' || !Number.isFinite(x)) throw invalidConfig(at, `${key} must be a number; got "${v}" in "${part}"`);
    return x;
  };
  for (const item of rest) {
    const eq = item.indexOf('=');
    if (eq < 0) {
      // The positional value.
      if (name === 'topk') {
        if (item.endsWith('%')) stage.fraction = num(item.slice(0, -1), 'fraction') / 100;
        else {
          const x = num(item, 'topk value');
          if (x > 0 && x < 1) stage.fraction = x;
          else stage.k = x;
        }
      } else if (name === 'quantize') stage.bits = num(item, 'bits');
      else if (name === 'rotate') stage.block = num(item, 'block');
      else throw invalidConfig(at, `"${name}" takes no value; got "${part}"`);
      continue;
    }
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 'ef' || key === 'errorFeedback') {
      if (value !== 'true' && value !== 'false') throw invalidConfig(at, `ef must be true or false; got "${value}"`);
      stage.errorFeedback = value === 'true';
    } else stage[key] = num(value, key);
  }
  return stage;
}

/** The shorthand of a pipeline (inverse of {@link parsePipeline} for validated specs). */
export function describePipeline(spec: PipelineSpec): string {
  if (spec.length === 0) return 'float32';
  return spec
    .map((s) => {
      switch (s.codec) {
        case 'topk':
          return `topk:${s.fraction !== undefined ? s.fraction : `k=${s.k}`}${s.errorFeedback === false ? ':ef=false' : ''}`;
        case 'rotate':
          return s.block !== undefined && s.block !== DEFAULT_ROTATE_BLOCK ? `rotate:${s.block}` : 'rotate';
        case 'quantize':
          return `quantize:${s.bits}${s.chunk !== undefined && s.chunk !== DEFAULT_QUANTIZE_CHUNK ? `:chunk=${s.chunk}` : ''}`;
        default:
          return s.codec;
      }
    })
    .join(',');
}

/** Whether a pipeline asks for client-side error feedback (a top-k stage with errorFeedback ≠ false). */
export function usesErrorFeedback(spec: PipelineSpec): boolean {
  return spec.some((s) => s.codec === 'topk' && s.errorFeedback !== false);
}

/**
 * About how many times smaller than float32 an update is once `pipeline` encodes it (for the
 * upload times of simulated devices, before any update exists): top-k keeps its fraction with a
 * 4-byte index per value, quantization keeps b of 32 bits, fp16 half; rotation and lossless
 * packing are taken as 1 (a k given as a count is taken as 1 too: the length is not known here).
 */
export function estimatedUplinkRatio(pipeline: readonly CodecSpec[]): number {
  let kept = 1;
  let bitsPerValue = 32;
  let indexBytes = 0;
  for (const s of pipeline) {
    if (s.codec === 'topk' && s.fraction !== undefined) (kept = s.fraction), (indexBytes = 4);
    else if (s.codec === 'quantize') bitsPerValue = s.bits;
    else if (s.codec === 'fp16') bitsPerValue = 16;
  }
  return Math.min(1, kept * (bitsPerValue / 32 + indexBytes / 4));
}
