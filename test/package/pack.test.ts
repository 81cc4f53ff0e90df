// Issue 19 item 9: federa installed as another project's dependency. `npm pack` makes the tarball
// (without scripts: dist/ is what `npm ci` built); the test unpacks it into a fresh project's
// node_modules/federa with federa's own dependencies resolved through a symlink to this worktree's
// node_modules (offline: nothing is fetched), then a script in that project imports federa,
// federa/node and federa/tfjs by name and runs a tiny simulation, and the `federa` bin starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../deploy/helpers/procs.js';

test('npm pack → unpacked into a fresh project → import federa, federa/node, federa/tfjs; the bin runs', { timeout: 180_000 }, () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/ is missing (npm ci or npm run build makes it)');
  const work = mkdtempSync(join(tmpdir(), 'federa-pack-'));
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const packed = JSON.parse(execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' })) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed[0].files.map((f) => f.path);
  for (const f of ['package.json', 'LICENSE', 'README.md', 'bin/federa.js', 'dist/index.js', 'dist/index.d.ts', 'dist/node/index.js', 'dist/tfjs/index.js', 'dist/browser/index.js']) assert.ok(files.includes(f), `the tarball lacks ${f}`);
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('bench/')), 'sources, tests and benches stay out of the tarball');

  const project = join(work, 'my-app');
  mkdirSync(join(project, 'node_modules', 'federa'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-app', version: '1.0.0', type: 'module', private: true, dependencies: { federa: `file:../${packed[0].filename}` } }));
  execFileSync('tar', ['xzf', join(work, packed[0].filename), '-C', join(project, 'node_modules', 'federa'), '--strip-components=1']);
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules', 'federa', 'node_modules'), 'dir');
  assert.equal(JSON.parse(readFileSync(join(project, 'node_modules', 'federa', 'package.json'), 'utf8')).license, 'Apache-2.0');

  writeFileSync(
    join(project, 'app.mjs'),
    `import { FedAvg, ParamLayout, createParams, createDataset, runSimulation, partitionIid, Rng } from 'federa';
import { loadMnist, FederaClient, FederaServer, rebuildReport } from 'federa/node';
import { createTfjsTrainer } from 'federa/tfjs';
class Toward {
  layout = ParamLayout.fromShapes([{ name: 'w', shape: [3] }]);
  w = new Float32Array(3);
  getParameters(out) { return out ? (out.set(this.w), out) : this.w.slice(); }
  setParameters(p) { this.w.set(p); }
  async fit(d, o) { for (let j = 0; j < 3; j++) this.w[j] += o.learningRate * (2 - this.w[j]); return { numExamples: d.y.length, metrics: { loss: 0 } }; }
  async evaluate(d) { return { loss: 0, numExamples: d.y.length, metrics: {} }; }
  dispose() {}
}
const train = createDataset(new Float32Array(40), new Int32Array(40), 1, 2);
const r = await runSimulation({ train, partitions: partitionIid(40, 4, new Rng(1).stream('p')), validationFraction: 0, createTrainer: () => new Toward(), initialParams: createParams(new Toward().layout), strategy: new FedAvg({ trainConfig: { epochs: 1, batchSize: 10, learningRate: 0.5 } }), rounds: 3, seed: 1, sampling: { fraction: 1, minClients: 4 }, evaluation: false });
const trainer = await createTfjsTrainer('logreg', 4, 2, { seed: 1 });
console.log(JSON.stringify({ w: r.params.data[0], rounds: r.history.length, mnist: loadMnist().train.y.length, tfjsParams: trainer.layout.size, node: [typeof FederaClient, typeof FederaServer, typeof rebuildReport] }));
trainer.dispose();
`,
  );
  const run = spawnSync(process.execPath, ['app.mjs'], { cwd: project, encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
  assert.equal(out.rounds, 3);
  assert.ok(Math.abs(out.w - 2 * (1 - 0.5 ** 3)) < 1e-6, `w ${out.w}`);
  assert.equal(out.mnist, 8000);
  assert.equal(out.tfjsParams, 4 * 2 + 2);
  assert.deepEqual(out.node, ['function', 'function', 'function']);
  // The resolved federa is the unpacked copy, not this worktree.
  const where = spawnSync(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('federa'))"], { cwd: project, encoding: 'utf8' });
  assert.match(where.stdout, /my-app\/node_modules\/federa\/dist\/index\.js/);

  const bin = spawnSync(process.execPath, [join(project, 'node_modules', 'federa', 'bin', 'federa.js'), '--help'], { cwd: project, encoding: 'utf8', timeout: 60_000 });
  assert.equal(bin.status, 0, bin.stderr);
  assert.match(bin.stdout, /simulate/);
});
