// The run plan: one assembly for simulation and deployment. Sampling semantics agree, the budget
// stop is a typed code, claimed weights are capped on the plain path and in federated evaluation,
// DP samples Poisson (from the CSPRNG in deployment), and the secure-aggregation workflow honours
// over-selection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeParams, ParamLayout } from '../../src/core/params.js';
import { SecureRng } from '../../src/core/rng.js';
import { compareClientIds, sortClientIds } from '../../src/core/ids.js';
import type { RoundRecord } from '../../src/core/records.js';
import { parseServerConfig, parseSimulationConfig } from '../../src/config/rules.js';
import { planRun } from '../../src/run/plan.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { UPLINK_CONFIG_KEY } from '../../src/compress/layers.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { FedAdam } from '../../src/strategy/fedadam.js';
import { secAggClientLayer, SecAggWorkflow } from '../../src/secagg/index.js';
import { KnownUpdateTrainer, indexedData, knownUpdates } from '../secagg/helpers/clients.js';

const layout = ParamLayout.fromShapes([{ name: 'w', shape: [3] }]);
const zeros = () => makeParams(layout, new Float32Array(3));
const record = (round: number, status: 'completed' | 'skipped', extra: Partial<RoundRecord> = {}): RoundRecord => ({
  round, status, selected: [], succeeded: [], failed: [], dropped: [], bytes: { down: 0, up: 0 }, timing: { totalMs: 0, trainMs: 0, evaluateMs: 0, centralEvaluateMs: 0 }, ...extra,
});

test('simulation and deployment plans sample the same way: k of the available clients', () => {
  const sim = planRun(parseSimulationConfig({ clients: 40, clientsPerRound: 7, rounds: 2 }), { population: 40 });
  const server = parseServerConfig({ rounds: 2, clientsPerRound: 7, input: { numFeatures: 4, numClasses: 2 } });
  const dep = planRun(server, { population: 7, deployment: true, minAvailable: 7, recheck: false });
  assert.deepEqual(sim.sampling, { fraction: 1, minClients: 7, maxClients: 7 });
  assert.deepEqual(dep.sampling, { fraction: 1, minClients: 7, maxClients: 7, minAvailable: 7 });
  assert.equal(sim.clientsPerRound, 7);
  // Both wrap the config's optimizer behind the same stages.
  assert.equal(sim.strategy.name, dep.strategy.name);
});

test('simulated clients follow the uplink pipeline the server announces, as deployed clients do', () => {
  const plan = planRun(parseSimulationConfig({ clients: 10, clientsPerRound: 5, rounds: 1, compression: { uplink: 'quantize:8' } }), { population: 10 });
  assert.equal(plan.serverLayers.length, 1);
  // The server half adds the announcement to every train instruction.
  const out = plan.serverLayers[0].outgoing!({ type: 'train', runId: 'r', round: 1, params: new Float32Array(3), config: {} } as never, { clientId: 'c1' } as never) as unknown as { config: Record<string, unknown> };
  assert.match(String(out.config[UPLINK_CONFIG_KEY]), /quantize/);
  assert.equal(plan.clientLayers('c1', 0).length, 4, 'secure aggregation, compression, DP and q-FedAvg layers, none configured on the client');
});

test('the privacy-budget stop is a typed code, not the text of a reason', () => {
  const plan = planRun(parseSimulationConfig({ clients: 20, clientsPerRound: 5, rounds: 3, privacy: { noiseMultiplier: 1 } }), { population: 20 });
  const lines: string[] = [];
  plan.afterRound(record(1, 'skipped', { reason: 'something mentioning the privacy budget' }), (l) => lines.push(l));
  assert.equal(plan.signal.aborted, false, 'a reason text alone does not stop the run');
  plan.afterRound(record(2, 'skipped', { reason: 'refused', code: 'privacy_budget' }), (l) => lines.push(l));
  assert.equal(plan.signal.aborted, true);
  assert.match(lines.join('\n'), /round 2 was refused/);
});

test('DP samples Poisson at q = k/N; a deployment draws the sample from the CSPRNG', () => {
  const sim = planRun(parseSimulationConfig({ clients: 50, clientsPerRound: 5, rounds: 2, privacy: { noiseMultiplier: 1 } }), { population: 50 });
  assert.deepEqual(sim.sampling, { poissonRate: 0.1 });
  assert.equal(sim.samplingRng, undefined, 'a simulation samples from the run seed');
  const server = parseServerConfig({ rounds: 2, clientsPerRound: 5, input: { numFeatures: 4, numClasses: 2 }, privacy: { noiseMultiplier: 1, populationSize: 50 } });
  const dep = planRun(server, { population: 50, deployment: true, recheck: false });
  assert.equal(dep.sampling.poissonRate, 0.1);
  assert.ok(dep.samplingRng instanceof SecureRng);
  const fixed = planRun(parseSimulationConfig({ clients: 50, clientsPerRound: 5, rounds: 2, privacy: { noiseMultiplier: 1, sampling: 'fixed' } }), { population: 50 });
  assert.equal(fixed.sampling.poissonRate, undefined);
});

test('DP with example-weighted secure sums is refused by both configs, with the same words', () => {
  const words = /secagg\.weighting = "uniform"/;
  assert.throws(() => parseSimulationConfig({ clients: 10, clientsPerRound: 5, privacy: { noiseMultiplier: 1, mode: 'distributed' }, secagg: { mode: 'secagg', weighting: 'examples' } }), words);
  assert.throws(() => parseServerConfig({ clientsPerRound: 5, input: { numFeatures: 4, numClasses: 2 }, privacy: { noiseMultiplier: 1, mode: 'distributed', populationSize: 10 }, secagg: { mode: 'secagg', weighting: 'examples' } }), words);
});

test('a claim of 10¹² examples is capped at 10× the round median, in training and in federated evaluation', () => {
  const { strategy } = planRun(parseSimulationConfig({ clients: 5, clientsPerRound: 5, rounds: 2 }), { population: 5 });
  const agg = strategy.aggregateTrain(1, zeros());
  for (let i = 0; i < 4; i++) agg.add({ clientId: `h${i}`, update: new Float32Array([1, 1, 1]), numExamples: 10, metrics: {} });
  agg.add({ clientId: 'liar', update: new Float32Array([-100, -100, -100]), numExamples: 1e12, metrics: {} });
  const r = agg.finish();
  // Median claim 10 → cap 100: (4·10·1 + 100·(−100)) / 140.
  assert.ok(Math.abs(r.params[0] - (40 - 10_000) / 140) < 1e-3, `got ${r.params[0]}`);
  assert.equal(r.metrics.weight_capped, 1);
  assert.ok(r.events?.some((e) => e.kind === 'weight-capped' && e.clientId === 'liar'));
  const ev = strategy.aggregateEvaluate(1, [
    ...[0, 1, 2, 3].map((i) => ({ clientId: `h${i}`, loss: 2, numExamples: 10, metrics: {} })),
    { clientId: 'liar', loss: 0, numExamples: 1e15, metrics: {} },
  ]);
  // Capped at 100 examples: (4·10·2 + 100·0) / 140, not ≈ 0.
  assert.ok(Math.abs(ev.loss - 80 / 140) < 1e-9, `evaluated loss ${ev.loss}`);
});

test('clients are put in natural order: c2 before c10', () => {
  assert.deepEqual(sortClientIds(['c10', 'c2', 'c1', 'b']), ['b', 'c1', 'c2', 'c10']);
  assert.ok(compareClientIds('c9', 'c10') < 0);
});

test("Flower parity: FedAdam with v₀ = 0 and Flower's bias-correction exponent", () => {
  const delta = 0.5;
  const run = (o: ConstructorParameters<typeof FedAdam>[0]) => {
    const s = new FedAdam(o);
    const agg = s.aggregateTrain(1, zeros());
    agg.add({ clientId: 'a', update: new Float32Array([delta, delta, delta]), numExamples: 1, metrics: {} });
    return agg.finish().params[0];
  };
  const b1 = 0.9, b2 = 0.99, eta = 0.1, tau = 1e-9;
  const m = (1 - b1) * delta, v = (1 - b2) * delta * delta;
  // Flower: η·√(1−β2^(t+1))/(1−β1^(t+1)) · m/(√v + τ) at t = 1, from v₀ = 0.
  const flower = ((eta * Math.sqrt(1 - b2 ** 2)) / (1 - b1 ** 2)) * (m / (Math.sqrt(v) + tau));
  assert.ok(Math.abs(run({ initialSecondMoment: 'zero', biasCorrection: 'flower' }) - flower) < 1e-5);
  // The paper: v₀ = τ², no correction.
  const paper = (eta * m) / (Math.sqrt(b2 * tau * tau + v) + tau);
  assert.ok(Math.abs(run({}) - paper) < 1e-5);
});

test('secure aggregation honours over-selection: the masked stage closes after k inputs, the rest are dropped', async () => {
  const N = 8, D = 20, sizes = Array.from({ length: N }, () => 30);
  const updates = knownUpdates(N, D, 3, 0.5);
  const { train, partitions } = indexedData(sizes);
  const run = await runSimulation({
    train,
    partitions,
    validationFraction: 0,
    createTrainer: () => new KnownUpdateTrainer(updates),
    initialParams: makeParams(new KnownUpdateTrainer(updates).layout),
    strategy: new FedAvg(),
    layers: () => [secAggClientLayer({ randomness: 'seeded', seed: 3 })],
    workflow: new SecAggWorkflow({ clippingRange: 2, threshold: 5 }),
    rounds: 1,
    seed: 3,
    sampling: { fraction: 1, minClients: 6, maxClients: 6 },
    overSelection: 0.34,
    evaluation: false,
    centralEvaluationEvery: 0,
  });
  const r = run.history[0];
  assert.equal(r.status, 'completed', r.reason);
  assert.equal(r.selected.length, 8);
  assert.equal(r.succeeded.length, 6);
  assert.equal(r.dropped.length, 2);
});

test('a noise multiplier of 0 is clipping only: ε = ∞ in the header, and a warning', () => {
  const plan = planRun(parseSimulationConfig({ clients: 20, clientsPerRound: 5, rounds: 2, privacy: { noiseMultiplier: 0 } }), { population: 20 });
  assert.equal(plan.dp?.plannedEpsilon, Infinity);
  assert.match(plan.headerLines().join('\n'), /clipping only, ε = ∞/);
  assert.equal(plan.warnings.length, 1);
  assert.match(plan.warnings[0], /no privacy guarantee/);
  const plain = planRun(parseSimulationConfig({ clients: 20, clientsPerRound: 5, rounds: 2, privacy: { noiseMultiplier: 1 } }), { population: 20 });
  assert.deepEqual(plain.warnings, []);
});
