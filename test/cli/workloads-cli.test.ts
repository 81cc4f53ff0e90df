// `federa simulate --model … --data … --task …` over the real command line: Synthetic(α, β) with
// its natural clients, a CSV regression with R² (same seed, same result), the MNIST CNN, your own
// model.json, a server config naming a model.json, and the refusals a wrong combination gets.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { RoundRecord } from '../../src/core/records.js';
import { Rng } from '../../src/core/rng.js';
import { parseServerConfig } from '../../src/config/rules.js';
import { zooServerModel } from '../../src/server/server.js';
import { initBackend } from '../../src/models/backend.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'test/deploy/helpers/cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'federa-workloads-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function federa(args: string[], timeoutMs = 240_000): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** The history of the one run folder under `out`. */
function historyOf(out: string): RoundRecord[] {
  const [run] = readdirSync(out);
  return readFileSync(join(out, run, 'history.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RoundRecord);
}

const quick = ['--no-progress', '--epochs', '1'];

test('--data synthetic:1,1 trains on its natural clients (one per generated device) and learns', { timeout: 300_000 }, async () => {
  const out = join(dir, 'synthetic');
  const r = await federa(['simulate', '--data', 'synthetic:1,1', '--clients', '30', '--clients-per-round', '10', '--model', 'logreg', '--rounds', '4', '--lr', '0.05', ...quick, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /data {6}Synthetic\(1, 1\): 30 clients/);
  assert.match(r.stdout, /clients {3}30 \(natural\), 10 per round/);
  const h = historyOf(out);
  assert.equal(h.length, 4);
  assert.ok(h.every((x) => x.status === 'completed' && x.selected.every((id) => id.startsWith('synthetic-'))));
  const acc = h.map((x) => x.centralEvaluation!.metrics.accuracy);
  assert.ok(acc[3] > acc[0], `test accuracy ${acc.join(' → ')}`);
});

/** A hospital-style table: 4 features, a float target that is a noisy linear function of them, a site column. */
function writeRegressionCsv(path: string): void {
  const rng = new Rng('regression-csv');
  const rows = ['age,bmi,dose,bp,site,outcome'];
  for (let i = 0; i < 600; i++) {
    const f = [rng.normal(), rng.normal(), rng.normal(), rng.normal()];
    const y = 0.8 * f[0] - 0.5 * f[1] + 0.3 * f[2] + 0.1 * rng.normal();
    rows.push([...f.map((v) => v.toFixed(5)), `site-${i % 4}`, y.toFixed(5)].join(','));
  }
  writeFileSync(path, rows.join('\n') + '\n');
}

test('a CSV regression: --task regression --target-columns, R² reported and rising, same seed same history', { timeout: 300_000 }, async () => {
  const csv = join(dir, 'hospital.csv');
  writeRegressionCsv(csv);
  const args = (out: string) => ['simulate', '--data', csv, '--task', 'regression', '--target-columns', 'outcome', '--group-column', 'site', '--partition', 'natural', '--clients-per-round', '4', '--model', 'logreg', '--rounds', '5', '--lr', '0.05', ...quick, '--seed', '11', '--out', out];
  const [a, b] = [await federa(args(join(dir, 'reg-a'))), await federa(args(join(dir, 'reg-b')))];
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.match(a.stdout, /task regression/);
  assert.match(a.stdout, /final central test R²: 0\.\d{4}/);
  const [ha, hb] = [historyOf(join(dir, 'reg-a')), historyOf(join(dir, 'reg-b'))];
  const r2 = ha.map((x) => x.centralEvaluation!.metrics.r2);
  assert.ok(r2.every((v) => Number.isFinite(v)), `r2 ${r2}`);
  assert.ok(r2[4] > 0.5 && r2[4] > r2[0], `R² ${r2.join(' → ')}`);
  assert.ok(Number.isFinite(ha[4].centralEvaluation!.metrics.mae));
  assert.equal(ha[0].selected.length, 4, 'four sites, four clients');
  assert.deepEqual(
    ha.map((x) => x.centralEvaluation),
    hb.map((x) => x.centralEvaluation),
  );
});

test('--model cnn: the MNIST CNN of McMahan et al. trains from the command line', { timeout: 300_000 }, async () => {
  const out = join(dir, 'cnn');
  const r = await federa(['simulate', '--model', 'cnn', '--clients', '20', '--clients-per-round', '2', '--rounds', '2', '--batch-size', '20', ...quick, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /model {5}cnn: .*conv.*1,663,370 parameters/i);
  const h = historyOf(out);
  assert.equal(h.length, 2);
  assert.ok(h.every((x) => x.status === 'completed' && Number.isFinite(x.centralEvaluation!.loss)));
});

/** Writes a small MNIST classifier of the user's own as model.json + weights.bin. */
async function writeUserModel(folder: string): Promise<string> {
  await initBackend('wasm');
  mkdirSync(folder, { recursive: true });
  const model = tf.sequential({
    name: 'clinic_net',
    layers: [tf.layers.dense({ inputShape: [784], units: 32, activation: 'relu', name: 'hidden' }), tf.layers.dense({ units: 10, activation: 'softmax', name: 'digits' })],
  });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      writeFileSync(join(folder, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
      writeFileSync(join(folder, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
  return join(folder, 'model.json');
}

test('--model ./model.json in simulation, and model = "<path>" in a server config', { timeout: 300_000 }, async () => {
  const path = await writeUserModel(join(dir, 'mine'));
  const out = join(dir, 'byo');
  const r = await federa(['simulate', '--model', path, '--clients', '20', '--clients-per-round', '5', '--rounds', '3', '--lr', '0.1', ...quick, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /TF\.js model "clinic_net", 2 layers, 25,450 parameters/);
  const h = historyOf(out);
  assert.ok(h[2].centralEvaluation!.metrics.accuracy > 0.5, `accuracy ${h.map((x) => x.centralEvaluation!.metrics.accuracy)}`);

  // The server builds the same model from its config; its spec carries the architecture to the clients.
  const server = await zooServerModel(parseServerConfig({ model: path, dataset: 'mnist', server: { database: join(dir, 'byo.db') } }));
  try {
    assert.equal(server.spec.name, 'clinic_net');
    assert.ok(server.spec.architecture && JSON.parse(server.spec.architecture).config.layers.length === 2);
    assert.equal(server.initialParams.layout.size, 25_450);
    const e = await server.evaluate!(0, server.initialParams);
    assert.ok(Number.isFinite(e.loss) && e.metrics.accuracy > 0.05);
  } finally {
    server.dispose?.();
  }
});

test('wrong model, data or task values exit 2 with a message naming them', { timeout: 120_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [['--model', 'resnet'], /model \(--model\): expected a zoo model \(logreg, 2nn, cnn, cifar-cnn, lstm\) or the path of a TF\.js model\.json; got "resnet"/],
    [['--data', 'synthetic:one,two'], /synthetic: expected "α,β"/],
    [['--data', 'idx:'], /idx needs a path \(idx:<path>\)/],
    [['--data', 'clinic.parquet'], /--data "clinic\.parquet": not a data source; expected mnist, fashion-mnist, synthetic:α,β/],
    [['--task', 'regression'], /task "regression" needs float targets, but mnist data has class labels/],
    [['--partition', 'natural'], /partition natural needs data whose examples belong to clients/],
    [['--model', join(dir, 'missing', 'model.json')], /missing[\\/]model\.json": no such file/],
  ];
  for (const [args, message] of cases) {
    const r = await federa(['simulate', '--rounds', '1', '--no-progress', '--out', join(dir, 'bad'), ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
});
