// Distributed DP under secure aggregation with rotation + quantization: the clients add Skellam
// noise to their integer codes (secagg/encoding.ts), the DP stage asks for it and charges the
// distributed Skellam mechanism (privacy/accountant/skellam.ts). The encoding's rounding bound and
// noise, the stage's refusals, and a simulated run that learns, reports its ε and repeats with
// its seed; over the command line too. The deployed run is test/secagg/wss-skellam.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { decodeSum, discreteNoiseFor, encodeUpdate, noisyQuantizedEncodingFor, roundedNormBound, NOISE_RING_SIGMAS } from '../../src/secagg/encoding.js';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { simulate } from '../../src/cli/simulate.js';
import { planRun } from '../../src/run/plan.js';
import { withoutTiming } from '../../src/core/records.js';
import { DpNoiseStage } from '../../src/aggregate/dp-noise.js';
import { RdpAccountant } from '../../src/privacy/accountant/rdp.js';
import { rdpPoissonSkellam } from '../../src/privacy/accountant/skellam.js';
import { computeEpsilon } from '../../src/privacy/accountant/calibrate.js';
import type { RoundAggregate } from '../../src/aggregate/stage.js';
import { readmeCommand, runReadmeCommand } from '../helpers/readme.js';

/** Sums `inputs` encoded with `p` (each with its own rounding and noise stream) and decodes the sum. */
function encodedSum(inputs: readonly Float32Array[], p: ReturnType<typeof noisyQuantizedEncodingFor>, seed: number) {
  const d = inputs[0].length;
  const acc = new Uint32Array(d + 1);
  const each: Uint32Array[] = [];
  inputs.forEach((x, i) => {
    const out = encodeUpdate(x, 1, p, new Rng(seed).stream(i), new Uint32Array(d + 1), `client ${i}`);
    each.push(out);
    for (let j = 0; j <= d; j++) acc[j] = (acc[j] + out[j]) >>> 0;
  });
  return { decoded: decodeSum(acc, p, 0, inputs.length), each };
}

test('conditional rounding keeps every client\'s codes within Δ₂ (and within one step of the scaled update), whatever the update', () => {
  const d = 512;
  const clip = 0.4;
  const scale = 255 / (2 * 0.05);
  const noise = { ...discreteNoiseFor(clip, 0, scale, d) };
  const p = noisyQuantizedEncodingFor(8, 0.05, 1, noise);
  const rng = new Rng(1).stream('updates');
  const cases: Float32Array[] = [
    Float32Array.from({ length: d }, () => (rng.next() * 2 - 1) * 0.01),
    // Every scaled coordinate half-way between two codes: the most rounding variance.
    Float32Array.from({ length: d }, (_, j) => ((j % 2 ? 1 : -1) * 0.5) / scale),
    // A large update: clipped to the norm C first.
    Float32Array.from({ length: d }, () => (rng.next() * 2 - 1) * 0.05),
  ];
  for (const [k, x] of cases.entries()) {
    for (let trial = 0; trial < 20; trial++) {
      const { decoded } = encodedSum([x], p, 100 * k + trial);
      let n2 = 0;
      let norm2 = 0;
      for (let j = 0; j < d; j++) norm2 += x[j] * x[j];
      const shrink = Math.min(1, clip / Math.sqrt(norm2));
      for (let j = 0; j < d; j++) {
        const code = decoded.sum[j] * scale;
        assert.ok(Number.isInteger(Math.round(code * 1e6) / 1e6), 'codes are integers');
        assert.ok(Math.abs(code - Math.max(-0.05, Math.min(0.05, x[j])) * scale * shrink) < 1 + 1e-9, `case ${k}: code ${code} is more than a step from ${x[j] * scale * shrink}`);
        n2 += code * code;
      }
      assert.ok(Math.sqrt(n2) <= noise.roundingBound + 1e-9, `case ${k}: norm ${Math.sqrt(n2)} > Δ₂ ${noise.roundingBound}`);
    }
  }
  // The fallback (rounding toward zero) when no draw fits: a bound equal to s·C.
  const tight = noisyQuantizedEncodingFor(8, 0.05, 1, { lambda: 0, l2Bound: clip * scale, roundingBound: clip * scale });
  const { decoded } = encodedSum([cases[1]], tight, 3);
  let n2 = 0;
  for (let j = 0; j < d; j++) n2 += (decoded.sum[j] * scale) ** 2;
  assert.ok(Math.sqrt(n2) <= clip * scale + 1e-9);
  // Δ₂ = min(l2 + √d, √(l2² + d/4 + √(2 ln(1/β))(l2 + √d/2))).
  assert.equal(roundedNormBound(0, 100, Math.exp(-2)), Math.sqrt(25 + 2 * 5));
  assert.equal(roundedNormBound(3, 4, Math.exp(-50)), 5);
});

test('the sum of n noisy encodings decodes to the sum of the codes plus Skellam noise of variance 2nλ per coordinate; negative sums read back', () => {
  const n = 8;
  const d = 4000;
  const range = 0.05;
  const scale = 255 / (2 * range);
  const lambda = 37.5;
  const noise = { lambda, l2Bound: 1e9, roundingBound: 1e9 };
  const p = noisyQuantizedEncodingFor(8, range, n, noise);
  // n·2^7 plus 8σ of the noise, one sign bit.
  assert.equal(p.bits, Math.ceil(Math.log2(n * 128 + NOISE_RING_SIGMAS * Math.sqrt(2 * n * lambda) + 1)) + 1);
  // Every client sends −range in every coordinate: the sum is −n·range, the ring's far negative side.
  const inputs = Array.from({ length: n }, () => new Float32Array(d).fill(-range));
  const { decoded } = encodedSum(inputs, p, 9);
  let mean = 0;
  let v = 0;
  for (let j = 0; j < d; j++) mean += decoded.sum[j];
  mean /= d;
  for (let j = 0; j < d; j++) v += (decoded.sum[j] - mean) ** 2;
  v /= d - 1;
  const want = (2 * n * lambda) / scale ** 2;
  assert.ok(Math.abs(mean + n * range) < 5 * Math.sqrt(want / d), `mean ${mean}, expected ${-n * range}`);
  assert.ok(Math.abs(v / want - 1) < 5 * Math.sqrt(2 / d), `variance ${v}, expected ${want}`);
  // Without noise the same inputs decode within the rounding (−127.5 steps rounds to −127 or −128).
  const quiet = encodedSum(inputs, noisyQuantizedEncodingFor(8, range, n, { ...noise, lambda: 0 }), 9).decoded;
  for (let j = 0; j < d; j++) assert.ok(Math.abs(quiet.sum[j] + n * range) <= n / (2 * scale) + 1e-9, `coordinate ${j}: ${quiet.sum[j]}`);
  // A noise the widest ring cannot hold is refused, naming what to change.
  assert.throws(() => noisyQuantizedEncodingFor(8, range, n, { ...noise, lambda: 1e18 }), /needs a \d+-bit ring .* Skellam noise.* secagg\.bits = 32: the sum would wrap; raise secagg\.clippingRange or lower the noise/);
  assert.throws(() => noisyQuantizedEncodingFor(8, range, n, { ...noise, lambda: 1e6 }, 16), /raise secagg\.bits to \d+/);
});

test('the DP stage charges the noise the secure sum reports, and refuses a sum without it or with another one', () => {
  const scale = 255 / (2 * 0.05);
  const dimension = 1024;
  const stage = new DpNoiseStage({ clipNorm: 0.5, noiseMultiplier: 1, mode: 'distributed', delta: 1e-5, populationSize: 50, clientsPerRound: 10, discrete: { scale, dimension } });
  assert.equal(stage.emitsCoordinates, undefined, 'no float noise on the coordinates');
  const config = stage.configure(1, {});
  assert.equal(config['dp.noiseStd'], 0, 'the clients add no float noise');
  assert.equal(config['federa.secureNoise.clipNorm'], 0.5);
  assert.ok(Math.abs((config['federa.secureNoise.std'] as number) - 0.5 / Math.sqrt(10)) < 1e-15);
  const contributors = Array.from({ length: 10 }, (_, i) => `c${i}`);
  const dn = discreteNoiseFor(0.5, 0.5 / Math.sqrt(10), scale, dimension);
  const reported = { lambda: dn.lambda, l2Sensitivity: dn.roundingBound, l1Sensitivity: dn.l1Bound, scale, clipNorm: 0.5, std: 0.5 / Math.sqrt(10) };
  const aggregate = (secureNoise?: typeof reported): RoundAggregate => ({
    round: 1,
    sum: new Float64Array(1000),
    weight: 10,
    contributors,
    secure: true,
    weighting: 'uniform',
    metrics: {},
    metricSums: { 'dp.unclippedCentered': 0 },
    ...(secureNoise ? { secureNoise } : {}),
    stageMetrics: {},
    events: [],
  });
  assert.throws(() => stage.aggregate(aggregate()), /the secure sum added no discrete noise/);
  assert.throws(() => stage.aggregate(aggregate({ ...reported, std: reported.std / 2 })), /is not the noise this round asked for/);
  const a = aggregate(reported);
  stage.aggregate(a);
  stage.commit();
  const want = new RdpAccountant().composeRdp(rdpPoissonSkellam(0.2, { mu: 10 * dn.lambda, l2: dn.roundingBound, l1: dn.l1Bound }, new RdpAccountant().orders)).getEpsilon(1e-5);
  assert.equal(a.privacy!.epsilon, want);
  assert.equal(a.privacy!.skellamMu, 10 * dn.lambda);
  assert.equal(stage.epsilon, want);
  const gaussian = computeEpsilon({ q: 0.2, sigma: 1, steps: 1, delta: 1e-5 });
  assert.ok(want >= gaussian && want < 1.3 * gaussian, `Skellam ε ${want} vs Gaussian ${gaussian}`);
  // Other modes have no discrete form; the PLD accountant does not compose it.
  assert.throws(() => new DpNoiseStage({ clipNorm: 1, noiseMultiplier: 1, mode: 'local', delta: 1e-5, populationSize: 5, clientsPerRound: 5, discrete: { scale } }), /is the distributed mode's/);
});

const sink = { write: () => true };
const run = (extra: Record<string, unknown>) =>
  parseSimulationConfig({
    name: 'skellam-dp',
    seed: 11,
    model: 'logreg',
    clients: 40,
    clientsPerRound: 20,
    rounds: 4,
    partition: { kind: 'iid' },
    local: { epochs: 1, batchSize: 16, learningRate: 0.1 },
    evaluation: { federatedEvery: 0, centralEvery: 4 },
    output: mkdtempSync(join(tmpdir(), 'federa-skellam-')),
    secagg: { clippingRange: 0.05, randomness: 'seeded' },
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.7 },
    ...extra,
  });

test('a simulated run with distributed DP, secure aggregation and rotate,quantize:8 learns, charges Skellam rounds, sends fewer bytes than 32-bit sums, and repeats with its seed', async () => {
  const quantized = await simulate(run({ compression: { uplink: 'rotate,quantize:8' } }), { out: sink, progress: false });
  assert.ok(quantized.history.every((h) => h.status === 'completed'), JSON.stringify(quantized.history.map((h) => h.reason)));
  assert.ok(quantized.finalAccuracy! > 0.7, `accuracy ${quantized.finalAccuracy}`);
  const gaussian = await simulate(run({ secagg: { clippingRange: 2, randomness: 'seeded' } }), { out: sink, progress: false });
  assert.ok(gaussian.history.every((h) => h.status === 'completed'));
  for (const h of quantized.history) {
    assert.ok(h.privacy && Number.isFinite(h.privacy.epsilon) && h.privacy.skellamMu! > 0 && h.privacy.l2Sensitivity! > 0, JSON.stringify(h.privacy));
  }
  const last = (r: typeof quantized) => r.history.at(-1)!.privacy!.epsilon;
  console.log(`# ε after 4 rounds: Skellam ${last(quantized).toFixed(4)}, Gaussian (32-bit sums) ${last(gaussian).toFixed(4)}; accuracy ${quantized.finalAccuracy} vs ${gaussian.finalAccuracy}`);
  assert.ok(last(quantized) >= last(gaussian) * 0.8 && last(quantized) < last(gaussian) * 1.5, `ε ${last(quantized)} vs ${last(gaussian)}`);
  assert.ok(Math.abs(quantized.finalAccuracy! - gaussian.finalAccuracy!) < 0.05, `accuracy ${quantized.finalAccuracy} vs ${gaussian.finalAccuracy}`);
  const perClient = (r: typeof quantized) => r.history.reduce((a, h) => a + h.bytes.up / h.succeeded.length, 0) / r.history.length;
  console.log(`# uplink bytes per client and round: 32-bit sums ${perClient(gaussian).toFixed(0)}, Skellam on 8-bit codes ${perClient(quantized).toFixed(0)}`);
  assert.ok(perClient(quantized) < 0.6 * perClient(gaussian), `${perClient(quantized)} vs ${perClient(gaussian)}`);
  const again = await simulate(run({ compression: { uplink: 'rotate,quantize:8' } }), { out: sink, progress: false });
  assert.deepEqual(again.history.map(withoutTiming), quantized.history.map(withoutTiming));
  assert.deepEqual(again.params, quantized.params);
  // With secure randomness (the default, and what a deployment uses) the noise and rounding coins
  // come from the CSPRNG: the same seed does not repeat them (a server that knew them could subtract the noise).
  const secure = () => simulate(run({ compression: { uplink: 'rotate,quantize:8' }, secagg: { clippingRange: 0.05, randomness: 'secure' } }), { out: sink, progress: false });
  const [s1, s2] = [await secure(), await secure()];
  assert.notDeepEqual(s1.params, s2.params);
  // The PLD accountant has no Skellam form: refused when the config is read.
  assert.throws(() => run({ compression: { uplink: 'rotate,quantize:8' }, privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.7, accountant: 'pld' } }), /privacy\.accountant "pld" .* set privacy\.accountant = "rdp"/);
});

test("the README's Skellam command, exactly as written: federa simulate --dp-mode distributed --secagg secagg --uplink rotate,quantize:8", { timeout: 120_000 }, async () => {
  const line = readmeCommand('--uplink rotate,quantize:8', '--dp-mode distributed');
  const { code, stdout, stderr } = await runReadmeCommand(line);
  assert.equal(code, 0, stderr + stdout);
  assert.match(stdout, /DP-FedAvg distributed, Skellam noise on the secure sum's codes/);
  assert.match(stdout, /sums in a ring widened each round for the Skellam noise/);
  assert.match(stdout, /compress {2}uplink rotate,quantize:8 \(inside secure aggregation\)/);
  assert.match(stdout, /rounds completed +5 of 5/);
  assert.match(stdout, /privacy ε \(δ\) +\d+\.\d+ \(δ = 0\.00001\) after 5 round\(s\), RDP, distributed/);
  const accuracy = Number(/final test accuracy +(\d\.\d+)/.exec(stdout)?.[1]);
  assert.ok(accuracy > 0.6, `accuracy ${accuracy}`);
});

test('the run plan warns when the rounding of coarse codes raises the sensitivity the accountant charges', () => {
  const config = (clippingRange: number) => run({ compression: { uplink: 'rotate,quantize:8' }, secagg: { clippingRange, randomness: 'seeded' } });
  const coarse = planRun(config(8), { population: 40, dimension: 7850 }).noiseWarnings(7850);
  const w = coarse.find((m) => m.includes('raises the sensitivity'));
  assert.ok(w, coarse.join('\n'));
  assert.match(w!, /the rounding of the 8-bit codes raises the sensitivity the accountant charges by \d+\.\d+× .* lower secagg\.clippingRange toward a few times clipNorm\/√d \(0\.0451\)/);
  const fine = planRun(config(0.05), { population: 40, dimension: 7850 });
  assert.equal(fine.noiseWarnings(7850).filter((m) => m.includes('raises the sensitivity')).length, 0);
  // The planned ε needs the model size: with it, it is the Skellam one (a little above the Gaussian's).
  assert.ok(Number.isFinite(fine.dp!.plannedEpsilon) && fine.dp!.plannedEpsilon > 0);
});
