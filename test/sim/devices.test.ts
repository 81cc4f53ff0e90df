// Simulated devices and the simulated clock (src/sim/devices.ts, src/engine/clock.ts): seeded
// profiles with their stragglers and availability, the trace format and its refusals, a request's
// timing, and exchanges in simulated time — arrival order, deadlines, over-selection of the
// fastest, dropouts when a device goes offline — with the clock advanced to when they close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceFleet, parseDeviceTrace } from '../../src/sim/devices.js';
import { exchange } from '../../src/engine/exchange.js';
import { InMemoryGrid } from '../../src/transport/memory.js';
import type { MessageBase } from '../../src/core/messages.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { withoutTiming } from '../../src/core/records.js';
import { knownUpdateSimulation, knownUpdates } from '../secagg/helpers/clients.js';
import { readmeCommand, runReadmeCommand } from '../helpers/readme.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);
const examples = () => ({ train: 100, validation: 10 });

test('seeded devices: the same seed gives the same fleet; speeds log-normal with the straggler fraction; availability near its long-run fraction', () => {
  const clients = ids(2000);
  const spec = { kind: 'lognormal' as const, speed: 100, speedSigma: 0.5, stragglerFraction: 0.2, stragglerSlowdown: 20, availability: 0.4, sessionMinutes: 20 };
  const a = new DeviceFleet(spec, { clients, examples, seed: 3 });
  const b = new DeviceFleet(spec, { clients, examples, seed: 3 });
  const c = new DeviceFleet(spec, { clients, examples, seed: 4 });
  assert.deepEqual(a.profile('c7'), b.profile('c7'));
  assert.notDeepEqual(a.profile('c7'), c.profile('c7'));
  // A straggler is ≥ 20× below the median unless its own draw was far above it: count speeds below median/8.
  const slow = clients.filter((id) => a.profile(id).speed < 100 / 8).length / clients.length;
  assert.ok(slow > 0.17 && slow < 0.24, `slow fraction ${slow}`);
  const logs = clients.map((id) => Math.log(a.profile(id).speed)).sort((x, y) => x - y);
  assert.ok(Math.abs(Math.exp(logs[Math.floor(0.6 * logs.length)]) - 100 * Math.exp(0.5 * 0.253)) < 15, 'the non-stragglers\' median sits at the configured speed');
  // Long-run availability: the fraction online at many times over 3 days.
  let on = 0;
  let all = 0;
  for (let t = 0; t < 3 * 86_400_000; t += 3_600_000) for (const id of clients.slice(0, 200)) (all++, a.isOnline(id, t) && on++);
  assert.ok(Math.abs(on / all - 0.4) < 0.03, `online fraction ${on / all}`);
  assert.equal(a.isOnline('c1', 1e6), b.isOnline('c1', 1e6));
  assert.throws(() => new DeviceFleet({ kind: 'lognormal', availability: 0 }, { clients, examples, seed: 1 }), /devices\.availability must be in \(0, 1\], got 0/);
  assert.throws(() => new DeviceFleet({ kind: 'lognormal', stragglerSlowdown: 0.5 }, { clients, examples, seed: 1 }), /stragglerSlowdown must be a finite number ≥ 1/);
});

test('a request\'s simulated duration: latency, download, training and the expected upload', () => {
  const trace = parseDeviceTrace({ format: 'federa-devices/1', devices: [{ speed: 50, downlinkMbps: 8, uplinkMbps: 2, latencyMs: 40 }] });
  const fleet = new DeviceFleet(trace, { clients: ['a'], examples: () => ({ train: 200, validation: 20 }), seed: 1 });
  const params = new Float32Array(250_000); // 1 MB
  const train = { type: 'train', runId: 'r', round: 1, params, config: { epochs: 2 } } as unknown as MessageBase;
  const t = fleet.timing('a', train);
  // 2·40 ms + 1 MB over 1 MB/s + 400 examples at 50/s + 1 MB over 0.25 MB/s.
  const down = (1000 * (1_000_000 + 0)) / 1e6;
  assert.ok(Math.abs(t.durationMs - (80 + down + 8000 + 4000)) < 5, `${t.durationMs}`);
  assert.equal(t.offlineAfterMs, undefined);
  const evaluate = { type: 'evaluate', runId: 'r', round: 1, params } as unknown as MessageBase;
  assert.ok(Math.abs(fleet.timing('a', evaluate).durationMs - (80 + down + 400 + 4.096)) < 5);
});

test('the trace format: periodic online intervals; every malformed field refused naming it', () => {
  const trace = parseDeviceTrace({ format: 'federa-devices/1', period: 100, devices: [{ speed: 1, downlinkMbps: 1, uplinkMbps: 1, online: [[10, 20], [50, 100]] }] }, 'devices.json');
  const fleet = new DeviceFleet(trace, { clients: ['a', 'b'], examples, seed: 1 });
  assert.equal(fleet.isOnline('a', 5_000), false);
  assert.equal(fleet.isOnline('a', 15_000), true);
  assert.equal(fleet.isOnline('a', 115_000), true, 'the period repeats');
  assert.equal(fleet.isOnline('a', 130_000), false);
  assert.equal(fleet.isOnline('b', 15_000), true, 'client i gets device i mod the count');
  // Online until 100 s and again from 100 s (the next period's [0, …) does not exist here): offline at 100.
  fleet.advanceTo(95_000);
  const t = fleet.timing('a', { type: 'evaluate', runId: 'r', round: 1 } as MessageBase);
  assert.ok(t.offlineAfterMs !== undefined && Math.abs(t.offlineAfterMs - 5_000) < 1e-6, JSON.stringify(t));
  for (const [bad, want] of [
    [{ format: 'x', devices: [] }, /devices\.json: "format" must be "federa-devices\/1"/],
    [{ format: 'federa-devices/1', devices: [] }, /"devices" must be a non-empty array/],
    [{ format: 'federa-devices/1', devices: [{ speed: -1, downlinkMbps: 1, uplinkMbps: 1 }] }, /devices\[0\]\.speed must be a finite number > 0, got -1/],
    [{ format: 'federa-devices/1', devices: [{ speed: 1, downlinkMbps: 1, uplinkMbps: 1, online: [[5, 3]] }] }, /devices\[0\]\.online\[0\]: end 3 must be after start 5/],
    [{ format: 'federa-devices/1', devices: [{ speed: 1, downlinkMbps: 1, uplinkMbps: 1, online: [[5, 9], [7, 10]] }] }, /sorted and disjoint/],
    [{ format: 'federa-devices/1', period: 10, devices: [{ speed: 1, downlinkMbps: 1, uplinkMbps: 1, online: [[5, 11]] }] }, /past the period 10/],
  ] as const) {
    assert.throws(() => parseDeviceTrace(bad, 'devices.json'), want);
  }
});

test('an exchange in simulated time: replies in arrival order, the slowest past the deadline fail, over-selection drops the slowest unrun, the clock moves to the close', async () => {
  // Speeds 1..6 examples/s with 10 examples each: durations ≈ 10 s, 5 s, 3.3 s, 2.5 s, 2 s, 1.7 s.
  const devices = [1, 2, 3, 4, 5, 6].map((speed) => ({ speed, downlinkMbps: 1e6, uplinkMbps: 1e6, latencyMs: 0 }));
  const fleet = new DeviceFleet({ kind: 'trace', devices }, { clients: ids(6), examples: () => ({ train: 10, validation: 0 }), seed: 1 });
  const ran: string[] = [];
  const handlers = new Map(ids(6).map((id) => [id, async (m: MessageBase) => (ran.push(id), { type: 'ok', runId: m.runId, round: m.round } as MessageBase)]));
  const grid = new InMemoryGrid(handlers, { clock: fleet });
  const req = (id: string) => ({ clientId: id, message: { type: 'train', runId: 'r', round: 1, config: {} } as unknown as MessageBase });
  const order: string[] = [];
  const all = await exchange(grid, ids(6).map(req), (id) => void order.push(id), { timeoutMs: 4_000 });
  assert.deepEqual(order, ['c5', 'c4', 'c3', 'c2'], 'fastest first');
  assert.deepEqual(all.failures.map((f) => [f.clientId, f.code]).sort(), [['c0', 'timeout'], ['c1', 'timeout']]);
  assert.match(all.failures[0].reason, /no reply within 4000 ms \(simulated time\): the device needs (10|5\.\d+) s/);
  assert.equal(all.simulatedMs, 4_000, 'a client missed the deadline: the exchange closed at it');
  assert.equal(fleet.now(), 4_000);
  assert.deepEqual([...ran].sort(), ['c2', 'c3', 'c4', 'c5'], 'the clients past the deadline never ran');
  ran.length = 0;
  const first3 = await exchange(grid, ids(6).map(req), () => {}, { stopAfter: 3 });
  assert.deepEqual(first3.succeeded, ['c5', 'c4', 'c3']);
  assert.deepEqual(first3.dropped.sort(), ['c0', 'c1', 'c2']);
  assert.deepEqual(ran, ['c5', 'c4', 'c3'], 'the over-selected slowest were not run');
  assert.ok(Math.abs(first3.simulatedMs! - 2_500) < 1e-3, `closed at the third reply (c3, 10 examples at 4/s): ${first3.simulatedMs}`);
  assert.ok(Math.abs(fleet.now() - (4_000 + 2_500)) < 1e-3);
});

test('a device that goes offline mid-request fails as offline; only online clients are available', async () => {
  const trace = parseDeviceTrace({ format: 'federa-devices/1', devices: [
    { speed: 1, downlinkMbps: 1e6, uplinkMbps: 1e6, latencyMs: 0, online: [[0, 3]] },
    { speed: 1, downlinkMbps: 1e6, uplinkMbps: 1e6, latencyMs: 0 },
    { speed: 1, downlinkMbps: 1e6, uplinkMbps: 1e6, latencyMs: 0, online: [[100, 200]] },
  ] });
  const fleet = new DeviceFleet(trace, { clients: ids(3), examples: () => ({ train: 5, validation: 0 }), seed: 1 });
  const handlers = new Map(ids(3).map((id) => [id, async (m: MessageBase) => ({ type: 'ok', runId: m.runId, round: m.round } as MessageBase)]));
  const grid = new InMemoryGrid(handlers, { clock: fleet });
  assert.deepEqual([...grid.availableClients()], ['c0', 'c1']);
  const out = await exchange(grid, ['c0', 'c1'].map((id) => ({ clientId: id, message: { type: 'train', runId: 'r', round: 1, config: {} } as unknown as MessageBase })), () => {});
  assert.deepEqual(out.succeeded, ['c1']);
  assert.equal(out.failures[0].code, 'offline');
  assert.match(out.failures[0].reason, /went offline 3\.00 s into the request \(simulated time\); its reply needed 5\.00 s/);
  assert.ok(Math.abs(fleet.now() - 5_000) < 1e-3, `${fleet.now()}`);
  fleet.advanceTo(150_000);
  assert.deepEqual([...grid.availableClients()], ['c1', 'c2']);
});

test('a simulation with devices records simulated time per round, drops stragglers at the deadline, and repeats with its seed', async () => {
  const n = 12;
  const updates = knownUpdates(n, 16, 5, 0.1);
  const run = () =>
    runSimulation({
      ...knownUpdateSimulation(ids(n), updates, Array.from({ length: n }, (_, i) => 20 + i)),
      strategy: new FedAvg(),
      rounds: 6,
      seed: 9,
      sampling: { fraction: 1, minClients: 6, maxClients: 6 },
      devices: { kind: 'lognormal', speed: 20, stragglerFraction: 0.3, stragglerSlowdown: 50, availability: 0.7, sessionMinutes: 5 },
      roundTimeoutMs: 5_000,
    });
  const a = await run();
  const times = a.history.map((h) => h.simulatedTime!);
  assert.ok(times.every((t, i) => t > (times[i - 1] ?? 0)), `simulated time grows: ${times}`);
  assert.ok(times.every((t, i) => t - (times[i - 1] ?? 0) <= 5 + 1e-9), 'no round outlasts its deadline');
  const timeouts = a.history.flatMap((h) => h.failed).filter((f) => f.code === 'timeout');
  assert.ok(timeouts.length > 0, 'stragglers miss the 5 s deadline');
  const b = await run();
  assert.deepEqual(b.history.map(withoutTiming), a.history.map(withoutTiming));
  assert.deepEqual(b.params.data, a.params.data);
});

test("the README's device commands, exactly as written: seeded phones with a deadline and over-selection; the shipped trace", { timeout: 240_000 }, async () => {
  const lognormal = await runReadmeCommand(readmeCommand('--devices lognormal', '--over-selection 0.3'));
  assert.equal(lognormal.code, 0, lognormal.stderr + lognormal.stdout);
  assert.match(lognormal.stdout, /devices {3}log-normal, median 200 examples\/s, 10% stragglers 10× slower, 20\/5 Mbit\/s, online 50% of the time; simulated time, deadline 60 s, over-selection 0\.3/);
  assert.match(lognormal.stdout, /rounds completed +10 of 10/);
  assert.match(lognormal.stdout, /simulated time +\d+\.\d s/);
  const trace = await runReadmeCommand(readmeCommand('--device-trace examples/devices/phones.json'), { files: ['examples/devices/phones.json'] });
  assert.equal(trace.code, 0, trace.stderr + trace.stdout);
  assert.match(trace.stdout, /devices {3}8 from a trace, period 3600 s; simulated time, deadline 30 s/);
  // Device 7 (8 examples/s) needs more than the 30 s deadline for its ~160 training examples.
  assert.match(trace.stdout, /no reply within 30000 ms \(simulated time\): the device needs \d+ s/);
  assert.match(trace.stdout, /rounds completed +8 of 8/);
});

test('a compressed uplink shortens the simulated upload: the expected reply size follows the pipeline', async () => {
  const { estimatedUplinkRatio, parsePipeline } = await import('../../src/compress/spec.js');
  assert.equal(estimatedUplinkRatio(parsePipeline('quantize:8', 'uplink')), 0.25);
  assert.equal(estimatedUplinkRatio(parsePipeline('fp16', 'uplink')), 0.5);
  assert.ok(Math.abs(estimatedUplinkRatio(parsePipeline('topk:0.01,quantize:8,lossless', 'uplink')) - 0.01 * (0.25 + 1)) < 1e-12);
  assert.equal(estimatedUplinkRatio([]), 1);
  const device = parseDeviceTrace({ format: 'federa-devices/1', devices: [{ speed: 1e9, downlinkMbps: 1e9, uplinkMbps: 8, latencyMs: 0 }] });
  const params = new Float32Array(250_000);
  const train = { type: 'train', runId: 'r', round: 1, params, config: {} } as unknown as MessageBase;
  const full = new DeviceFleet(device, { clients: ['a'], examples, seed: 1 }).timing('a', train).durationMs;
  const quarter = new DeviceFleet(device, { clients: ['a'], examples, seed: 1, uplinkRatio: 0.25 }).timing('a', train).durationMs;
  // 1 MB up at 1 MB/s: 1 s; a quarter of it: 0.25 s.
  assert.ok(Math.abs(full - 1000) < 1 && Math.abs(quarter - 250) < 1, `${full} ${quarter}`);
});
