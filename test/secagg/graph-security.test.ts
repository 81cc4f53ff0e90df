// Issue 13, finding 9: the SecAgg+ neighbour graph was drawn from the seeded run stream over
// sorted ids, so whoever knew the run seed could place colluders in two blocks of the ring and
// cut it. Now every client commits to a random value at setup and reveals it in the graph stage;
// the graph seed hashes all revealed values, the clients check the commitments and derive the
// graph themselves, a withheld reveal stops the round (and leaves the withholder out), and a
// round whose surviving graph is disconnected is aborted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { makeParams } from '../../src/core/params.js';
import type { MessageBase } from '../../src/core/messages.js';
import type { ClientLayer } from '../../src/client/runtime.js';
import { FederaError } from '../../src/core/errors.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { SECAGG_STATE_KEY, SecAggWorkflow, secAggClientLayer, type SecAggWorkflowOptions } from '../../src/secagg/index.js';
import { graphCommitment, graphSeed, hararyGraph, isConnected, seededHararyGraph, type NeighbourGraph } from '../../src/secagg/graph.js';
import { GRAPH_REVEAL_BYTES } from '../../src/secagg/protocol.js';
import { KnownUpdateTrainer, indexedData, knownUpdates } from './helpers/clients.js';

const N = 12;
const D = 20;
const ids = Array.from({ length: N }, (_, i) => `client-${String(i).padStart(2, '0')}`);
const updates = knownUpdates(N, D, 4, 0.5);

async function simulate(extra: (i: number) => ClientLayer[], options: SecAggWorkflowOptions, rounds = 1) {
  const { train, partitions } = indexedData(Array.from({ length: N }, () => 5));
  const initial = makeParams(new KnownUpdateTrainer(updates).layout);
  const run = await runSimulation({
    train,
    partitions,
    clientIds: ids,
    validationFraction: 0,
    createTrainer: () => new KnownUpdateTrainer(updates),
    initialParams: initial,
    strategy: new FedAvg(),
    layers: (_id, i) => [...extra(i), secAggClientLayer()],
    workflow: new SecAggWorkflow({ mode: 'secagg+', clippingRange: 1, weighting: 'uniform', ...options }),
    rounds,
    seed: 5,
    sampling: { fraction: 1, minClients: N },
    evaluation: false,
    centralEvaluationEvery: 0,
  });
  return { run, initial };
}

/** Removal sets that disconnect `g` while every survivor keeps t − 1 live neighbours and every removed client t. */
function disconnectingCut(g: NeighbourGraph, size: number, t: number): Set<string> | undefined {
  const nodes = [...g.keys()].sort();
  const pick = (from: number, chosen: string[]): Set<string> | undefined => {
    if (chosen.length === size) {
      const cut = new Set(chosen);
      const alive = new Set(nodes.filter((n) => !cut.has(n)));
      if (isConnected(g, alive)) return undefined;
      for (const n of nodes) {
        const live = g.get(n)!.filter((o) => alive.has(o)).length;
        if (alive.has(n) ? live + 1 < t : live < t) return undefined;
      }
      return cut;
    }
    for (let i = from; i < nodes.length; i++) {
      const r = pick(i + 1, [...chosen, nodes[i]]);
      if (r) return r;
    }
    return undefined;
  };
  return pick(0, []);
}

test('colluders placed in two blocks of the predictable ring cut it; with the committed seed the same colluders do not', () => {
  const n = 100;
  const k = 14; // the former default 2⌈log2 n⌉: two blocks of k/2 = 7 colluders cut the ring
  const all = Array.from({ length: n }, (_, i) => `c${String(i).padStart(3, '0')}`);
  // Before: the ring order came from the run seed, known in advance.
  const ring = new Rng(42).stream('round').stream(1).stream('secagg-graph').shuffle([...all].sort());
  const colluders = new Set([...ring.slice(0, k / 2), ...ring.slice(n / 2, n / 2 + k / 2)]);
  const predictable = hararyGraph(all, k, new Rng(42).stream('round').stream(1).stream('secagg-graph'));
  const honest = new Set(all.filter((id) => !colluders.has(id)));
  assert.equal(isConnected(predictable, honest), false, 'the predictable graph is cut by the two blocks');
  // After: the ring depends on every participant's revealed value; the colluders commit to theirs
  // before any honest value is known, so their placement is random.
  const colluderValues = new Map([...colluders].map((id) => [id, new Uint8Array(GRAPH_REVEAL_BYTES).fill(7)]));
  for (let round = 1; round <= 100; round++) {
    const reveals = new Map(colluderValues);
    for (const id of honest) reveals.set(id, crypto.getRandomValues(new Uint8Array(GRAPH_REVEAL_BYTES)));
    const g = seededHararyGraph(all, k, graphSeed('run', round, all, reveals));
    assert.ok(isConnected(g, honest), `round ${round}: honest clients disconnected`);
  }
});

test('every participant\'s value moves the graph; the seed ignores the order values arrive in', () => {
  const all = Array.from({ length: 40 }, (_, i) => `c${i}`);
  const values = new Map(all.map((id, i) => [id, new Uint8Array(GRAPH_REVEAL_BYTES).fill(i)]));
  const seed = graphSeed('run', 3, all, values);
  assert.deepEqual(graphSeed('run', 3, [...all].reverse(), values), seed);
  const base = seededHararyGraph(all, 6, seed);
  for (const id of all) {
    const changed = new Map(values);
    changed.set(id, new Uint8Array(GRAPH_REVEAL_BYTES).fill(255));
    assert.notDeepEqual(seededHararyGraph(all, 6, graphSeed('run', 3, all, changed)), base, `${id}'s value did not matter`);
  }
  // Bound to run and round; a commitment does not open to another value.
  assert.notDeepEqual(graphSeed('run', 4, all, values), seed);
  assert.notDeepEqual(graphCommitment(values.get('c1')!, 'run', 3, 'c1'), graphCommitment(values.get('c2')!, 'run', 3, 'c1'));
});

test('a simulated SecAgg+ round derives the graph on both sides; the secagg event states the bounds', { timeout: 60_000 }, async () => {
  const { run } = await simulate(() => [], {});
  const record = run.history[0];
  assert.equal(record.status, 'completed', record.reason);
  assert.equal(record.succeeded.length, N);
  const summary = record.events?.find((e) => e.kind === 'secagg') as Record<string, any>;
  assert.ok(summary.stages.graph, 'the graph stage ran');
  assert.equal(summary.stages.graph.answered, N);
  assert.ok(Number.isFinite(summary.securityLog2) && summary.securityLog2 <= -40, String(summary.securityLog2));
});

test('dropouts that disconnect the surviving graph abort the round; the model is unchanged', { timeout: 60_000 }, async () => {
  // k = 4, t = 3: two removed pairs opposite on the ring leave two arcs in which every client
  // still has t of its neighbourhood — only the connectivity check stops the round.
  let cut: Set<string> | undefined;
  const dropper: ClientLayer = (next, info) => async (m: MessageBase) => {
    if (m.type === 'secagg_masked') {
      const state = info.state.get(SECAGG_STATE_KEY) as { graph: NeighbourGraph };
      cut ??= disconnectingCut(state.graph, 4, 3);
      if (cut?.has(info.clientId)) throw new FederaError('disconnected', `${info.clientId} drops out (the adversary's cut)`);
    }
    return next(m);
  };
  const { run, initial } = await simulate(() => [dropper], { neighbours: 4, threshold: 3 });
  assert.ok(cut, 'a disconnecting cut exists');
  const record = run.history[0];
  assert.equal(record.status, 'skipped');
  assert.equal(record.code, 'secagg_disconnected');
  assert.match(record.reason!, /aborted at stage "masked": the 8 clients whose masked inputs arrived form a disconnected neighbour graph/);
  assert.deepEqual(run.params.data, initial.data);
});

test('a withheld reveal stops the round (no graph is drawn without it); the withholder is left out of the next round', { timeout: 60_000 }, async () => {
  const withhold: ClientLayer = (next, info) => async (m: MessageBase) => {
    if (m.type === 'secagg_graph' && m.round === 1) throw new FederaError('disconnected', `${info.clientId} withholds its reveal`);
    return next(m);
  };
  const { run } = await simulate((i) => (i === 3 ? [withhold] : []), {}, 2);
  const [r1, r2] = run.history;
  assert.equal(r1.status, 'skipped');
  assert.equal(r1.code, 'secagg_graph_withheld');
  assert.match(r1.reason!, /client-03 did not reveal their committed graph value/);
  assert.equal(r2.status, 'completed', r2.reason);
  assert.equal(r2.succeeded.length, N - 1);
  assert.deepEqual(r2.failed.map((f) => [f.clientId, f.code]), [['client-03', 'secagg_withheld_reveal']]);
});

test('a client refuses a tampered reveal and peers that are not its neighbours in the derived graph', { timeout: 60_000 }, async () => {
  // The server's messages to one client rewritten in flight (what a lying server would send).
  const tamper = (rewrite: (m: Record<string, any>) => void): ClientLayer => (next) => async (m: MessageBase) => {
    if (m.type === 'secagg_share') {
      const copy = { ...(m as unknown as Record<string, any>) };
      rewrite(copy);
      m = copy as unknown as MessageBase;
    }
    return next(m);
  };
  const flipReveal = tamper((m) => {
    m.reveals = m.reveals.slice();
    m.reveals[40] ^= 1; // the second participant's value
  });
  const a = await simulate((i) => (i === 0 ? [flipReveal] : []), {});
  const f0 = a.run.history[0].failed.find((f) => f.clientId === ids[0]);
  assert.match(f0?.reason ?? '', /refused: the revealed graph value of client-01 does not match its commitment/);

  const swapPeer = tamper((m) => {
    const others = ids.filter((id) => id !== ids[0] && !m.peers.includes(id));
    if (others.length) m.peers = [...m.peers.slice(1), others[0]].sort();
  });
  const b = await simulate((i) => (i === 0 ? [swapPeer] : []), { neighbours: 4, threshold: 3 });
  const f1 = b.run.history[0].failed.find((f) => f.clientId === ids[0]);
  assert.match(f1?.reason ?? '', /refused: the peers are not this client's neighbours in the round's graph \(not neighbours: client-\d+; missing: client-\d+\)/);
});
