// Ctrl-C during `federa simulate` finishes the round in progress, then writes the summary,
// history and report of the rounds done, and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('SIGINT stops after the current round and still writes summary and report', { timeout: 120_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'federa-sigint-'));
  const args = ['simulate', '--model', 'logreg', '--clients', '10', '--clients-per-round', '2', '--rounds', '200', '--epochs', '1', '--no-progress', '--out', out];
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(['node', 'federa', ...process.argv.slice(1)]))", ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (!sent && /^round 2\/200/m.test(stdout)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 110_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(killer);
  assert.ok(sent, `never saw round 2: ${stdout}\n${stderr}`);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /stopping after the current round/);
  assert.match(stdout, /interrupted after round \d+: writing the summary and report/);
  const [dir] = readdirSync(out);
  const summary = JSON.parse(readFileSync(join(out, dir, 'summary.json'), 'utf8')) as { rounds: number };
  assert.ok(summary.rounds >= 2 && summary.rounds < 200, `rounds in the summary: ${summary.rounds}`);
  assert.ok(existsSync(join(out, dir, 'report.html')));
  assert.equal(readFileSync(join(out, dir, 'history.jsonl'), 'utf8').trim().split('\n').length, summary.rounds);
});
