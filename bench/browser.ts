/**
 * `npm run bench:browser` — the browser client against Node, in the same run on the same machine:
 *
 *  1. local training throughput (examples/s) of the same model, data and settings: TF.js in headless
 *     Chromium (wasm backend; webgl and cpu too where they initialise) vs TF.js in Node (wasm),
 *     Node and Chromium wasm fits alternating;
 *  2. round time with 3 browser tabs vs 3 Node client processes (`federa client`), same server
 *     config (MNIST, FedAvg, 3 clients per round, each with the same third of the demo subset),
 *     runs alternating browser / Node.
 *
 * Output: JSON lines on stdout, then a table. Options: --rounds N (default 6), --quick.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Browser, Page } from 'playwright-core';
import { initBackend } from '../src/models/backend.js';
import { createTfjsTrainer } from '../src/models/tfjs-trainer.js';
import { decodeImageSubset } from '../src/browser/data.js';
import { mnistSubsetBytes } from '../src/server/static.js';
import type { Dataset } from '../src/data/dataset.js';
import { launchChromium } from '../test/helpers/chromium.js';
import { federa, waitFor, type Proc } from '../test/deploy/helpers/procs.js';
import { buildBrowserClient, openClientPage, startMnistServer } from '../test/web/helpers-browser-client.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const ROUNDS = Number(args[args.indexOf('--rounds') + 1]) || (quick ? 4 : 6);
const MODELS = ['logreg', '2nn'] as const;
const FIT = { epochs: 1, batchSize: 16, learningRate: 0.1 };
const PAIRS = quick ? 3 : 7;
const SHARDS = 3;
const RUN_PAIRS = quick ? 1 : 2;

type Line = Record<string, unknown>;
const lines: Line[] = [];
function emit(l: Line): void {
  lines.push(l);
  process.stdout.write(JSON.stringify(l) + '\n');
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** A trainer for one-epoch fits on `data`, in this Node process (wasm), warmed up by one fit. */
async function nodeTrainer(model: (typeof MODELS)[number], data: Dataset): Promise<{ fit(seed: number): Promise<number>; dispose(): void }> {
  await initBackend('wasm');
  const t = await createTfjsTrainer(model, data.numFeatures, data.numClasses, { seed: 1 });
  await t.fit(data, { ...FIT, seed: 0 });
  return {
    async fit(seed) {
      const t0 = performance.now();
      await t.fit(data, { ...FIT, seed });
      return data.y.length / ((performance.now() - t0) / 1000);
    },
    dispose: () => t.dispose(),
  };
}

/**
 * The same in a page: the bundle's createTfjsTrainer on the requested backend, with the demo
 * subset, warmed up by one fit and kept in the page; or why that backend does not initialise.
 */
async function pageTrainer(page: Page, backend: string, model: string): Promise<{ fit(seed: number): Promise<number> } | { error: string }> {
  const r = await page.evaluate(
    async ({ backend, model, fit }) => {
      const m = await import('/client/federa-browser.js' as string);
      try {
        await m.initBrowserBackend({ preferred: backend });
      } catch (e) {
        return { error: String((e as Error).message ?? e) };
      }
      const data = await m.loadMnistSubset({ url: '/client/mnist-subset.bin' });
      const trainer = await m.createTfjsTrainer(model, data.numFeatures, data.numClasses, { seed: 1 });
      await trainer.fit(data, { ...fit, seed: 0 });
      (globalThis as Record<string, unknown>).benchTrainer = { trainer, data, fit };
      return { ok: true };
    },
    { backend, model, fit: FIT },
  );
  if ('error' in r) return { error: String(r.error) };
  return {
    fit: (seed) =>
      page.evaluate(async (seed) => {
        const { trainer, data, fit } = (globalThis as Record<string, any>).benchTrainer;
        const t0 = performance.now();
        await trainer.fit(data, { ...fit, seed });
        return data.y.length / ((performance.now() - t0) / 1000);
      }, seed),
  };
}

function shardCsv(dir: string, shard: number): string {
  const d = decodeImageSubset(new Uint8Array(mnistSubsetBytes()), { shard, shards: SHARDS });
  const f = d.numFeatures;
  const rows = [[...Array.from({ length: f }, (_, j) => `p${j}`), 'label'].join(',')];
  for (let i = 0; i < d.y.length; i++) rows.push([...Array.from(d.x.subarray(i * f, (i + 1) * f), String), d.y[i]].join(','));
  const file = join(dir, `shard-${shard}.csv`);
  writeFileSync(file, rows.join('\n') + '\n');
  return file;
}

/** One run of ROUNDS rounds with 3 clients of `kind`; per-round wall times from the server's history. */
async function roundTimes(kind: 'browser' | 'node', model: (typeof MODELS)[number], browser: Browser, csvs: string[]): Promise<{ totalMs: number[]; trainMs: number[]; accuracy: number }> {
  const tokens = ['bench-0', 'bench-1', 'bench-2'];
  const s = await startMnistServer({ name: `bench-${kind}-${model}`, model, rounds: ROUNDS, tokens, local: FIT });
  const procs: Proc[] = [];
  const contexts: Array<{ close(): Promise<void> }> = [];
  try {
    if (kind === 'browser') {
      for (let i = 0; i < SHARDS; i++) {
        const p = await openClientPage(browser, s.httpUrl, { server: s.url, token: tokens[i], source: 'mnist', shard: i, shards: SHARDS, autostart: 1, backend: 'wasm' });
        contexts.push(p.context);
      }
    } else {
      for (let i = 0; i < SHARDS; i++) {
        procs.push(federa(`node-client-${i}`, ['client', '--server', s.url, '--data', csvs[i], '--token', tokens[i], '--identity', join(s.dir, `id-${i}.json`), '--log-level', 'warn'], { env: { FEDERA_TFJS_BACKEND: 'wasm' } }));
      }
    }
    const outcome = await s.server.done;
    if (outcome.status !== 'completed') throw new Error(`${kind} run did not complete`);
    const h = s.server.history();
    // Round 1 includes joining and warm-up (the server waits for the quorum before it starts, but
    // the first fit compiles kernels): report rounds 2.. .
    const rs = h.rounds.slice(1);
    return { totalMs: rs.map((r) => r.timing.totalMs), trainMs: rs.map((r) => r.timing.trainMs), accuracy: Number(h.rounds.at(-1)!.centralEvaluation?.metrics.accuracy) };
  } finally {
    for (const c of contexts) await c.close();
    for (const p of procs) p.kill('SIGTERM');
    await s.server.stop();
  }
}

async function main(): Promise<void> {
  await buildBrowserClient();
  const data = decodeImageSubset(new Uint8Array(mnistSubsetBytes()));
  const browser = await launchChromium();
  const dir = mkdtempSync(join(tmpdir(), 'federa-bench-browser-'));
  const table: string[][] = [];
  try {
    // 1. Local training throughput. One server only to serve the page, bundle and data.
    const s = await startMnistServer({ name: 'bench-serve', rounds: 1, minClients: 100 });
    try {
      for (const model of MODELS) {
        // Node wasm and Chromium wasm fits alternate, one each in turn, so that load from other
        // work on a shared machine falls on both; webgl and cpu are measured after, for reference.
        const node = await nodeTrainer(model, data);
        const pages: Record<string, { page: Page; close(): Promise<void> }> = {};
        const rates: Record<string, number[]> = { node: [] };
        const errors: Record<string, string> = {};
        try {
          const trainers: Record<string, { fit(seed: number): Promise<number> }> = {};
          for (const backend of ['wasm', 'webgl', 'cpu']) {
            const ctx = await browser.newContext();
            const page = await ctx.newPage();
            pages[backend] = { page, close: () => ctx.close() };
            await page.goto(`${s.httpUrl}/client/`);
            await waitFor('the page', () => page.evaluate(() => (window as unknown as { federaPage?: { ready?: boolean } }).federaPage?.ready === true), 30_000, 50);
            const t = await pageTrainer(page, backend, model);
            if ('error' in t) errors[backend] = t.error;
            else trainers[backend] = t;
            rates[backend] = [];
          }
          for (let i = 1; i <= PAIRS; i++) {
            rates.node.push(await node.fit(i));
            if (trainers.wasm) rates.wasm.push(await trainers.wasm.fit(i));
          }
          for (const backend of ['webgl', 'cpu']) {
            for (let i = 1; trainers[backend] && i <= (backend === 'cpu' ? 2 : 3); i++) rates[backend].push(await trainers[backend].fit(i));
          }
        } finally {
          node.dispose();
          for (const p of Object.values(pages)) await p.close();
        }
        const nodeMedian = median(rates.node);
        emit({ bench: 'local_training', where: 'node', backend: 'wasm', model, examples: data.y.length, ...FIT, examplesPerSecond: Math.round(nodeMedian), runs: rates.node.map(Math.round) });
        const row = [`${model}: local training, examples/s`, `${Math.round(nodeMedian)} (Node, wasm)`];
        for (const backend of ['wasm', 'webgl', 'cpu']) {
          if (errors[backend]) {
            emit({ bench: 'local_training', where: 'chromium', backend, model, error: errors[backend] });
            row.push(`${backend}: unavailable`);
            continue;
          }
          const med = Math.round(median(rates[backend]));
          emit({ bench: 'local_training', where: 'chromium', backend, model, examples: data.y.length, ...FIT, examplesPerSecond: med, runs: rates[backend].map(Math.round), vsNode: +(med / nodeMedian).toFixed(2) });
          row.push(`${med} (Chromium ${backend}${backend === 'webgl' ? ', SwiftShader' : ''}, ${(med / nodeMedian).toFixed(2)}× Node)`);
        }
        table.push(row);
      }
    } finally {
      await s.server.stop();
    }

    // 2. Round time, 3 browser tabs vs 3 Node processes.
    const csvs = Array.from({ length: SHARDS }, (_, i) => shardCsv(dir, i));
    for (const model of MODELS) {
      // Alternating runs (browser, Node, browser, Node): load from other work on a shared machine
      // then falls on both sides; the medians pool the rounds of both runs of a kind.
      const pooled = { browser: { totalMs: [] as number[], trainMs: [] as number[] }, node: { totalMs: [] as number[], trainMs: [] as number[] } };
      for (let rep = 0; rep < RUN_PAIRS; rep++) {
        for (const kind of ['browser', 'node'] as const) {
          const r = await roundTimes(kind, model, browser, csvs);
          pooled[kind].totalMs.push(...r.totalMs);
          pooled[kind].trainMs.push(...r.trainMs);
          emit({ bench: 'round_time', clients: `3 ${kind}`, model, run: rep + 1, rounds: ROUNDS, medianRoundMs: Math.round(median(r.totalMs)), medianTrainExchangeMs: Math.round(median(r.trainMs)), roundMs: r.totalMs.map(Math.round), finalAccuracy: r.accuracy, loadAverage: +loadavg()[0].toFixed(2) });
        }
      }
      const [b, n] = [pooled.browser, pooled.node];
      for (const [kind, r] of [['browser', b], ['node', n]] as const) {
        emit({ bench: 'round_time_summary', clients: `3 ${kind}`, model, measuredRounds: r.totalMs.length, medianRoundMs: Math.round(median(r.totalMs)), medianTrainExchangeMs: Math.round(median(r.trainMs)) });
      }
      table.push([
        `${model}: round time (median of rounds 2–${ROUNDS} of ${RUN_PAIRS} runs each)`,
        `${Math.round(median(n.totalMs))} ms (3 Node processes)`,
        `${Math.round(median(b.totalMs))} ms (3 Chromium tabs, wasm; ${(median(b.totalMs) / median(n.totalMs)).toFixed(2)}× Node)`,
      ]);
    }
  } finally {
    await browser.close();
  }
  process.stdout.write('\n');
  for (const row of table) process.stdout.write(`| ${row.join(' | ')} |\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench:browser failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
