/**
 * Numeric kernels on flat `Float32Array`s: the hot loops of aggregation and validation.
 *
 * `WeightedSum` accumulates Σ wᵢ·xᵢ with WebAssembly SIMD when the platform has it (Node 20 and
 * current browsers do) and falls back to plain loops otherwise. Accumulation is two-level: a
 * float32 partial sum absorbs up to `FOLD_EVERY` inputs, then is folded into a float64 total, so
 * rounding error stays bounded however many clients report while the hot loop stays float32.
 */
import { FederaError } from './errors.js';
import { KERNELS_WASM_BASE64 } from './wasm/kernels-wasm.js';

const FOLD_EVERY = 32;
const PAGE = 65536;

interface KernelExports {
  memory: WebAssembly.Memory;
  axpy32(acc: number, x: number, n: number, w: number): void;
  fold(acc: number, x: number, n: number): void;
  allFinite(x: number, n: number): number;
  axpy32Checked(out: number, acc: number, x: number, n: number, w: number): number;
  finish(out: number, base: number, acc: number, n: number, s: number): void;
  sub(out: number, a: number, b: number, n: number): void;
}

/** One kernel instance per thread for stateless vector ops, its memory grown to the largest input seen. */
let shared: KernelExports | null | undefined;
function sharedKernels(bytesNeeded: number): KernelExports | null {
  if (shared === undefined) {
    const module = kernelModule();
    shared = module ? (new WebAssembly.Instance(module).exports as unknown as KernelExports) : null;
  }
  if (shared) {
    const need = Math.ceil(bytesNeeded / PAGE) - shared.memory.buffer.byteLength / PAGE;
    if (need > 0) shared.memory.grow(need);
  }
  return shared;
}

/** Below this many elements the plain loop wins over copying into WebAssembly memory. */
const SIMD_MIN = 1 << 14;

let wasmModule: WebAssembly.Module | null | undefined;

function kernelModule(): WebAssembly.Module | null {
  if (wasmModule !== undefined) return wasmModule;
  try {
    const bytes = Uint8Array.from(atob(KERNELS_WASM_BASE64), (c) => c.charCodeAt(0));
    wasmModule = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  } catch {
    wasmModule = null;
  }
  if (typeof globalThis !== 'undefined' && (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.FEDERA_NO_WASM === '1') {
    wasmModule = null;
  }
  return wasmModule;
}

/** Whether the WebAssembly SIMD kernels are in use on this platform. */
export function simdKernelsAvailable(): boolean {
  return kernelModule() !== null;
}

/** Index of the first NaN/±Infinity in `x`, or -1. */
export function findNonFinite(x: ArrayLike<number>): number {
  return x instanceof Float32Array ? firstNonFinite32(x) : firstNonFiniteAny(x);
}

// Separate monomorphic loops: one shared loop over several array types runs several times slower.
function firstNonFinite32(x: Float32Array): number {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v - v !== 0) return i;
  }
  return -1;
}

function firstNonFiniteAny(x: ArrayLike<number>): number {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v - v !== 0) return i;
  }
  return -1;
}

/** Throws `non_finite` naming the first bad index. */
export function assertFinite(x: ArrayLike<number>, what: string): void {
  const i = findNonFinite(x);
  if (i >= 0) throw new FederaError('non_finite', `${what}: value ${x[i]} at index ${i} is not finite`, { index: i });
}

/**
 * Streaming weighted sum of equal-length vectors: memory O(d) however many vectors are added.
 * `add` validates its input (length, finite values, weight) before touching the total, so a
 * rejected vector leaves the sum exactly as it was.
 */
export class WeightedSum {
  readonly size: number;
  private readonly impl: SumImpl;
  private weight = 0;
  private added = 0;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 0) throw new FederaError('invalid_argument', `WeightedSum: size must be a non-negative integer, got ${size}`);
    this.size = size;
    const module = kernelModule();
    this.impl = module && size * 16 + PAGE < 2 ** 31 ? new WasmSum(module, size) : new JsSum(size);
  }

  /** Number of vectors added. */
  get count(): number {
    return this.added;
  }

  /** Sum of the weights added. */
  get totalWeight(): number {
    return this.weight;
  }

  /** total += weight · x. Throws `shape_mismatch`, `non_finite` or `invalid_argument` and leaves the total unchanged. */
  add(x: Float32Array, weight: number, what = 'update'): void {
    if (x.length !== this.size) {
      throw new FederaError('shape_mismatch', `${what}: expected ${this.size} values, got ${x.length}`, { expected: this.size, actual: x.length });
    }
    if (!Number.isFinite(weight) || weight < 0) throw new FederaError('invalid_argument', `${what}: weight must be a finite number ≥ 0, got ${weight}`);
    if (!this.impl.add(x, weight)) rejectNonFinite(x, what);
    this.weight += weight;
    this.added++;
  }

  /** Σ wᵢ·xᵢ as float64. */
  sum(): Float64Array {
    return this.impl.total();
  }

  /** Σ wᵢ·xᵢ / Σ wᵢ as float32; throws `insufficient_results` when the total weight is 0. */
  mean(): Float32Array {
    return this.meanPlus(null);
  }

  /** base + Σ wᵢ·xᵢ / Σ wᵢ, computed in float64 and rounded once (e.g. global model + mean update). */
  meanPlus(base: Float32Array | null): Float32Array {
    if (!(this.weight > 0)) throw new FederaError('insufficient_results', 'WeightedSum.mean: total weight is 0 (nothing was added, or every weight was 0)');
    if (base && base.length !== this.size) throw new FederaError('shape_mismatch', `WeightedSum.meanPlus: base has ${base.length} values, expected ${this.size}`);
    return this.impl.finish(base, 1 / this.weight);
  }

  /** Empties the sum so the same memory serves the next round. */
  reset(): void {
    this.impl.reset();
    this.weight = 0;
    this.added = 0;
  }
}

interface SumImpl {
  /** Adds w·x; returns false (and changes nothing) when the result would not be finite. */
  add(x: Float32Array, weight: number): boolean;
  total(): Float64Array;
  /** f32(base + s · total), base = 0 when null. */
  finish(base: Float32Array | null, s: number): Float32Array;
  reset(): void;
}

/** Explains why adding `x` was refused: a non-finite input value, or float32 overflow of the sum. */
function rejectNonFinite(x: Float32Array, what: string): never {
  assertFinite(x, what);
  throw new FederaError('non_finite', `${what}: adding it would overflow the float32 running sum (values too large)`);
}

class WasmSum implements SumImpl {
  private readonly k: KernelExports;
  private readonly n: number;
  private readonly acc64: number;
  /** Two float32 partial sums: the next partial sum is written to the other one, then they swap. */
  private cur: number;
  private next: number;
  private readonly scratch: number;
  private pending = 0;

  constructor(module: WebAssembly.Module, n: number) {
    this.k = new WebAssembly.Instance(module).exports as unknown as KernelExports;
    this.n = n;
    const pad = (b: number) => (b + 15) & ~15;
    this.acc64 = 0;
    this.cur = pad(8 * n);
    this.next = this.cur + pad(4 * n);
    this.scratch = this.next + pad(4 * n);
    const bytes = this.scratch + pad(4 * n);
    const need = Math.ceil(bytes / PAGE) - this.k.memory.buffer.byteLength / PAGE;
    if (need > 0) this.k.memory.grow(need);
  }

  add(x: Float32Array, weight: number): boolean {
    new Float32Array(this.k.memory.buffer, this.scratch, this.n).set(x);
    if (!this.k.axpy32Checked(this.next, this.cur, this.scratch, this.n, weight)) return false;
    [this.cur, this.next] = [this.next, this.cur];
    if (++this.pending === FOLD_EVERY) this.flush();
    return true;
  }

  private flush(): void {
    if (this.pending > 0) this.k.fold(this.acc64, this.cur, this.n);
    this.pending = 0;
  }

  total(): Float64Array {
    this.flush();
    return new Float64Array(this.k.memory.buffer, this.acc64, this.n).slice();
  }

  finish(base: Float32Array | null, s: number): Float32Array {
    this.flush();
    const scratch = new Float32Array(this.k.memory.buffer, this.scratch, this.n);
    if (base) scratch.set(base);
    else scratch.fill(0);
    // In place: out and base are both the scratch area (each element is read before it is written).
    this.k.finish(this.scratch, this.scratch, this.acc64, this.n, s);
    return new Float32Array(this.k.memory.buffer, this.scratch, this.n).slice();
  }

  reset(): void {
    new Uint8Array(this.k.memory.buffer, 0, this.scratch).fill(0);
    this.pending = 0;
  }
}

class JsSum implements SumImpl {
  private readonly acc64: Float64Array;
  private cur: Float32Array;
  private next: Float32Array;
  private pending = 0;

  constructor(n: number) {
    this.acc64 = new Float64Array(n);
    this.cur = new Float32Array(n);
    this.next = new Float32Array(n);
  }

  add(x: Float32Array, weight: number): boolean {
    // The same float32 arithmetic as the wasm kernel (weight rounded to float32, then w·x and the
    // addition each rounded to float32), so both paths give bit-identical sums for a seeded run.
    const w = Math.fround(weight);
    const a = this.cur, o = this.next;
    let bad = 0;
    for (let i = 0; i < a.length; i++) {
      const v = Math.fround(a[i] + Math.fround(w * x[i]));
      o[i] = v;
      bad |= v - v !== 0 ? 1 : 0;
    }
    if (bad) return false;
    [this.cur, this.next] = [this.next, this.cur];
    if (++this.pending === FOLD_EVERY) this.flush();
    return true;
  }

  private flush(): void {
    const a = this.acc64, p = this.cur;
    for (let i = 0; i < a.length; i++) {
      a[i] += p[i];
      p[i] = 0;
    }
    this.pending = 0;
  }

  total(): Float64Array {
    this.flush();
    return this.acc64.slice();
  }

  finish(base: Float32Array | null, s: number): Float32Array {
    this.flush();
    const out = new Float32Array(this.acc64.length);
    for (let i = 0; i < out.length; i++) out[i] = (base ? base[i] : 0) + s * this.acc64[i];
    return out;
  }

  reset(): void {
    this.acc64.fill(0);
    this.cur.fill(0);
    this.next.fill(0);
    this.pending = 0;
  }
}

/** acc += w·x, in place (4-way unrolled: V8 does not vectorise). */
export function axpy(acc: Float32Array | Float64Array, x: ArrayLike<number>, w: number): void {
  const n = acc.length;
  if (x.length !== n) throw new FederaError('shape_mismatch', `axpy: lengths differ (${n} vs ${x.length})`);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    acc[i] += w * x[i];
    acc[i + 1] += w * x[i + 1];
    acc[i + 2] += w * x[i + 2];
    acc[i + 3] += w * x[i + 3];
  }
  for (; i < n; i++) acc[i] += w * x[i];
}

/** out = a − b (a new array unless `out` is given; `out` may be `a`). */
export function subtract(a: Float32Array, b: Float32Array, out: Float32Array = new Float32Array(a.length)): Float32Array {
  const n = a.length;
  if (b.length !== n || out.length !== n) throw new FederaError('shape_mismatch', `subtract: lengths differ (${n}, ${b.length}, ${out.length})`);
  if (n >= SIMD_MIN && n * 8 + PAGE < 2 ** 31) {
    // Two copies in, one SIMD pass, one copy out: ~3× faster than the scalar loop at 10^6.
    const k = sharedKernels(n * 8);
    if (k) {
      const mem = k.memory.buffer;
      new Float32Array(mem, 0, n).set(a);
      new Float32Array(mem, n * 4, n).set(b);
      k.sub(0, 0, n * 4, n);
      out.set(new Float32Array(mem, 0, n));
      return out;
    }
  }
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    out[i] = a[i] - b[i];
    out[i + 1] = a[i + 1] - b[i + 1];
    out[i + 2] = a[i + 2] - b[i + 2];
    out[i + 3] = a[i + 3] - b[i + 3];
  }
  for (; i < n; i++) out[i] = a[i] - b[i];
  return out;
}

/** Euclidean norm, accumulated in float64. */
export function l2Norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}
