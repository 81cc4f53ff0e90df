/**
 * The round's updates, copied into one contiguous buffer as they arrive. `TrainResult.update` is
 * borrowed (the transport reuses it once `add` returns), so an aggregation that needs every update
 * keeps its own copy: n × d floats, reused from round to round.
 */
import { FederaError } from '../core/errors.js';
import { findNonFinite } from '../core/kernels.js';

export class UpdateStore {
  readonly d: number;
  private buffer: Float32Array;
  private capacity: number;
  private views: Float32Array[] = [];
  readonly clientIds: string[] = [];
  readonly numExamples: number[] = [];

  constructor(d: number, capacity = 8) {
    if (!Number.isInteger(d) || d < 0) throw new FederaError('invalid_argument', `UpdateStore: d must be an integer ≥ 0, got ${d}`);
    this.d = d;
    this.capacity = Math.max(1, capacity);
    this.buffer = new Float32Array(this.capacity * d);
  }

  /** Updates held. */
  get n(): number {
    return this.clientIds.length;
  }

  /**
   * Copies `update` in. Throws `shape_mismatch` or `non_finite` (naming the client and the index)
   * and keeps nothing when the update is the wrong length or holds NaN/±Infinity.
   */
  push(clientId: string, update: Float32Array, numExamples: number): void {
    const d = this.d;
    if (update.length !== d) {
      throw new FederaError('shape_mismatch', `update from client ${clientId}: expected ${d} values, got ${update.length}`, { expected: d, actual: update.length });
    }
    const bad = findNonFinite(update);
    if (bad >= 0) throw new FederaError('non_finite', `update from client ${clientId}: value ${update[bad]} at index ${bad} is not finite`, { index: bad });
    const i = this.n;
    if (i === this.capacity) this.grow();
    const row = this.buffer.subarray(i * d, (i + 1) * d);
    row.set(update);
    this.views[i] = row;
    this.clientIds.push(clientId);
    this.numExamples.push(numExamples);
  }

  /** Update i (a view into the store; valid until `reset`). */
  row(i: number): Float32Array {
    return this.views[i];
  }

  reset(): void {
    this.clientIds.length = 0;
    this.numExamples.length = 0;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const next = new Float32Array(capacity * this.d);
    next.set(this.buffer.subarray(0, this.n * this.d));
    this.buffer = next;
    this.capacity = capacity;
    for (let i = 0; i < this.n; i++) this.views[i] = next.subarray(i * this.d, (i + 1) * this.d);
  }
}
