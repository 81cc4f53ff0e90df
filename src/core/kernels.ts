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
  axpy32(acc: number, x: number, n: number, w: number): void;
  fold(acc: number, x: number, n: number): void;
  allFinite(x: number, n: number): number;
  axpy32Checked(out: number, acc: number, x: number, n: number, w: number): number;
  finish(out: number, base: number, acc: number, n: number, s: number): void;
  sub(out: number, a: number, b: number, n: number): void;
}

const align16 = (b: number) => (b + 15) & ~15;

/**
 * A WebAssembly memory with the kernels bound to it. Kernels work in place on arrays that live in
 * an arena's memory; arrays elsewhere are copied in first. An arena whose memory backs arrays
 * handed out to callers never grows (growing would detach those arrays).
 */
class Arena {
  readonly memory: WebAssembly.Memory;
  readonly k: KernelExports;
  private top = 0;

  constructor(module: WebAssembly.Module, bytes: number, readonly growable: boolean) {
    const pages = Math.max(1, Math.ceil(bytes / PAGE));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: growable ? 65536 : pages });
    this.k = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as KernelExports;
  }

  holds(x: ArrayBufferView): boolean {
    return x.buffer === this.memory.buffer;
  }

  /** Reserves `bytes` (16-byte aligned) for the arena's lifetime; -1 when it does not fit. */
  reserve(bytes: number): number {
    const at = this.top;
    if (at + align16(bytes) > this.memory.buffer.byteLength) return -1;
    this.top = at + align16(bytes);
    return at;
  }

  /** Makes the memory at least `bytes` long (growable arenas only). */
  ensure(bytes: number): void {
    const need = Math.ceil(bytes / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (need > 0) this.memory.grow(need);
  }

  f32(offset: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, offset, n);
  }
}

/** Scratch arena for stateless vector ops on arrays that live elsewhere; grows as needed. */
let scratchArena: Arena | null | undefined;
function sharedKernels(bytesNeeded: number): Arena | null {
  if (scratchArena === undefined) {
    const module = kernelModule();
    scratchArena = module ? new Arena(module, bytesNeeded, true) : null;
  }
  scratchArena?.ensure(bytesNeeded);
  return scratchArena;
}

/**
 * Arenas for parameter-sized vectors of one length: pooled buffers (see buffers.ts) and up to
 * {@link VectorArena.ACCUMULATORS} running sums live in the same memory, so the round's hot path
 * (update = trained − global, then sum += n·update) runs in place without copies. Several sums
 * of one length are alive at once (a reducer's and its server optimizer's, two engines in one
 * process), and a sum outside the arena copies every vector it adds; with one region the second
 * sum paid a 4 MB copy per update at d = 10⁶ (the run plan's round measured 1.35× FedAvg's in CPU
 * time). Regions are reserved address space: pages are committed only when a sum touches them.
 */
/** Address space one vector arena may reserve. */
const ARENA_LIMIT = 2 ** 30;

export class VectorArena {
  static readonly SLOTS = 8;
  /** Running-sum regions per arena (fewer when the arena would pass 1 GiB). */
  static readonly ACCUMULATORS = 4;
  private readonly arena: Arena;
  private readonly freeSlots: number[] = [];
  private readonly accumulators: AccumulatorRegion[] = [];
  readonly length: number;

  private constructor(module: WebAssembly.Module, length: number) {
    this.length = length;
    const slot = align16(4 * length);
    const acc = align16(8 * length) + 3 * slot; // acc64, two partial sums, one scratch
    const regions = Math.max(1, Math.min(VectorArena.ACCUMULATORS, Math.floor((ARENA_LIMIT - VectorArena.SLOTS * slot) / acc)));
    this.arena = new Arena(module, VectorArena.SLOTS * slot + regions * acc, false);
    for (let i = 0; i < VectorArena.SLOTS; i++) this.freeSlots.push(this.arena.reserve(4 * length));
    for (let i = 0; i < regions; i++) {
      const acc64 = this.arena.reserve(8 * length);
      this.accumulators.push({ arena: this.arena, acc64, a: this.arena.reserve(4 * length), b: this.arena.reserve(4 * length), scratch: this.arena.reserve(4 * length) });
    }
  }

  private static readonly byLength = new Map<number, VectorArena | null>();

  /** The arena for vectors of `length` floats, or null (no SIMD, too small to gain, or too large to reserve). */
  static forLength(length: number): VectorArena | null {
    let a = VectorArena.byLength.get(length);
    if (a !== undefined) return a;
    const module = kernelModule();
    // At least 56 bytes per element reserved (8 slots of 4, one 20-byte running sum); under 1 GiB.
    a = module && length >= SIMD_MIN && length * 56 < ARENA_LIMIT ? new VectorArena(module, length) : null;
    VectorArena.byLength.set(length, a);
    return a;
  }

  /** A free slot as a Float32Array view, or null when all are out. */
  takeSlot(): Float32Array | null {
    const at = this.freeSlots.pop();
    return at === undefined ? null : this.arena.f32(at, this.length);
  }

  /** Gives back a view that `takeSlot` returned. */
  giveSlot(view: Float32Array): void {
    if (this.arena.holds(view) && view.length === this.length) this.freeSlots.push(view.byteOffset);
  }

  holds(x: ArrayBufferView): boolean {
    return this.arena.holds(x);
  }

  takeAccumulator(): AccumulatorRegion | null {
    return this.accumulators.pop() ?? null;
  }

  returnAccumulator(a: AccumulatorRegion): void {
    if (a.arena === this.arena && !this.accumulators.includes(a)) this.accumulators.push(a);
  }

  /** out = a − b in place, when all three live in this arena. */
  subtractInPlace(a: Float32Array, b: Float32Array, out: Float32Array): boolean {
    if (!this.arena.holds(a) || !this.arena.holds(b) || !this.arena.holds(out)) return false;
    this.arena.k.sub(out.byteOffset, a.byteOffset, b.byteOffset, a.length);
    return true;
  }
}

interface AccumulatorRegion {
  arena: Arena;
  acc64: number;
  a: number;
  b: number;
  scratch: number;
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
    this.impl = module && size > 0 && size * 20 + PAGE < 2 ** 31 ? new WasmSum(module, size, this) : new JsSum(size);
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
  private readonly arena: Arena;
  private readonly k: KernelExports;
  private readonly n: number;
  private readonly region: AccumulatorRegion;
  /** Two float32 partial sums: the next partial sum is written to the other one, then they swap. */
  private cur: number;
  private next: number;
  private pending = 0;

  constructor(module: WebAssembly.Module, n: number, owner: object) {
    const shared = VectorArena.forLength(n);
    const region = shared?.takeAccumulator();
    if (shared && region) {
      // Give the region back to the arena when this sum is garbage-collected.
      accumulatorFinalizer?.register(owner, { arena: shared, region });
      this.region = region;
    } else {
      const own = new Arena(module, align16(8 * n) + 3 * align16(4 * n), false);
      this.region = { arena: own, acc64: own.reserve(8 * n), a: own.reserve(4 * n), b: own.reserve(4 * n), scratch: own.reserve(4 * n) };
    }
    this.arena = this.region.arena;
    this.k = this.arena.k;
    this.n = n;
    this.cur = this.region.a;
    this.next = this.region.b;
    this.reset();
  }

  add(x: Float32Array, weight: number): boolean {
    let at: number;
    if (this.arena.holds(x)) at = x.byteOffset; // a pooled buffer: no copy
    else {
      this.arena.f32(this.region.scratch, this.n).set(x);
      at = this.region.scratch;
    }
    if (!this.k.axpy32Checked(this.next, this.cur, at, this.n, weight)) return false;
    [this.cur, this.next] = [this.next, this.cur];
    if (++this.pending === FOLD_EVERY) this.flush();
    return true;
  }

  private flush(): void {
    if (this.pending > 0) this.k.fold(this.region.acc64, this.cur, this.n);
    this.pending = 0;
  }

  total(): Float64Array {
    this.flush();
    return new Float64Array(this.arena.memory.buffer, this.region.acc64, this.n).slice();
  }

  finish(base: Float32Array | null, s: number): Float32Array {
    this.flush();
    const scratch = this.arena.f32(this.region.scratch, this.n);
    if (base) scratch.set(base);
    else scratch.fill(0);
    // In place: out and base are both the scratch area (each element is read before it is written).
    this.k.finish(this.region.scratch, this.region.scratch, this.region.acc64, this.n, s);
    return scratch.slice();
  }

  reset(): void {
    const r = this.region;
    new Uint8Array(this.arena.memory.buffer, r.acc64, 8 * this.n).fill(0);
    this.arena.f32(r.a, this.n).fill(0);
    this.arena.f32(r.b, this.n).fill(0);
    this.pending = 0;
  }
}

const accumulatorFinalizer =
  typeof FinalizationRegistry !== 'undefined'
    ? new FinalizationRegistry<{ arena: VectorArena; region: AccumulatorRegion }>(({ arena, region }) => arena.returnAccumulator(region))
    : undefined;

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
    // In place when all three live in a vector arena (pooled buffers); otherwise two copies in,
    // one SIMD pass, one copy out, still faster than the scalar loop at this size.
    if (VectorArena.forLength(n)?.subtractInPlace(a, b, out)) return out;
    const arena = sharedKernels(n * 8);
    if (arena) {
      arena.f32(0, n).set(a);
      arena.f32(n * 4, n).set(b);
      arena.k.sub(0, 0, n * 4, n);
      out.set(arena.f32(0, n));
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
