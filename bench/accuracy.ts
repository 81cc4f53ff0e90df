/**
 * Accuracy benchmark (McMahan et al. 2017 setting on federa's MNIST split): 2NN or the MNIST CNN,
 * 100 clients, C = 0.1 (10 per round), E = 5, B = 10. Compares centralized training with FedAvg IID,
 * FedAvg on pathological shards (2 per client), FedProx and FedAdam on the same shards. For each:
 * final test accuracy, best, and the rounds (epochs for centralized) needed to reach 0.90 and 0.95.
 *
 *   npm run bench:accuracy                      # all methods, 2 in parallel
 *   npm run bench:accuracy -- --rounds 100      # shorter
 *   npm run bench:accuracy -- --only fedavg-iid # one method, in this process
 *   npm run bench:accuracy -- --model cnn --lr 0.05 --rounds 40 --epochs 10 --methods centralized,fedavg-iid,fedavg-shards2
 *   npm run bench:accuracy -- --model cnn --data fashion-mnist ...
 *       Fashion-MNIST from Debian's package (sudo apt-get install dataset-fashion-mnist), the first
 *       8,000 training and 2,000 test images, so it compares with the MNIST split's size.
 *
 * Prints one JSON line per method (and per evaluation with --trace), then a table.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { Rng } from '../src/core/rng.js';
import { makeParams } from '../src/core/params.js';
import { loadMnist } from '../src/node/mnist.js';
import { loadFashionMnist } from '../src/node/idx.js';
import { subset, type Dataset } from '../src/data/dataset.js';
import { partitionIid, partitionShards } from '../src/data/partition.js';
import { createTfjsTrainer } from '../src/models/tfjs-trainer.js';
import { runSimulation } from '../src/sim/simulation.js';
import { createStrategy, type StrategySettings } from '../src/strategy/registry.js';

interface Method {
  name: string;
  partition: 'iid' | 'shards' | 'central';
  strategy?: StrategySettings;
}

const program = new Command('bench-accuracy')
  .option('--rounds <n>', 'federated rounds', (v) => Number(v), 200)
  .option('--epochs <n>', 'centralized epochs', (v) => Number(v), 40)
  .option('--lr <lr>', 'client (and centralized) SGD learning rate', (v) => Number(v), 0.2)
  .option('--lr-decay <f>', 'federated: client learning rate × f every round', (v) => Number(v), 1)
  .option('--central-lr-decay <f>', 'centralized: learning rate × f every epoch', (v) => Number(v), 1)
  .option('--mu <mu>', 'FedProx mu', (v) => Number(v), 0.01)
  .option('--server-lr <eta>', 'FedAdam server learning rate', (v) => Number(v), 0.01)
  .option('--tau <tau>', 'FedAdam tau', (v) => Number(v), 1e-3)
  .option('--seed <seed>', 'seed', (v) => Number(v), 1)
  .option('--model <name>', 'zoo model: 2nn | cnn', '2nn')
  .option('--data <name>', 'mnist | fashion-mnist', 'mnist')
  .option('--methods <list>', 'comma-separated subset of the methods')
  .option('--only <name>', 'run one method in this process')
  .option('--parallel <n>', 'methods run at once (child processes)', (v) => Number(v), 2)
  .option('--trace', 'print a JSON line per evaluation')
  .parse();
const opts = program.opts<{ model: string; data: string; methods?: string; rounds: number; epochs: number; lr: number; lrDecay: number; centralLrDecay: number; mu: number; serverLr: number; tau: number; seed: number; only?: string; parallel: number; trace?: boolean }>();

const METHODS: Method[] = [
  { name: 'centralized', partition: 'central' },
  { name: 'fedavg-iid', partition: 'iid', strategy: { name: 'fedavg' } },
  { name: 'fedavg-shards2', partition: 'shards', strategy: { name: 'fedavg' } },
  { name: 'fedprox-shards2', partition: 'shards', strategy: { name: 'fedprox', mu: opts.mu } },
  { name: 'fedadam-shards2', partition: 'shards', strategy: { name: 'fedadam', serverLearningRate: opts.serverLr, tau: opts.tau } },
];
if (opts.model !== '2nn' && opts.model !== 'cnn') throw new Error(`--model ${opts.model}: one of 2nn, cnn`);
if (opts.data !== 'mnist' && opts.data !== 'fashion-mnist') throw new Error(`--data ${opts.data}: one of mnist, fashion-mnist`);
const MODEL = opts.model as '2nn' | 'cnn';
const E = 5, B = 10, CLIENTS = 100, PER_ROUND = 10;

function loadData(): { train: Dataset; test: Dataset } {
  if (opts.data === 'mnist') return loadMnist();
  const { train, test } = loadFashionMnist();
  if (!test) throw new Error('Fashion-MNIST: the t10k files are missing');
  const first = (n: number) => Array.from({ length: n }, (_, i) => i);
  return { train: subset(train, first(8000)), test: subset(test, first(2000)) };
}

interface Outcome {
  method: string;
  final_accuracy: number;
  best_accuracy: number;
  to_090: number | null;
  to_095: number | null;
  unit: 'round' | 'epoch';
  steps: number;
  seconds: number;
  config: Record<string, unknown>;
}

function summarise(method: string, unit: 'round' | 'epoch', curve: number[], seconds: number, config: Record<string, unknown>): Outcome {
  const first = (t: number) => {
    const i = curve.findIndex((a) => a >= t);
    return i < 0 ? null : i + 1;
  };
  return { method, final_accuracy: curve[curve.length - 1], best_accuracy: Math.max(...curve), to_090: first(0.9), to_095: first(0.95), unit, steps: curve.length, seconds, config };
}

async function runMethod(m: Method): Promise<Outcome> {
  const { train, test } = loadData();
  const t0 = performance.now();
  const server = await createTfjsTrainer(MODEL, train.numFeatures, train.numClasses, { seed: opts.seed });
  const curve: number[] = [];
  const trace = (step: number, accuracy: number, loss: number) => {
    curve.push(accuracy);
    if (opts.trace) console.log(JSON.stringify({ method: m.name, step, accuracy, loss }));
  };
  if (m.partition === 'central') {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const learningRate = opts.lr * opts.centralLrDecay ** (epoch - 1);
      await server.fit(train, { epochs: 1, batchSize: B, learningRate, seed: `${opts.seed}/central/${epoch}` });
      const r = await server.evaluate(test);
      trace(epoch, r.metrics.accuracy, r.loss);
    }
    server.dispose();
    return summarise(m.name, 'epoch', curve, (performance.now() - t0) / 1000, { model: MODEL, data: opts.data, epochs: opts.epochs, B, lr: opts.lr, lrDecay: opts.centralLrDecay });
  }
  const rng = new Rng(opts.seed).stream('partitioning');
  const partitions = m.partition === 'iid' ? partitionIid(train.y.length, CLIENTS, rng) : partitionShards(train.y, CLIENTS, 2, rng);
  const evaluator = server;
  const strategy = createStrategy(m.strategy!, {
    trainConfig: (round) => ({ epochs: E, batchSize: B, learningRate: opts.lr * opts.lrDecay ** (round - 1) }),
    evaluate: async (round, params) => {
      evaluator.setParameters(params.data);
      const r = await evaluator.evaluate(test);
      if (round > 0) trace(round, r.metrics.accuracy, r.loss);
      return { loss: r.loss, metrics: r.metrics };
    },
  });
  await runSimulation({
    train,
    partitions,
    validationFraction: 0,
    createTrainer: () => createTfjsTrainer(MODEL, train.numFeatures, train.numClasses, { seed: opts.seed }),
    initialParams: makeParams(server.layout, server.getParameters()),
    strategy,
    rounds: opts.rounds,
    seed: opts.seed,
    sampling: { fraction: PER_ROUND / CLIENTS, minClients: PER_ROUND },
    evaluation: false,
  });
  server.dispose();
  return summarise(m.name, 'round', curve, (performance.now() - t0) / 1000, { model: MODEL, data: opts.data, rounds: opts.rounds, clients: CLIENTS, perRound: PER_ROUND, E, B, lr: opts.lr, lrDecay: opts.lrDecay, strategy: m.strategy });
}

function runChild(name: string): Promise<Outcome> {
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--parallel' && all[i - 1] !== '--parallel');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args, '--only', name], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) if (line.trim()) console.log(line);
      for (const line of lines) {
        try {
          const o = JSON.parse(line);
          if (o.final_accuracy !== undefined) (child as unknown as { result: Outcome }).result = o;
        } catch {
          /* not JSON */
        }
      }
    });
    child.on('exit', (code) => {
      const result = (child as unknown as { result?: Outcome }).result;
      if (code === 0 && result) resolve(result);
      else reject(new Error(`${name} exited with ${code}`));
    });
  });
}

if (opts.only) {
  const m = METHODS.find((x) => x.name === opts.only);
  if (!m) throw new Error(`unknown method ${opts.only}; one of ${METHODS.map((x) => x.name).join(', ')}`);
  console.log(JSON.stringify(await runMethod(m)));
} else {
  const wanted = opts.methods?.split(',').map((x) => x.trim());
  for (const w of wanted ?? []) if (!METHODS.some((m) => m.name === w)) throw new Error(`--methods: unknown method ${w}; one of ${METHODS.map((x) => x.name).join(', ')}`);
  const queue = METHODS.filter((m) => !wanted || wanted.includes(m.name));
  const results: Outcome[] = [];
  await Promise.all(
    Array.from({ length: Math.max(1, opts.parallel) }, async () => {
      for (let m = queue.shift(); m; m = queue.shift()) results.push(await runChild(m.name));
    }),
  );
  results.sort((a, b) => METHODS.findIndex((m) => m.name === a.method) - METHODS.findIndex((m) => m.name === b.method));
  const central = results.find((r) => r.method === 'centralized');
  const fmt = (x: number | null, unit: string) => (x === null ? 'not reached' : `${x} ${unit}s`);
  console.log(`\n${opts.data === 'mnist' ? 'MNIST' : 'Fashion-MNIST'} (8,000 train / 2,000 test), ${MODEL.toUpperCase()}, ${CLIENTS} clients, C=${PER_ROUND / CLIENTS}, E=${E}, B=${B}, lr=${opts.lr} (×${opts.lrDecay}/round; centralized ×${opts.centralLrDecay}/epoch), seed ${opts.seed}`);
  console.log('| method | final acc | best acc | Δ final vs centralized | to 0.90 | to 0.95 | time |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results) {
    const delta = central ? `${((r.final_accuracy - central.final_accuracy) * 100).toFixed(2)} pts` : 'no centralized run';
    console.log(`| ${r.method} | ${r.final_accuracy.toFixed(4)} | ${r.best_accuracy.toFixed(4)} | ${r.method === 'centralized' ? '—' : delta} | ${fmt(r.to_090, r.unit)} | ${fmt(r.to_095, r.unit)} | ${r.seconds.toFixed(0)} s |`);
  }
}
