// SecAgg+ over the network (issue 13, finding 9): a FederaServer with `secagg.mode = "secagg+"`
// and 6 real client processes over wss. Each round the clients commit to and reveal their graph
// values (the graph stage), derive the sparse neighbour graph themselves and check the server's
// peer lists against it; the new global model is the weighted mean of the inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodingFor } from '../../src/secagg/encoding.js';
import { expectedSum, knownUpdates } from './helpers/clients.js';
import { WSS_TEST as P } from './helpers/wss-params.js';
import { completeWssRun, startWssSecAggServer } from './helpers/wss-server.js';

const CLIENTS = 6;

test('SecAgg+ with 6 client processes over wss: graph stage, sparse graph, the model moves by the mean', { timeout: 90_000 }, async (t) => {
  const wss = await startWssSecAggServer('secagg-plus-wss', { clients: CLIENTS, seed: 9, secagg: { mode: 'secagg+', neighbours: 4, threshold: 3, clippingRange: P.clip, stageTimeoutMs: { setup: 20_000, graph: 20_000, share: 20_000, masked: 20_000, unmask: 20_000 } } });
  const store = await completeWssRun(t, wss, CLIENTS);
  const [record] = store.history('secagg-plus-wss');
  assert.equal(record.status, 'completed', record.reason);
  const all = Array.from({ length: CLIENTS }, (_, i) => i);
  assert.deepEqual([...record.succeeded].sort(), all.map((i) => `client-${i}`));
  const summary = record.events?.find((e) => e.kind === 'secagg') as Record<string, any>;
  assert.equal(summary.mode, 'secagg+');
  assert.equal(summary.neighbourhood, 5);
  assert.equal(summary.stages.graph.answered, CLIENTS);

  const updates = knownUpdates(P.clients, P.dimension, P.seed, P.range);
  const weights = P.sizes.map((s) => Math.min(1, s / P.maxWeight));
  const want = expectedSum(updates, all, weights, P.clip);
  const enc = encodingFor(32, P.clip, CLIENTS);
  const bound = (CLIENTS / enc.scale) / want.weight + (P.clip * CLIENTS / enc.weightScale) / want.weight + P.clip * 2 ** -23;
  const params = store.latestCheckpoint('secagg-plus-wss')!.params;
  let worst = 0;
  for (let j = 0; j < P.dimension; j++) worst = Math.max(worst, Math.abs(params[j] - want.sum[j] / want.weight));
  assert.ok(worst <= bound, `deviation ${worst} > ${bound}`);
});
