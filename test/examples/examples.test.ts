// Issue 19 item 9: every example in examples/ runs as a user would run it (`node examples/x.mjs`,
// importing `federa`, `federa/node`, `federa/tfjs` — the built package, through its own exports)
// and prints a last JSON line whose numbers show it did what it says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../deploy/helpers/procs.js';

function runExample(file: string, args: string[] = [], timeoutMs = 120_000): Promise<Record<string, any>> {
  assert.ok(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/ is missing: the examples import the built package (npm ci or npm run build makes it)');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join('examples', file), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not finish in ${timeoutMs} ms:\n${out}\n${err}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${file} exited with ${code}:\n${out}\n${err}`));
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`${file}: last line is not JSON: ${last}`));
      }
    });
  });
}

test('every example has a test here', () => {
  assert.deepEqual(readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.mjs')).sort(), ['cross-silo-csv.mjs', 'custom-strategy.mjs', 'custom-trainer.mjs', 'quickstart.mjs']);
});

test('examples/quickstart.mjs: MNIST logreg across 20 simulated clients learns in 3 rounds', { timeout: 180_000 }, async () => {
  const r = await runExample('quickstart.mjs', ['3']);
  assert.equal(r.rounds, 3);
  assert.ok(r.accuracy > 0.6, `accuracy ${r.accuracy}`);
});

test('examples/custom-trainer.mjs: a plain-JavaScript Trainer goes from chance to > 0.8 on three blobs', { timeout: 60_000 }, async () => {
  const r = await runExample('custom-trainer.mjs', ['10']);
  assert.equal(r.rounds, 10);
  assert.ok(Math.abs(r.initialAccuracy - 1 / 3) < 0.05, `initial ${r.initialAccuracy}`);
  assert.ok(r.accuracy > 0.8, `accuracy ${r.accuracy}`);
});

test('examples/custom-strategy.mjs: the coordinate median ignores the broken client, FedAvg does not', { timeout: 60_000 }, async () => {
  const r = await runExample('custom-strategy.mjs');
  assert.ok(Math.abs(r.median - 1.25) < 0.1, `median ${r.median}`);
  assert.ok(r.fedavg > 10, `fedavg ${r.fedavg}`);
});

test('examples/cross-silo-csv.mjs: two hospitals with CSV files train over wss with a development CA', { timeout: 180_000 }, async () => {
  const r = await runExample('cross-silo-csv.mjs', ['2']);
  assert.equal(r.rounds, 2);
  assert.deepEqual(r.clients, ['run_complete', 'run_complete']);
  assert.deepEqual([...r.succeeded].sort(), ['hospital-a', 'hospital-b']);
  assert.ok(r.accuracy > 0.7, `federated accuracy ${r.accuracy}`);
});
