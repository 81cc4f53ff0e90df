import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { simulate } from '../../src/cli/simulate.js';
import { withoutTiming, type RoundRecord } from '../../src/core/records.js';

const sink = () => {
  let text = '';
  return { write: (s: string) => ((text += s), true), get text() { return text; } };
};

const small = (out: string) =>
  parseSimulationConfig({
    name: 'test',
    seed: 7,
    model: 'logreg',
    clients: 20,
    clientsPerRound: 5,
    rounds: 3,
    partition: { kind: 'dirichlet', alpha: 0.5 },
    local: { epochs: 1, batchSize: 16, learningRate: 0.1 },
    output: out,
  });

test('simulate writes history.jsonl, the model and report.html, and the model improves', async () => {
  const out = mkdtempSync(join(tmpdir(), 'federa-sim-'));
  const io = sink();
  const r = await simulate(small(out), { out: io, progress: false });
  const lines = readFileSync(join(r.runDir, 'history.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 3);
  const rounds = lines.map((l) => JSON.parse(l) as RoundRecord);
  assert.deepEqual(rounds.map((x) => x.round), [1, 2, 3]);
  for (const x of rounds) {
    assert.equal(x.status, 'completed');
    assert.equal(x.selected.length, 5);
    assert.ok(x.bytes.up > 7850 * 4 * 5);
  }
  const summary = JSON.parse(readFileSync(join(r.runDir, 'summary.json'), 'utf8'));
  assert.ok(summary.finalAccuracy > summary.initialAccuracy + 0.3, `accuracy ${summary.initialAccuracy} → ${summary.finalAccuracy}`);
  assert.equal(readFileSync(join(r.runDir, 'model.bin')).length, 7850 * 4);
  const html = readFileSync(join(r.runDir, 'report.html'), 'utf8');
  assert.match(html, /<html/);
  assert.ok(html.includes('uPlot'));
  assert.ok(existsSync(join(r.runDir, 'log.jsonl')));
  assert.match(io.text, /final central test accuracy: 0\.\d{4}/);
});

test('the same seed twice gives an identical history and bitwise-identical final parameters', async () => {
  const out = mkdtempSync(join(tmpdir(), 'federa-sim-'));
  const a = await simulate(small(out), { out: sink(), progress: false });
  const b = await simulate(small(out), { out: sink(), progress: false });
  assert.notEqual(a.runDir, b.runDir);
  assert.deepEqual(a.history.map(withoutTiming), b.history.map(withoutTiming));
  assert.ok(Buffer.from(a.params.buffer, a.params.byteOffset, a.params.byteLength).equals(Buffer.from(b.params.buffer, b.params.byteOffset, b.params.byteLength)));
  assert.ok(readFileSync(join(a.runDir, 'model.bin')).equals(readFileSync(join(b.runDir, 'model.bin'))));
  const c = await simulate({ ...small(out), seed: 8 }, { out: sink(), progress: false });
  assert.notDeepEqual(a.history.map(withoutTiming), c.history.map(withoutTiming));
});
