// Issue 13, finding 11: under distributed DP each client clips and noises its update, and secure
// aggregation then clips every coordinate of that noisy share to [−c, c] — which is not a
// post-processing of the Gaussian sum the accountant charges. The clipping range must make that
// negligible: c ≥ C + 6σᵢ (σᵢ = z_Δ·C/√m, the per-client noise std), refused in the config
// otherwise, and held every round (adaptive clipping is capped within the range).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseServerConfig, parseSimulationConfig } from '../../src/config/rules.js';
import { CLIP_RANGE_SIGMAS, DpNoiseStage, coordinateClipProbability } from '../../src/aggregate/dp-noise.js';
import { DP_CONFIG, DP_METRICS } from '../../src/privacy/protocol.js';
import type { RoundAggregate } from '../../src/aggregate/stage.js';
import { simulate } from '../../src/cli/simulate.js';
import { isFederaError } from '../../src/core/errors.js';

const sim = (secagg: Record<string, unknown>, privacy: Record<string, unknown>) =>
  parseSimulationConfig({ name: 'clip-range', model: 'logreg', clients: 10, clientsPerRound: 10, rounds: 1, partition: { kind: 'iid' }, secagg, privacy: { mode: 'distributed', ...privacy } });

function refused(f: () => unknown, re: RegExp): void {
  assert.throws(f, (e: unknown) => isFederaError(e) && e.code === 'invalid_config' && re.test(e.message));
}

test('the clipping probability at 6σ is 2Φ(−6) ≈ 1.97·10⁻⁹ per coordinate', () => {
  assert.equal(CLIP_RANGE_SIGMAS, 6);
  // 2Φ(−6) = erfc(6/√2) = 1.973175290075e-9 (reference value).
  assert.ok(Math.abs(coordinateClipProbability() / 1.973175290075e-9 - 1) < 1e-9, String(coordinateClipProbability()));
  assert.ok(Math.abs(coordinateClipProbability(2) / 0.04550026389635842 - 1) < 1e-9);
});

test('config: a clipping range below C + 6σᵢ is refused naming both keys; at the bound it is accepted', () => {
  // C = 1, z = 1, m = 10: σᵢ = 1/√10 = 0.316, C + 6σᵢ = 2.897.
  refused(() => sim({ clippingRange: 2 }, { clipNorm: 1, noiseMultiplier: 1 }), /secagg\.clippingRange = 2 clips the coordinates of DP-FedAvg's noisy updates: .*C = 1 plus 6 per-client noise standard deviations σᵢ = 0\.316 \(z·C\/√m\) reaches 2\.897; set secagg\.clippingRange ≥ 2\.9/);
  assert.equal(sim({ clippingRange: 2.9 }, { clipNorm: 1, noiseMultiplier: 1 }).secagg?.clippingRange, 2.9);
  // The default range (8) and a smaller clip norm are fine; local mode (σᵢ = z·C) needs more room.
  sim({}, { clipNorm: 1, noiseMultiplier: 1 });
  refused(() => sim({ clippingRange: 4 }, { clipNorm: 1, noiseMultiplier: 1, mode: 'local' }), /reaches 7(\.0+)?; set secagg\.clippingRange ≥ 7/);
  // Adaptive clipping raises the update noise to z_Δ > z: the bound uses it.
  refused(() => sim({ clippingRange: 3 }, { clipNorm: 1, noiseMultiplier: 1, adaptive: {} }), /σᵢ = 0\.365/);
  // The server config goes through the same check.
  const server = { name: 'r', model: 'logreg', input: { numFeatures: 2, numClasses: 2 }, clientsPerRound: 10, privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1, populationSize: 100 }, server: { port: 0 } };
  refused(() => parseServerConfig({ ...server, secagg: { clippingRange: 2 } }), /secagg\.clippingRange = 2 clips/);
  parseServerConfig({ ...server, secagg: { clippingRange: 3 } });
});

function aggregateOf(round: number, m: number, unclippedCentered: number): RoundAggregate {
  const contributors = Array.from({ length: m }, (_, i) => `c${i}`);
  return { round, sum: new Float64Array(4), weight: m, contributors, secure: true, weighting: 'uniform', metrics: {}, metricSums: { [DP_METRICS.unclippedCentered]: unclippedCentered, [DP_METRICS.noised]: m }, stageMetrics: {}, events: [] };
}

test('per round: adaptive clipping that wants C beyond the range is capped so that C + 6σᵢ ≤ c', () => {
  const m = 10;
  const c = 3;
  const stage = new DpNoiseStage({ clipNorm: 0.5, noiseMultiplier: 1, mode: 'distributed', delta: 1e-5, populationSize: 100, clientsPerRound: m, adaptive: { targetQuantile: 0.5, clipLearningRate: 0.5, countNoiseMultiplier: 2 }, coordinateRange: c });
  const cap = stage.maxClipNorm;
  assert.ok(Math.abs(cap * (1 + 6 * stage.clientNoiseFactor) - c) < 1e-12);
  let capped = 0;
  for (let r = 1; r <= 20; r++) {
    const config = stage.configure(r, {});
    const C = config[DP_CONFIG.clipNorm] as number;
    const sigma = config[DP_CONFIG.noiseStd] as number;
    assert.ok(C + 6 * sigma <= c * (1 + 1e-12), `round ${r}: C ${C} + 6σ ${sigma} > ${c}`);
    // Every update clipped: the noisy unclipped fraction is 0, so C grows by e^{0.25} a round.
    const a = aggregateOf(r, m, -0.5 * m);
    stage.aggregate(a);
    stage.commit();
    if (a.events.some((e) => e.kind === 'dp-clip-capped')) capped++;
    assert.ok(stage.clipNorm <= cap * (1 + 1e-12));
  }
  assert.ok(capped > 0, 'adaptive clipping reached the cap');
  assert.equal(stage.clipNorm, cap);
  // A checkpoint state with a larger clip norm (a resumed run) is capped before the next round.
  stage.setState({ ...stage.getState(), [DP_CONFIG.clipNorm]: 10 });
  const config = stage.configure(21, {});
  assert.equal(config[DP_CONFIG.clipNorm], cap);
});

test('simulate: secure aggregation with distributed DP and adaptive clipping keeps C + 6σᵢ within the range every round', { timeout: 120_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'federa-clip-range-'));
  const c = 1.6;
  const config = parseSimulationConfig({
    name: 'clip-range',
    seed: 2,
    model: 'logreg',
    clients: 10,
    clientsPerRound: 10,
    rounds: 4,
    partition: { kind: 'iid' },
    local: { epochs: 1, batchSize: 32, learningRate: 0.5 },
    evaluation: { federatedEvery: 0, centralEvery: 0 },
    output: out,
    secagg: { clippingRange: c, randomness: 'seeded' },
    privacy: { mode: 'distributed', clipNorm: 0.4, noiseMultiplier: 1, sampling: 'fixed', adaptive: { targetQuantile: 0.9, clipLearningRate: 1 } },
  });
  const r = await simulate(config, { out: { write: () => true }, progress: false });
  for (const h of r.history) {
    assert.equal(h.status, 'completed', h.reason);
    const p = h.privacy!;
    const zDelta = (1 ** -2 - (2 * 1) ** -2) ** -0.5; // countNoiseMultiplier default max(m/20, z) = 1
    const sigma = (zDelta * p.clipNorm!) / Math.sqrt(10);
    assert.ok(p.clipNorm! + 6 * sigma <= c * (1 + 1e-9), `round ${h.round}: C ${p.clipNorm} + 6σᵢ ${sigma} > ${c}`);
    assert.ok(p.nextClipNorm! * (1 + 6 * zDelta / Math.sqrt(10)) <= c * (1 + 1e-9));
  }
});
