// Issue 19 item 7: `federa report <run folder | database>` rebuilds report.html from the recorded
// history — a simulation's run folder (also one cut short by a kill) and a deployment's database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFederaError } from '../../src/core/errors.js';
import type { RoundRecord } from '../../src/core/records.js';
import { rebuildReport } from '../../src/server/rebuild-report.js';
import { Store } from '../../src/server/store.js';
import { fakeHistory, round } from '../report/fixtures.js';

function dataBlock(html: string): { runId: string; series: { rounds: number[]; centralAccuracy: Array<number | null> } } {
  const m = /<script type="application\/json" id="federa-report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'data block present');
  return JSON.parse(m[1]);
}

function runFolder(n: number): { dir: string; rounds: ReturnType<typeof fakeHistory> } {
  const dir = join(mkdtempSync(join(tmpdir(), 'federa-report-cli-')), '20260101-000000-demo');
  const rounds = fakeHistory(n);
  writeFileSync(join(mkdirp(dir), 'history.jsonl'), rounds.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ name: 'demo', rounds: n, model: 'logreg' }));
  return { dir, rounds };
}

function mkdirp(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

test('a run folder: report.html is rebuilt from history.jsonl and config.json, holding every round', async () => {
  const { dir, rounds } = runFolder(6);
  assert.equal(existsSync(join(dir, 'report.html')), false);
  const r = await rebuildReport(dir);
  assert.equal(r.file, join(dir, 'report.html'));
  assert.equal(r.rounds, 6);
  const html = readFileSync(r.file, 'utf8');
  const data = dataBlock(html);
  assert.equal(data.runId, '20260101-000000-demo');
  assert.match(html, /&quot;model&quot;: &quot;logreg&quot;|"model": "logreg"/, 'the run config is shown');
  assert.deepEqual(data.series.rounds, rounds.map((x) => x.round));
  assert.deepEqual(data.series.centralAccuracy, rounds.map((x) => x.centralEvaluation?.metrics.accuracy ?? null));
});

test('a run folder killed mid-write: the cut-short last line is skipped; a bad line elsewhere names its line', async () => {
  const { dir } = runFolder(3);
  appendFileSync(join(dir, 'history.jsonl'), '{"round": 4, "status": "compl');
  const r = await rebuildReport(dir, { out: join(dir, 'again.html') });
  assert.equal(r.rounds, 3);
  assert.equal(r.skippedLines, 1);
  assert.deepEqual(dataBlock(readFileSync(join(dir, 'again.html'), 'utf8')).series.rounds, [1, 2, 3]);
  writeFileSync(join(dir, 'history.jsonl'), `${JSON.stringify(round(1))}\nnot json\n${JSON.stringify(round(3))}\n`);
  await assert.rejects(rebuildReport(dir), (e) => isFederaError(e, 'data_error') && /history\.jsonl, line 2/.test(e.message));
  rmSync(join(dir, 'history.jsonl'));
  await assert.rejects(rebuildReport(dir), (e) => isFederaError(e, 'not_found') && /no history\.jsonl/.test(e.message));
  await assert.rejects(rebuildReport(join(dir, 'nope')), (e) => isFederaError(e, 'not_found'));
});

test('a deployment database: the chosen run (default the latest) is reported beside the database', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-report-db-'));
  const db = join(dir, 'federa.db');
  const store = new Store(db);
  t.after(() => store.close());
  const layout = [{ name: 'w', shape: [2] }];
  for (const [id, n] of [['first', 2], ['second', 4]] as const) {
    store.createRun(id, { name: id, rounds: n, server: { port: 8443 } }, n);
    store.saveInitialCheckpoint(id, new Float32Array(2), layout);
    for (let i = 1; i <= n; i++) store.commitRound(id, { ...round(i, { centralEvaluation: { loss: 1, metrics: { accuracy: (id === 'first' ? 0.1 : 0.5) + i / 100 } } }), dropped: [] } as RoundRecord, new Float32Array(2), layout, undefined, 2);
    await new Promise((r) => setTimeout(r, 5)); // distinct updated_at
  }
  store.close();
  const latest = await rebuildReport(db);
  assert.equal(latest.runId, 'second');
  assert.equal(latest.source, 'database');
  assert.equal(latest.file, join(dir, 'second-report.html'));
  const data = dataBlock(readFileSync(latest.file, 'utf8'));
  assert.deepEqual(data.series.rounds, [1, 2, 3, 4]);
  assert.deepEqual(data.series.centralAccuracy, [1, 2, 3, 4].map((i) => 0.5 + i / 100));
  const first = await rebuildReport(db, { runId: 'first', out: join(dir, 'out', 'first.html') });
  assert.deepEqual(dataBlock(readFileSync(first.file, 'utf8')).series.centralAccuracy, [1, 2].map((i) => 0.1 + i / 100));
  await assert.rejects(rebuildReport(db, { runId: 'third' }), /no run "third"; it has: first, second/);
  const notDb = join(dir, 'notes.txt');
  writeFileSync(notDb, 'hello, not sqlite');
  await assert.rejects(rebuildReport(notDb), (e) => isFederaError(e, 'data_error') && /not a federa database/.test(e.message));
});

test('federa report (CLI) prints where the page went and exits non-zero on a bad path', () => {
  const { dir } = runFolder(2);
  const ok = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/command.ts', 'src/cli/report.ts', 'registerReportCommand', 'report', dir], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /report .*report\.html \(run 20260101-000000-demo, 2 round\(s\), from the run folder\)/);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/command.ts', 'src/cli/report.ts', 'registerReportCommand', 'report', join(dir, 'missing')], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /does not exist \(expected a run folder or a server database\)/);
});
