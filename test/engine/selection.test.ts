// Client selection (src/engine/selection.ts): uniform draws what the engine draws without a
// selector; availability-aware selection keeps clients whose session outlasts their work; Oort
// prefers high-utility clients, penalises slow ones, explores the untried with a decaying share;
// over a heterogeneous fleet it shortens rounds; the configs refuse it where it cannot apply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { createSelector } from '../../src/engine/selection.js';
import { sampleClients } from '../../src/engine/sampling.js';
import { DeviceFleet, parseDeviceTrace } from '../../src/sim/devices.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { withoutTiming } from '../../src/core/records.js';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { knownUpdateSimulation, knownUpdates } from '../secagg/helpers/clients.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `c${String(i).padStart(2, '0')}`);

test('uniform selection draws exactly what the engine draws without a selector', () => {
  const u = createSelector('uniform');
  for (let s = 0; s < 5; s++) assert.deepEqual(u.select(ids(30), 7, new Rng(s), { round: 1 }), sampleClients(ids(30), 7, new Rng(s)));
});

test('availability-aware selection keeps the clients whose session outlasts their work, then the longest sessions', () => {
  // c0–c3 online for 10 s more, c4–c7 for 100 s more; work takes 20 s (the deadline, before any is observed).
  const devices = ids(8).map((_, i) => ({ speed: 1, downlinkMbps: 1, uplinkMbps: 1, online: [[0, i < 4 ? 10 : 100]] as [number, number][] }));
  const fleet = new DeviceFleet(parseDeviceTrace({ format: 'federa-devices/1', devices }), { clients: ids(8), examples: () => ({ train: 1, validation: 0 }), seed: 1 });
  const sel = createSelector('availability');
  const ctx = { round: 1, clock: fleet, timeoutMs: 20_000 };
  const picked = sel.select(ids(8), 3, new Rng(2), ctx);
  assert.equal(picked.length, 3);
  assert.ok(picked.every((id) => Number(id.slice(1)) >= 4), `${picked}`);
  // Asked for more than can finish: all four safe ones, then the longest remaining sessions.
  assert.deepEqual(sel.select(ids(8), 6, new Rng(2), ctx).slice(4).length, 2);
  // Observed durations replace the deadline: 5 s of work fits c0–c3's 10 s.
  sel.observe!(1, ids(8).map((clientId) => ({ clientId, succeeded: true, durationMs: 5_000 })));
  const after = sel.select(ids(8), 8, new Rng(3), ctx);
  assert.deepEqual([...after].sort(), ids(8));
  // Without a clock (deployment) it is uniform.
  assert.deepEqual(sel.select(ids(8), 3, new Rng(4), { round: 1 }), sampleClients(ids(8), 3, new Rng(4)));
});

test('Oort exploits high-utility fast clients, penalises the slow, and explores the untried with a decaying share', () => {
  const options = { exploration: 0.5, explorationDecay: 0.5, minExploration: 0.1, preferredDurationMs: 1000 };
  const all = ids(40);
  const tried = ids(10);
  // c00–c04 fast (0.5 s), c05–c09 10× slower than T = 1 s; the same loss and examples.
  const feedback = tried.map((clientId, i) => ({ clientId, succeeded: true, numExamples: 10, loss: 2, durationMs: i < 5 ? 500 : 10_000 }));
  const play = () => {
    const sel = createSelector('oort', options);
    const first = sel.select(all, 10, new Rng(1), { round: 1 });
    sel.observe!(1, feedback);
    return { first, second: sel.select(all, 10, new Rng(2), { round: 2 }) };
  };
  const { first, second } = play();
  assert.equal(new Set(first).size, 10);
  assert.equal(new Set(second).size, 10);
  // The share decayed from 0.5 to 0.25: 3 untried clients, 7 exploited.
  assert.equal(second.filter((id) => !tried.includes(id)).length, 3, `${second}`);
  const fast = second.filter((id) => tried.slice(0, 5).includes(id));
  const slow = second.filter((id) => tried.slice(5).includes(id));
  assert.equal(fast.length, 5, `${second}`);
  assert.equal(slow.length, 2, 'the slow ones only fill what the fast ones cannot');
  // The same seed and history: the same choice.
  assert.deepEqual(play().second, second);
  assert.throws(() => createSelector('oort', { exploration: 2 }), /selection\.exploration must be in \[0, 1\], got 2/);
});

test('over heterogeneous devices, Oort shortens the rounds against uniform selection; the same seed gives the same history', async () => {
  const n = 60;
  const updates = knownUpdates(n, 8, 2, 0.1);
  const run = (selection: 'uniform' | 'oort') =>
    runSimulation({
      ...knownUpdateSimulation(ids(n), updates, Array.from({ length: n }, () => 20)),
      strategy: new FedAvg(),
      rounds: 30,
      seed: 6,
      sampling: { fraction: 1, minClients: 6, maxClients: 6 },
      devices: { kind: 'lognormal', speed: 20, speedSigma: 1, stragglerFraction: 0.2, stragglerSlowdown: 10 },
      ...(selection === 'oort' ? { selector: createSelector('oort') } : {}),
    });
  const uniform = await run('uniform');
  const oort = await run('oort');
  const t = (r: typeof uniform) => r.history.at(-1)!.simulatedTime!;
  console.log(`# 30 rounds of 6 out of 60: ${t(uniform).toFixed(1)} simulated s uniform, ${t(oort).toFixed(1)} with Oort`);
  assert.ok(t(oort) < 0.7 * t(uniform), `${t(oort)} vs ${t(uniform)}`);
  const again = await run('oort');
  assert.deepEqual(again.history.map(withoutTiming), oort.history.map(withoutTiming));
});

test('configs: selection oort/availability is refused with DP Poisson sampling, Oort with any DP, and with FedBuff', () => {
  const base = { rounds: 2, clients: 10 };
  assert.equal(parseSimulationConfig({ ...base, selection: { kind: 'oort' } }).selection.kind, 'oort');
  assert.throws(() => parseSimulationConfig({ ...base, selection: { kind: 'availability' }, privacy: { clipNorm: 1, noiseMultiplier: 1 } }), /selection "availability" cannot be combined with DP's Poisson sampling/);
  assert.throws(() => parseSimulationConfig({ ...base, selection: { kind: 'oort' }, privacy: { clipNorm: 1, noiseMultiplier: 1, sampling: 'fixed' } }), /selection "oort" picks clients by their training loss/);
  assert.throws(() => parseSimulationConfig({ ...base, selection: { kind: 'oort' }, strategy: { name: 'fedbuff' } }), /strategy "fedbuff" gives work to idle clients as they free up/);
});
