import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeReport } from '../../src/node/report-file.js';
import { fakeHistory, meta } from './fixtures.js';

test('writeReport writes <dir>/report.html with uPlot inlined', async () => {
  const root = await mkdtemp(join(tmpdir(), 'federa-report-'));
  try {
    const dir = join(root, 'runs', 'run-1'); // created on demand
    const file = await writeReport(dir, meta({ rounds: 5 }), fakeHistory(5));
    assert.equal(file, join(dir, 'report.html'));
    const html = await readFile(file, 'utf8');
    const require = createRequire(import.meta.url);
    const js = await readFile(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = await readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    assert.ok(html.includes(js.trim().slice(0, 200)), 'uPlot code inlined');
    assert.ok(html.includes(css.trim().slice(0, 100)), 'uPlot css inlined');
    assert.ok(!/<script[^>]+src=|<link[^>]+href=/i.test(html), 'no external resources');
    assert.deepEqual(await readdir(dir), ['report.html'], 'no temp file left behind');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
