/**
 * FedAvg vs FedProx on Synthetic(α, β) (Li et al. 2020, §5.1): multinomial logistic regression,
 * 30 clients, 10 per round, B = 10, lr 0.01, E local epochs; the training loss and test accuracy
 * of the global model per round, for (0,0), (0.5,0.5), (1,1). The paper's qualitative result:
 * with more heterogeneity FedAvg's training loss is less stable and FedProx (μ > 0) steadier.
 * Reports per run the final loss and its round-to-round variability (mean |Δ loss| over the last
 * half). Env: BENCH_ROUNDS (default 30), BENCH_EPOCHS (default 5), BENCH_MU (default 1).
 * JSON lines + a table. `npx tsx bench/synthetic-fedprox.ts`
 */
import { initBackend } from '../src/models/backend.js';
import { createTfjsTrainer } from '../src/models/tfjs-trainer.js';
import { synthetic } from '../src/data/synthetic.js';
import { runSimulation } from '../src/sim/simulation.js';
import { FedAvg } from '../src/strategy/fedavg.js';
import { FedProx } from '../src/strategy/fedprox.js';
import { makeParams, type Params } from '../src/core/params.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const EPOCHS = Number(process.env.BENCH_EPOCHS ?? 5);
const MU = Number(process.env.BENCH_MU ?? 1);
const rows: Array<Record<string, unknown>> = [];

await initBackend('wasm');
for (const [alpha, beta] of [[0, 0], [0.5, 0.5], [1, 1]] as const) {
  // Capped sizes keep a run to a few minutes; the lognormal spread below the cap stays.
  const data = synthetic({ alpha, beta, seed: 1, maxSamplesPerClient: 2000 });
  for (const mu of [0, MU]) {
    const evaluator = await createTfjsTrainer('logreg', 60, 10, { seed: 1 });
    const lossOnTrain = async (p: Params) => {
      evaluator.setParameters(p.data);
      const train = await evaluator.evaluate(data.train);
      const test = await evaluator.evaluate(data.test);
      return { loss: train.loss, metrics: { trainLoss: train.loss, accuracy: test.metrics.accuracy } };
    };
    const trainConfig = { epochs: EPOCHS, batchSize: 10, learningRate: 0.01 };
    const options = { trainConfig, evaluate: (_r: number, p: Params) => lossOnTrain(p) };
    const run = await runSimulation({
      train: data.train,
      partitions: data.partitions,
      validationFraction: 0,
      createTrainer: () => createTfjsTrainer('logreg', 60, 10, { seed: 1 }),
      initialParams: makeParams(evaluator.layout, evaluator.getParameters()),
      strategy: mu > 0 ? new FedProx({ ...options, mu }) : new FedAvg(options),
      rounds: ROUNDS,
      seed: 1,
      sampling: { fraction: 10 / 30, minClients: 10 },
      evaluation: false,
    });
    evaluator.dispose();
    const losses = run.history.map((h) => h.centralEvaluation!.metrics.trainLoss);
    const half = losses.slice(Math.floor(losses.length / 2));
    const jitter = half.slice(1).reduce((a, v, i) => a + Math.abs(v - half[i]), 0) / Math.max(1, half.length - 1);
    const row = { bench: 'synthetic-fedprox', alpha, beta, mu, rounds: ROUNDS, epochs: EPOCHS, finalTrainLoss: +losses.at(-1)!.toFixed(4), lossJitter: +jitter.toFixed(4), finalTestAccuracy: +run.history.at(-1)!.centralEvaluation!.metrics.accuracy.toFixed(4), trainLoss: losses.map((v) => +v.toFixed(3)) };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
console.log('\n  data        μ   final train loss   mean |Δ loss| (last half)   test accuracy');
for (const r of rows) console.log(`  (${r.alpha}, ${r.beta})`.padEnd(14) + String(r.mu).padEnd(4) + String(r.finalTrainLoss).padStart(16) + String(r.lossJitter).padStart(28) + String(r.finalTestAccuracy).padStart(16));
