/**
 * Reusable float buffers for the hot path of a round. Fresh multi-megabyte typed arrays cost page
 * faults on first touch (here ~3 ms for 4 MB, against ~0.15 ms to copy into a reused one), so the
 * in-memory transport and the client runtime take their parameter-sized buffers from a pool and
 * give them back once the receiver is done with them.
 *
 * Large buffers come from a `VectorArena` when WebAssembly SIMD is available: they live in the
 * same memory as the SIMD kernels and the FedAvg running sum, so subtracting the global model and
 * adding the update to the sum need no copies.
 *
 * The pool only takes back buffers it handed out, so giving it a caller's own array is harmless.
 */
import { VectorArena } from './kernels.js';

export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly issued = new WeakSet<Float32Array>();
  private readonly out = new WeakSet<Float32Array>();

  /** @param maxPerSize buffers of one length kept for reuse; more are left to the GC. */
  constructor(private readonly maxPerSize = 8) {}

  /** A buffer of `length` floats with unspecified contents. */
  take(length: number): Float32Array {
    const b = VectorArena.forLength(length)?.takeSlot() ?? this.free.get(length)?.pop() ?? new Float32Array(length);
    this.issued.add(b);
    this.out.add(b);
    return b;
  }

  /** Returns `b` for reuse if this pool issued it and it is not already back. */
  give(b: Float32Array): void {
    if (!this.issued.has(b) || !this.out.has(b)) return;
    this.out.delete(b);
    const arena = VectorArena.forLength(b.length);
    if (arena?.holds(b)) {
      arena.giveSlot(b);
      return;
    }
    const list = this.free.get(b.length) ?? [];
    if (list.length < this.maxPerSize) {
      list.push(b);
      this.free.set(b.length, list);
    }
  }
}

/** The pool shared by the in-memory transport and client runtimes of this thread. */
export const sharedBuffers = new BufferPool();
