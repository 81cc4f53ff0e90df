// Bring your own ML code: a Trainer is five methods over one flat Float32Array of parameters.
// This one is softmax regression in plain JavaScript (no TensorFlow.js), trained on a synthetic
// data set of three Gaussian blobs split across 6 clients.
//
//   node examples/custom-trainer.mjs [rounds]
import { FedAvg, ParamLayout, createDataset, createParams, partitionIid, Rng, runSimulation } from 'federa';

const FEATURES = 2;
const CLASSES = 3;

/** Softmax regression: weights [FEATURES × CLASSES] then biases [CLASSES], in one flat array. */
class SoftmaxTrainer {
  layout = ParamLayout.fromShapes([
    { name: 'w', shape: [FEATURES, CLASSES] },
    { name: 'b', shape: [CLASSES] },
  ]);
  params = new Float32Array(this.layout.size);

  getParameters(out) {
    if (!out) return this.params.slice();
    out.set(this.params);
    return out;
  }
  setParameters(p) {
    this.params.set(p); // copy: never keep the caller's array
  }
  probabilities(x, i) {
    const logits = new Float64Array(CLASSES);
    for (let c = 0; c < CLASSES; c++) {
      logits[c] = this.params[FEATURES * CLASSES + c];
      for (let f = 0; f < FEATURES; f++) logits[c] += x[i * FEATURES + f] * this.params[f * CLASSES + c];
    }
    const max = Math.max(...logits);
    let sum = 0;
    for (let c = 0; c < CLASSES; c++) sum += logits[c] = Math.exp(logits[c] - max);
    return logits.map((v) => v / sum);
  }
  async fit(data, { epochs, batchSize, learningRate, seed }) {
    const rng = new Rng(seed ?? 0).stream('shuffle');
    const n = data.y.length;
    const order = Array.from({ length: n }, (_, i) => i);
    let loss = 0;
    for (let e = 0; e < epochs; e++) {
      rng.shuffle(order);
      loss = 0;
      for (let start = 0; start < n; start += batchSize) {
        const grad = new Float64Array(this.params.length);
        const batch = order.slice(start, start + batchSize);
        for (const i of batch) {
          const p = this.probabilities(data.x, i);
          loss -= Math.log(p[data.y[i]] + 1e-12);
          for (let c = 0; c < CLASSES; c++) {
            const g = p[c] - (c === data.y[i] ? 1 : 0);
            for (let f = 0; f < FEATURES; f++) grad[f * CLASSES + c] += g * data.x[i * FEATURES + f];
            grad[FEATURES * CLASSES + c] += g;
          }
        }
        for (let k = 0; k < grad.length; k++) this.params[k] -= (learningRate * grad[k]) / batch.length;
      }
    }
    return { numExamples: n, metrics: { loss: loss / n } };
  }
  async evaluate(data) {
    let loss = 0;
    let correct = 0;
    for (let i = 0; i < data.y.length; i++) {
      const p = this.probabilities(data.x, i);
      loss -= Math.log(p[data.y[i]] + 1e-12);
      if (p.indexOf(Math.max(...p)) === data.y[i]) correct++;
    }
    return { loss: loss / data.y.length, numExamples: data.y.length, metrics: { accuracy: correct / data.y.length } };
  }
  dispose() {}
}

/** n points around three centres, label = centre. */
function blobs(n, rng) {
  const centres = [[-2, 0], [2, 0], [0, 2.5]];
  const x = new Float32Array(n * FEATURES);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % CLASSES;
    x[i * 2] = centres[y[i]][0] + rng.normal();
    x[i * 2 + 1] = centres[y[i]][1] + rng.normal();
  }
  return createDataset(x, y, FEATURES, CLASSES);
}

const rounds = Number(process.argv[2] ?? 10);
const rng = new Rng(7);
const train = blobs(600, rng.stream('train'));
const test = blobs(300, rng.stream('test'));
const evaluator = new SoftmaxTrainer();
const result = await runSimulation({
  train,
  partitions: partitionIid(train.y.length, 6, rng.stream('partitioning')),
  createTrainer: () => new SoftmaxTrainer(),
  initialParams: createParams(evaluator.layout),
  strategy: new FedAvg({
    trainConfig: { epochs: 1, batchSize: 16, learningRate: 0.2 },
    evaluate: async (_round, params) => {
      evaluator.setParameters(params.data);
      const r = await evaluator.evaluate(test);
      return { loss: r.loss, metrics: r.metrics };
    },
  }),
  rounds,
  seed: 7,
  sampling: { fraction: 0.5, minClients: 3 },
});
const last = result.history.at(-1);
console.log(`after ${rounds} rounds: central accuracy ${last.centralEvaluation.metrics.accuracy.toFixed(3)}, loss ${last.centralEvaluation.loss.toFixed(3)}`);
console.log(JSON.stringify({ example: 'custom-trainer', rounds: result.history.length, accuracy: last.centralEvaluation.metrics.accuracy, initialAccuracy: result.initialEvaluation?.metrics.accuracy ?? null }));
