/**
 * Compression benchmark.
 *
 * 1. Accuracy vs bytes: MNIST 2NN, 100 clients with Dirichlet(α) label skew, 10 per round, FedAvg,
 *    a fixed number of rounds, for float32 and each uplink codec. Reports the final central test
 *    accuracy (and the mean of the last 5 rounds), the total uplink bytes as measured by the
 *    transport, the float32-equivalent bytes and their ratio, averaged over seeds. Runs go to child
 *    processes, `--parallel` at a time.
 * 2. Throughput: encode + decode of a 1M-parameter update per codec, in MB/s of float32 input,
 *    interleaved with a plain Float32Array copy (`slice()`) measured in the same loop; the ratio is
 *    codec MB/s ÷ copy MB/s.
 *
 *   npx tsx bench/compression.ts                       # both sections
 *   npx tsx bench/compression.ts --section throughput  # only the codec speeds (~20 s)
 *   npx tsx bench/compression.ts --rounds 20 --seeds 1 # quicker accuracy runs
 *   npx tsx bench/compression.ts --only q8 --seed 1    # one run, in this process
 *
 * Prints one JSON line per run / measurement, then markdown tables.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { Rng } from '../src/core/rng.js';
import { makeParams } from '../src/core/params.js';
import { loadMnist } from '../src/node/mnist.js';
import { partitionDirichlet } from '../src/data/partition.js';
import { createTfjsTrainer } from '../src/models/tfjs-trainer.js';
import { runSimulation } from '../src/sim/simulation.js';
import { FedAvg } from '../src/strategy/fedavg.js';
import { CompressionPipeline, decodePayload } from '../src/compress/pipeline.js';
import { compressionLayers } from '../src/compress/layers.js';

interface Codec {
  name: string;
  uplink: string;
  downlink?: string;
  /** Included in the throughput section. */
  speed?: boolean;
}

const CODECS: Codec[] = [
  { name: 'float32', uplink: '' },
  { name: 'fp16', uplink: 'fp16', speed: true },
  { name: 'q8', uplink: 'quantize:8', speed: true },
  { name: 'q4', uplink: 'quantize:4', speed: true },
  { name: 'q4-rot', uplink: 'rotate,quantize:4', speed: true },
  { name: 'q2-rot', uplink: 'rotate,quantize:2', speed: true },
  { name: 'q2', uplink: 'quantize:2' },
  { name: 'q1-rot', uplink: 'rotate,quantize:1', speed: true },
  { name: 'top10-ef', uplink: 'topk:0.1,lossless', speed: true },
  { name: 'top1-ef', uplink: 'topk:0.01,lossless' },
  { name: 'top1-ef-q8', uplink: 'topk:0.01,quantize:8,lossless', speed: true },
  { name: 'top1-noef-q8', uplink: 'topk:0.01:ef=false,quantize:8,lossless' },
  { name: 'q8+fp16-down', uplink: 'quantize:8', downlink: 'fp16' },
];

const program = new Command('bench-compression')
  .option('--section <s>', 'accuracy | throughput | all', 'all')
  .option('--rounds <n>', 'federated rounds', (v) => Number(v), 50)
  .option('--seeds <list>', 'seeds averaged over (comma-separated)', '1,2')
  .option('--seed <n>', 'with --only: the seed of that run', (v) => Number(v), 1)
  .option('--alpha <a>', 'Dirichlet concentration of the label skew', (v) => Number(v), 0.5)
  .option('--epochs <e>', 'local epochs', (v) => Number(v), 3)
  .option('--batch-size <b>', 'local batch size', (v) => Number(v), 10)
  .option('--lr <lr>', 'client learning rate', (v) => Number(v), 0.1)
  .option('--codecs <names>', 'comma-separated subset of codecs')
  .option('--only <name>', 'run one codec in this process')
  .option('--from <file>', 'accuracy: print the table from the JSON lines of an earlier run instead of running')
  .option('--parallel <n>', 'runs at once (child processes)', (v) => Number(v), 2)
  .option('--size <n>', 'throughput: parameters per update', (v) => Number(v), 1_000_000)
  .option('--reps <n>', 'throughput: measured repetitions', (v) => Number(v), 15)
  .parse();
const opts = program.opts<{ from?: string; section: string; rounds: number; seeds: string; seed: number; alpha: number; epochs: number; batchSize: number; lr: number; codecs?: string; only?: string; parallel: number; size: number; reps: number }>();
const CLIENTS = 100, PER_ROUND = 10;
const selected = opts.codecs ? CODECS.filter((c) => opts.codecs!.split(',').includes(c.name)) : CODECS;

interface RunOutcome {
  codec: string;
  seed: number;
  uplink: string;
  downlink: string;
  final_accuracy: number;
  last5_accuracy: number;
  up_bytes: number;
  up_float32_bytes: number;
  up_ratio: number;
  down_bytes: number;
  down_float32_bytes: number;
  failed_clients: number;
  seconds: number;
}

async function runCodec(c: Codec, seed: number): Promise<RunOutcome> {
  const t0 = performance.now();
  const { train, test } = loadMnist();
  const evaluator = await createTfjsTrainer('2nn', train.numFeatures, train.numClasses, { seed });
  const curve: number[] = [];
  const strategy = new FedAvg({
    trainConfig: { epochs: opts.epochs, batchSize: opts.batchSize, learningRate: opts.lr },
    evaluate: async (round, params) => {
      evaluator.setParameters(params.data);
      const r = await evaluator.evaluate(test);
      if (round > 0) curve.push(r.metrics.accuracy);
      return { loss: r.loss, metrics: r.metrics };
    },
  });
  const partitions = partitionDirichlet(train.y, train.numClasses, CLIENTS, opts.alpha, new Rng(seed).stream('partitioning'), { minSize: 2 });
  const layers = c.uplink || c.downlink ? compressionLayers({ uplink: c.uplink, downlink: c.downlink ?? '', seed }) : undefined;
  const result = await runSimulation({
    train,
    partitions,
    validationFraction: 0,
    createTrainer: () => createTfjsTrainer('2nn', train.numFeatures, train.numClasses, { seed }),
    initialParams: makeParams(evaluator.layout, evaluator.getParameters()),
    strategy,
    rounds: opts.rounds,
    seed,
    sampling: { fraction: PER_ROUND / CLIENTS, minClients: PER_ROUND },
    evaluation: false,
    layers: layers ? [layers.client] : undefined,
    serverLayers: layers ? [layers.server] : undefined,
  });
  evaluator.dispose();
  const sum = (f: (b: (typeof result.history)[number]['bytes']) => number) => result.history.reduce((s, r) => s + f(r.bytes), 0);
  const up = sum((b) => b.up), upF32 = sum((b) => b.upFloat32 ?? b.up);
  const last5 = curve.slice(-5);
  return {
    codec: c.name,
    seed,
    uplink: c.uplink || 'float32',
    downlink: c.downlink || 'float32',
    final_accuracy: curve[curve.length - 1],
    last5_accuracy: last5.reduce((a, b) => a + b, 0) / last5.length,
    up_bytes: up,
    up_float32_bytes: upF32,
    up_ratio: upF32 / up,
    down_bytes: sum((b) => b.down),
    down_float32_bytes: sum((b) => b.downFloat32 ?? b.down),
    failed_clients: result.history.reduce((s, r) => s + r.failed.length, 0),
    seconds: (performance.now() - t0) / 1000,
  };
}

function runChild(name: string, seed: number): Promise<RunOutcome> {
  const passthrough = ['--rounds', String(opts.rounds), '--alpha', String(opts.alpha), '--epochs', String(opts.epochs), '--batch-size', String(opts.batchSize), '--lr', String(opts.lr)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...passthrough, '--only', name, '--seed', String(seed)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let result: RunOutcome | undefined;
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        console.log(line);
        try {
          const o = JSON.parse(line);
          if (o.final_accuracy !== undefined) result = o;
        } catch {
          /* not JSON */
        }
      }
    });
    child.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`${name} (seed ${seed}) exited with ${code}`))));
  });
}

// ---- throughput ----

interface SpeedOutcome {
  codec: string;
  pipeline: string;
  n: number;
  bytes: number;
  ratio_bytes: number;
  encode_ms: number;
  decode_ms: number;
  mb_s: number;
  copy_mb_s: number;
  vs_copy: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function throughput(c: Codec): SpeedOutcome {
  const n = opts.size;
  const rng = new Rng('throughput');
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal() * 0.01;
  const p = new CompressionPipeline(c.uplink);
  const codecRng = new Rng('codec');
  let bytes = p.encode(x, codecRng);
  let sink = 0;
  for (let w = 0; w < 3; w++) {
    sink += decodePayload(p.encode(x, codecRng))[0];
    sink += x.slice()[0];
  }
  const enc: number[] = [], dec: number[] = [], both: number[] = [], copy: number[] = [];
  for (let r = 0; r < opts.reps; r++) {
    // The copy and the codec run back to back in every repetition, so both see the same machine load.
    const c0 = performance.now();
    const y = x.slice();
    const c1 = performance.now();
    sink += y[r];
    const t0 = performance.now();
    bytes = p.encode(x, codecRng);
    const t1 = performance.now();
    const z = decodePayload(bytes);
    const t2 = performance.now();
    sink += z[r];
    copy.push(c1 - c0);
    enc.push(t1 - t0);
    dec.push(t2 - t1);
    both.push(t2 - t0);
  }
  if (sink === 12345.678) console.log('');
  const mb = (4 * n) / 1e6;
  const mbS = mb / (median(both) / 1000);
  const copyMbS = mb / (median(copy) / 1000);
  return {
    codec: c.name,
    pipeline: c.uplink,
    n,
    bytes: bytes.byteLength,
    ratio_bytes: (4 * n) / bytes.byteLength,
    encode_ms: median(enc),
    decode_ms: median(dec),
    mb_s: mbS,
    copy_mb_s: copyMbS,
    vs_copy: mbS / copyMbS,
  };
}

// ---- main ----

const fmt = (x: number, d = 2) => x.toFixed(d);
const mbytes = (b: number) => `${(b / 1e6).toFixed(b < 1e7 ? 2 : 1)} MB`;

if (opts.only) {
  const c = CODECS.find((x) => x.name === opts.only);
  if (!c) throw new Error(`unknown codec ${opts.only}; one of ${CODECS.map((x) => x.name).join(', ')}`);
  console.log(JSON.stringify(await runCodec(c, opts.seed)));
} else {
  if (opts.section === 'throughput' || opts.section === 'all') {
    const speeds = selected.filter((c) => c.speed).map((c) => {
      const s = throughput(c);
      console.log(JSON.stringify({ section: 'throughput', ...s }));
      return s;
    });
    const load = loadavg()[0].toFixed(1);
    console.log(
      `\nThroughput: encode + decode of a ${opts.size.toLocaleString('en-US')}-parameter float32 update (N(0, 0.01²) values), median of ${opts.reps}; ` +
        `copy = Float32Array.slice() in the same loop; ${cpus().length} CPUs, 1-min load average ${load} when the section ended`,
    );
    console.log('| codec | pipeline | bytes | × fewer | encode ms | decode ms | enc+dec MB/s | copy MB/s | ÷ copy |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const s of speeds) {
      console.log(`| ${s.codec} | \`${s.pipeline}\` | ${s.bytes.toLocaleString('en-US')} | ${fmt(s.ratio_bytes, 1)} | ${fmt(s.encode_ms)} | ${fmt(s.decode_ms)} | ${fmt(s.mb_s, 0)} | ${fmt(s.copy_mb_s, 0)} | ${fmt(s.vs_copy, 3)} |`);
    }
  }
  if (opts.section === 'accuracy' || opts.section === 'all') {
    let seeds = opts.seeds.split(',').map(Number);
    const results: RunOutcome[] = [];
    if (opts.from) {
      // Re-print the table from the JSON lines of an earlier run (nothing is re-measured).
      for (const line of readFileSync(opts.from, 'utf8').split('\n')) {
        if (!line.startsWith('{')) continue;
        const o = JSON.parse(line) as RunOutcome;
        if (o.final_accuracy !== undefined) results.push(o);
      }
      seeds = [...new Set(results.map((r) => r.seed))].sort((a, b) => a - b);
    } else {
      const queue = selected.flatMap((c) => seeds.map((seed) => ({ c, seed })));
      await Promise.all(
        Array.from({ length: Math.max(1, opts.parallel) }, async () => {
          for (let job = queue.shift(); job; job = queue.shift()) results.push(await runChild(job.c.name, job.seed));
        }),
      );
    }
    const shown = selected.filter((c) => results.some((r) => r.codec === c.name));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rows = shown.map((c) => {
      const rs = results.filter((r) => r.codec === c.name).sort((a, b) => a.seed - b.seed);
      return {
        c,
        final: mean(rs.map((r) => r.final_accuracy)),
        finals: rs.map((r) => r.final_accuracy),
        last5: mean(rs.map((r) => r.last5_accuracy)),
        up: mean(rs.map((r) => r.up_bytes)),
        upF32: mean(rs.map((r) => r.up_float32_bytes)),
        down: mean(rs.map((r) => r.down_bytes)),
        downF32: mean(rs.map((r) => r.down_float32_bytes)),
        failed: rs.reduce((s, r) => s + r.failed_clients, 0),
        seconds: mean(rs.map((r) => r.seconds)),
      };
    });
    const base = rows.find((r) => r.c.name === 'float32');
    console.log(
      `\nMNIST 2NN (199,210 parameters), ${CLIENTS} clients, Dirichlet α=${opts.alpha}, ${PER_ROUND} per round, FedAvg, E=${opts.epochs} B=${opts.batchSize} lr=${opts.lr}, ${opts.rounds} rounds, ` +
        `mean over seeds ${seeds.join(', ')}; bytes per run (uplink = train replies, as measured by the in-memory transport)`,
    );
    console.log('| codec | uplink pipeline | final acc | per seed | Δ vs float32 | last-5 acc | uplink bytes | uplink as float32 | × fewer (uplink) | downlink × fewer | failed | s/run |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      const delta = base ? `${((r.final - base.final) * 100).toFixed(2)} pts` : '—';
      console.log(
        `| ${r.c.name} | \`${r.c.uplink || 'float32'}\`${r.c.downlink ? ` (down \`${r.c.downlink}\`)` : ''} | ${fmt(r.final * 100)}% | ${r.finals.map((a) => fmt(a * 100)).join(' / ')} | ${r.c.name === 'float32' ? '—' : delta} | ${fmt(r.last5 * 100)}% | ${mbytes(r.up)} | ${mbytes(r.upF32)} | ${fmt(r.upF32 / r.up, r.upF32 / r.up < 10 ? 2 : 1)} | ${fmt(r.downF32 / r.down, 2)} | ${r.failed} | ${fmt(r.seconds, 0)} |`,
      );
    }
  }
}
