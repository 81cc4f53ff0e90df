// On a machine without Chromium or redis-server, `npm test` passes: every test file that starts
// one of them must skip with the helper's one-line reason. A file that launches Chromium without
// `BROWSER_SKIP` (as test/web/layout.test.ts and browser-byo.test.ts once did) fails there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const TEST = fileURLToPath(new URL('..', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? (name === 'node_modules' ? [] : testFiles(p)) : name.endsWith('.test.ts') ? [p] : [];
  });
}

test('every test file that launches Chromium or starts Redis skips without it', () => {
  const missing: string[] = [];
  for (const file of testFiles(TEST)) {
    const text = readFileSync(file, 'utf8');
    const rel = relative(TEST, file);
    if (/launchChromium\(/.test(text) && !/skip: BROWSER_SKIP/.test(text)) missing.push(`${rel}: launches Chromium without skip: BROWSER_SKIP`);
    if (/startRedis\(/.test(text) && !/skip: REDIS_SKIP/.test(text)) missing.push(`${rel}: starts Redis without skip: REDIS_SKIP`);
  }
  assert.deepEqual(missing, []);
});
