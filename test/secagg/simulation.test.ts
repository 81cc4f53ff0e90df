// Secure aggregation in simulation (runSimulation: virtual clients, in-memory grid, the round
// engine): dropouts at every stage still give the exact sum of the survivors (within the
// quantization bound); too many dropouts skip the round and keep the model; malformed shares,
// ciphertexts and masked inputs exclude their sender without breaking the round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeParams } from '../../src/core/params.js';
import type { MessageBase } from '../../src/core/messages.js';
import type { ClientLayer } from '../../src/client/runtime.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { withoutTiming } from '../../src/core/records.js';
import { secAggClientLayer, SecAggWorkflow, sumErrorBound, type SecAggRoundResult, type SecAggWorkflowOptions } from '../../src/secagg/index.js';
import { SHARE_CIPHERTEXT_BYTES } from '../../src/secagg/protocol.js';
import { KnownUpdateTrainer, dropAt, expectedSum, indexedData, knownUpdates } from './helpers/clients.js';

const N = 10;
const D = 300;
const CLIP = 1;
const MAX_WEIGHT = 100;
const BASE = 0.5;
const sizes = Array.from({ length: N }, (_, i) => 20 + 7 * i);
const weights = sizes.map((s) => Math.min(1, s / MAX_WEIGHT));
// Some coordinates beyond ±CLIP, to see the clipping.
const updates = knownUpdates(N, D, 7, 1.3);
const ids = Array.from({ length: N }, (_, i) => `client-${i}`);

async function simulate(extra: (i: number) => ClientLayer[], options: SecAggWorkflowOptions = {}, seed = 11) {
  const results: SecAggRoundResult[] = [];
  const { train, partitions } = indexedData(sizes);
  const initial = makeParams(new KnownUpdateTrainer(updates).layout, new Float32Array(D).fill(BASE));
  const run = await runSimulation({
    train,
    partitions,
    clientIds: ids,
    validationFraction: 0,
    createTrainer: () => new KnownUpdateTrainer(updates),
    initialParams: initial,
    strategy: new FedAvg(),
    layers: (_id, i) => [...extra(i), secAggClientLayer({ randomness: 'seeded', seed })],
    workflow: new SecAggWorkflow({ clippingRange: CLIP, maxWeight: MAX_WEIGHT, ...options, onResult: (r) => results.push(r) }),
    rounds: 1,
    seed,
    sampling: { fraction: 1, minClients: N },
    evaluation: false,
    centralEvaluationEvery: 0,
  });
  return { run, results, initial };
}

function assertSumOf(result: SecAggRoundResult, survivors: number[]) {
  assert.deepEqual(result.contributors, survivors.map((i) => ids[i]));
  const want = expectedSum(updates, survivors, weights, CLIP, BASE);
  const bound = sumErrorBound(result.encoding, survivors.length);
  let worst = 0;
  for (let j = 0; j < D; j++) worst = Math.max(worst, Math.abs(result.sum[j] - want.sum[j]));
  assert.ok(worst <= bound, `largest error ${worst} exceeds the quantization bound ${bound}`);
  assert.ok(Math.abs(result.weight - want.weight) <= survivors.length / result.encoding.weightScale);
  return want;
}

test('10 clients, 3 dropping at different stages: the aggregate is the sum of the inputs that arrived', { timeout: 60_000 }, async () => {
  const drops: Record<number, string> = { 1: 'secagg_share', 4: 'secagg_masked', 7: 'secagg_unmask' };
  const { run, results, initial } = await simulate((i) => (drops[i] ? [dropAt(drops[i])] : []));
  const record = run.history[0];
  assert.equal(record.status, 'completed', record.reason);
  assert.equal(results.length, 1);
  // client-7 dropped after sending its masked input: its input is in the sum (its self mask is
  // removed with the others' shares of its seed); client-1 and client-4 are not.
  const survivors = [0, 2, 3, 5, 6, 7, 8, 9];
  const want = assertSumOf(results[0], survivors);
  // The strategy got the weighted mean: new global = initial + Σ wᵢxᵢ / Σ wᵢ.
  for (let j = 0; j < D; j += 37) assert.ok(Math.abs(run.params.data[j] - (initial.data[j] + want.sum[j] / want.weight)) < 1e-5);
  assert.deepEqual([...record.succeeded].sort(), survivors.map((i) => ids[i]));
  assert.deepEqual(record.failed.map((f) => f.clientId).sort(), ['client-1', 'client-4', 'client-7']);
  const summary = record.events?.find((e) => e.kind === 'secagg') as Record<string, any>;
  assert.ok(summary, 'the history notes secure aggregation');
  assert.deepEqual(summary.stages.share.failed, ['client-1']);
  assert.deepEqual(summary.stages.masked.failed, ['client-4']);
  assert.deepEqual(summary.stages.unmask.failed, ['client-7']);
  assert.deepEqual(summary.droppedAfterSharing, ['client-4']);
  assert.equal(summary.threshold, 7);
});

test('SecAgg+ (sparse graph) with dropouts gives the same sum', { timeout: 60_000 }, async () => {
  const drops: Record<number, string> = { 2: 'secagg_masked', 6: 'secagg_unmask' };
  const { run, results } = await simulate((i) => (drops[i] ? [dropAt(drops[i])] : []), { mode: 'secagg+', neighbours: 6, threshold: 5 });
  assert.equal(run.history[0].status, 'completed', run.history[0].reason);
  assertSumOf(results[0], [0, 1, 3, 4, 5, 6, 7, 8, 9]);
  const summary = run.history[0].events?.find((e) => e.kind === 'secagg') as Record<string, any>;
  assert.equal(summary.neighbourhood, 7);
});

test('more than n − t dropouts: the round is skipped with the reason and the model is unchanged', { timeout: 60_000 }, async () => {
  // t = 7 of 10: four clients gone after sharing their keys leave 6 < 7.
  const { run, results, initial } = await simulate((i) => (i < 4 ? [dropAt('secagg_masked')] : []));
  const record = run.history[0];
  assert.equal(record.status, 'skipped');
  assert.match(record.reason!, /secure aggregation aborted at stage "masked".*7 are needed to unmask/);
  assert.equal(results.length, 0);
  assert.deepEqual(run.params.data, initial.data);
});

/** Rewrites a client's secagg reply of `type`. */
function tamper(type: string, edit: (reply: Record<string, unknown>) => Record<string, unknown>): ClientLayer {
  return (next) => async (m: MessageBase) => {
    const r = await next(m);
    return r.type === type ? (edit({ ...(r as unknown as Record<string, unknown>) }) as unknown as MessageBase) : r;
  };
}

test('malformed ciphertexts, undecryptable shares, a malformed masked input and bad unmasking shares: senders excluded, sum still exact', { timeout: 60_000 }, async () => {
  const layers = (i: number): ClientLayer[] => {
    // client-2: truncated ciphertexts → excluded before masking.
    if (i === 2) return [tamper('secagg_shares', (r) => ({ ...r, ciphertexts: (r.ciphertexts as Uint8Array).subarray(1) }))];
    // client-5: one ciphertext with a flipped byte → its recipient complains at verification; client-5 is excluded before masking.
    if (i === 5) return [tamper('secagg_shares', (r) => {
      const c = (r.ciphertexts as Uint8Array).slice();
      c[SHARE_CIPHERTEXT_BYTES + 20] ^= 0xff;
      return { ...r, ciphertexts: c };
    })];
    // client-8: a masked vector of the wrong length → excluded after sharing; its pairwise masks are removed.
    if (i === 8) return [tamper('secagg_masked_result', (r) => ({ ...r, masked: (r.masked as Uint32Array).subarray(1) }))];
    // client-9: shares out of the field in its unmasking reply → that reply is ignored.
    if (i === 9) return [tamper('secagg_unmask_result', (r) => ({ ...r, seedShares: new Uint8Array((r.seedShares as Uint8Array).length).fill(0xff) }))];
    return [];
  };
  // t = 6 of 10: four clients are out or send nothing usable at some stage.
  const { run, results } = await simulate(layers, { threshold: 6 });
  const record = run.history[0];
  assert.equal(record.status, 'completed', record.reason);
  assertSumOf(results[0], [0, 1, 3, 4, 6, 7, 9]);
  const codes = Object.fromEntries(record.failed.map((f) => [f.clientId, f.code]));
  assert.deepEqual(codes, { 'client-2': 'rejected:malformed_message', 'client-5': 'secagg_bad_shares', 'client-8': 'rejected:malformed_message', 'client-9': 'rejected:malformed_message' });
  const complaint = record.events?.find((e) => e.kind === 'secagg-complaint');
  assert.ok(complaint && (complaint.about as string[]).includes('client-5'), 'the recipient of the bad ciphertext complained');
});

test('a low-order public key is refused at setup, before any neighbour uses it', { timeout: 60_000 }, async () => {
  const { run, results } = await simulate((i) => (i === 4 ? [tamper('secagg_keys', (r) => ({ ...r, maskKey: new Uint8Array(32) }))] : []));
  const record = run.history[0];
  assert.equal(record.status, 'completed', record.reason);
  assertSumOf(results[0], [0, 1, 2, 3, 5, 6, 7, 8, 9]);
  assert.equal(record.failed.length, 1);
  assert.equal(record.failed[0].code, 'rejected:malformed_message');
  assert.match(record.failed[0].reason, /secagg setup: .*maskKey: X25519/);
});

test('same seed, same history and model (seeded randomness)', { timeout: 60_000 }, async () => {
  const a = await simulate(() => []);
  const b = await simulate(() => []);
  assert.deepEqual(a.run.history.map(withoutTiming), b.run.history.map(withoutTiming));
  assert.deepEqual(a.run.params.data, b.run.params.data);
  assertSumOf(a.results[0], [...Array(N).keys()]);
});

test('narrower sums travel packed: 13-, 16-, 24- and 26-bit masked inputs take exactly that many bits per value, sum still exact', { timeout: 60_000 }, async () => {
  const wide = await simulate(() => [], { bits: 32 });
  const up32 = wide.run.history[0].bytes.up;
  for (const bits of [13, 16, 24, 26]) {
    const { run, results } = await simulate((i) => (i === 3 ? [dropAt('secagg_unmask')] : i === 6 ? [dropAt('secagg_masked')] : []), { bits });
    assert.equal(run.history[0].status, 'completed', run.history[0].reason);
    assert.equal(results[0].encoding.bits, bits);
    assertSumOf(results[0], [0, 1, 2, 3, 4, 5, 7, 8, 9]);
    // Masked inputs dominate the uplink: (9 of 10 clients sent one) · D values · bits/8 bytes.
    const masked32 = 10 * (D + 1) * 4;
    const maskedNow = 9 * (D + 1) * (bits / 8);
    assert.ok(run.history[0].bytes.up < up32 - masked32 + maskedNow + 2000, `bits ${bits}: ${run.history[0].bytes.up} bytes up vs ${up32} at 32 bits`);
  }
});

test('a client whose every share ciphertext is garbage is excluded before masking; the round completes', { timeout: 60_000 }, async () => {
  const garbage = tamper('secagg_shares', (r) => ({ ...r, ciphertexts: new Uint8Array((r.ciphertexts as Uint8Array).length).fill(9) }));
  const { run, results } = await simulate((i) => (i === 6 ? [garbage] : []));
  const record = run.history[0];
  assert.equal(record.status, 'completed', record.reason);
  assertSumOf(results[0], [0, 1, 2, 3, 4, 5, 7, 8, 9]);
  assert.deepEqual(record.failed.map((f) => [f.clientId, f.code]), [['client-6', 'secagg_bad_shares']]);
  assert.equal(record.events?.filter((e) => e.kind === 'secagg-complaint').length, 9, 'every recipient complained');
});
