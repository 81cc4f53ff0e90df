// Tests for backend selection (src/models/backend.ts). initBackend is process-wide, so the
// environment override and the cpu path are checked in child processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend, activeBackend, BACKEND_ENV_VAR } from '../../src/models/backend.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function tfjsNodeInstalled(): Promise<boolean> {
  const name = '@tensorflow/tfjs-node';
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

/** Runs an ES module snippet with tsx in a fresh process, from the package root. */
function child(code: string, env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', code],
      { cwd: ROOT, env: { ...process.env, [BACKEND_ENV_VAR]: '', ...env }, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => resolve({ status: err ? Number(err.code ?? 1) : 0, stdout: stdout.trim(), stderr: stderr.trim() }),
    );
  });
}

// Started now, in parallel with the in-process test.
const cpuChild = child(
  `import { initBackend } from './src/models/backend.js';
   import * as tf from '@tensorflow/tfjs';
   const b = await initBackend('wasm');
   tf.tidy(() => tf.square(tf.tensor([1, 2, 3])).dataSync());
   console.log('backend=' + b + ' active=' + tf.getBackend());`,
  { [BACKEND_ENV_VAR]: 'cpu' },
);
const failuresChild = child(
  `import { initBackend } from './src/models/backend.js';
   const attempt = async (f) => { try { return 'ok ' + (await f()); } catch (e) { return e.code + ': ' + e.message; } };
   process.env.${BACKEND_ENV_VAR} = 'gpu-please';
   console.log(await attempt(() => initBackend()));
   process.env.${BACKEND_ENV_VAR} = '';
   let tfjsNode = true;
   try { const n = '@tensorflow/tfjs-node'; await import(n); } catch { tfjsNode = false; }
   console.log(tfjsNode ? 'skip' : (await attempt(() => initBackend('tensorflow'))).split(':')[0]);
   // A failed explicit request leaves no backend chosen; a later call can still succeed.
   console.log(await attempt(() => initBackend('wasm')));`,
);

test('picks tfjs-node if installed, else wasm; later calls return the active backend', async () => {
  assert.equal(await activeBackend(), undefined, 'nothing chosen before the first call');
  const expected = process.env[BACKEND_ENV_VAR] || ((await tfjsNodeInstalled()) ? 'tensorflow' : 'wasm');
  const name = await initBackend();
  assert.equal(name, expected);
  assert.equal(tf.getBackend(), expected);
  assert.equal(await initBackend('cpu'), expected, 'idempotent: a second call does not switch');
  assert.equal(tf.getBackend(), expected);
  assert.equal(await activeBackend(), expected);
  // The backend computes (wasm binaries were found locally).
  const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync());
  assert.deepEqual([...y], [11]);
});

test('FEDERA_TFJS_BACKEND overrides the preference; cpu prints no tfjs-node banner', async () => {
  const r = await cpuChild;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'backend=cpu active=cpu');
  assert.doesNotMatch(r.stdout + r.stderr, /tfjs-node|Hi, looks like/);
});

test('an unknown or unavailable backend request fails clearly', async () => {
  const r = await failuresChild;
  assert.equal(r.status, 0, r.stderr);
  const [bogus, missing, after] = r.stdout.split('\n');
  assert.match(bogus, /^invalid_config: FEDERA_TFJS_BACKEND="gpu-please" is not one of/);
  if (missing !== 'skip') assert.equal(missing, 'unsupported', 'an explicit tensorflow request without tfjs-node');
  assert.equal(after, 'ok wasm');
});
