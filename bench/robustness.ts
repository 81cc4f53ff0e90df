/**
 * Robustness benchmark: MNIST 2NN, 100 clients, 20 per round. Final test accuracy and backdoor
 * success rate of FedAvg and each defence, with 0 %, 10 %, 20 % and 30 % malicious clients, for each
 * attack (sign flipping, scaling, Gaussian noise, label flipping, pixel-pattern backdoor).
 *
 *   npm run bench:robustness                                       # the full grid, 2 runs at a time
 *   npm run bench:robustness -- --defences fedavg,median --attacks sign-flip --fractions 0,0.2
 *   npm run bench:robustness -- --only median/scale/0.2            # one run, in this process
 *
 * Defence parameters are fixed for every attack and fraction (a defender does not know either):
 * trimmed mean β = 0.3, Krum / Multi-Krum f = 6 (m = n − f), Bulyan f = 4 (the most n = 20 allows),
 * norm bounding to the round's median norm (then the example-weighted mean), and the same with
 * reputation (anomaly flags, down-weighting, exclusion of repeat offenders).
 *
 * Prints one JSON line per run, then tables.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { Rng } from '../src/core/rng.js';
import { makeParams } from '../src/core/params.js';
import { loadMnist } from '../src/node/mnist.js';
import { partitionDirichlet, partitionIid } from '../src/data/partition.js';
import { createTfjsTrainer } from '../src/models/tfjs-trainer.js';
import { runSimulation } from '../src/sim/simulation.js';
import { clientIds } from '../src/sim/virtual-clients.js';
import { FedAvg } from '../src/strategy/fedavg.js';
import type { Strategy } from '../src/strategy/strategy.js';
import type { RobustSettings } from '../src/robust/settings.js';
import { createRobustStrategy } from '../src/aggregate/robust-strategy.js';
import { ATTACK_KINDS, backdoorSuccessRate, planAttack, triggeredTestSet, type AttackKind, type AttackSettings } from '../src/robust/attacks.js';

const CLIENTS = 100;
const PER_ROUND = 20;

const DEFENCES: Record<string, RobustSettings | null> = {
  fedavg: null,
  median: { aggregator: 'median' },
  'trimmed-mean': { aggregator: 'trimmed-mean', beta: 0.3 },
  krum: { aggregator: 'krum', f: 6 },
  'multi-krum': { aggregator: 'multi-krum', f: 6 },
  bulyan: { aggregator: 'bulyan', f: 4 },
  'norm-bound': { aggregator: 'mean', normBound: 'median' },
  reputation: { aggregator: 'mean', normBound: 'median', reputation: {} },
};

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
const program = new Command('bench-robustness')
  .option('--defences <list>', `comma-separated subset of ${Object.keys(DEFENCES).join(',')}`, list, Object.keys(DEFENCES))
  .option('--attacks <list>', `comma-separated subset of ${ATTACK_KINDS.join(',')}`, list, [...ATTACK_KINDS])
  .option('--fractions <list>', 'malicious fractions (0 runs once per defence)', (v) => list(v).map(Number), [0, 0.1, 0.2, 0.3])
  .option('--rounds <n>', 'rounds', (v) => Number(v), 30)
  .option('--epochs <n>', 'local epochs', (v) => Number(v), 1)
  .option('--batch-size <n>', 'local batch size', (v) => Number(v), 10)
  .option('--lr <lr>', 'client learning rate', (v) => Number(v), 0.2)
  .option('--partition <kind>', 'iid or dirichlet', 'iid')
  .option('--alpha <a>', 'Dirichlet α', (v) => Number(v), 0.5)
  .option('--flip-scale <s>', 'sign flipping: update ← −s·update', (v) => Number(v), 4)
  .option('--scale-factor <g>', 'scaling: update ← γ·update (γ = clients per round / server lr, as in model replacement)', (v) => Number(v), PER_ROUND)
  .option('--sigma <s>', 'Gaussian attack: per-coordinate standard deviation', (v) => Number(v), 1)
  .option('--poison-fraction <p>', 'backdoor: fraction of a malicious client\'s examples poisoned', (v) => Number(v), 0.5)
  .option('--seed <seed>', 'seed', (v) => Number(v), 1)
  .option('--only <run>', 'one run, "<defence>/<attack|none>/<fraction>", in this process')
  .option('--parallel <n>', 'runs at once (child processes)', (v) => Number(v), 2)
  .parse();
const opts = program.opts<{
  defences: string[];
  attacks: string[];
  fractions: number[];
  rounds: number;
  epochs: number;
  batchSize: number;
  lr: number;
  partition: string;
  alpha: number;
  flipScale: number;
  scaleFactor: number;
  sigma: number;
  poisonFraction: number;
  seed: number;
  only?: string;
  parallel: number;
}>();

interface Outcome {
  run: string;
  defence: string;
  attack: string;
  fraction: number;
  malicious: number;
  final_accuracy: number;
  backdoor_success: number;
  skipped_rounds: number;
  /** Anomaly flags raised over the run, and how many of them were on malicious clients. */
  flagged: number;
  flagged_malicious: number;
  excluded: number;
  seconds: number;
}

function attackSettings(kind: AttackKind, fraction: number): AttackSettings {
  switch (kind) {
    case 'sign-flip':
      return { kind, fraction, scale: opts.flipScale };
    case 'scale':
      return { kind, fraction, scale: opts.scaleFactor };
    case 'noise':
      return { kind, fraction, sigma: opts.sigma };
    case 'label-flip':
      return { kind, fraction };
    case 'backdoor':
      return { kind, fraction, poisonFraction: opts.poisonFraction };
  }
}

async function runOne(key: string): Promise<Outcome> {
  const [defence, attack, fractionText] = key.split('/');
  const fraction = Number(fractionText);
  if (!(defence in DEFENCES)) throw new Error(`unknown defence ${defence}`);
  if (attack !== 'none' && !(ATTACK_KINDS as readonly string[]).includes(attack)) throw new Error(`unknown attack ${attack}`);
  const t0 = performance.now();
  const { train, test } = loadMnist();
  const ids = clientIds(CLIENTS);
  const prng = new Rng(opts.seed).stream('partitioning');
  const partitions = opts.partition === 'iid' ? partitionIid(train.y.length, CLIENTS, prng) : partitionDirichlet(train.y, train.numClasses, CLIENTS, opts.alpha, prng, { minSize: 2 });
  const plan = attack === 'none' ? undefined : planAttack(attackSettings(attack as AttackKind, fraction), ids, opts.seed);
  // The backdoor success rate is measured in every run (the clean runs give its baseline).
  const triggered = triggeredTestSet(test, { size: 3, target: 0 });
  const server = await createTfjsTrainer('2nn', train.numFeatures, train.numClasses, { seed: opts.seed });
  let accuracy = NaN, backdoor = NaN;
  const base = new FedAvg({
    trainConfig: { epochs: opts.epochs, batchSize: opts.batchSize, learningRate: opts.lr },
    evaluate: async (round, params) => {
      server.setParameters(params.data);
      const r = await server.evaluate(test);
      if (round === opts.rounds) {
        accuracy = r.metrics.accuracy;
        backdoor = await backdoorSuccessRate(server, triggered);
      }
      return { loss: r.loss, metrics: r.metrics };
    },
  });
  const settings = DEFENCES[defence];
  const strategy: Strategy = settings ? createRobustStrategy(base, settings) : base;
  const result = await runSimulation({
    train,
    partitions,
    validationFraction: 0,
    createTrainer: () => createTfjsTrainer('2nn', train.numFeatures, train.numClasses, { seed: opts.seed }),
    initialParams: makeParams(server.layout, server.getParameters()),
    strategy,
    rounds: opts.rounds,
    seed: opts.seed,
    sampling: { fraction: PER_ROUND / CLIENTS, minClients: PER_ROUND },
    evaluation: false,
    centralEvaluationEvery: opts.rounds,
    layers: plan?.layers,
    clientData: plan?.poisonData,
  });
  server.dispose();
  const bad = new Set(plan?.malicious ?? []);
  const events = result.history.flatMap((r) => r.events ?? []);
  const flags = events.filter((e) => e.kind === 'robust/anomaly');
  return {
    run: key,
    defence,
    attack,
    fraction,
    malicious: bad.size,
    final_accuracy: accuracy,
    backdoor_success: backdoor,
    skipped_rounds: result.history.filter((r) => r.status === 'skipped').length,
    flagged: flags.length,
    flagged_malicious: flags.filter((e) => bad.has(e.clientId ?? '')).length,
    excluded: events.filter((e) => e.kind === 'robust/excluded').length,
    seconds: (performance.now() - t0) / 1000,
  };
}

function runChild(key: string): Promise<Outcome> {
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--parallel' && all[i - 1] !== '--parallel');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args, '--only', key], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    let result: Outcome | undefined;
    child.stdout.on('data', (b: Buffer) => {
      buffered += b.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        console.log(line);
        try {
          const o = JSON.parse(line);
          if (o.run === key) result = o;
        } catch {
          /* not JSON */
        }
      }
    });
    child.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`${key} exited with ${code}`))));
  });
}

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : '—');

function tables(results: Outcome[]): string {
  const byKey = new Map(results.map((r) => [r.run, r]));
  const fractions = opts.fractions.filter((f) => f > 0);
  const defences = opts.defences;
  const out: string[] = [];
  const header = (first: string) => `| ${first} | 0 % | ${fractions.map((f) => `${Math.round(f * 100)} %`).join(' | ')} |\n|---|---|${fractions.map(() => '---').join('|')}|`;
  for (const attack of opts.attacks) {
    out.push(`\nFinal test accuracy (%), attack: ${attack}\n`);
    out.push(header('defence'));
    for (const d of defences) {
      const cells = [byKey.get(`${d}/none/0`), ...fractions.map((f) => byKey.get(`${d}/${attack}/${f}`))].map((r) => (r ? pct(r.final_accuracy) : ''));
      out.push(`| ${d} | ${cells.join(' | ')} |`);
    }
  }
  if (opts.attacks.includes('backdoor')) {
    out.push('\nBackdoor success rate (%): triggered test images of other classes classified as 0\n');
    out.push(header('defence'));
    for (const d of defences) {
      const cells = [byKey.get(`${d}/none/0`), ...fractions.map((f) => byKey.get(`${d}/backdoor/${f}`))].map((r) => (r ? pct(r.backdoor_success) : ''));
      out.push(`| ${d} | ${cells.join(' | ')} |`);
    }
  }
  // The goal, from the measurements: at 20 % sign flipping or scaling, the best defence vs attack-free FedAvg.
  const clean = byKey.get('fedavg/none/0');
  for (const attack of ['sign-flip', 'scale']) {
    const rows = defences.map((d) => byKey.get(`${d}/${attack}/0.2`)).filter((r): r is Outcome => r !== undefined);
    const fedavg = rows.find((r) => r.defence === 'fedavg');
    const best = rows.filter((r) => r.defence !== 'fedavg').sort((a, b) => b.final_accuracy - a.final_accuracy)[0];
    if (!clean || !best) continue;
    out.push(
      `\n20 % ${attack}: attack-free FedAvg ${pct(clean.final_accuracy)}; best defence ${best.defence} ${pct(best.final_accuracy)} ` +
        `(${((best.final_accuracy - clean.final_accuracy) * 100).toFixed(1)} pts)` +
        (fedavg ? `; FedAvg under attack ${pct(fedavg.final_accuracy)} (${((fedavg.final_accuracy - clean.final_accuracy) * 100).toFixed(1)} pts)` : ''),
    );
  }
  return out.join('\n');
}

if (opts.only) {
  console.log(JSON.stringify(await runOne(opts.only)));
} else {
  const keys: string[] = [];
  for (const d of opts.defences) {
    if (!(d in DEFENCES)) throw new Error(`unknown defence ${d}; one of ${Object.keys(DEFENCES).join(', ')}`);
    if (opts.fractions.includes(0)) keys.push(`${d}/none/0`);
    for (const a of opts.attacks) {
      if (!(ATTACK_KINDS as readonly string[]).includes(a)) throw new Error(`unknown attack ${a}; one of ${ATTACK_KINDS.join(', ')}`);
      for (const f of opts.fractions) if (f > 0) keys.push(`${d}/${a}/${f}`);
    }
  }
  const t0 = performance.now();
  const queue = [...keys];
  const results: Outcome[] = [];
  await Promise.all(
    Array.from({ length: Math.max(1, opts.parallel) }, async () => {
      for (let k = queue.shift(); k; k = queue.shift()) results.push(await runChild(k));
    }),
  );
  const minutes = (performance.now() - t0) / 60000;
  console.log(
    `\nMNIST (8,000 train / 2,000 test), 2NN, ${CLIENTS} clients (${opts.partition}${opts.partition === 'dirichlet' ? ` α=${opts.alpha}` : ''}), ${PER_ROUND} per round, ` +
      `${opts.rounds} rounds, E=${opts.epochs} B=${opts.batchSize} lr=${opts.lr}, seed ${opts.seed}; ` +
      `sign flip −${opts.flipScale}×, scaling ${opts.scaleFactor}×, noise σ=${opts.sigma}, backdoor 3×3 patch → 0 on ${opts.poisonFraction * 100} % of a client's data. ` +
      `${results.length} runs in ${minutes.toFixed(1)} min.`,
  );
  console.log(tables(results));
}
