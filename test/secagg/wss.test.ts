// Acceptance over the network: a FederaServer with `secagg` in its config and 10 real client
// processes (FederaClient, wss with a certificate made at test time). Three processes kill
// themselves mid-protocol — when the share-keys, the masked-input and the unmasking instruction
// arrive — and the new global model is still the weighted mean of the inputs that arrived,
// within the quantization bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from '../../src/server/store.js';
import { encodingFor } from '../../src/secagg/encoding.js';
import { expectedSum, knownUpdates } from './helpers/clients.js';
import { WSS_TEST as P } from './helpers/wss-params.js';
import { spawnWssClients, startWssSecAggServer } from './helpers/wss-server.js';


test('10 client processes over wss, 3 killed at different secagg stages: the model moves by the mean of the inputs that arrived', { timeout: 90_000 }, async (t) => {
  const wss = await startWssSecAggServer('secagg-wss', { clients: P.clients, seed: 8, secagg: { clippingRange: P.clip, stageTimeoutMs: { setup: 20_000, share: 20_000, masked: 20_000, unmask: 20_000 } } });
  const { server, url, database } = wss;
  assert.match(url, /^wss:/);
  t.after(() => server.stop());

  const dieAt: Record<number, string> = { 2: 'secagg_share', 5: 'secagg_masked', 8: 'secagg_unmask' };
  const { outputs, exits } = spawnWssClients(t, wss, P.clients, (i) => (dieAt[i] ? [dieAt[i]] : []));
  const outcome = await server.done;
  assert.equal(outcome.status, 'completed');
  const ended = await Promise.all(exits);
  for (let i = 0; i < P.clients; i++) {
    if (dieAt[i]) assert.equal(ended[i].signal, 'SIGKILL', `client-${i} should have died at ${dieAt[i]}`);
    else assert.equal(ended[i].code, 0, `client-${i}: ${outputs[i].join('').slice(-800)}`);
  }

  const store = new Store(database);
  t.after(() => store.close());
  const [record] = store.history('secagg-wss');
  assert.equal(record.status, 'completed', record.reason);
  // client-8 died after its masked input was in: its input counts; client-2 and client-5 do not.
  const survivors = [0, 1, 3, 4, 6, 7, 8, 9];
  assert.deepEqual([...record.succeeded].sort(), survivors.map((i) => `client-${i}`));
  assert.deepEqual(record.failed.map((f) => f.clientId).sort(), ['client-2', 'client-5', 'client-8']);
  const summary = record.events?.find((e) => e.kind === 'secagg') as Record<string, any>;
  assert.deepEqual(summary.droppedAfterSharing, ['client-5']);

  const updates = knownUpdates(P.clients, P.dimension, P.seed, P.range);
  const weights = P.sizes.map((s) => Math.min(1, s / P.maxWeight));
  const want = expectedSum(updates, survivors, weights, P.clip);
  const enc = encodingFor(32, P.clip, P.clients);
  // |Σ error| ≤ n/s and |weight error| ≤ n/s_w, divided by the weight; plus float32 rounding of a mean ≤ clip.
  const bound = (survivors.length / enc.scale) / want.weight + (P.clip * survivors.length / enc.weightScale) / want.weight + P.clip * 2 ** -23;
  const params = store.latestCheckpoint('secagg-wss')!.params;
  let worst = 0;
  for (let j = 0; j < P.dimension; j++) worst = Math.max(worst, Math.abs(params[j] - want.sum[j] / want.weight));
  t.diagnostic(`largest deviation from the exact weighted mean: ${worst.toExponential(2)} (bound ${bound.toExponential(2)})`);
  assert.ok(worst <= bound, `deviation ${worst} > ${bound}`);
});
