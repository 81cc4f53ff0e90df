/**
 * Norm bounding (Sun et al. 2019, "Can you really backdoor federated learning?"): every update
 * whose L2 norm exceeds a bound M is scaled down to norm M, then the updates are averaged
 * (example-weighted by default, or by any other aggregator). M is fixed, or the median of the
 * round's update norms.
 *
 * On the server (`NormBounding`) it must see each update's norm. With a fixed bound it can instead
 * run on the clients (`normBoundLayer`), which is what secure aggregation allows — but a client
 * layer only binds honest clients; see docs/robustness.md.
 */
import { FederaError } from '../core/errors.js';
import type { TrainReply } from '../core/messages.js';
import type { ClientLayer } from '../client/runtime.js';
import { checkUpdates, weightedMeanInto, type AggregateOptions, type AggregateResult, type Aggregator } from './aggregator.js';
import { median } from './select.js';

export interface NormBoundingOptions {
  /** The bound: a fixed L2 norm > 0, or `median` for the median norm of the round's updates. */
  threshold: number | 'median';
  /** Aggregates the bounded updates; default the weighted mean. */
  inner?: Aggregator;
}

/** L2 norm of a flat array, accumulated in float64. */
export function norm2(x: Float32Array): number {
  let s0 = 0, s1 = 0;
  let j = 0;
  for (; j + 2 <= x.length; j += 2) {
    s0 += x[j] * x[j];
    s1 += x[j + 1] * x[j + 1];
  }
  if (j < x.length) s0 += x[j] * x[j];
  return Math.sqrt(s0 + s1);
}

function checkThreshold(where: string, threshold: number | 'median'): number | 'median' {
  if (threshold === 'median') return threshold;
  if (typeof threshold !== 'number' || !(Number.isFinite(threshold) && threshold > 0)) {
    throw new FederaError('invalid_config', `${where}: the norm bound must be a finite number > 0 or "median", got ${String(threshold)}`);
  }
  return threshold;
}

export class NormBounding implements Aggregator {
  readonly name: string;
  readonly weighted: boolean;
  readonly threshold: number | 'median';
  readonly inner: Aggregator | undefined;
  /** Clipped copies handed to a non-mean inner aggregator, reused across rounds. */
  private scratch: Float32Array[] = [];

  constructor(options: NormBoundingOptions) {
    this.threshold = checkThreshold('norm bounding', options.threshold);
    this.inner = options.inner;
    this.name = options.inner ? `norm-bound+${options.inner.name}` : 'norm-bound';
    this.weighted = options.inner ? options.inner.weighted : true;
  }

  minUpdates(): number {
    return this.inner?.minUpdates() ?? 1;
  }

  /** The bound for updates with these norms. */
  bound(norms: ArrayLike<number>): number {
    return this.threshold === 'median' ? median(norms) : this.threshold;
  }

  aggregate(updates: readonly Float32Array[], options: AggregateOptions = {}): AggregateResult {
    const d = checkUpdates(this.name, updates, this.minUpdates(), `needs at least ${this.minUpdates()}`, options);
    const n = updates.length;
    const norms = updates.map(norm2);
    const bound = this.bound(norms);
    const scales = new Float64Array(n);
    const clipped: number[] = [];
    for (let i = 0; i < n; i++) {
      if (norms[i] > bound) {
        scales[i] = bound / norms[i];
        clipped.push(i);
      } else scales[i] = 1;
    }
    const out = options.out ?? new Float32Array(d);
    if (!this.inner) {
      weightedMeanInto(this.name, updates, options.weights, scales, out);
      return { update: out, clipped, clipNorm: bound };
    }
    const bounded = updates.map((u, i) => {
      if (scales[i] === 1) return u;
      let copy = this.scratch[i];
      if (!copy || copy.length !== d) copy = this.scratch[i] = new Float32Array(d);
      const s = scales[i];
      for (let j = 0; j < d; j++) copy[j] = u[j] * s;
      return copy;
    });
    const r = this.inner.aggregate(bounded, { weights: options.weights, out });
    return { ...r, update: r.update, clipped, clipNorm: bound };
  }
}

/**
 * Client-side norm bounding: scales the outgoing update down to `threshold` when its norm is
 * larger. Layers are listed outermost first and the reply passes them from last to first, so list
 * it after a masking or encoding layer (which must see the bounded update). It composes with
 * secure aggregation, but only binds clients that run it honestly.
 */
export function normBoundLayer(threshold: number): ClientLayer {
  const bound = checkThreshold('normBoundLayer', threshold) as number;
  return (next) => async (message) => {
    const reply = await next(message);
    if (reply.type === 'train_result') {
      const update = (reply as TrainReply).update;
      const n = norm2(update);
      if (n > bound) {
        const s = bound / n;
        for (let j = 0; j < update.length; j++) update[j] *= s;
      }
    }
    return reply;
  };
}
