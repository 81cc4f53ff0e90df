// End to end: `simulate` with DP-FedAvg on MNIST logistic regression (small), the budget checks,
// and the DP flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { simulate } from '../../src/cli/simulate.js';
import { buildSimulationConfig } from '../../src/cli/main.js';
import { planRun } from '../../src/run/plan.js';
import type { DpNoiseStage } from '../../src/aggregate/dp-noise.js';
import { computeEpsilon } from '../../src/privacy/accountant/calibrate.js';
import type { RoundRecord } from '../../src/core/records.js';
import { throwsCode } from '../helpers/assertions.js';

const sink = () => {
  let text = '';
  return { write: (s: string) => ((text += s), true), get text() { return text; } };
};

const config = (out: string, privacy: Record<string, unknown>, rounds = 3) =>
  parseSimulationConfig({
    name: 'dp',
    seed: 3,
    model: 'logreg',
    clients: 20,
    clientsPerRound: 5,
    rounds,
    partition: { kind: 'iid' },
    local: { epochs: 1, batchSize: 16, learningRate: 0.1 },
    evaluation: { federatedEvery: 0, centralEvery: 1 },
    output: out,
    privacy,
  });

test('simulate with DP records ε every round, equal to the accountant for (q = 5/20, σ, rounds), and shows it in the summary', async () => {
  const out = mkdtempSync(join(tmpdir(), 'federa-dp-'));
  const io = sink();
  const r = await simulate(config(out, { noiseMultiplier: 0.8, clipNorm: 0.5 }), { out: io, progress: false });
  const rounds = readFileSync(join(r.runDir, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RoundRecord);
  assert.equal(rounds.length, 3);
  rounds.forEach((rec, k) => {
    assert.equal(rec.status, 'completed');
    assert.ok(rec.privacy, `round ${rec.round} lacks privacy`);
    assert.equal(rec.privacy.samplingRate, 0.25);
    assert.equal(rec.privacy.delta, 1e-5);
    const expected = computeEpsilon({ q: 5 / 20, sigma: 0.8, steps: k + 1, delta: 1e-5 });
    assert.ok(Math.abs(rec.privacy.epsilon - expected) <= 1e-9 * expected, `round ${k + 1}: ${rec.privacy.epsilon} vs ${expected}`);
  });
  const summary = JSON.parse(readFileSync(join(r.runDir, 'summary.json'), 'utf8'));
  assert.equal(summary.privacy.epsilon, rounds[2].privacy!.epsilon);
  assert.match(io.text, /privacy ε \(δ\)\s+\d+\.\d+ \(δ = 0\.00001\) after 3 round/);
  assert.match(io.text, /privacy\s+DP-FedAvg central, clip 0\.5, noise multiplier 0\.8000/);
  // The model still learns something through the noise.
  assert.ok(r.finalAccuracy! > 0.3, `accuracy ${r.finalAccuracy}`);
});

test('a plan over the budget is refused before anything runs or is written', async () => {
  const out = mkdtempSync(join(tmpdir(), 'federa-dp-'));
  const planned = computeEpsilon({ q: 0.25, sigma: 1, steps: 3, delta: 1e-5 });
  await assert.rejects(
    async () => simulate(config(out, { noiseMultiplier: 1, targetEpsilon: planned * 0.9 }), { out: sink(), progress: false }),
    (e: unknown) => (e as { code?: string }).code === 'invalid_config' && /above the target/.test((e as Error).message),
  );
  assert.deepEqual(readdirSync(out), [], 'no run folder may be created');
});

test('--target-epsilon without a noise multiplier calibrates σ to the planned rounds', () => {
  const plan = planRun(config('unused', { targetEpsilon: 2 }, 30), { population: 20 }).dp!;
  assert.ok(plan.calibrated);
  assert.ok(plan.plannedEpsilon <= 2 && plan.plannedEpsilon > 2 * (1 - 1e-6), `planned ${plan.plannedEpsilon}`);
  assert.ok(Math.abs(computeEpsilon({ q: 0.25, sigma: plan.noiseMultiplier, steps: 30, delta: 1e-5 }) - plan.plannedEpsilon) < 1e-12);
  // Local mode calibrates the per-client Gaussian (sensitivity 2C) over every round.
  const local = planRun(config('unused', { targetEpsilon: 2, mode: 'local' }, 30), { population: 20 }).dp!;
  assert.ok(Math.abs(computeEpsilon({ q: 1, sigma: local.noiseMultiplier / 2, steps: 30, delta: 1e-5 }) - 2) < 1e-6);
});

test('DP flags reach the config; bad values are invalid_config', () => {
  const c = buildSimulationConfig({ dpClip: 0.3, dpNoise: 1.2, dpMode: 'distributed', targetEpsilon: 8, delta: 1e-6, dpAdaptive: true, dpAccountant: 'pld' });
  assert.deepEqual(c.privacy, {
    mode: 'distributed',
    clipNorm: 0.3,
    noiseMultiplier: 1.2,
    targetEpsilon: 8,
    delta: 1e-6,
    accountant: 'pld',
    adaptive: { targetQuantile: 0.5, clipLearningRate: 0.2 },
  });
  assert.equal(buildSimulationConfig({}).privacy, undefined);
  // σ = 0 is clipping only (ε = ∞); a negative multiplier is refused.
  assert.equal(buildSimulationConfig({ dpNoise: 0 }).privacy?.noiseMultiplier, 0);
  throwsCode(() => buildSimulationConfig({ dpNoise: -1 }), 'invalid_config', 'privacy.noiseMultiplier (--dp-noise)');
  throwsCode(() => buildSimulationConfig({ dpNoise: 0, targetEpsilon: 8 }), 'invalid_config', 'above the target');
  throwsCode(() => buildSimulationConfig({ dpNoise: 1, delta: 1 }), 'invalid_config', 'privacy.delta');
  throwsCode(() => buildSimulationConfig({ dpClip: 1 }), 'invalid_config', 'noiseMultiplier');
  throwsCode(() => buildSimulationConfig({ dpNoise: 1, dpTargetQuantile: 1.5 }), 'invalid_config', 'targetQuantile');
});

test('simulate stops cleanly before a round that would exceed the budget when rounds cost more than planned', async () => {
  const { makeParams, ParamLayout } = await import('../../src/core/params.js');
  const global = makeParams(ParamLayout.fromShapes([{ name: 'w', shape: [4] }]), new Float32Array(4));
  const record = (round: number, status: 'completed' | 'skipped', reason?: string, code?: string) => ({
    round, status, reason, code, selected: [], succeeded: [], failed: [], dropped: [], bytes: { down: 0, up: 0 }, timing: { totalMs: 0, trainMs: 0, evaluateMs: 0, centralEvaluateMs: 0 },
  });
  /** One distributed round in which `reporting` of the m clients send their noisy update. */
  const round = (dp: ReturnType<typeof planRun>['strategy'], r: number, reporting: number) => {
    const agg = dp.aggregateTrain(r, global);
    for (let c = 0; c < reporting; c++) agg.add({ clientId: `c${c}`, update: new Float32Array(4), numExamples: 1, metrics: { 'dp.noised': 1, 'dp.unclippedCentered': 0.5 } });
    return agg.finish();
  };
  const setup = (clients: number, perRound: number) => {
    const cfg = parseSimulationConfig({ model: 'logreg', rounds: 3, clients, clientsPerRound: perRound, privacy: { noiseMultiplier: 1, mode: 'distributed', targetEpsilon: computeEpsilon({ q: 0.25, sigma: 1, steps: 3, delta: 1e-5 }) * (1 + 1e-9) } });
    const plan = planRun(cfg, { population: clients });
    return { plan, dp: plan.strategy, stage: plan.dp!.stage as DpNoiseStage, lines: [] as string[] };
  };

  // 9 of 10 clients report each round: the sum carries 90 % of the noise variance, so each round
  // costs more than planned; after two of them the third planned round no longer fits.
  const a = setup(40, 10);
  for (const r of [1, 2]) {
    assert.ok(round(a.dp, r, 9).privacy!.noiseMultiplier < 1);
    a.plan.afterRound(record(r, 'completed'), (l) => a.lines.push(l));
    assert.equal(a.plan.signal.aborted, r === 2, `after round ${r}`);
  }
  assert.match(a.lines.join('\n'), /privacy budget: stopping after round 2; round 3 would take ε above the target/);
  assert.ok(a.stage.epsilon <= a.stage.targetEpsilon!);

  // 4 of 5: round 2 itself would cross the target; it is refused (nothing released) and the run stops.
  const b = setup(20, 5);
  round(b.dp, 1, 4);
  b.plan.afterRound(record(1, 'completed'), (l) => b.lines.push(l));
  assert.equal(b.plan.signal.aborted, false);
  assert.throws(() => round(b.dp, 2, 4), /privacy budget: releasing round 2/);
  assert.equal(b.stage.roundsCharged, 1);
  b.plan.afterRound(record(2, 'skipped', 'aggregation failed: privacy budget: releasing round 2 would …', 'privacy_budget'), (l) => b.lines.push(l));
  assert.equal(b.plan.signal.aborted, true);
  assert.match(b.lines.join('\n'), /round 2 was refused \(nothing released\); stopping/);
});
