// Write your own aggregation rule: a Strategy says what each client is told (configureTrain,
// configureEvaluate) and how their results become the next model (aggregateTrain, streaming:
// add() per result, finish() once). This one takes the coordinate-wise median of the updates, so
// one client sending garbage cannot drag the model — compare with FedAvg on the same run.
//
// The "model" is a 4-number estimate of the mean of the clients' data; one client is broken: a
// client layer multiplies its updates by 100.
//
//   node examples/custom-strategy.mjs
import { FedAvg, FederaError, ParamLayout, createDataset, createParams, runSimulation } from 'federa';

const D = 4;

class CoordinateMedian {
  name = 'coordinate-median';
  constructor(trainConfig) {
    this.trainConfig = trainConfig;
  }
  configureTrain(_round, _global) {
    return { ...this.trainConfig };
  }
  aggregateTrain(round, global) {
    const updates = []; // a median needs every update (FedAvg keeps only a running sum)
    let loss = 0;
    return {
      add: (result) => {
        updates.push(result.update.slice()); // the engine reuses the buffer after add() returns
        loss += result.metrics.loss ?? 0;
      },
      get accepted() {
        return updates.length;
      },
      finish: () => {
        if (updates.length === 0) throw new FederaError('insufficient_results', `round ${round}: no updates`);
        const next = new Float32Array(global.data);
        const column = new Float64Array(updates.length);
        for (let j = 0; j < next.length; j++) {
          for (let i = 0; i < updates.length; i++) column[i] = updates[i][j];
          column.sort();
          const m = column.length >> 1;
          next[j] += column.length % 2 ? column[m] : (column[m - 1] + column[m]) / 2;
        }
        return { params: next, metrics: { loss: loss / updates.length } };
      },
    };
  }
  configureEvaluate() {
    return {};
  }
  aggregateEvaluate(_round, results) {
    const n = results.reduce((s, r) => s + r.numExamples, 0);
    return { loss: results.reduce((s, r) => s + r.loss * r.numExamples, 0) / n, metrics: {}, numExamples: n };
  }
}

/** Moves its estimate toward the mean of its data. */
class MeanTrainer {
  layout = ParamLayout.fromShapes([{ name: 'mean', shape: [D] }]);
  w = new Float32Array(D);
  getParameters(out) {
    return out ? (out.set(this.w), out) : this.w.slice();
  }
  setParameters(p) {
    this.w.set(p);
  }
  async fit(data, { learningRate }) {
    const n = data.y.length;
    let loss = 0;
    for (let j = 0; j < D; j++) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += data.x[i * D + j] / n;
      loss += (this.w[j] - mean) ** 2;
      this.w[j] += learningRate * (mean - this.w[j]);
    }
    return { numExamples: n, metrics: { loss } };
  }
  async evaluate(data) {
    return { loss: 0, numExamples: data.y.length, metrics: {} };
  }
  dispose() {}
}

// Six clients, 10 examples each, every feature equal to 1 + client index / 10: the true mean is 1.25.
const CLIENTS = 6;
const x = new Float32Array(CLIENTS * 10 * D);
for (let c = 0; c < CLIENTS; c++) for (let i = 0; i < 10 * D; i++) x[c * 10 * D + i] = 1 + c / 10;
const train = createDataset(x, new Int32Array(CLIENTS * 10), D, 2);
const partitions = Array.from({ length: CLIENTS }, (_, c) => Int32Array.from({ length: 10 }, (_, i) => c * 10 + i));
const layout = new MeanTrainer().layout;
const brokenIndex = 5;

async function run(strategy) {
  const result = await runSimulation({
    train,
    partitions,
    validationFraction: 0,
    createTrainer: () => new MeanTrainer(),
    layers: (_clientId, index) => (index === brokenIndex ? [brokenLayer] : []),
    initialParams: createParams(layout),
    strategy,
    rounds: 5,
    seed: 3,
    sampling: { fraction: 1, minClients: CLIENTS },
    evaluation: false,
  });
  return result.params.data[0];
}

// A client layer wraps the client's message handler: here it corrupts the update the client sends.
const brokenLayer = (next) => async (message) => {
  const reply = await next(message);
  if (reply.type === 'train_result') for (let j = 0; j < reply.update.length; j++) reply.update[j] *= 100;
  return reply;
};

const config = { epochs: 1, batchSize: 10, learningRate: 0.5 };
const median = await run(new CoordinateMedian(config));
const mean = await run(new FedAvg({ trainConfig: config }));
console.log(`true mean 1.25 · coordinate median → ${median.toFixed(3)} · FedAvg → ${mean.toFixed(3)} (pulled by the broken client)`);
console.log(JSON.stringify({ example: 'custom-strategy', median, fedavg: mean }));
