// Combinations the stage declarations newly allow, learning end to end in simulation, and the
// unsound ones refused with the same words by both configs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseServerConfig, parseSimulationConfig } from '../../src/config/rules.js';
import { simulate } from '../../src/cli/simulate.js';
import { planRun } from '../../src/run/plan.js';
import type { AggregationStrategy } from '../../src/aggregate/pipeline.js';

const sink = { write: () => true };
const base = (out: string, extra: Record<string, unknown>) => ({
  name: 'combo',
  seed: 5,
  model: 'logreg',
  clients: 100,
  clientsPerRound: 50,
  rounds: 4,
  partition: { kind: 'iid' },
  local: { epochs: 1, batchSize: 16, learningRate: 0.1 },
  evaluation: { federatedEvery: 0, centralEvery: 1 },
  output: out,
  ...extra,
});

test('DP with a fixed norm bound: both clips apply and the model learns', async () => {
  const out = mkdtempSync(join(tmpdir(), 'federa-combo-'));
  const config = parseSimulationConfig(base(out, { privacy: { noiseMultiplier: 0.2, clipNorm: 1, sampling: 'fixed' }, robust: { aggregator: 'mean', normBound: 0.5 } }));
  const stages = (planRun(config, { population: 100 }).strategy as AggregationStrategy).stages;
  assert.deepEqual(stages.filter((st) => st.name === 'clip').map((st) => st.field).sort(), ['privacy.clipNorm', 'robust.normBound']);
  const r = await simulate(config, { out: sink, progress: false });
  assert.ok(r.history.every((h) => h.status === 'completed' && h.privacy), 'every round released with its ε');
  const initial = 0.1;
  assert.ok(r.finalAccuracy! > initial + 0.3, `accuracy ${r.finalAccuracy}`);
  // The same seed reproduces the run exactly, norm bound and noise included.
  const again = await simulate(parseSimulationConfig(base(mkdtempSync(join(tmpdir(), 'federa-combo-')), { privacy: { noiseMultiplier: 0.2, clipNorm: 1, sampling: 'fixed' }, robust: { aggregator: 'mean', normBound: 0.5 } })), { out: sink, progress: false });
  assert.deepEqual(again.params, r.params);
});

test('unsound combinations are refused by both configs with the same message', () => {
  const server = (extra: Record<string, unknown>) => parseServerConfig({ rounds: 2, clientsPerRound: 5, input: { numFeatures: 4, numClasses: 2 }, ...extra });
  const sim = (extra: Record<string, unknown>) => parseSimulationConfig({ rounds: 2, clients: 10, clientsPerRound: 5, ...extra });
  const cases: Array<[Record<string, unknown>, Record<string, unknown>, RegExp]> = [
    [{ robust: { aggregator: 'median' }, secagg: { mode: 'secagg' } }, { robust: { aggregator: 'median' }, secagg: { mode: 'secagg' } }, /which secure aggregation hides/],
    [{ compression: { uplink: 'topk:0.1' }, secagg: { mode: 'secagg' } }, { compression: { uplink: 'topk:0.1' }, secagg: { mode: 'secagg' } }, /cannot be summed under secure aggregation/],
    [{ privacy: { noiseMultiplier: 1 }, robust: { aggregator: 'median' } }, { privacy: { noiseMultiplier: 1, populationSize: 10 }, robust: { aggregator: 'median' } }, /privacy and .* cannot be combined/],
    [{ privacy: { noiseMultiplier: 1 }, robust: { aggregator: 'mean', normBound: 'median' } }, { privacy: { noiseMultiplier: 1, populationSize: 10 }, robust: { aggregator: 'mean', normBound: 'median' } }, /cannot be combined/],
  ];
  for (const [s, d, words] of cases) {
    const a = (() => { try { sim(s); } catch (e) { return (e as Error).message; } return 'accepted'; })();
    const b = (() => { try { server(d); } catch (e) { return (e as Error).message; } return 'accepted'; })();
    assert.match(a, words, `simulation: ${a}`);
    assert.match(b, words, `server: ${b}`);
    // Same words after the source prefix.
    assert.equal(a.slice(a.indexOf(': ') + 2), b.slice(b.indexOf(': ') + 2));
  }
});
