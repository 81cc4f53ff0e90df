// Rotation + stochastic quantization under secure aggregation over the network: a FederaServer
// with `secagg` and compression.uplink "rotate,quantize:8", 10 real client processes over wss
// (FederaClient, which follows what secagg_setup announces). The model moves by the weighted mean
// of the inputs within the quantization bound, and the masked inputs take 12-bit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizedEncodingFor } from '../../src/secagg/encoding.js';
import { rotatedLength } from '../../src/compress/hadamard.js';
import { expectedSum, knownUpdates } from './helpers/clients.js';
import { WSS_TEST as P } from './helpers/wss-params.js';
import { completeWssRun, startWssSecAggServer } from './helpers/wss-server.js';

// Wide enough that no coordinate is clipped in either basis: the sum is then the plain weighted sum.
const CLIP = 8;

test('10 client processes over wss with rotate,quantize:8 under secagg: the model moves by the weighted mean within the bound', { timeout: 90_000 }, async (t) => {
  const wss = await startWssSecAggServer('secagg-rotq-wss', { clients: P.clients, seed: 8, extra: { compression: { uplink: 'rotate,quantize:8' } }, secagg: { clippingRange: CLIP, stageTimeoutMs: { setup: 20_000, share: 20_000, masked: 20_000, unmask: 20_000 } } });
  const store = await completeWssRun(t, wss, P.clients);
  const [record] = store.history('secagg-rotq-wss');
  assert.equal(record.status, 'completed', record.reason);
  const all = Array.from({ length: P.clients }, (_, i) => i);
  assert.deepEqual([...record.succeeded].sort(), all.map((i) => `client-${i}`));

  const updates = knownUpdates(P.clients, P.dimension, P.seed, P.range);
  const weights = P.sizes.map((s) => Math.min(1, s / P.maxWeight));
  const want = expectedSum(updates, all, weights, CLIP);
  const enc = quantizedEncodingFor(8, CLIP, P.clients);
  assert.equal(enc.bits, 12);
  const length = rotatedLength(P.dimension, 1024);
  // Rotated basis: |error| ≤ n/scale per coordinate; the inverse rotation keeps its L2 norm. Divided by the weight (plus its error).
  const bound = (Math.sqrt(length) * (P.clients / enc.scale)) / want.weight + (Math.sqrt(P.dimension) * CLIP * P.clients) / enc.weightScale / want.weight + 1e-3;
  const params = store.latestCheckpoint('secagg-rotq-wss')!.params;
  let sq = 0;
  for (let j = 0; j < P.dimension; j++) sq += (params[j] - want.sum[j] / want.weight) ** 2;
  t.diagnostic(`L2 deviation from the exact weighted mean: ${Math.sqrt(sq).toExponential(2)} (bound ${bound.toExponential(2)}); uplink ${record.bytes.up} bytes`);
  assert.ok(Math.sqrt(sq) <= bound, `deviation ${Math.sqrt(sq)} > ${bound}`);
  // 12-bit codes of 5,120 rotated coordinates (7,684 bytes a client) plus keys and shares: under 0.6× what 32-bit masked inputs alone take.
  assert.ok(record.bytes.up > 10 * 7684 && record.bytes.up < 0.6 * 4 * (P.dimension + 1) * P.clients, `uplink ${record.bytes.up} bytes`);
});
