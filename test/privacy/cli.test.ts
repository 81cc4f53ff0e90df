// `federa privacy epsilon|sigma`: output, JSON lines, and exit code 2 on bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { registerPrivacyCommand } from '../../src/cli/privacy.js';
import { computeEpsilon, calibrateNoiseMultiplier } from '../../src/privacy/accountant/calibrate.js';
import { isFederaError } from '../../src/core/errors.js';

const mainUrl = pathToFileURL(fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))).href;
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Runs the real `federa` entry point (src/cli/main.ts through tsx) in a child process. */
function federa(...args: string[]) {
  const script = `const { main } = await import(${JSON.stringify(mainUrl)}); await main(['node', 'federa', ...${JSON.stringify(args)}]);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The privacy command in this process, its output captured. */
async function inProcess(...args: string[]): Promise<string> {
  let text = '';
  const program = new Command('federa').exitOverride();
  registerPrivacyCommand(program, (t) => void (text += t));
  await program.parseAsync(['node', 'federa', ...args]);
  return text;
}

test('privacy epsilon --json prints exactly one line {"epsilon": <number>} (child process, exit 0)', () => {
  const r = federa('privacy', 'epsilon', '--q', '0.01', '--sigma', '1', '--steps', '1000', '--delta', '1e-5', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  assert.equal(lines.length, 2, JSON.stringify(r.stdout));
  assert.equal(lines[1], '');
  assert.match(lines[0], /^\{"epsilon": [0-9.e+-]+\}$/);
  const { epsilon } = JSON.parse(lines[0]);
  assert.equal(epsilon, computeEpsilon({ q: 0.01, sigma: 1, steps: 1000, delta: 1e-5 }));
});

test('bad input exits with code 2 and a clear message, printing nothing on stdout', () => {
  // One child process (each loads the whole CLI); the other bad inputs are checked in-process below.
  const r = federa('privacy', 'epsilon', '--q', '0.01', '--sigma', '0', '--steps', '10', '--delta', '1e-5', '--json');
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^federa: --sigma \(noise multiplier\) must be a finite number > 0, got 0\n$/);
});

test('privacy sigma --json gives the calibrated σ; the plain output is a sentence', async () => {
  const json = await inProcess('privacy', 'sigma', '--q', '0.01', '--steps', '1000', '--delta', '1e-6', '--epsilon', '3', '--json');
  assert.match(json, /^\{"sigma": [0-9.e+-]+\}\n$/);
  assert.equal(JSON.parse(json).sigma, calibrateNoiseMultiplier({ q: 0.01, steps: 1000, delta: 1e-6, epsilon: 3 }));
  const text = await inProcess('privacy', 'epsilon', '--q', '0.01', '--sigma', '1', '--steps', '1000', '--delta', '1e-5', '--accountant', 'pld');
  assert.match(text, /^ε = 1\.8\d+ .*PLD accountant/);
  const pld = JSON.parse(await inProcess('privacy', 'epsilon', '--q', '0.01', '--sigma', '1', '--steps', '1000', '--delta', '1e-5', '--accountant', 'pld', '--json'));
  assert.ok(Math.abs(pld.epsilon - 1.828243645616618) < 0.01 * 1.83);
});

test('every bad input is an invalid_config FederaError before any computation', async () => {
  const bad: Array<[string[], string]> = [
    [['epsilon', '--q', '0.1', '--sigma', '-1', '--steps', '10', '--delta', '1e-5'], 'sigma'],
    [['epsilon', '--q', '1.01', '--sigma', '1', '--steps', '10', '--delta', '1e-5'], '--q'],
    [['epsilon', '--q', '0', '--sigma', '1', '--steps', '10', '--delta', '1e-5'], '--q'],
    [['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '10', '--delta', '0'], '--delta'],
    [['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '10', '--delta', '1'], '--delta'],
    [['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '2.5', '--delta', '1e-5'], '--steps'],
    [['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '-4', '--delta', '1e-5'], '--steps'],
    [['epsilon', '--q', 'abc', '--sigma', '1', '--steps', '4', '--delta', '1e-5'], 'expects a number'],
    [['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '4'], '--delta is required'],
    [['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '4', '--delta', '1e-5', '--accountant', 'moments'], '--accountant'],
    [['sigma', '--q', '0.1', '--steps', '4', '--delta', '1e-5', '--epsilon', '0'], '--epsilon'],
    [['sigma', '--q', '0.1', '--steps', '4', '--delta', '1e-5'], '--epsilon is required'],
  ];
  for (const [args, fragment] of bad) {
    await assert.rejects(inProcess('privacy', ...args), (e: unknown) => isFederaError(e, 'invalid_config') && e.message.includes(fragment), args.join(' '));
  }
});
