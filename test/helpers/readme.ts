// README commands run exactly as written: a line of the README found by what it contains, run by
// `sh -c` in a fresh folder where `npx federa` is this checkout's CLI from source (a shim in
// node_modules/.bin, as test/docs/readme-deployment.test.ts does for the walk-through).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../deploy/helpers/procs.js';

/** The README's `npx federa …` line that contains every one of `parts`. */
export function readmeCommand(...parts: string[]): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const lines = readme.split('\n').filter((l) => l.startsWith('npx federa ') && parts.every((p) => l.includes(p)));
  assert.equal(lines.length, 1, `the README has one command with ${parts.join(' and ')}: ${lines.join(' | ')}`);
  return lines[0];
}

/** Runs `line` as written; `files` are copied into the folder first (paths relative to the checkout). */
export async function runReadmeCommand(line: string, options: { timeoutMs?: number; files?: string[] } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const work = mkdtempSync(join(tmpdir(), 'federa-readme-'));
  try {
    mkdirSync(join(work, 'node_modules', '.bin'), { recursive: true });
    const shim = join(work, 'node_modules', '.bin', 'federa');
    writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" --import "${import.meta.resolve('tsx')}" "${join(ROOT, 'test/deploy/helpers/cli.ts')}" "$@"\n`);
    chmodSync(shim, 0o755);
    for (const f of options.files ?? []) {
      mkdirSync(join(work, f, '..'), { recursive: true });
      writeFileSync(join(work, f), readFileSync(join(ROOT, f)));
    }
    return await new Promise((done) =>
      execFile('sh', ['-c', line], { cwd: work, timeout: options.timeoutMs ?? 110_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
