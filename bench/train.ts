/**
 * Local training throughput (examples/s) of the zoo's logreg, 2NN, MNIST CNN and next-token LSTM
 * at batch 10 and 50: federa's TfjsTrainer on the wasm backend (with federa's conv kernels), the
 * same trainer on TF.js's pure-JS cpu backend, and PyTorch on the same architectures (one
 * thread), measured alternately in one run so machine load hits all three alike.
 *
 * PyTorch: /usr/bin/python3 with torch (Debian: `sudo apt-get install python3-torch`; elsewhere
 * `pip install torch`); without it the torch column is skipped and the script says so.
 * Env: BENCH_REPEATS (default 3), BENCH_SECONDS per measurement (default 1.5), BENCH_MODELS
 * (comma list), FEDERA_PYTHON (default /usr/bin/python3). Prints JSON lines, then a table.
 * `npm run bench:train`
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/models/backend.js';
import { TfjsTrainer } from '../src/models/tfjs-trainer.js';
import { createModel, initParameters, type ModelName } from '../src/models/zoo.js';
import { Rng } from '../src/core/rng.js';
import type { Dataset } from '../src/data/dataset.js';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);
const MODELS = (process.env.BENCH_MODELS ?? 'logreg,2nn,cnn,lstm').split(',') as ModelName[];
const BATCHES = [10, 50];
const PYTHON = process.env.FEDERA_PYTHON ?? '/usr/bin/python3';
const SLOW_STEP_SECONDS = Number(process.env.BENCH_SLOW_STEP_SECONDS ?? 5);

const rows: Array<Record<string, unknown>> = [];
const emit = (row: Record<string, unknown>) => {
  rows.push(row);
  console.log(JSON.stringify(row));
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Random data of the model's input: 784 pixels / 10 classes, or 80 token ids of 80 (Shakespeare's shape). */
function data(model: ModelName, n: number): Dataset {
  const rng = new Rng(`bench-${model}-${n}`);
  const f = model === 'lstm' ? 80 : 784;
  const k = model === 'lstm' ? 80 : 10;
  const x = new Float32Array(n * f);
  for (let i = 0; i < x.length; i++) x[i] = model === 'lstm' ? rng.int(80) : rng.next();
  const y = Int32Array.from({ length: n }, () => rng.int(k));
  return { x, y, numFeatures: f, numClasses: k };
}

function buildTrainer(model: ModelName): TfjsTrainer {
  const z = model === 'lstm' ? createModel('lstm', 80, 80) : createModel(model, 784, 10);
  const t = new TfjsTrainer(z.model);
  t.setParameters(initParameters(t.layout, new Rng(1).stream('init')));
  return t;
}

/** A PyTorch worker process, or undefined (with the reason printed) when torch is missing. */
async function startTorch(): Promise<{ proc: ChildProcessWithoutNullStreams; ask: (cmd: object) => Promise<{ seconds: number; steps: number }>; version: string } | undefined> {
  const script = fileURLToPath(new URL('./train-torch.py', import.meta.url));
  const proc = spawn(PYTHON, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = createInterface({ input: proc.stdout });
  const queue: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = [];
  lines.on('line', (l) => queue.shift()?.resolve(l));
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const fail = (e: Error) => queue.splice(0).forEach((q) => q.reject(e));
  proc.on('exit', () => fail(new Error(stderr.trim().split('\n').pop() ?? 'exited')));
  proc.on('error', (e) => fail(e));
  const next = () => new Promise<string>((resolve, reject) => queue.push({ resolve, reject }));
  try {
    const hello = JSON.parse(await next()) as { torch: string; threads: number };
    return {
      proc,
      version: `${hello.torch}, ${hello.threads} thread`,
      ask: async (cmd) => {
        const p = next();
        proc.stdin.write(JSON.stringify(cmd) + '\n');
        return JSON.parse(await p);
      },
    };
  } catch (e) {
    console.error(`PyTorch not available (${(e as Error).message}); install it with: sudo apt-get install python3-torch (or pip install torch), or set FEDERA_PYTHON`);
    proc.kill();
    return undefined;
  }
}

async function main(): Promise<void> {
  await initBackend('wasm');
  const torch = await startTorch();
  const trainers: Record<string, TfjsTrainer> = {};
  const trainerOn = (backend: string, model: ModelName) => (trainers[`${backend}/${model}`] ??= buildTrainer(model));
  const fitRate = async (backend: string, model: ModelName, batch: number, steps: number) => {
    await tf.setBackend(backend);
    const t = trainerOn(backend, model);
    const d = data(model, batch * steps);
    const start = performance.now();
    await t.fit(d, { epochs: 1, batchSize: batch, learningRate: 0.01, seed: 1 });
    return (batch * steps) / ((performance.now() - start) / 1000);
  };
  const systems = ['wasm', 'cpu', ...(torch ? ['torch'] : [])];
  for (const model of MODELS) {
    for (const batch of BATCHES) {
      // Warm up and size each system's measurement to about SECONDS. A system whose single step
      // takes longer than SLOW_STEP_SECONDS (tfjs-cpu's conv gradients: ~30 s for the CNN at
      // B = 10) is measured by that one step and not repeated, or the bench would take hours.
      const steps: Record<string, number> = {};
      const rates: Record<string, number[]> = Object.fromEntries(systems.map((s) => [s, []]));
      const slow = new Set<string>();
      for (const s of systems) {
        let rate: number;
        if (s === 'torch') {
          const r = await torch!.ask({ model, batch, steps: 2 });
          rate = (2 * batch) / r.seconds;
        } else {
          rate = await fitRate(s, model, batch, 1);
          if (batch / rate > SLOW_STEP_SECONDS) {
            slow.add(s);
            rates[s].push(rate);
            continue;
          }
          rate = await fitRate(s, model, batch, 2);
        }
        steps[s] = Math.max(2, Math.round((rate * SECONDS) / batch));
      }
      for (let r = 0; r < REPEATS; r++) {
        for (const s of systems) {
          if (slow.has(s)) continue;
          if (s === 'torch') {
            const res = await torch!.ask({ model, batch, steps: steps[s] });
            rates[s].push((res.steps * batch) / res.seconds);
          } else rates[s].push(await fitRate(s, model, batch, steps[s]));
        }
      }
      for (const s of systems) {
        const round = (v: number) => (v >= 100 ? Math.round(v) : +v.toPrecision(3));
        emit({ bench: 'local-training', model, batch, system: s === 'torch' ? `pytorch ${torch!.version}` : `federa tfjs-${s}`, examples_per_s: round(median(rates[s])), runs: rates[s].map(round), ...(slow.has(s) ? { note: 'one step (slow)' } : {}) });
      }
    }
  }
  Object.values(trainers).forEach((t) => t.dispose());
  torch?.proc.stdin.end();

  const get = (model: string, batch: number, prefix: string) => rows.find((r) => r.model === model && r.batch === batch && String(r.system).startsWith(prefix))?.examples_per_s as number | undefined;
  const fmt = (v: number | undefined) => (v === undefined ? '-' : String(v));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '-' : `${(a / b).toFixed(2)}×`);
  const header = ['model', 'B', 'wasm ex/s', 'cpu ex/s', 'pytorch ex/s', 'wasm/cpu', 'wasm/pytorch'];
  const table = [header];
  for (const model of MODELS) {
    for (const batch of BATCHES) {
      const w = get(model, batch, 'federa tfjs-wasm'), c = get(model, batch, 'federa tfjs-cpu'), p = get(model, batch, 'pytorch');
      table.push([model, String(batch), fmt(w), fmt(c), fmt(p), ratio(w, c), ratio(w, p)]);
    }
  }
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  console.log('');
  for (const r of table) console.log(r.map((v, i) => v.padStart(widths[i])).join('  '));
}

await main();
