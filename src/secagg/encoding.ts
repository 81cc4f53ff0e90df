/**
 * Fixed-point encoding of updates for summation in Z_{2^k}.
 *
 * A value x is clipped to [−c, c], scaled by s and stochastically rounded to an integer v
 * (E[v] = x·s), stored as v mod 2^k (two's complement). The sum of n such integers lies in
 * [−n·⌈c·s⌉, n·⌈c·s⌉]; s is chosen so that this interval fits in k bits, so the modular sum
 * decodes exactly: read it as a signed k-bit integer and divide by s. Each client's rounding
 * error is below 1/s per coordinate, so the decoded sum of n updates is within n/s of the sum of
 * the clipped values.
 *
 * Element 0 of an encoded vector is the client's weight w ∈ [0, 1] (FedAvg: its example count
 * divided by `maxWeight`, capped at 1; uniform: 1), on its own scale; elements 1… are w·clip(x).
 * The server divides the two sums: Σ wᵢxᵢ / Σ wᵢ is the example-weighted mean of FedAvg.
 */
import { FederaError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';

export interface EncodingParams {
  /** Ring Z_{2^bits}, 2 ≤ bits ≤ 32. */
  readonly bits: number;
  /** Clipping range c: coordinates are clipped to [−c, c]. */
  readonly clipRange: number;
  /** Fixed-point scale of the coordinates. */
  readonly scale: number;
  /** Fixed-point scale of the weight element. */
  readonly weightScale: number;
  /** Fixed-point scale of summed metrics (after the update), clipped to ±METRIC_RANGE. */
  readonly metricScale: number;
  /**
   * Per summed metric, its own range (a stage asked for `name:range` in MASKED_METRICS_CONFIG_KEY):
   * clipped to ±range and scaled by metricScale·METRIC_RANGE/range. Absent: METRIC_RANGE for all.
   */
  readonly metricRanges?: readonly number[];
  /**
   * Rotation + stochastic quantization (see {@link quantizedEncodingFor}): each coordinate is a
   * b-bit code q ∈ [0, 2^b − 1] of w·clip(x) + c at `scale` = (2^b − 1)/(2c), summed in Z_{2^bits};
   * the weight and the summed metrics keep 32-bit elements.
   */
  readonly quantize?: { readonly bits: number };
  /**
   * Distributed DP (with `quantize`): each client clips, rounds conditionally and adds Skellam
   * noise to its codes, which are then centred (a signed integer per coordinate, two's complement in
   * the ring) instead of offset by c. See {@link discreteNoiseFor}.
   */
  readonly noise?: DiscreteNoise;
}

/**
 * Skellam noise on the integer codes of a quantized secure sum (distributed DP; the accounting is
 * privacy/accountant/skellam.ts), in code units (1 = one quantization step 1/scale).
 */
export interface DiscreteNoise {
  /** λ: each client adds Poisson(λ) − Poisson(λ) to every code (variance 2λ). */
  readonly lambda: number;
  /** s·C: each client's rotated update is clipped to this L2 norm once scaled. */
  readonly l2Bound: number;
  /** Δ₂: conditional rounding keeps every client's rounded codes within this L2 norm. */
  readonly roundingBound: number;
}

/**
 * β of conditional randomized rounding (Kairouz, Liu & Steinke 2021, Prop. 22): a rounding whose
 * norm exceeds the bound happens with probability at most β and is drawn again (≈ 1.16 draws on
 * average at e⁻²).
 */
export const ROUNDING_BETA = Math.exp(-2);
/** Draws of the rounding before a client falls back to rounding toward zero (always within the bound). */
const ROUNDING_TRIES = 32;
/** The ring holds the sum of n centred codes plus this many standard deviations of the sum's noise. */
export const NOISE_RING_SIGMAS = 8;

/**
 * The L2 norm a randomized rounding of a vector of norm ≤ `l2` in `dimension` coordinates keeps with
 * probability ≥ 1 − β: min(l2 + √d, √(l2² + d/4 + √(2·ln(1/β))·(l2 + √d/2))) (Kairouz, Liu & Steinke
 * 2021, Thm. 1 / Lemma 27).
 */
export function roundedNormBound(l2: number, dimension: number, beta = ROUNDING_BETA): number {
  const sd = Math.sqrt(dimension);
  const sq = l2 * l2 + dimension / 4 + Math.sqrt(2 * Math.log(1 / beta)) * (l2 + sd / 2);
  return Math.min(l2 + sd, Math.sqrt(sq));
}

/**
 * The Skellam noise for a round with clip norm C and per-client noise std σᵢ (in update units), at
 * a quantizer `scale` over `dimension` rotated coordinates: λ = (s·σᵢ)²/2, so the sum of m clients'
 * noise has the variance (s·σᵢ)²·m of the Gaussian it replaces; and Δ₂, Δ₁ of one client's codes.
 */
export function discreteNoiseFor(clipNorm: number, noiseStd: number, scale: number, dimension: number, beta = ROUNDING_BETA): DiscreteNoise & { readonly l1Bound: number } {
  const check = (name: string, v: number, zeroOk = false) => {
    if (!(Number.isFinite(v) && (v > 0 || (zeroOk && v === 0)))) throw new FederaError('invalid_config', `discrete noise: ${name} must be a finite number ${zeroOk ? '≥' : '>'} 0, got ${v}`);
  };
  check('the clip norm', clipNorm);
  check('the noise std', noiseStd, true);
  check('the scale', scale);
  if (!Number.isInteger(dimension) || dimension < 1) throw new FederaError('invalid_config', `discrete noise: the dimension must be an integer ≥ 1, got ${dimension}`);
  const l2Bound = scale * clipNorm;
  const roundingBound = roundedNormBound(l2Bound, dimension, beta);
  return { lambda: (scale * noiseStd) ** 2 / 2, l2Bound, roundingBound, l1Bound: roundingBound * Math.min(Math.sqrt(dimension), roundingBound) };
}

/** Metrics summed under the masks (DP's clipping indicator) are clipped to ±this, unless a stage asks for another range. */
export const METRIC_RANGE = 64;
/** The largest range a summed metric may ask for (its step grows with it: range·n/2³¹ per client). */
export const MAX_METRIC_RANGE = 2 ** 40;

/** The range of summed metric `k` and its fixed-point scale. */
function metricRange(p: EncodingParams, k: number): { range: number; scale: number } {
  const range = p.metricRanges?.[k] ?? METRIC_RANGE;
  return { range, scale: (p.metricScale * METRIC_RANGE) / range };
}

/**
 * The largest scales at which `clients` encoded vectors cannot overflow Z_{2^bits}. Refuses a
 * bit width that leaves fewer than one quantization step per client (the sum would be noise).
 */
export function encodingFor(bits: number, clipRange: number, clients: number): EncodingParams {
  if (!Number.isInteger(bits) || bits < 2 || bits > 32) throw new FederaError('invalid_config', `secagg.bits must be an integer in [2, 32], got ${bits}`);
  if (!(clipRange > 0) || !Number.isFinite(clipRange)) throw new FederaError('invalid_config', `secagg.clippingRange must be a finite number > 0, got ${clipRange}`);
  if (!Number.isInteger(clients) || clients < 1) throw new FederaError('invalid_argument', `encoding: clients must be an integer ≥ 1, got ${clients}`);
  // n·(c·s + 1) ≤ 2^(k−1) − 1: the +1 is stochastic rounding up.
  const half = 2 ** (bits - 1) - 1;
  const perClient = half / clients - 1;
  if (perClient < 1) {
    const minBits = Math.ceil(Math.log2(2 * (2 * clients + 1)));
    throw new FederaError('invalid_config', `secagg.bits = ${bits} is too small for ${clients} clients: their sum could overflow Z_2^${bits} (need at least ${minBits} bits, 24 or more for useful precision)`);
  }
  return { bits, clipRange, scale: perClient / clipRange, weightScale: perClient, metricScale: perClient / METRIC_RANGE };
}

/**
 * The ring of rotation + b-bit stochastic quantization under secure aggregation: every client's
 * code lies in [0, 2^b − 1], so the sum of `clients` codes lies in [0, n·(2^b − 1)] and needs
 * ⌈log2(n·(2^b − 1) + 1)⌉ bits to be read back without wrapping. That ring must fit `maxBits`
 * (secagg.bits, at most 32). The weight and the summed metrics stay 32-bit elements (their scales
 * those of {@link encodingFor} at 32 bits), so example weights keep their precision.
 */
export function quantizedEncodingFor(quantBits: number, clipRange: number, clients: number, maxBits = 32): EncodingParams {
  if (![1, 2, 4, 8].includes(quantBits)) throw new FederaError('invalid_config', `compression.uplink quantize bits must be one of 1, 2, 4, 8 under secure aggregation, got ${quantBits}`);
  const head = encodingFor(32, clipRange, clients);
  if (!Number.isInteger(maxBits) || maxBits < 2 || maxBits > 32) throw new FederaError('invalid_config', `secagg.bits must be an integer in [2, 32], got ${maxBits}`);
  const levels = 2 ** quantBits - 1;
  const ring = Math.max(2, Math.ceil(Math.log2(clients * levels + 1)));
  if (ring > maxBits) {
    throw new FederaError(
      'invalid_config',
      `compression.uplink quantize:${quantBits} under secure aggregation needs a ${ring}-bit ring (their codes sum to at most ${clients}·${levels} = ${clients * levels}), but secagg.bits = ${maxBits}${maxBits === 32 ? ' (the largest)' : ''}: the sum would wrap; raise secagg.bits to ${ring}${ring > 32 ? ' (impossible: it exceeds 32)' : ''}, or lower clientsPerRound or the quantize bits`,
    );
  }
  return { bits: ring, clipRange, scale: levels / (2 * clipRange), weightScale: head.weightScale, metricScale: head.metricScale, quantize: { bits: quantBits } };
}

/**
 * The ring of rotation + b-bit quantization with Skellam noise (distributed DP): each client's
 * centred codes lie in [−2^(b−1), 2^(b−1)], so the sum of n lies within n·2^(b−1) of 0, plus
 * NOISE_RING_SIGMAS standard deviations √(2nλ) of the noise; read back as a signed integer. The
 * weight and the metrics stay 32-bit as in {@link quantizedEncodingFor}.
 */
export function noisyQuantizedEncodingFor(quantBits: number, clipRange: number, clients: number, noise: DiscreteNoise, maxBits = 32): EncodingParams {
  const base = quantizedEncodingFor(quantBits, clipRange, clients, 32);
  if (!(noise.lambda >= 0 && Number.isFinite(noise.lambda))) throw new FederaError('invalid_config', `discrete noise: λ must be a finite number ≥ 0, got ${noise.lambda}`);
  if (!(noise.l2Bound > 0 && noise.roundingBound >= noise.l2Bound && Number.isFinite(noise.roundingBound))) throw new FederaError('invalid_config', `discrete noise: the bounds must satisfy 0 < s·C (${noise.l2Bound}) ≤ Δ₂ (${noise.roundingBound}) < ∞`);
  const reach = clients * 2 ** (quantBits - 1) + NOISE_RING_SIGMAS * Math.sqrt(2 * clients * noise.lambda);
  const ring = Math.ceil(Math.log2(reach + 1)) + 1;
  if (ring > maxBits) {
    throw new FederaError(
      'invalid_config',
      `compression.uplink quantize:${quantBits} with distributed DP under secure aggregation needs a ${ring}-bit ring (${clients} clients' codes of up to ±${2 ** (quantBits - 1)} plus ${NOISE_RING_SIGMAS} standard deviations of their Skellam noise, ${(NOISE_RING_SIGMAS * Math.sqrt(2 * clients * noise.lambda)).toPrecision(4)} steps), but secagg.bits = ${maxBits}: the sum would wrap; ${ring > 32 ? 'raise secagg.clippingRange or lower the noise (the codes are too fine for 32 bits)' : `raise secagg.bits to ${ring}`}`,
    );
  }
  return { ...base, bits: ring, noise };
}

/** Elements 0 and d+1… (weight, metrics) of a quantized vector are 32-bit; 1…d are ring elements. */
function ringRange(p: EncodingParams, total: number, metricCount: number): [number, number] {
  return p.quantize ? [1, total - metricCount] : [0, total];
}

/**
 * Bytes of a masked vector of `total` elements on the wire. Quantized encodings: the 32-bit head
 * (weight) and tail (metrics), 4 bytes each, then the coordinates' codes packed at `bits` bits.
 */
export function maskedBytes(p: EncodingParams, total: number, metricCount: number): number {
  if (!p.quantize) return packedBytes(p.bits, total);
  const [a, b] = ringRange(p, total, metricCount);
  return 4 * (total - (b - a)) + Math.ceil((p.bits * (b - a)) / 8);
}

/** True when `y` has the shape of a masked vector of {@link maskedBytes}. */
export function isMasked(y: unknown, p: EncodingParams, total: number, metricCount: number): y is Uint32Array | Uint8Array {
  if (!p.quantize) return isPacked(y, p.bits, total);
  return y instanceof Uint8Array && y.length === maskedBytes(p, total, metricCount);
}

/** Reduces a masked vector (mod 2^32 everywhere, mod 2^bits on the ring elements) and packs it for the wire. */
export function packMaskedVector(y: Uint32Array, p: EncodingParams, metricCount: number): Uint32Array | Uint8Array {
  if (!p.quantize) {
    reduce(y, p.bits);
    return packMasked(y, p.bits);
  }
  const [a, b] = ringRange(p, y.length, metricCount);
  const ring = y.subarray(a, b);
  reduce(ring, p.bits);
  const head = [...y.subarray(0, a), ...y.subarray(b)];
  const codes = p.bits === 32 ? new Uint8Array(ring.slice().buffer) : (packMasked(ring, p.bits) as Uint8Array);
  const out = new Uint8Array(4 * head.length + codes.length);
  const view = new DataView(out.buffer);
  head.forEach((v, k) => view.setUint32(4 * k, v, true));
  out.set(codes, 4 * head.length);
  return out;
}

/** acc += unpack(masked) (mod 2^32); the caller checked the shape with {@link isMasked}. */
export function accumulateMasked(acc: Uint32Array, masked: Uint32Array | Uint8Array, p: EncodingParams, metricCount: number): void {
  if (!p.quantize) return accumulatePacked(acc, masked, p.bits);
  const b8 = masked as Uint8Array;
  const [a, b] = ringRange(p, acc.length, metricCount);
  const view = new DataView(b8.buffer, b8.byteOffset, b8.byteLength);
  const headIdx = [...Array(a).keys(), ...Array.from({ length: acc.length - b }, (_, k) => b + k)];
  headIdx.forEach((i, k) => (acc[i] += view.getUint32(4 * k, true)));
  const codes = b8.subarray(4 * headIdx.length);
  if (p.bits === 32) {
    const ring = acc.subarray(a, b);
    for (let i = 0; i < ring.length; i++) ring[i] += view.getUint32(4 * headIdx.length + 4 * i, true);
  } else accumulatePacked(acc.subarray(a, b), codes, p.bits);
}

/** Largest error of a decoded sum of `clients` vectors, per coordinate (before dividing by weights). */
export function sumErrorBound(p: EncodingParams, clients: number): number {
  // Quantized: a code is below one step (1/scale) from its value; the bound is in the rotated basis.
  return clients / p.scale;
}

function stochasticRound(z: number, rng: Rng): number {
  const f = Math.floor(z);
  return f + (rng.next() < z - f ? 1 : 0);
}

/**
 * Encodes `update` with weight `weight` into `out` (length update.length + 1 + metrics.length),
 * in Z_{2^bits}: [weight, w·clip(update)…, clip(metrics)…]. Non-finite values are refused (they
 * would make the sum meaningless).
 */
export function encodeUpdate(update: Float32Array, weight: number, p: EncodingParams, rng: Rng, out: Uint32Array, where: string, metrics: readonly number[] = []): Uint32Array {
  if (out.length !== update.length + 1 + metrics.length) throw new FederaError('shape_mismatch', `${where}: encoding buffer has ${out.length} elements, expected ${update.length + 1 + metrics.length}`);
  if (!(weight >= 0 && weight <= 1)) throw new FederaError('invalid_argument', `${where}: weight must be in [0, 1], got ${weight}`);
  // Quantized encodings: 32-bit weight and metrics; the codes are < 2^bits, so no mask is needed.
  const modMask = p.bits === 32 || p.quantize ? 0xffffffff : 2 ** p.bits - 1;
  out[0] = stochasticRound(weight * p.weightScale, rng) & modMask;
  const c = p.clipRange;
  const s = p.scale;
  if (p.noise) {
    encodeNoisy(update, weight, p, p.noise, rng, out, where);
  } else {
    // Quantized: the code of w·clip(x) + c ∈ [0, 2c], i.e. one of 2^b levels from −c to c.
    const offset = p.quantize ? c : 0;
  for (let i = 0; i < update.length; i++) {
    let x = update[i];
    if (!Number.isFinite(x)) throw new FederaError('non_finite', `${where}: coordinate ${i} is ${x}`);
    x = x > c ? c : x < -c ? -c : x;
    out[i + 1] = stochasticRound((weight * x + offset) * s, rng) & modMask;
  }
  }
  metrics.forEach((v, k) => {
    if (!Number.isFinite(v)) throw new FederaError('non_finite', `${where}: summed metric ${k} is ${v}`);
    const { range, scale } = metricRange(p, k);
    const m = v > range ? range : v < -range ? -range : v;
    out[update.length + 1 + k] = stochasticRound(m * scale, rng) & modMask;
  });
  return out;
}

/**
 * The coordinates of a noisy quantized encoding: the update (already rotated) clipped to L2 norm
 * s·C once scaled and to [−c, c] per coordinate, scaled, rounded conditionally (each coordinate up
 * with probability its fraction, drawn again while the norm exceeds Δ₂; after ROUNDING_TRIES
 * draws, toward zero, whose norm never exceeds s·C), plus Skellam(λ) per coordinate, stored in the
 * ring as two's complement.
 */
function encodeNoisy(update: Float32Array, weight: number, p: EncodingParams, noise: DiscreteNoise, rng: Rng, out: Uint32Array, where: string): void {
  const d = update.length;
  const c = p.clipRange;
  const s = p.scale;
  let norm2 = 0;
  for (let i = 0; i < d; i++) {
    const x = update[i];
    if (!Number.isFinite(x)) throw new FederaError('non_finite', `${where}: coordinate ${i} is ${x}`);
    norm2 += x * x;
  }
  const norm = Math.sqrt(norm2) * weight * s;
  const shrink = norm > noise.l2Bound ? noise.l2Bound / norm : 1;
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    const x = weight * update[i];
    y[i] = (x > c ? c : x < -c ? -c : x) * s * shrink;
  }
  const codes = new Int32Array(d);
  const bound2 = noise.roundingBound * noise.roundingBound;
  let within = false;
  for (let t = 0; t < ROUNDING_TRIES && !within; t++) {
    let n2 = 0;
    for (let i = 0; i < d; i++) {
      const v = stochasticRound(y[i], rng);
      codes[i] = v;
      n2 += v * v;
    }
    within = n2 <= bound2;
  }
  if (!within) for (let i = 0; i < d; i++) codes[i] = Math.trunc(y[i]);
  const ringMask = p.bits === 32 ? 0xffffffff : 2 ** p.bits - 1;
  const lambda = noise.lambda;
  for (let i = 0; i < d; i++) {
    const v = lambda > 0 ? codes[i] + rng.poisson(lambda) - rng.poisson(lambda) : codes[i];
    out[i + 1] = (v & ringMask) >>> 0;
  }
}

/**
 * Reads a modular sum as signed k-bit integers and divides by the scales: { weight, sum, metrics }.
 * Quantized encodings need `contributors` (the n whose offsets c the codes carry); their sum is in
 * the rotated basis, which the caller inverts.
 */
export function decodeSum(sum: Uint32Array, p: EncodingParams, metricCount = 0, contributors = 0): { weight: number; sum: Float64Array; metrics: number[] } {
  if (p.quantize) {
    const head = { ...p, bits: 32, quantize: undefined };
    const d = sum.length - 1 - metricCount;
    const decoded = decodeSum(sum, head, metricCount);
    const ringMask = p.bits === 32 ? 0xffffffff : 2 ** p.bits - 1;
    if (p.noise) {
      // Centred codes: the sum is a signed integer of the ring.
      const top = 2 ** (p.bits - 1);
      const full = 2 ** p.bits;
      for (let i = 1; i <= d; i++) {
        const v = (sum[i] & ringMask) >>> 0;
        decoded.sum[i - 1] = (v >= top ? v - full : v) / p.scale;
      }
      return decoded;
    }
    const shift = contributors * p.clipRange;
    for (let i = 1; i <= d; i++) decoded.sum[i - 1] = ((sum[i] & ringMask) >>> 0) / p.scale - shift;
    return decoded;
  }
  const modMask = p.bits === 32 ? 0xffffffff : 2 ** p.bits - 1;
  const top = 2 ** (p.bits - 1);
  const full = 2 ** p.bits;
  const signed = (u: number) => {
    const v = (u & modMask) >>> 0;
    return v >= top ? v - full : v;
  };
  const d = sum.length - 1 - metricCount;
  const out = new Float64Array(d);
  for (let i = 1; i <= d; i++) out[i - 1] = signed(sum[i]) / p.scale;
  const metrics = Array.from({ length: metricCount }, (_, k) => signed(sum[d + 1 + k]) / metricRange(p, k).scale);
  return { weight: signed(sum[0]) / p.weightScale, sum: out, metrics };
}

/** Reduces a vector mod 2^bits in place (what a client sends). */
export function reduce(v: Uint32Array, bits: number): void {
  if (bits === 32) return;
  const m = 2 ** bits - 1;
  for (let i = 0; i < v.length; i++) v[i] &= m;
}

/**
 * Bytes of a masked vector of `count` values on the wire: a Uint32Array (4 bytes a value) for
 * 32-bit sums, else a little-endian bit stream of exactly `bits` bits a value, ⌈bits·count/8⌉ bytes
 * (26-bit sums take 3.25 bytes a value, 16-bit sums half the bytes of float32).
 */
export function packedBytes(bits: number, count: number): number {
  return bits === 32 ? 4 * count : Math.ceil((bits * count) / 8);
}

/** True when `y` has the shape of a packed vector of `count` values of `bits` bits. */
export function isPacked(y: unknown, bits: number, count: number): y is Uint32Array | Uint8Array {
  return bits === 32 ? y instanceof Uint32Array && y.length === count : y instanceof Uint8Array && y.length === packedBytes(bits, count);
}

/**
 * A masked vector as it travels (see {@link packedBytes}): value i occupies bits [i·bits,
 * (i+1)·bits) of the stream, least significant bit first. Values must already be reduced mod
 * 2^bits. Whole-byte widths take a byte-wise fast path that produces the same bytes.
 */
export function packMasked(v: Uint32Array, bits: number): Uint32Array | Uint8Array {
  if (bits === 32) return v;
  const out = new Uint8Array(packedBytes(bits, v.length));
  if (bits % 8 === 0) {
    const w = bits / 8;
    for (let i = 0, o = 0; i < v.length; i++) {
      const x = v[i];
      out[o++] = x & 0xff;
      if (w > 1) out[o++] = (x >>> 8) & 0xff;
      if (w > 2) out[o++] = (x >>> 16) & 0xff;
    }
    return out;
  }
  // acc holds fewer than 8 + bits ≤ 39 pending bits: exact in a double; `& 0xff` reads its low byte.
  let acc = 0;
  let pending = 0;
  let o = 0;
  for (let i = 0; i < v.length; i++) {
    acc += v[i] * 2 ** pending;
    pending += bits;
    while (pending >= 8) {
      const low = acc & 0xff;
      out[o++] = low;
      acc = (acc - low) / 256;
      pending -= 8;
    }
  }
  if (pending > 0) out[o] = acc & 0xff;
  return out;
}

/** acc += unpack(packed) (mod 2^32); the caller checked the shape with {@link isPacked}. */
export function accumulatePacked(acc: Uint32Array, packed: Uint32Array | Uint8Array, bits: number): void {
  if (bits === 32) {
    const p = packed as Uint32Array;
    for (let i = 0; i < acc.length; i++) acc[i] += p[i];
    return;
  }
  const b = packed as Uint8Array;
  if (bits === 8) for (let i = 0; i < acc.length; i++) acc[i] += b[i];
  else if (bits === 16) for (let i = 0, o = 0; i < acc.length; i++, o += 2) acc[i] += b[o] | (b[o + 1] << 8);
  else if (bits === 24) for (let i = 0, o = 0; i < acc.length; i++, o += 3) acc[i] += b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);
  else {
    const full = 2 ** bits;
    let buffer = 0;
    let have = 0;
    let o = 0;
    for (let i = 0; i < acc.length; i++) {
      while (have < bits) {
        buffer += b[o++] * 2 ** have;
        have += 8;
      }
      const x = buffer % full;
      acc[i] += x;
      buffer = (buffer - x) / full;
      have -= bits;
    }
  }
}
