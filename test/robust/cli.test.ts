import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { buildSimulationConfig } from '../../src/cli/main.js';
import { simulate } from '../../src/cli/simulate.js';
import type { RoundRecord } from '../../src/core/records.js';

test('config: robust and attack sections, with defaults and clear errors', () => {
  const c = parseSimulationConfig({ robust: { aggregator: 'krum', f: 2 }, attack: { kind: 'scale', scale: 20 } });
  assert.deepEqual(c.robust, { aggregator: 'krum', f: 2 });
  assert.deepEqual(c.attack, { kind: 'scale', fraction: 0.2, scale: 20 });
  assert.equal(parseSimulationConfig({}).robust, undefined);
  assert.throws(() => parseSimulationConfig({ robust: { aggregator: 'geomed' } }), /robust\.aggregator: expected one of "mean" \| "median"/);
  assert.throws(() => parseSimulationConfig({ robust: { aggregator: 'trimmed-mean', beta: 0.5 } }), /robust\.beta: β must be < 0\.5 \(β·n ≥ n\/2 leaves nothing to average\)/);
  assert.throws(() => parseSimulationConfig({ robust: { aggregator: 'bulyan' } }), /robust\.f .* is required for bulyan/);
  // Bulyan with f = 1 needs 7 updates; 10 clients per round is enough, 5 is not.
  assert.ok(parseSimulationConfig({ clientsPerRound: 10, robust: { aggregator: 'bulyan', f: 1 } }));
  assert.throws(() => parseSimulationConfig({ clientsPerRound: 5, robust: { aggregator: 'bulyan', f: 1 } }), /bulyan with f = 1 needs at least 7 updates per round, but only 5 clients are selected/);
  assert.throws(() => parseSimulationConfig({ attack: { kind: 'sign-flip', fraction: 1.5 } }), /attack\.fraction/);
  assert.throws(() => parseSimulationConfig({ attack: { fraction: 0.1 } }), /attack\.kind/);
});

test('flags: --robust, --byzantine, --norm-bound, --reputation, --attack …', () => {
  const c = buildSimulationConfig({ robust: 'multi-krum', byzantine: 3, multiKrumM: 10, normBound: 'median', reputation: true, attack: 'noise', attackFraction: 0.1, attackSigma: 2 });
  assert.deepEqual(c.robust, { aggregator: 'multi-krum', f: 3, m: 10, normBound: 'median', reputation: {} });
  assert.deepEqual(c.attack, { kind: 'noise', fraction: 0.1, sigma: 2 });
  assert.deepEqual(buildSimulationConfig({ trimBeta: 0.2, robust: 'trimmed-mean' }).robust, { aggregator: 'trimmed-mean', beta: 0.2 });
  assert.deepEqual(buildSimulationConfig({ normBound: 3 }).robust, { aggregator: 'mean', normBound: 3 });
});

test('simulate with a backdoor attack and a defence: attack, robust metrics and the backdoor success rate are recorded', async () => {
  const out = mkdtempSync(join(tmpdir(), 'federa-robust-'));
  let text = '';
  const config = parseSimulationConfig({
    name: 'robust',
    seed: 3,
    model: 'logreg',
    clients: 20,
    clientsPerRound: 10,
    rounds: 2,
    partition: { kind: 'iid' },
    local: { epochs: 1, batchSize: 16, learningRate: 0.1 },
    evaluation: { federatedEvery: 0, centralEvery: 1 },
    robust: { aggregator: 'trimmed-mean', beta: 0.2, reputation: {} },
    attack: { kind: 'backdoor', fraction: 0.2 },
    output: out,
  });
  const r = await simulate(config, { out: { write: (s: string) => ((text += s), true) }, progress: false });
  assert.match(text, /strategy {2}fedavg\+trimmed-mean/);
  assert.match(text, /attack {4}backdoor: 4 of 20 clients malicious/);
  assert.match(text, /final backdoor success rate: 0\.\d{4}/);
  const rounds = readFileSync(join(r.runDir, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RoundRecord);
  assert.equal(rounds.length, 2);
  for (const rec of rounds) {
    assert.equal(rec.status, 'completed');
    assert.equal(rec.train?.metrics.robust_updates, 10);
    const b = rec.centralEvaluation?.metrics.backdoor_success;
    assert.ok(typeof b === 'number' && b >= 0 && b <= 1, `backdoor_success ${b}`);
  }
  assert.ok((r.finalAccuracy ?? 0) > 0.5, `accuracy ${r.finalAccuracy}`);
});
