// Distributed DP under secure aggregation with rotation + quantization, deployed: a FederaServer
// with privacy.mode "distributed", secagg and compression.uplink "rotate,quantize:8", 10 real
// client processes over wss (FederaClient, which follows what secagg_setup announces and adds the
// Skellam noise to its codes from the CSPRNG). The model moves by the clipped mean plus noise of
// exactly the standard deviation z·C/m the accountant charges, and the round records its ε.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rotatedLength } from '../../src/compress/hadamard.js';
import { discreteNoiseFor, noisyQuantizedEncodingFor } from '../../src/secagg/encoding.js';
import { computeEpsilon } from '../../src/privacy/accountant/calibrate.js';
import { knownUpdates } from './helpers/clients.js';
import { WSS_TEST as P } from './helpers/wss-params.js';
import { completeWssRun, startWssSecAggServer } from './helpers/wss-server.js';

const RANGE = 1; // no rotated coordinate of a norm-10 update reaches it
const C = 10;
const Z = 1;

test('10 client processes over wss, distributed DP + secagg + rotate,quantize:8: the clipped mean plus Skellam noise of std z·C/m, ε recorded', { timeout: 120_000 }, async (t) => {
  const name = 'secagg-skellam-wss';
  const wss = await startWssSecAggServer(name, {
    clients: P.clients,
    seed: 4,
    extra: { compression: { uplink: 'rotate,quantize:8' }, privacy: { mode: 'distributed', clipNorm: C, noiseMultiplier: Z, populationSize: P.clients } },
    secagg: { clippingRange: RANGE, stageTimeoutMs: { setup: 20_000, share: 20_000, masked: 20_000, unmask: 20_000 } },
  });
  const store = await completeWssRun(t, wss, P.clients);
  const [record] = store.history(name);
  assert.equal(record.status, 'completed', record.reason);
  assert.equal(record.succeeded.length, P.clients);

  // The clipped mean every client's update contributes (each clipped to L2 norm C), with weights 1.
  const updates = knownUpdates(P.clients, P.dimension, P.seed, P.range);
  const want = new Float64Array(P.dimension);
  for (const u of updates) {
    let n2 = 0;
    for (const x of u) n2 += x * x;
    const f = Math.min(1, C / Math.sqrt(n2));
    for (let j = 0; j < P.dimension; j++) want[j] += (f * u[j]) / P.clients;
  }
  const params = store.latestCheckpoint(name)!.params;
  let mean = 0;
  for (let j = 0; j < P.dimension; j++) mean += params[j] - want[j];
  mean /= P.dimension;
  let v = 0;
  for (let j = 0; j < P.dimension; j++) v += (params[j] - want[j] - mean) ** 2;
  const std = Math.sqrt(v / (P.dimension - 1));
  // Noise std on the mean: z·C/m; the rounding adds (n·1/4)^(1/2)/(s·m), under 10⁻³ of it.
  const expected = (Z * C) / P.clients;
  t.diagnostic(`deviation from the clipped mean: mean ${mean.toExponential(2)}, std ${std.toFixed(4)} (expected ${expected}); uplink ${record.bytes.up} bytes; ε ${record.privacy?.epsilon}`);
  assert.ok(Math.abs(std / expected - 1) < 5 * Math.sqrt(1 / (2 * P.dimension)) + 2e-3, `noise std ${std} vs ${expected}`);
  assert.ok(Math.abs(mean) < 5 * (expected / Math.sqrt(P.dimension)), `noise mean ${mean}`);

  // The round's privacy: a Skellam charge, a little above the Gaussian's ε at the same multiplier (q = 1).
  const privacy = record.privacy!;
  const scale = 255 / (2 * RANGE);
  const length = rotatedLength(P.dimension, 1024);
  const dn = discreteNoiseFor(C, (Z * C) / Math.sqrt(P.clients), scale, length);
  assert.ok(Math.abs(privacy.skellamMu! - P.clients * dn.lambda) < 1e-6 * privacy.skellamMu!, `μ ${privacy.skellamMu}`);
  assert.equal(privacy.l2Sensitivity, dn.roundingBound);
  const gaussian = computeEpsilon({ q: 1, sigma: Z, steps: 1, delta: privacy.delta });
  assert.ok(privacy.epsilon >= gaussian && privacy.epsilon < 1.01 * gaussian, `ε ${privacy.epsilon} vs the Gaussian's ${gaussian}`);
  // The masked inputs carry 15-bit codes (10 clients' ±128 plus 8σ of the noise), 0.48 of 32-bit
  // masked inputs; with the keys and shares the uplink stays under 0.65 of what 32-bit inputs alone take.
  const enc = noisyQuantizedEncodingFor(8, RANGE, P.clients, dn);
  assert.equal(enc.bits, 15);
  const codeBytes = Math.ceil((15 * length) / 8);
  assert.ok(record.bytes.up > P.clients * codeBytes && record.bytes.up < 0.65 * 4 * (P.dimension + 1) * P.clients, `uplink ${record.bytes.up} bytes`);
});
