/**
 * Framework cost of federa's engine, side by side with a plain copy in the same run.
 *  (a) FedAvg aggregation: n = 100 weighted updates of d = 10^6 float32 values, as GB/s of update
 *      bytes consumed, and as a ratio to copying the same bytes with Float32Array.set.
 *  (b) One simulated round through the engine, the in-memory transport and the client runtime,
 *      n = 100 clients whose trainer returns fixed parameters (no ML), d = 10^5 and 10^6.
 * Prints one JSON line per measurement, then a table. `npm run bench:engine`
 */
import { WeightedSum, simdKernelsAvailable } from '../src/core/kernels.js';
import { ParamLayout, makeParams } from '../src/core/params.js';
import { Rng } from '../src/core/rng.js';
import { RoundEngine } from '../src/engine/engine.js';
import { InMemoryGrid } from '../src/transport/memory.js';
import { VirtualClientHost } from '../src/sim/virtual-clients.js';
import { FedAvg } from '../src/strategy/fedavg.js';
import type { Trainer } from '../src/client/trainer.js';
import type { Strategy } from '../src/strategy/strategy.js';
import { parseSimulationConfig } from '../src/config/rules.js';
import { planRun } from '../src/run/plan.js';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 7);
const rows: Array<Record<string, unknown>> = [];
const emit = (row: Record<string, unknown>) => {
  rows.push(row);
  console.log(JSON.stringify(row));
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function randomUpdates(n: number, d: number, rng: Rng): Float32Array[] {
  return Array.from({ length: n }, () => {
    const u = new Float32Array(d);
    for (let i = 0; i < d; i++) u[i] = rng.next() - 0.5;
    return u;
  });
}

function benchAggregation(): void {
  const n = 100, d = 1_000_000;
  const updates = randomUpdates(n, d, new Rng('bench-agg'));
  const weights = updates.map((_, i) => 10 + i);
  const sum = new WeightedSum(d);
  const target = new Float32Array(d);
  const base = new Float32Array(d);
  const bytes = n * d * 4;
  const aggTimes: number[] = [], copyTimes: number[] = [];
  for (let r = 0; r < REPEATS + 2; r++) {
    // Interleave the two measurements so machine noise hits both alike.
    let t = performance.now();
    for (const u of updates) target.set(u);
    const copy = performance.now() - t;
    t = performance.now();
    sum.reset();
    for (let k = 0; k < n; k++) sum.add(updates[k], weights[k]);
    sum.meanPlus(base);
    const agg = performance.now() - t;
    if (r >= 2) {
      copyTimes.push(copy);
      aggTimes.push(agg);
    }
  }
  const aggGBs = bytes / (median(aggTimes) / 1000) / 1e9;
  const copyGBs = bytes / (median(copyTimes) / 1000) / 1e9;
  emit({ bench: 'fedavg-aggregation', n, d, simd: simdKernelsAvailable(), aggregation_GBps: +aggGBs.toFixed(2), copy_GBps: +copyGBs.toFixed(2), ratio_to_copy: +(aggGBs / copyGBs).toFixed(3), median_ms: +median(aggTimes).toFixed(1) });
}

/** Returns the same precomputed parameters after every fit: the round costs only the framework. */
class FixedTrainer implements Trainer {
  readonly layout: ParamLayout;
  constructor(private readonly fixed: Float32Array) {
    this.layout = ParamLayout.fromShapes([{ name: 'w', shape: [fixed.length] }]);
  }
  getParameters(out?: Float32Array) {
    if (!out) return this.fixed.slice();
    out.set(this.fixed);
    return out;
  }
  setParameters(_p: Float32Array) {}
  async fit() {
    return { numExamples: 100, metrics: { loss: 1 } };
  }
  async evaluate() {
    return { loss: 1, numExamples: 1, metrics: {} };
  }
  dispose() {}
}

/** The strategy `federa simulate` builds for the default config: FedAvg behind the mean stage with its weight cap. */
function plannedStrategy(n: number): Strategy {
  const config = parseSimulationConfig({ clients: n, clientsPerRound: n, rounds: REPEATS + 2 });
  return planRun(config, { population: n }).strategy;
}

async function benchRound(d: number, kind: 'fedavg' | 'planned'): Promise<void> {
  const n = 100;
  const rng = new Rng('bench-round');
  const fixed = randomUpdates(1, d, rng)[0];
  const host = new VirtualClientHost({
    clients: n,
    data: () => ({ train: { x: new Float32Array(1), y: new Int32Array(1), numFeatures: 1, numClasses: 1 } }),
    createTrainer: () => new FixedTrainer(fixed),
  });
  const engine = new RoundEngine({
    grid: new InMemoryGrid(host),
    strategy: kind === 'planned' ? plannedStrategy(n) : new FedAvg({ trainConfig: { epochs: 1, batchSize: 1, learningRate: 0.1 } }),
    initialParams: makeParams(ParamLayout.fromShapes([{ name: 'w', shape: [d] }])),
    rounds: REPEATS + 2,
    seed: 1,
    sampling: { fraction: 1, minClients: n },
    evaluation: false,
  });
  const times: number[] = [];
  const copyTimes: number[] = [];
  const scratch = new Float32Array(d);
  for (let round = 1; round <= REPEATS + 2; round++) {
    let t = performance.now();
    for (let k = 0; k < n; k++) scratch.set(fixed);
    const copy = performance.now() - t;
    t = performance.now();
    const rec = await engine.runRound(round);
    const dt = performance.now() - t;
    if (rec.status !== 'completed' || rec.succeeded.length !== n) throw new Error(`round ${round}: ${rec.status} ${rec.reason ?? ''}`);
    if (round > 2) {
      times.push(dt);
      copyTimes.push(copy);
    }
  }
  emit({ bench: 'simulated-round', strategy: kind === 'planned' ? 'run plan (FedAvg + mean stage + weight cap)' : 'FedAvg', n, d, round_s: +(median(times) / 1000).toFixed(4), min_s: +(Math.min(...times) / 1000).toFixed(4), copy_n_updates_s: +(median(copyTimes) / 1000).toFixed(4), ratio_to_copy: +(median(times) / median(copyTimes)).toFixed(2) });
}

benchAggregation();
await benchRound(100_000, 'fedavg');
await benchRound(100_000, 'planned');
await benchRound(1_000_000, 'fedavg');
await benchRound(1_000_000, 'planned');

const ref: Record<string, string> = {
  'fedavg-aggregation': 'Flower 1.28: 3.66 GB/s (numpy copy 10.9 GB/s); goal ≥ 3.7 GB/s',
  'simulated-round@100000': 'Flower 1.28: 0.211 s',
  'simulated-round@1000000': 'Flower 1.28: 0.750 s; goal ≤ 0.375 s',
};
console.log('\n| measurement | federa | plain copy, same run | reference |');
console.log('|---|---|---|---|');
for (const r of rows) {
  if (r.bench === 'fedavg-aggregation') console.log(`| FedAvg aggregation n=100 d=10^6 | ${r.aggregation_GBps} GB/s (${r.ratio_to_copy}× copy) | ${r.copy_GBps} GB/s | ${ref['fedavg-aggregation']} |`);
  else console.log(`| round n=100 d=${r.d}, ${r.strategy} | ${r.round_s} s (${r.ratio_to_copy}× copy) | ${r.copy_n_updates_s} s | ${ref[`simulated-round@${r.d}`]} |`);
}
