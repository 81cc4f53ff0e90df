// What the server sees. Every reply that reaches the server is copied at the transport (the grid),
// every log line and the history are kept; none of it may hold a client's update, in the clear or
// merely encoded, while the decoded sum is right. The same probe run on plain FedAvg finds every
// update: it can tell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeParams } from '../../src/core/params.js';
import type { MessageBase } from '../../src/core/messages.js';
import { MemoryLogger } from '../../src/core/log.js';
import type { Grid, GridReply } from '../../src/engine/grid.js';
import { RoundEngine } from '../../src/engine/engine.js';
import type { TrainWorkflow } from '../../src/engine/workflow.js';
import { InMemoryGrid } from '../../src/transport/memory.js';
import { VirtualClientHost } from '../../src/sim/virtual-clients.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { subset } from '../../src/data/dataset.js';
import { secAggClientLayer, SecAggWorkflow, sumErrorBound, type SecAggRoundResult } from '../../src/secagg/index.js';
import { Rng } from '../../src/core/rng.js';
import { encodeUpdate } from '../../src/secagg/encoding.js';
import { KnownUpdateTrainer, dropAt, expectedSum, indexedData, knownUpdates } from './helpers/clients.js';

const N = 8;
const D = 2000;
const sizes = Array.from({ length: N }, (_, i) => 30 + i);
const updates = knownUpdates(N, D, 99, 0.9);
const ids = Array.from({ length: N }, (_, i) => `client-${i}`);

/** A grid that keeps a deep copy of every reply the server receives. */
class RecordingGrid implements Grid {
  readonly received: Array<{ clientId: string; message: Record<string, unknown> }> = [];
  constructor(private readonly inner: Grid) {}
  availableClients() {
    return this.inner.availableClients();
  }
  async request(clientId: string, message: MessageBase, signal: AbortSignal): Promise<GridReply> {
    const r = await this.inner.request(clientId, message, signal);
    this.received.push({ clientId, message: structuredClone(r.message) as unknown as Record<string, unknown> });
    return r;
  }
}

function* typedArrays(v: unknown): Generator<ArrayLike<number>> {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) yield v as unknown as ArrayLike<number>;
  else if (Array.isArray(v)) for (const x of v) yield* typedArrays(x);
  else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) yield* typedArrays(x);
}

/**
 * Fraction of coordinates of `seen` that match update u, read either as floats (±1e-3) or as the
 * fixed-point encoding w·u·s of any weight w ∈ {weights} (±0.1% of the value, at least ±4).
 */
function resemblance(seen: ArrayLike<number>, u: Float32Array, scales: number[]): number {
  if (seen.length !== u.length && seen.length !== u.length + 1) return 0;
  const off = seen.length - u.length;
  let best = 0;
  for (const s of [0, ...scales]) {
    let hits = 0;
    for (let j = 0; j < u.length; j++) {
      const raw = seen[j + off];
      if (s === 0) {
        if (Math.abs(raw - u[j]) < 1e-3) hits++;
      } else {
        const signed = raw >= 2 ** 31 ? raw - 2 ** 32 : raw;
        const want = u[j] * s;
        if (Math.abs(signed - want) <= Math.max(4, Math.abs(want) * 1e-3)) hits++;
      }
    }
    best = Math.max(best, hits / u.length);
  }
  return best;
}

async function runOnce(workflow: TrainWorkflow, withSecAgg: boolean) {
  const { train, partitions } = indexedData(sizes);
  const host = new VirtualClientHost({
    clients: ids,
    createTrainer: () => new KnownUpdateTrainer(updates),
    data: (_id, i) => ({ train: subset(train, partitions[i]) }),
    layers: (_id, i) => [...(i === 3 ? [dropAt('secagg_masked')] : []), ...(withSecAgg ? [secAggClientLayer({ randomness: 'seeded', seed: 5 })] : [])],
  });
  const grid = new RecordingGrid(new InMemoryGrid(host));
  const logger = new MemoryLogger();
  const engine = new RoundEngine({
    grid,
    strategy: new FedAvg(),
    initialParams: makeParams(new KnownUpdateTrainer(updates).layout),
    rounds: 1,
    seed: 5,
    sampling: { fraction: 1, minClients: N },
    evaluation: false,
    centralEvaluationEvery: 0,
    workflow,
    logger,
  });
  const result = await engine.run();
  return { grid, logger, result };
}

test('the server never holds an unmasked (or merely encoded) individual update; the sum is right', { timeout: 60_000 }, async () => {
  const results: SecAggRoundResult[] = [];
  const { grid, logger, result } = await runOnce(new SecAggWorkflow({ clippingRange: 1, maxWeight: 100, onResult: (r) => results.push(r) }), true);
  assert.equal(result.history[0].status, 'completed', result.history[0].reason);
  const enc = results[0].encoding;
  const scales = sizes.map((s) => Math.min(1, s / 100) * enc.scale);
  // The probe recognises an encoded but unmasked update (so a missing mask would be caught).
  const bare = encodeUpdate(updates[2], Math.min(1, sizes[2] / 100), enc, new Rng(1), new Uint32Array(D + 1), 'probe');
  assert.ok(resemblance(bare, updates[2], scales) > 0.99);
  // Everything that crossed the wire to the server, every log entry and the history.
  const everything: unknown[] = [...grid.received.map((r) => r.message), ...logger.entries, result.history];
  let arrays = 0;
  let maskedVectors = 0;
  for (const item of everything) {
    for (const a of typedArrays(item)) {
      arrays++;
      assert.ok(!(a instanceof Float32Array && a.length >= D), 'no float vector of model size reaches the server');
      if (a.length === D + 1) maskedVectors++;
      for (let i = 0; i < N; i++) {
        const r = resemblance(a, updates[i], scales);
        assert.ok(r < 0.01, `something the server holds matches ${r * 100}% of client-${i}'s update`);
      }
    }
  }
  assert.ok(arrays > 4 * N && maskedVectors === N - 1, `probed ${arrays} arrays, ${maskedVectors} masked vectors`);
  // A survivor's mask key is never revealed (only its seed): no key shares of contributors.
  const contributors = new Set(results[0].contributors);
  for (const r of grid.received) {
    if (r.message.type !== 'secagg_unmask_result') continue;
    for (const id of r.message.keyShareOf as string[]) assert.ok(!contributors.has(id), `key share of survivor ${id} was sent`);
    assert.ok((r.message.keyShareOf as string[]).includes('client-3'), 'the dropped client\'s key shares were sent');
  }
  // ... while the decoded sum is that of the survivors.
  const survivors = [0, 1, 2, 4, 5, 6, 7];
  const want = expectedSum(updates, survivors, sizes.map((s) => Math.min(1, s / 100)), 1);
  const bound = sumErrorBound(enc, survivors.length);
  for (let j = 0; j < D; j++) assert.ok(Math.abs(results[0].sum[j] - want.sum[j]) <= bound);
});

test('control: the same probe finds every update when the server runs plain FedAvg', { timeout: 60_000 }, async () => {
  const { FederatedTrainWorkflow } = await import('../../src/engine/workflow.js');
  const { grid } = await runOnce(new FederatedTrainWorkflow(), false);
  const found = new Set<number>();
  for (const r of grid.received) for (const a of typedArrays(r.message)) for (let i = 0; i < N; i++) if (resemblance(a, updates[i], []) > 0.99) found.add(i);
  assert.equal(found.size, N);
});
