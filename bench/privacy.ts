/**
 * Privacy–utility table for DP-FedAvg on MNIST: as many simulated clients as the data allows —
 * 1,000 clients of 8 examples (IID), 100 per round (q = 0.1) — with the noise multiplier
 * calibrated (RDP, δ = 1e-5) so that the planned rounds spend exactly ε ∈ {1, 3, 8}, for fixed
 * and adaptive clipping (Andrew et al. 2021, γ = 0.5, η_C = 0.2, σ_b = m/20); ε = ∞ is plain
 * FedAvg (no clipping, no noise) for reference.
 *
 *   npx tsx bench/privacy.ts                         # the whole table (runs 2 at a time)
 *   npx tsx bench/privacy.ts --rounds 50 --model 2nn
 *   npx tsx bench/privacy.ts --only fixed:3          # one cell, in this process
 *
 * Prints one JSON line per run, then a table.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { Rng } from '../src/core/rng.js';
import { makeParams } from '../src/core/params.js';
import { loadMnist } from '../src/node/mnist.js';
import { partitionIid } from '../src/data/partition.js';
import { createTfjsTrainer } from '../src/models/tfjs-trainer.js';
import { runSimulation } from '../src/sim/simulation.js';
import { FedAvg } from '../src/strategy/fedavg.js';
import type { Strategy } from '../src/strategy/strategy.js';
import { DpFedAvg } from '../src/aggregate/dp-fedavg.js';
import { dpClientLayer } from '../src/privacy/client-layer.js';
import { calibrateNoiseMultiplier } from '../src/privacy/accountant/calibrate.js';
import type { ModelName } from '../src/models/zoo.js';

const opts = new Command('bench-privacy')
  .option('--model <name>', 'logreg or 2nn', 'logreg')
  .option('--clients <n>', 'clients (the 8,000 training examples split evenly)', (v) => Number(v), 1000)
  .option('--per-round <m>', 'clients per round', (v) => Number(v), 100)
  .option('--rounds <T>', 'rounds', (v) => Number(v), 100)
  .option('--epochs <E>', 'local epochs', (v) => Number(v), 5)
  .option('--batch <B>', 'local batch size', (v) => Number(v), 8)
  .option('--lr <lr>', 'client learning rate', (v) => Number(v), 0.1)
  .option('--clip <C>', 'clip norm (starting value for adaptive clipping)', (v) => Number(v), 0.5)
  .option('--delta <delta>', 'δ', (v) => Number(v), 1e-5)
  .option('--eval-every <n>', 'central evaluation every n rounds', (v) => Number(v), 10)
  .option('--seed <seed>', 'seed', (v) => Number(v), 1)
  .option('--only <cell>', 'run one cell ("fixed:1", "adaptive:8", "none:inf") in this process')
  .option('--parallel <n>', 'cells run at once', (v) => Number(v), 2)
  .parse()
  .opts<{
    model: ModelName;
    clients: number;
    perRound: number;
    rounds: number;
    epochs: number;
    batch: number;
    lr: number;
    clip: number;
    delta: number;
    evalEvery: number;
    seed: number;
    only?: string;
    parallel: number;
  }>();

interface CellResult {
  clipping: string;
  targetEpsilon: number | null;
  noiseMultiplier: number | null;
  epsilon: number | null;
  finalAccuracy: number;
  bestAccuracy: number;
  finalClipNorm: number | null;
  seconds: number;
}

async function runCell(cell: string): Promise<CellResult> {
  const [clipping, eps] = cell.split(':');
  const target = eps === 'inf' ? null : Number(eps);
  const { train, test } = loadMnist();
  const partitions = partitionIid(train.y.length, opts.clients, new Rng(opts.seed).stream('partitioning'));
  const evaluator = await createTfjsTrainer(opts.model, 784, 10, { seed: opts.seed });
  const initial = makeParams(evaluator.layout, evaluator.getParameters());
  const q = opts.perRound / opts.clients;
  const inner = new FedAvg({
    trainConfig: { epochs: opts.epochs, batchSize: opts.batch, learningRate: opts.lr },
    evaluate: async (_round, params) => {
      evaluator.setParameters(params.data);
      const r = await evaluator.evaluate(test);
      return { loss: r.loss, metrics: r.metrics };
    },
  });
  let strategy: Strategy = inner;
  let sigma: number | null = null;
  if (target !== null) {
    sigma = calibrateNoiseMultiplier({ q, steps: opts.rounds, delta: opts.delta, epsilon: target });
    strategy = new DpFedAvg(inner, {
      clipNorm: opts.clip,
      noiseMultiplier: sigma,
      delta: opts.delta,
      populationSize: opts.clients,
      clientsPerRound: opts.perRound,
      targetEpsilon: target,
      plannedRounds: opts.rounds,
      noiseRng: new Rng(opts.seed).stream('dp-noise'),
      ...(clipping === 'adaptive' ? { adaptive: { targetQuantile: 0.5, clipLearningRate: 0.2, countNoiseMultiplier: opts.perRound / 20 } } : {}),
    });
  }
  const t0 = performance.now();
  const result = await runSimulation({
    train,
    partitions,
    validationFraction: 0,
    createTrainer: () => createTfjsTrainer(opts.model, 784, 10, { seed: opts.seed }),
    initialParams: initial,
    strategy,
    rounds: opts.rounds,
    seed: opts.seed,
    sampling: { fraction: q, minClients: opts.perRound },
    evaluation: false,
    centralEvaluationEvery: opts.evalEvery,
    layers: target !== null ? [dpClientLayer({ noise: 'seeded' })] : undefined,
  });
  const accs = result.history.flatMap((r) => (r.centralEvaluation ? [r.centralEvaluation.metrics.accuracy] : []));
  const last = result.history.at(-1)!;
  evaluator.dispose();
  return {
    clipping,
    targetEpsilon: target,
    noiseMultiplier: sigma,
    epsilon: last.privacy?.epsilon ?? null,
    finalAccuracy: accs.at(-1)!,
    bestAccuracy: Math.max(...accs),
    finalClipNorm: last.privacy ? (last.privacy.nextClipNorm ?? last.privacy.clipNorm) : null,
    seconds: (performance.now() - t0) / 1000,
  };
}

function runChild(cell: string, argv: string[]): Promise<CellResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...argv, '--only', cell], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) reject(new Error(`cell ${cell} exited with ${code}`));
      else resolve(JSON.parse(line) as CellResult);
    });
  });
}

if (opts.only) {
  console.log(JSON.stringify(await runCell(opts.only)));
} else {
  const cells = ['none:inf', ...['fixed', 'adaptive'].flatMap((c) => ['1', '3', '8'].map((e) => `${c}:${e}`))];
  const argv = process.argv.slice(2);
  const results = new Map<string, CellResult>();
  const queue = [...cells];
  await Promise.all(
    Array.from({ length: Math.max(1, opts.parallel) }, async () => {
      for (let cell = queue.shift(); cell; cell = queue.shift()) {
        const r = await runChild(cell, argv);
        console.log(JSON.stringify(r));
        results.set(cell, r);
      }
    }),
  );
  const fmt = (cell: string) => {
    const r = results.get(cell)!;
    return `${r.finalAccuracy.toFixed(4)} (σ ${r.noiseMultiplier?.toFixed(3) ?? '—'}${r.finalClipNorm !== null && cell.startsWith('adaptive') ? `, C→${r.finalClipNorm.toFixed(3)}` : ''})`;
  };
  console.log(
    `\nMNIST ${opts.model}, ${opts.clients} clients × ${Math.floor(8000 / opts.clients)} examples (IID), ${opts.perRound} per round (q = ${opts.perRound / opts.clients}), ` +
      `${opts.rounds} rounds, E=${opts.epochs} B=${opts.batch} lr=${opts.lr}, clip ${opts.clip}, δ = ${opts.delta}, RDP accountant, seed ${opts.seed}. Final test accuracy (noise multiplier):`,
  );
  console.log('| clipping | ε = 1 | ε = 3 | ε = 8 | ε = ∞ (FedAvg, no DP) |');
  console.log('|---|---|---|---|---|');
  const none = results.get('none:inf')!.finalAccuracy.toFixed(4);
  for (const c of ['fixed', 'adaptive']) console.log(`| ${c} | ${fmt(`${c}:1`)} | ${fmt(`${c}:3`)} | ${fmt(`${c}:8`)} | ${none} |`);
}
