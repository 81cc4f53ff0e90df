#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's test runner through tsx (Node 20's --test has no globs).
// Extra arguments narrow the run: `npm test -- test/core` runs only the files under test/core.
//
// No run can hang: `--test-force-exit` ends the run once the tests are done even if a file left a
// handle open, and `--test-timeout` bounds every file (Node 20 applies it to each test file as a
// whole; tests with their own `timeout` keep it). At the end it prints the ten slowest files, and
// one line per kind of test that was skipped because its tool is missing (Chromium, redis-server).
// The exit code is the test runner's.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

/** Bound on one test file (ms); FEDERA_TEST_FILE_TIMEOUT_MS overrides it. */
const FILE_TIMEOUT_MS = Number(process.env.FEDERA_TEST_FILE_TIMEOUT_MS ?? 600_000);

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** The lines saying which optional tools are missing and how to enable their tests. */
function missingTools() {
  const lines = [];
  const chromium = process.env.FEDERA_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(chromium)) {
    lines.push(process.env.FEDERA_REQUIRE_BROWSER === '1'
      ? `browser tests: Chromium not found at ${chromium} and FEDERA_REQUIRE_BROWSER=1, so they fail`
      : `browser tests skipped: Chromium not found at ${chromium}; install it (apt-get install chromium) or set FEDERA_CHROMIUM=/path/to/chromium to run them`);
  }
  const redis = process.env.FEDERA_REDIS_SERVER ?? 'redis-server';
  const r = spawnSync(redis, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) {
    lines.push(process.env.FEDERA_REQUIRE_REDIS === '1'
      ? `Redis tests: ${redis} not found and FEDERA_REQUIRE_REDIS=1, so they fail`
      : `Redis tests skipped: ${redis} not found; install it (apt-get install redis-server) or set FEDERA_REDIS_SERVER=/path/to/redis-server to run them`);
  }
  return lines;
}

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['test'];
const files = roots.flatMap((r) => (statSync(r).isDirectory() ? collect(r) : [r]));
const notes = missingTools(); // printed once, at the end, where it is seen

const work = mkdtempSync(join(tmpdir(), 'federa-test-run-'));
const durationsFile = join(work, 'durations.jsonl');
const reporter = pathToFileURL(join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'test-durations-reporter.mjs')).href;
const started = Date.now();
const result = spawnSync(
  process.execPath,
  [
    '--import', 'tsx',
    '--test',
    '--test-concurrency=2',
    '--test-force-exit',
    `--test-timeout=${FILE_TIMEOUT_MS}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${reporter}`, `--test-reporter-destination=${durationsFile}`,
    ...files,
  ],
  { stdio: 'inherit' },
);
const wallMs = Date.now() - started;

// The ten slowest files (a file that timed out shows with its bound).
const byFile = new Map();
if (existsSync(durationsFile)) {
  for (const line of readFileSync(durationsFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line);
      const prev = byFile.get(e.file);
      byFile.set(e.file, { ms: Math.max(prev?.ms ?? 0, e.ms), failed: Boolean(prev?.failed || e.failed) });
    } catch {
      // a partial line from a killed reporter: skip it
    }
  }
}
rmSync(work, { recursive: true, force: true });
const slowest = [...byFile].sort((a, b) => b[1].ms - a[1].ms).slice(0, 10);
if (slowest.length) {
  console.log(`\nslowest test files (of ${byFile.size}; whole run ${(wallMs / 1000).toFixed(1)} s at concurrency 2):`);
  for (const [file, { ms, failed }] of slowest) {
    console.log(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${relative(process.cwd(), file)}${failed ? '  (failed)' : ''}`);
  }
}
if (notes.length) console.log('');
for (const line of notes) console.log(line);
if (result.error) console.error(`could not run the tests: ${result.error.message}`);
process.exit(result.status ?? 1);
