// DP-FedAvg (central, distributed, local; fixed and adaptive clipping) on the real round engine,
// with trainers whose update is a fixed vector per client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundEngine } from '../../src/engine/engine.js';
import { InMemoryGrid, type MessageHandler } from '../../src/transport/memory.js';
import { ClientRuntime, type ClientLayer } from '../../src/client/runtime.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { makeParams, ParamLayout } from '../../src/core/params.js';
import { Rng } from '../../src/core/rng.js';
import { l2Norm } from '../../src/core/kernels.js';
import type { Trainer, FitOutcome } from '../../src/client/trainer.js';
import type { Dataset } from '../../src/data/dataset.js';
import type { Strategy, TrainAggregation } from '../../src/strategy/strategy.js';
import { DpFedAvg, updateNoiseMultiplier, type DpFedAvgOptions } from '../../src/aggregate/dp-fedavg.js';
import { dpClientLayer } from '../../src/privacy/client-layer.js';
import { rdpEpsilon } from '../../src/privacy/accountant/rdp.js';
import { computeEpsilon } from '../../src/privacy/accountant/calibrate.js';
import { throwsCode } from '../helpers/assertions.js';
import { sizedDataset } from '../helpers/fake-trainer.js';

/** fit() moves the parameters by a fixed vector: update = delta, whatever the data. */
class FixedUpdateTrainer implements Trainer {
  readonly layout: ParamLayout;
  private w: Float32Array;
  constructor(private readonly delta: Float32Array, private readonly examples: number) {
    this.layout = ParamLayout.fromShapes([{ name: 'w', shape: [delta.length] }]);
    this.w = new Float32Array(delta.length);
  }
  getParameters(out?: Float32Array): Float32Array {
    const o = out ?? new Float32Array(this.w.length);
    o.set(this.w);
    return o;
  }
  setParameters(p: Float32Array): void {
    this.w = p.slice();
  }
  async fit(_data: Dataset): Promise<FitOutcome> {
    for (let i = 0; i < this.w.length; i++) this.w[i] += this.delta[i];
    return { numExamples: this.examples, metrics: { loss: 1 } };
  }
  async evaluate(data: Dataset) {
    return { loss: 0, numExamples: data.y.length, metrics: {} };
  }
  dispose(): void {}
}

/** A vector of length d and L2 norm `norm`, in a direction fixed by `seed`. */
function vectorWithNorm(d: number, norm: number, seed: string): Float32Array {
  const rng = new Rng(seed);
  const v = Float32Array.from({ length: d }, () => rng.normal());
  const s = norm / l2Norm(v);
  for (let i = 0; i < d; i++) v[i] *= s;
  return v;
}

interface FleetOptions {
  layers?: readonly ClientLayer[];
  examples?: (i: number) => number;
  fail?: (i: number) => boolean;
}

function fleet(n: number, delta: (i: number) => Float32Array, o: FleetOptions = {}): Map<string, MessageHandler> {
  const m = new Map<string, MessageHandler>();
  for (let i = 0; i < n; i++) {
    const id = `c${String(i).padStart(2, '0')}`;
    const rt = new ClientRuntime({ clientId: id, trainer: new FixedUpdateTrainer(delta(i), o.examples?.(i) ?? 10), data: { train: sizedDataset(10) }, layers: o.layers });
    m.set(id, o.fail?.(i) ? async () => { throw new Error('dropped out'); } : (msg) => rt.handle(msg));
  }
  return m;
}

/** FedAvg that keeps a copy of the (single, DP) update it is given each round. */
class Capture extends FedAvg {
  readonly updates: Float32Array[] = [];
  override aggregateTrain(round: number, global: Parameters<FedAvg['aggregateTrain']>[1]): TrainAggregation {
    const inner = super.aggregateTrain(round, global);
    return { ...inner, add: (r) => (this.updates.push(r.update.slice()), inner.add(r)), get accepted() { return inner.accepted; }, finish: () => inner.finish() };
  }
}

async function run(strategy: Strategy, grid: Map<string, MessageHandler>, d: number, rounds: number, extra: { clientsPerRound?: number; signal?: AbortSignal; onRound?: () => void } = {}) {
  const layout = ParamLayout.fromShapes([{ name: 'w', shape: [d] }]);
  const engine = new RoundEngine({
    grid: new InMemoryGrid(grid),
    strategy,
    initialParams: makeParams(layout, new Float32Array(d)),
    rounds,
    seed: 5,
    sampling: { fraction: (extra.clientsPerRound ?? grid.size) / grid.size, minClients: 1 },
    evaluation: false,
    signal: extra.signal,
    onRound: extra.onRound,
  });
  return engine.run();
}

const base = (o: Partial<DpFedAvgOptions> & { clientsPerRound: number; populationSize: number }): DpFedAvgOptions => ({
  clipNorm: 1,
  noiseMultiplier: 1.1,
  delta: 1e-5,
  noiseRng: new Rng('server-noise'),
  ...o,
});

test('every round records ε, equal to the accountant for (q = m/N, σ, rounds so far)', async () => {
  const dp = new DpFedAvg(new FedAvg(), base({ clientsPerRound: 5, populationSize: 20 }));
  const { history } = await run(dp, fleet(20, (i) => vectorWithNorm(8, 0.5 + i * 0.1, `u${i}`)), 8, 4, { clientsPerRound: 5 });
  assert.equal(history.length, 4);
  history.forEach((r, k) => {
    assert.equal(r.status, 'completed');
    assert.ok(r.privacy, `round ${r.round} has no privacy record`);
    assert.equal(r.privacy.samplingRate, 0.25);
    assert.equal(r.privacy.steps, k + 1);
    assert.equal(r.privacy.delta, 1e-5);
    assert.ok(Math.abs(r.privacy.epsilon - rdpEpsilon(0.25, 1.1, k + 1, 1e-5).epsilon) < 1e-12);
    assert.ok(!Object.keys(r.train?.metrics ?? {}).some((key) => key.startsWith('dp.')), 'DP metrics must not reach the history');
    assert.equal(r.train?.metrics.loss, 1);
  });
  assert.ok(history[3].privacy!.epsilon > history[0].privacy!.epsilon);
  assert.equal(dp.epsilon, history[3].privacy!.epsilon);
});

test('central: the server clips every update to C even without the client layer; equal weights, fixed denominator m', async () => {
  const d = 64;
  const inner = new Capture();
  // Norms 3…30 ≫ C = 1; example counts 1 … 10000 must not matter.
  const dp = new DpFedAvg(inner, base({ clientsPerRound: 4, populationSize: 4, noiseMultiplier: 1e-9 }));
  const deltas = [0, 1, 2, 3].map((i) => vectorWithNorm(d, 3 * 10 ** (i / 3), `big${i}`));
  await run(dp, fleet(4, (i) => deltas[i], { examples: (i) => 10 ** i }), d, 1);
  const expected = new Float64Array(d);
  for (const v of deltas) {
    const n = l2Norm(v);
    for (let j = 0; j < d; j++) expected[j] += v[j] / n / 4; // each clipped to norm 1, divided by m = 4
  }
  const got = inner.updates[0];
  for (let j = 0; j < d; j++) assert.ok(Math.abs(got[j] - expected[j]) < 1e-5, `coordinate ${j}: ${got[j]} vs ${expected[j]}`);
  assert.ok(l2Norm(got) <= 1 + 1e-6);
});

test('the client layer clips every update it sends to norm ≤ C and reports whether it had to', async () => {
  const d = 32;
  const replies: Array<{ norm: number; centred: number }> = [];
  const spy: ClientLayer = (next) => async (m) => {
    const r = await next(m);
    if (r.type === 'train_result') {
      const t = r as unknown as { update: Float32Array; metrics: Record<string, number> };
      replies.push({ norm: l2Norm(t.update), centred: t.metrics['dp.unclippedCentered'] });
    }
    return r;
  };
  const dp = new DpFedAvg(new FedAvg(), base({ clientsPerRound: 10, populationSize: 10, clipNorm: 2 }));
  await run(dp, fleet(10, (i) => vectorWithNorm(d, 0.5 * i + 0.25, `n${i}`), { layers: [spy, dpClientLayer({ noise: 'seeded' })] }), d, 1);
  assert.equal(replies.length, 10);
  for (const r of replies) assert.ok(r.norm <= 2 + 1e-9, `norm ${r.norm}`);
  // Norms 0.25, 0.75, …, 4.75 against C = 2: four fit, six are clipped.
  assert.deepEqual(replies.map((r) => r.centred).sort(), [-0.5, -0.5, -0.5, -0.5, -0.5, -0.5, 0.5, 0.5, 0.5, 0.5]);
});

/** Noise on the DP average with zero updates: its empirical std, over d coordinates. */
async function noiseStd(mode: 'central' | 'distributed' | 'local', m: number, sigma: number, C: number, d: number): Promise<number> {
  const inner = new Capture();
  const dp = new DpFedAvg(inner, base({ clientsPerRound: m, populationSize: m, noiseMultiplier: sigma, clipNorm: C, mode }));
  await run(dp, fleet(m, () => new Float32Array(d), { layers: [dpClientLayer({ noise: 'seeded' })] }), d, 1);
  const u = inner.updates[0];
  let s = 0;
  for (const v of u) s += v * v;
  return Math.sqrt(s / d);
}

test('noise on the average: σC/m central, the same summed over m clients in distributed mode, σC/√m local', async () => {
  // d = 40,000 coordinates: the relative standard error of an empirical std is 1/√(2d) = 0.35 %;
  // each check allows 5 of them.
  const d = 40_000, m = 8, sigma = 1.5, C = 0.4;
  const tol = 5 / Math.sqrt(2 * d);
  const central = await noiseStd('central', m, sigma, C, d);
  const distributed = await noiseStd('distributed', m, sigma, C, d);
  const local = await noiseStd('local', m, sigma, C, d);
  assert.ok(Math.abs(central / ((sigma * C) / m) - 1) < tol, `central ${central}`);
  assert.ok(Math.abs(distributed / ((sigma * C) / m) - 1) < tol, `distributed ${distributed}`);
  assert.ok(Math.abs(distributed / central - 1) < 2 * tol, `distributed/central ${distributed / central}`);
  assert.ok(Math.abs(local / ((sigma * C) / Math.sqrt(m)) - 1) < tol, `local ${local}`);
});

test('distributed mode needs the client layer: replies without noise are rejected', async () => {
  const dp = new DpFedAvg(new FedAvg(), base({ clientsPerRound: 3, populationSize: 3, mode: 'distributed' }));
  const { history } = await run(dp, fleet(3, () => new Float32Array(4)), 4, 1);
  assert.equal(history[0].status, 'skipped');
  assert.equal(history[0].failed.length, 3);
  assert.ok(history[0].failed.every((f) => f.code.includes('malformed_message') && f.reason.includes('dpClientLayer')), JSON.stringify(history[0].failed));
  assert.equal(dp.roundsCharged, 0);
});

/** Updates of norm `norm(i)` for 10 clients, all selected each round; adaptive clipping with little noise. */
async function adaptiveRun(norm: (i: number) => number, rounds: number, clipNorm: number) {
  const adaptive = { targetQuantile: 0.5, clipLearningRate: 0.2, countNoiseMultiplier: 0.05 };
  const dp = new DpFedAvg(new FedAvg(), base({ clientsPerRound: 10, populationSize: 10, noiseMultiplier: 0.05, clipNorm, adaptive }));
  const { history } = await run(dp, fleet(10, (i) => vectorWithNorm(16, norm(i), `a${i}`), { layers: [dpClientLayer({ noise: 'seeded' })] }), 16, rounds);
  return { dp, history };
}

test('adaptive clipping: with every update shorter than C, C shrinks by exp(−η(b̃ − γ)), b̃ the noisy fraction NOT clipped', async () => {
  const { history, dp } = await adaptiveRun(() => 0.1, 5, 4);
  let prev = 4;
  for (const r of history) {
    const p = r.privacy!;
    assert.equal(p.clipNorm, prev);
    // All fit: b̃ ≈ 1 (count noise std 0.05/10).
    assert.ok(Math.abs(p.unclippedFraction - 1) < 0.03, `b̃ ${p.unclippedFraction}`);
    assert.ok(Math.abs(p.nextClipNorm - prev * Math.exp(-0.2 * (p.unclippedFraction - 0.5))) < 1e-12 * prev);
    assert.ok(p.nextClipNorm < prev, 'C must decrease');
    prev = p.nextClipNorm;
  }
  assert.equal(dp.clipNorm, prev);
  assert.ok(prev < 4 * Math.exp(-0.2 * 0.5 * 5 * 0.9));
});

test('adaptive clipping: with every update longer than C, C grows; with spread norms it settles near the median', async () => {
  const up = await adaptiveRun(() => 50, 4, 1);
  up.history.forEach((r) => assert.ok(r.privacy!.nextClipNorm > r.privacy!.clipNorm && r.privacy!.unclippedFraction < 0.03));
  // Norms 1, 2, …, 10: the median lies between 5 and 6.
  const spread = await adaptiveRun((i) => i + 1, 60, 1);
  const finalC = spread.dp.clipNorm;
  assert.ok(finalC > 4 && finalC < 7.5, `C after 60 rounds: ${finalC}`);
});

test('adaptive clipping charges the combined multiplier: update noise z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2), ε as for z', async () => {
  const z = 1, sb = 2;
  const zDelta = updateNoiseMultiplier(z, sb);
  assert.ok(Math.abs(zDelta - 1 / Math.sqrt(1 - 1 / 16)) < 1e-12);
  const dp = new DpFedAvg(new FedAvg(), base({ clientsPerRound: 5, populationSize: 50, noiseMultiplier: z, adaptive: { targetQuantile: 0.5, clipLearningRate: 0.2, countNoiseMultiplier: sb } }));
  assert.equal(dp.updateNoiseMultiplier, zDelta);
  const { history } = await run(dp, fleet(50, (i) => vectorWithNorm(4, 1, `c${i}`)), 4, 2, { clientsPerRound: 5 });
  assert.ok(Math.abs(history[1].privacy!.epsilon - rdpEpsilon(0.1, z, 2, 1e-5).epsilon) < 1e-12);
  assert.equal(history[0].privacy!.noiseMultiplier, z);
  throwsCode(() => updateNoiseMultiplier(1, 0.5), 'invalid_config', 'countNoiseMultiplier');
});

test('local mode reports the local guarantee of the busiest client (Gaussian, sensitivity 2C, no amplification)', async () => {
  const dp = new DpFedAvg(new FedAvg(), base({ clientsPerRound: 2, populationSize: 2, mode: 'local', noiseMultiplier: 4 }));
  const { history } = await run(dp, fleet(2, () => new Float32Array(4), { layers: [dpClientLayer({ noise: 'seeded' })] }), 4, 3);
  history.forEach((r, k) => {
    assert.ok(Math.abs(r.privacy!.epsilon - computeEpsilon({ q: 1, sigma: 2, steps: k + 1, delta: 1e-5 })) < 1e-12);
    assert.ok(Math.abs(r.privacy!.centralEpsilon - rdpEpsilon(1, 4, k + 1, 1e-5).epsilon) < 1e-12);
  });
});

test('a budget: a plan above it is refused; the run stops before the round that would exceed it', async () => {
  const target = rdpEpsilon(0.5, 1, 3, 1e-5).epsilon * (1 + 1e-9);
  throwsCode(() => new DpFedAvg(new FedAvg(), base({ clientsPerRound: 2, populationSize: 4, noiseMultiplier: 1, targetEpsilon: target, plannedRounds: 4 })), 'invalid_config', 'above the target');
  const dp = new DpFedAvg(new FedAvg(), base({ clientsPerRound: 2, populationSize: 4, noiseMultiplier: 1, targetEpsilon: target, plannedRounds: 3 }));
  const controller = new AbortController();
  const { history } = await run(dp, fleet(4, () => vectorWithNorm(4, 1, 'x')), 4, 10, {
    clientsPerRound: 2,
    signal: controller.signal,
    onRound: () => {
      if (!dp.canRunRound()) controller.abort();
    },
  });
  assert.equal(history.length, 3);
  assert.ok(history.every((r) => r.status === 'completed'));
  assert.ok(dp.epsilon <= target);
  // Without the stop, the strategy itself refuses to configure a round over the budget.
  assert.throws(() => dp.configureTrain(4, makeParams(ParamLayout.fromShapes([{ name: 'w', shape: [4] }]), new Float32Array(4))), /privacy budget/);
});

test('distributed mode with dropouts: less noise is charged, and a release over the budget is refused, nothing released', async () => {
  // The target allows one round at full participation; with one of four clients missing the sum
  // carries only 3/4 of the noise variance, so the round would cost more.
  const target = rdpEpsilon(1, 1, 1, 1e-5).epsilon * (1 + 1e-9);
  const dp = new DpFedAvg(new FedAvg(), base({ clientsPerRound: 4, populationSize: 4, noiseMultiplier: 1, mode: 'distributed', targetEpsilon: target }));
  const { history, params } = await run(dp, fleet(4, () => vectorWithNorm(4, 1, 'y'), { layers: [dpClientLayer({ noise: 'seeded' })], fail: (i) => i === 0 }), 4, 1);
  assert.equal(history[0].status, 'skipped');
  assert.match(history[0].reason ?? '', /privacy budget/);
  assert.deepEqual([...params.data], [0, 0, 0, 0]);
  assert.equal(dp.roundsCharged, 0);
  // Without a budget the same round completes and is charged σ·√(3/4).
  const free = new DpFedAvg(new FedAvg(), base({ clientsPerRound: 4, populationSize: 4, noiseMultiplier: 1, mode: 'distributed' }));
  const r = await run(free, fleet(4, () => vectorWithNorm(4, 1, 'y'), { layers: [dpClientLayer({ noise: 'seeded' })], fail: (i) => i === 0 }), 4, 1);
  assert.ok(Math.abs(r.history[0].privacy!.noiseMultiplier - Math.sqrt(3 / 4)) < 1e-12);
});

test('more results than clientsPerRound would understate q: the round is refused', async () => {
  const dp = new DpFedAvg(new FedAvg(), base({ clientsPerRound: 2, populationSize: 6 }));
  const { history } = await run(dp, fleet(6, () => vectorWithNorm(4, 1, 'z')), 4, 1, { clientsPerRound: 4 });
  assert.equal(history[0].status, 'skipped');
  assert.match(history[0].reason ?? '', /understated/);
});

test('bad DP-FedAvg options are invalid_config errors', () => {
  const ok = { clientsPerRound: 2, populationSize: 4 };
  throwsCode(() => new DpFedAvg(new FedAvg(), base({ ...ok, noiseMultiplier: -1 })), 'invalid_config', 'noiseMultiplier');
  // σ = 0 is clipping only: accepted, and no finite ε is claimed.
  assert.equal(new DpFedAvg(new FedAvg(), base({ ...ok, noiseMultiplier: 0 })).plannedEpsilon(1), Infinity);
  throwsCode(() => new DpFedAvg(new FedAvg(), base({ ...ok, noiseMultiplier: 0, targetEpsilon: 10, plannedRounds: 1 })), 'invalid_config', 'above the target');
  throwsCode(() => new DpFedAvg(new FedAvg(), base({ ...ok, clipNorm: -1 })), 'invalid_config', 'clipNorm');
  throwsCode(() => new DpFedAvg(new FedAvg(), base({ ...ok, delta: 1 })), 'invalid_config', 'delta');
  throwsCode(() => new DpFedAvg(new FedAvg(), base({ clientsPerRound: 5, populationSize: 4 })), 'invalid_config', 'clientsPerRound');
  throwsCode(() => new DpFedAvg(new FedAvg(), base({ ...ok, mode: 'global' as never })), 'invalid_config', 'mode');
  throwsCode(() => new DpFedAvg(new FedAvg(), base({ ...ok, targetEpsilon: 0 })), 'invalid_config', 'targetEpsilon');
  throwsCode(() => new DpFedAvg(new FedAvg(), base({ ...ok, adaptive: { targetQuantile: 1, clipLearningRate: 0.2, countNoiseMultiplier: 5 } })), 'invalid_config', 'targetQuantile');
});

test('checkpoint state carries the accountant: a restored DP-FedAvg keeps counting ε where it stopped (all three modes)', async () => {
  for (const mode of ['central', 'distributed', 'local'] as const) {
    const o = base({ clientsPerRound: 3, populationSize: 6, mode, noiseMultiplier: 1.3 });
    const layers = mode === 'central' ? undefined : [dpClientLayer({ noise: 'seeded' })];
    // Client c00 drops out of its first round (distributed: a smaller multiplier is charged then).
    const grid = () => {
      const g = fleet(6, (i) => vectorWithNorm(4, 1, `s${i}`), { layers });
      const handler = g.get('c00')!;
      let dropped = false;
      g.set('c00', async (m) => {
        if (!dropped) {
          dropped = true;
          throw new Error('dropped out');
        }
        return handler(m);
      });
      return g;
    };
    const whole = new DpFedAvg(new FedAvg(), o);
    const all = await run(whole, grid(), 4, 5, { clientsPerRound: 3 });
    assert.ok(all.history.every((r) => r.status === 'completed'));

    const g = grid();
    const first = new DpFedAvg(new FedAvg(), o);
    await run(first, g, 4, 3, { clientsPerRound: 3 });
    const state = first.getState();
    assert.equal(state['dp.epsilonSpent'], first.epsilon);
    const restored = new DpFedAvg(new FedAvg(), o);
    restored.setState(state);
    assert.equal(restored.roundsCharged, 3, `${mode}: rounds charged after restore`);
    assert.equal(restored.epsilon, first.epsilon);
    assert.deepEqual(restored.getState(), state, `${mode}: the state round-trips`);
    if (mode === 'local') {
      // Local ε follows the busiest client: its participation counts are part of the state.
      const counts = Object.entries(state).filter(([k]) => k.startsWith('dp.participation.'));
      assert.equal(counts.reduce((a, [, v]) => a + (v as number), 0), 3 * 3 - 1, 'participations of 3 rounds of 3 clients, one dropped');
      continue;
    }
    // Two more rounds from the restored state: ε equals the uninterrupted run's after five
    // (central and distributed ε depend on q and the multipliers charged, not on who took part).
    const rest = await run(restored, g, 4, 2, { clientsPerRound: 3 });
    const got = rest.history[1].privacy!.epsilon;
    const want = all.history[4].privacy!.epsilon;
    assert.ok(Math.abs(got - want) <= 1e-9 * want, `${mode}: ε ${got} after restore vs ${want} uninterrupted`);
    // Without the state the count would restart: two rounds alone cost less.
    const fresh = await run(new DpFedAvg(new FedAvg(), o), grid(), 4, 2, { clientsPerRound: 3 });
    assert.ok(fresh.history[1].privacy!.epsilon < want * 0.9, `${mode}: a fresh strategy forgets`);
    // Malformed state is refused with the key named.
    throwsCode(() => new DpFedAvg(new FedAvg(), o).setState({ ...state, 'dp.charges.0.sigma': Number.NaN }), 'invalid_config', 'dp.charges.0.sigma');
  }
});
