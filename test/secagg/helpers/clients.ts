// Clients with known updates for secure-aggregation tests: client i's trainer adds updates[i] to
// the parameters it receives, whatever the data (the data only carries the client's index and
// its example count), so the expected sum of any set of clients is known exactly.
import { Rng } from '../../../src/core/rng.js';
import { makeParams } from '../../../src/core/params.js';
import type { FitOptions, FitOutcome, EvaluateOutcome } from '../../../src/client/trainer.js';
import { VectorTrainer } from '../../helpers/fake-trainer.js';
import type { Dataset } from '../../../src/data/dataset.js';
import type { ClientLayer } from '../../../src/client/runtime.js';
import type { MessageBase } from '../../../src/core/messages.js';
import { FederaError } from '../../../src/core/errors.js';

/** n updates of length d, uniform in [−range, range], from `seed`. */
export function knownUpdates(n: number, d: number, seed: number, range = 1): Float32Array[] {
  const rng = new Rng(seed).stream('known-updates');
  return Array.from({ length: n }, () => Float32Array.from({ length: d }, () => (2 * rng.next() - 1) * range));
}

/** A trainer that adds updates[data.x[0]] to the parameters. */
export class KnownUpdateTrainer extends VectorTrainer {
  constructor(private readonly updates: readonly Float32Array[]) {
    super(updates[0].length);
  }
  async fit(data: Dataset, _o: FitOptions): Promise<FitOutcome> {
    const u = this.updates[data.x[0]];
    for (let i = 0; i < this.w.length; i++) this.w[i] += u[i];
    return { numExamples: data.y.length, metrics: { loss: data.x[0] } };
  }
  async evaluate(data: Dataset): Promise<EvaluateOutcome> {
    return { loss: 0, numExamples: data.y.length, metrics: {} };
  }
}

/** One pooled dataset whose rows carry their client's index; partitions[i] = client i's rows. */
export function indexedData(sizes: readonly number[]): { train: Dataset; partitions: Int32Array[] } {
  const total = sizes.reduce((a, b) => a + b, 0);
  const x = new Float32Array(total);
  const y = new Int32Array(total);
  const partitions: Int32Array[] = [];
  let at = 0;
  sizes.forEach((s, i) => {
    partitions.push(Int32Array.from({ length: s }, (_, k) => at + k));
    x.fill(i, at, at + s);
    at += s;
  });
  return { train: { x, y, numFeatures: 1, numClasses: 2 }, partitions };
}

/** A layer that makes a client fail (as if disconnected) from the first message of `type` on. */
export function dropAt(type: string): ClientLayer {
  return (next, info) => {
    let gone = false;
    return async (m: MessageBase) => {
      if (m.type === type) gone = true;
      if (gone) throw new FederaError('disconnected', `client ${info.clientId} dropped out at ${type}`);
      return next(m);
    };
  };
}

/**
 * Expected Σ w_i·clip(u_i) and Σ w_i for the given clients (w_i = min(examples_i / maxWeight, 1)),
 * where u_i is the float32 update the runtime computes from parameters `base`: (base + u) − base.
 */
export function expectedSum(updates: readonly Float32Array[], ids: readonly number[], weights: readonly number[], clip: number, base = 0): { sum: Float64Array; weight: number } {
  const d = updates[0].length;
  const sum = new Float64Array(d);
  let weight = 0;
  for (const i of ids) {
    weight += weights[i];
    for (let j = 0; j < d; j++) {
      const u = Math.fround(Math.fround(base + updates[i][j]) - base);
      sum[j] += weights[i] * Math.max(-clip, Math.min(clip, u));
    }
  }
  return { sum, weight };
}

/**
 * The options of a simulation whose clients `ids` train with known updates (client i adds
 * updates[i]) on `sizes[i]` examples, without validation split or evaluation; the caller adds
 * the strategy, rounds, seed and the rest.
 */
export function knownUpdateSimulation(ids: readonly string[], updates: readonly Float32Array[], sizes: readonly number[]) {
  const { train, partitions } = indexedData(sizes);
  return {
    train,
    partitions,
    clientIds: ids,
    validationFraction: 0,
    createTrainer: () => new KnownUpdateTrainer(updates),
    initialParams: makeParams(new KnownUpdateTrainer(updates).layout),
    evaluation: false as const,
    centralEvaluationEvery: 0,
  };
}
