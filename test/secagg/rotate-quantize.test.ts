// Secure aggregation with random rotation + stochastic quantization (compression.uplink
// "rotate,quantize:b" under secagg): the masked integers are the b-bit codes, one rotation per
// round for every client, the server decodes the sum and inverts the rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeParams } from '../../src/core/params.js';
import { Rng } from '../../src/core/rng.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { secAggClientLayer, SecAggWorkflow, sumErrorBound, quantizedEncodingFor, type SecAggRoundResult } from '../../src/secagg/index.js';
import { rotate, rotatedLength } from '../../src/compress/hadamard.js';
import { parseServerConfig, parseSimulationConfig } from '../../src/config/rules.js';
import { simulate } from '../../src/cli/simulate.js';
import { withoutTiming } from '../../src/core/records.js';
import { KnownUpdateTrainer, indexedData, knownUpdates } from './helpers/clients.js';

const MAX_WEIGHT = 100;

async function secureRound(n: number, d: number, block: number, bits: number, clip: number, seed: number) {
  const results: SecAggRoundResult[] = [];
  const sizes = Array.from({ length: n }, (_, i) => 10 + 9 * i);
  const updates = knownUpdates(n, d, seed, 0.3);
  const { train, partitions } = indexedData(sizes);
  await runSimulation({
    train,
    partitions,
    clientIds: Array.from({ length: n }, (_, i) => `c${i}`),
    validationFraction: 0,
    createTrainer: () => new KnownUpdateTrainer(updates),
    initialParams: makeParams(new KnownUpdateTrainer(updates).layout),
    strategy: new FedAvg(),
    layers: () => [secAggClientLayer({ randomness: 'seeded', seed })],
    workflow: new SecAggWorkflow({ clippingRange: clip, maxWeight: MAX_WEIGHT, quantize: { bits, block }, onResult: (r) => results.push(r) }),
    rounds: 1,
    seed,
    sampling: { fraction: 1, minClients: n },
    evaluation: false,
    centralEvaluationEvery: 0,
  });
  assert.equal(results.length, 1);
  return { result: results[0], updates, weights: sizes.map((s) => Math.min(1, s / MAX_WEIGHT)) };
}

test('(a) the decoded secure sum is the plain sum of the same rotated, clipped updates within the quantization bound, over random shapes', async () => {
  const rng = new Rng(3).stream('shapes');
  // Lengths that are not powers of two (a padded tail block), one that is, one shorter than the block.
  const shapes = [
    { n: 5, d: 300, block: 64, bits: 8 },
    { n: 4, d: 1024, block: 256, bits: 4 },
    { n: 6, d: 37 + rng.int(200), block: 1024, bits: 2 },
    { n: 3, d: 129, block: 32, bits: 1 },
  ];
  for (const [k, s] of shapes.entries()) {
    const clip = 0.2;
    const { result, updates, weights } = await secureRound(s.n, s.d, s.block, s.bits, clip, 10 + k);
    assert.ok(result.rotation, 'the round carries its rotation');
    assert.equal(result.encoding.quantize?.bits, s.bits);
    assert.equal(result.encoding.bits, Math.ceil(Math.log2(s.n * (2 ** s.bits - 1) + 1)), 'ring = quantizer bits + what n clients need');
    const P = rotatedLength(s.d, s.block);
    // The plain sum, in the rotated basis, of w_i·clip(R·u_i) with the round's rotation R.
    const want = new Float64Array(P);
    const rotated = new Float32Array(P);
    for (let i = 0; i < s.n; i++) {
      const u = Float32Array.from(updates[i], (x) => Math.fround(Math.fround(0 + x) - 0));
      rotate(u, s.block, result.rotation.seed, rotated);
      for (let j = 0; j < P; j++) want[j] += weights[i] * Math.max(-clip, Math.min(clip, rotated[j]));
    }
    const bound = sumErrorBound(result.encoding, s.n);
    let worst = 0;
    for (let j = 0; j < P; j++) worst = Math.max(worst, Math.abs(result.rotation.sum[j] - want[j]));
    assert.ok(worst <= bound * (1 + 1e-6), `shape ${JSON.stringify(s)}: error ${worst} in the rotated basis exceeds the bound ${bound}`);
    // The inverse rotation is orthonormal: the error's L2 norm in the original basis is at most √P·bound.
    const original = new Float32Array(s.d);
    // (un)rotation of the wanted sum, compared in L2.
    const { unrotate } = await import('../../src/compress/hadamard.js');
    unrotate(Float32Array.from(want), s.block, result.rotation.seed, original);
    let sq = 0;
    for (let j = 0; j < s.d; j++) sq += (result.sum[j] - original[j]) ** 2;
    assert.ok(Math.sqrt(sq) <= Math.sqrt(P) * bound * (1 + 1e-4) + 1e-5, `shape ${JSON.stringify(s)}: L2 error ${Math.sqrt(sq)} in the original basis`);
    const wantWeight = weights.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(result.weight - wantWeight) <= s.n / result.encoding.weightScale, 'the 32-bit weight element keeps its precision');
  }
});

const sink = { write: () => true };
const run = (extra: Record<string, unknown>) =>
  parseSimulationConfig({
    name: 'rotate-quantize',
    seed: 5,
    model: 'logreg',
    clients: 20,
    clientsPerRound: 10,
    rounds: 3,
    partition: { kind: 'iid' },
    local: { epochs: 1, batchSize: 16, learningRate: 0.1 },
    evaluation: { federatedEvery: 0, centralEvery: 3 },
    output: mkdtempSync(join(tmpdir(), 'federa-rotq-')),
    ...extra,
  });

test('(b, c) a simulated run with secagg + rotation + 8-bit quantization learns as secagg does, with fewer bytes per client, and the same seed gives the same history', async () => {
  const plain = await simulate(run({ secagg: { clippingRange: 0.05, randomness: 'seeded' } }), { out: sink, progress: false });
  const quantized = await simulate(run({ secagg: { clippingRange: 0.05, randomness: 'seeded' }, compression: { uplink: 'rotate,quantize:8' } }), { out: sink, progress: false });
  assert.ok(quantized.history.every((h) => h.status === 'completed'), JSON.stringify(quantized.history.map((h) => h.reason)));
  assert.ok(quantized.finalAccuracy! > 0.7, `accuracy ${quantized.finalAccuracy}`);
  assert.ok(Math.abs(quantized.finalAccuracy! - plain.finalAccuracy!) < 0.02, `accuracy ${quantized.finalAccuracy} vs ${plain.finalAccuracy} without compression`);
  const perClient = (r: typeof plain) => r.history.reduce((a, h) => a + h.bytes.up, 0) / r.history.length / 10;
  console.log(`# uplink bytes per client and round: secagg 32-bit ${perClient(plain).toFixed(0)}, rotate + quantize:8 ${perClient(quantized).toFixed(0)}`);
  assert.ok(perClient(quantized) < 0.5 * perClient(plain), `${perClient(quantized)} vs ${perClient(plain)} bytes per client`);
  const again = await simulate(run({ secagg: { clippingRange: 0.05, randomness: 'seeded' }, compression: { uplink: 'rotate,quantize:8' } }), { out: sink, progress: false });
  assert.deepEqual(again.history.map(withoutTiming), quantized.history.map(withoutTiming));
  assert.deepEqual(again.params, quantized.params);
});

test('(d) top-k and per-client-scale pipelines under secure aggregation are still refused, with the same message in both configs', () => {
  const server = (extra: Record<string, unknown>) => parseServerConfig({ rounds: 2, clientsPerRound: 5, input: { numFeatures: 4, numClasses: 2 }, ...extra });
  const sim = (extra: Record<string, unknown>) => parseSimulationConfig({ rounds: 2, clients: 10, clientsPerRound: 5, ...extra });
  for (const [uplink, why] of [
    ['topk:0.1', /keeps a different set of coordinates on every client, so the clients' encodings cannot be summed under secure aggregation/],
    ['rotate,quantize:8,lossless', /encodes each client's update on its own scale and grid, so the clients' encodings cannot be summed/],
    ['quantize:8', /encodes each client's update on its own scale and grid/],
    ['fp16', /encodes each client's update on its own scale and grid/],
    ['topk:0.1,rotate,quantize:8', /keeps a different set of coordinates/],
  ] as const) {
    const extra = { compression: { uplink }, secagg: { mode: 'secagg' } };
    const messages = [() => sim(extra), () => server(extra)].map((f) => {
      try {
        f();
      } catch (e) {
        return (e as Error).message.replace(/^[^:]*: /, '');
      }
      return 'accepted';
    });
    assert.match(messages[0], why, uplink);
    assert.equal(messages[1], messages[0], `${uplink}: the two configs say the same`);
  }
  // Differential privacy over the quantized sum: local DP's noisy shares rounded to b-bit codes
  // are not the Gaussian sum the accountant charges; refused by both, in the same words. (The
  // distributed mode is accepted: its noise is Skellam on the codes, test/secagg/skellam-dp.test.ts.)
  const dp = { compression: { uplink: 'rotate,quantize:8' }, secagg: { mode: 'secagg' }, privacy: { mode: 'local', clipNorm: 0.5, noiseMultiplier: 1 } };
  const dpMessages = [() => sim(dp), () => server({ ...dp, privacy: { ...dp.privacy, populationSize: 10 } })].map((f) => {
    try {
      f();
    } catch (e) {
      return (e as Error).message.replace(/^[^:]*: /, '');
    }
    return 'accepted';
  });
  assert.match(dpMessages[0], /adds Gaussian noise to each client's share and compression\.uplink "rotate,quantize:8" rounds each client's rotated share to 8-bit codes \(step 0\.0627\): the rounded noisy sum is not the Gaussian mechanism the accountant charges; use privacy\.mode "distributed"/);
  assert.equal(dpMessages[1], dpMessages[0]);
  const distributed = { ...dp, privacy: { ...dp.privacy, mode: 'distributed' } };
  sim(distributed);
  server({ ...distributed, privacy: { ...distributed.privacy, populationSize: 10 } });
  // Without the quantizer, distributed DP under secure aggregation is accepted.
  sim({ secagg: { mode: 'secagg' }, privacy: dp.privacy });
  // The summable pipeline is accepted by both.
  sim({ compression: { uplink: 'rotate,quantize:8' }, secagg: { mode: 'secagg' } });
  server({ compression: { uplink: 'rotate,quantize:8' }, secagg: { mode: 'secagg' } });
});

test('(e) a ring that cannot hold the sum of the codes is refused, naming the fields', () => {
  // 300 clients' 8-bit codes sum to at most 300·255 = 76,500: 17 bits; secagg.bits = 16 cannot hold it.
  const extra = { compression: { uplink: 'rotate,quantize:8' }, secagg: { mode: 'secagg', bits: 16 } };
  const want = /with 300 clients per round, compression\.uplink quantize:8 under secure aggregation needs a 17-bit ring .* but secagg\.bits = 16: the sum would wrap; raise secagg\.bits to 17, or lower clientsPerRound or the quantize bits/;
  assert.throws(() => parseSimulationConfig({ rounds: 1, clients: 300, clientsPerRound: 300, ...extra }), want);
  assert.throws(() => parseServerConfig({ rounds: 1, clientsPerRound: 300, input: { numFeatures: 4, numClasses: 2 }, ...extra }), want);
  // 32 bits is the largest ring: beyond it the derivation refuses by itself (n above Shamir's field is refused earlier by the configs).
  assert.throws(() => quantizedEncodingFor(8, 1, 2 ** 25), /needs a 33-bit ring .* secagg\.bits = 32 \(the largest\)/);
  assert.equal(quantizedEncodingFor(8, 1, 300, 17).bits, 17);
  assert.equal(quantizedEncodingFor(4, 1, 10).bits, 8);
});
