// The distributed Skellam mechanism's accounting (src/privacy/accountant/skellam.ts): its RDP
// against the Gaussian it replaces, Zhu & Wang's general subsampling bound against the exact
// subsampled Gaussian, the ledger's Skellam charges through a checkpoint, and the calibration of
// the noise multiplier to a budget through a Skellam ε.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RDP_ORDERS, RdpAccountant, rdpAtOrder } from '../../src/privacy/accountant/rdp.js';
import { poissonSubsampledRdp, rdpPoissonSkellam, skellamRdp, type SkellamStep } from '../../src/privacy/accountant/skellam.js';
import { calibrateNoiseMultiplier, computeEpsilon } from '../../src/privacy/accountant/calibrate.js';
import { PrivacyLedger } from '../../src/privacy/ledger.js';
import { isFederaError } from '../../src/core/errors.js';

/** A Skellam round equivalent to a Gaussian of multiplier z at sensitivity l2 (σ² = 2μ = z²·l2²). */
const stepOf = (z: number, l2: number, d = 4096): SkellamStep => ({ mu: (z * l2) ** 2 / 2, l2, l1: l2 * Math.min(Math.sqrt(d), l2) });

test('Skellam RDP is above the Gaussian\'s α/(2z²) and tends to it as μ grows', () => {
  for (const z of [0.5, 1, 3]) {
    for (const alpha of [1.5, 2, 8, 64]) {
      const gaussian = alpha / (2 * z * z);
      const coarse = skellamRdp(alpha, stepOf(z, 20));
      const fine = skellamRdp(alpha, stepOf(z, 5000));
      assert.ok(coarse > gaussian && fine > gaussian, `z ${z}, α ${alpha}: ${coarse}, ${fine} vs ${gaussian}`);
      assert.ok(fine < coarse, 'a finer grid (larger μ for the same z) costs less');
      assert.ok((fine - gaussian) / gaussian < 1e-3, `z ${z}, α ${alpha}: ${fine} vs the Gaussian ${gaussian}`);
    }
  }
  // The count of adaptive clipping adds its α·ρ.
  assert.equal(skellamRdp(4, { ...stepOf(1, 100), countRho: 0.25 }), skellamRdp(4, stepOf(1, 100)) + 1);
});

test('Zhu–Wang\'s general bound holds above the exact subsampled Gaussian, is tight at α = 2, and is the unsampled RDP at q = 1', () => {
  for (const q of [0.001, 0.01, 0.1, 0.5]) {
    for (const z of [0.7, 1, 2]) {
      const eps = (l: number) => l / (2 * z * z);
      for (const alpha of [2, 3, 5, 16, 64]) {
        const exact = rdpAtOrder(q, z, alpha);
        const bound = poissonSubsampledRdp(q, eps, alpha);
        assert.ok(bound >= exact * (1 - 1e-9), `q ${q}, z ${z}, α ${alpha}: bound ${bound} below the exact ${exact}`);
        assert.ok(bound <= eps(alpha) + 1e-15, 'never above the unsampled RDP');
        if (alpha === 2) assert.ok(Math.abs(bound - exact) <= 1e-9 * exact, `α = 2: ${bound} vs ${exact}`);
      }
    }
  }
  assert.equal(poissonSubsampledRdp(1, (l) => 3 * l, 7), 21);
  assert.throws(() => poissonSubsampledRdp(0.1, (l) => l, 2.5), /integer ≥ 2/);
});

test('a run of Skellam rounds: ε a little above the Gaussian\'s at the same multiplier (≤ 20% at q = 0.01 over 1,000 rounds), equal to it at q = 1 in the limit', () => {
  const cases = [
    { q: 1, z: 1, steps: 10, most: 1.001 },
    { q: 0.5, z: 0.5, steps: 5, most: 1.01 },
    { q: 0.01, z: 1, steps: 1000, most: 1.2 },
  ];
  for (const c of cases) {
    const gaussian = computeEpsilon({ q: c.q, sigma: c.z, steps: c.steps, delta: 1e-5 });
    const acc = new RdpAccountant();
    acc.composeRdp(rdpPoissonSkellam(c.q, stepOf(c.z, 2000), acc.orders), c.steps);
    const skellam = acc.getEpsilon(1e-5);
    console.log(`# q ${c.q}, z ${c.z}, ${c.steps} rounds: Skellam ε ${skellam.toFixed(4)}, Gaussian ε ${gaussian.toFixed(4)}`);
    assert.ok(skellam >= gaussian * (1 - 1e-9) && skellam <= gaussian * c.most, `ε ${skellam} vs ${gaussian}`);
  }
  assert.throws(() => new RdpAccountant().composeRdp([1, 2]), new RegExp(`2 RDP values for ${DEFAULT_RDP_ORDERS.length} orders`));
});

test('the ledger charges Skellam rounds, restores them from a checkpoint, and refuses the PLD accountant for them', () => {
  const planned = stepOf(1.1, 800);
  const ledger = new PrivacyLedger({ delta: 1e-5, samplingRate: 0.1, noiseMultiplier: 1.1, mode: 'distributed', plannedSkellam: () => planned, targetEpsilon: 50 });
  const steps = [stepOf(1.1, 800), stepOf(1.1, 800), { ...stepOf(0.9, 800) }, stepOf(1.3, 810)];
  for (const [k, s] of steps.entries()) {
    const p = ledger.prepare(k + 1, Math.sqrt(2 * s.mu) / s.l2, ['a', 'b'], 0.1, s);
    ledger.commit(p);
  }
  const direct = new RdpAccountant();
  for (const s of steps) direct.composeRdp(rdpPoissonSkellam(0.1, s, direct.orders));
  assert.ok(Math.abs(ledger.epsilon - direct.getEpsilon(1e-5)) < 1e-12, `${ledger.epsilon} vs ${direct.getEpsilon(1e-5)}`);
  const state = ledger.getState();
  assert.equal(state['dp.charges'], 3, 'the two equal rounds share one charge');
  const restored = new PrivacyLedger({ delta: 1e-5, samplingRate: 0.1, noiseMultiplier: 1.1, mode: 'distributed', plannedSkellam: () => planned, targetEpsilon: 50 });
  restored.setState({ ...state });
  assert.equal(restored.epsilon, ledger.epsilon);
  assert.equal(restored.plannedEpsilon(3), ledger.plannedEpsilon(3));
  assert.ok(ledger.plannedEpsilon(3) > ledger.epsilon);
  // A Skellam state read back by a Gaussian ledger still composes Skellam (the charge says what it was).
  const gaussianRead = new PrivacyLedger({ delta: 1e-5, samplingRate: 0.1, noiseMultiplier: 1.1, mode: 'distributed' });
  gaussianRead.setState({ ...state });
  assert.equal(gaussianRead.prepare(9, 1, ['a']).epsilon > ledger.epsilon, true);
  assert.throws(
    () => new PrivacyLedger({ delta: 1e-5, samplingRate: 0.1, noiseMultiplier: 1, mode: 'distributed', accountant: 'pld', plannedSkellam: () => planned }),
    (e: unknown) => isFederaError(e) && e.code === 'invalid_config' && /privacy\.accountant "pld" .* Skellam noise, which federa accounts in RDP: set privacy\.accountant = "rdp"/.test(e.message),
  );
  assert.throws(() => ledger.prepare(10, 1, ['a'], 0.1, { mu: 0, l2: 1, l1: 1 }), /Skellam μ must be a finite number > 0/);
});

test('calibration through a Skellam ε: the smallest multiplier within the target', () => {
  const q = 0.05;
  const steps = 200;
  const epsilonOf = (z: number) => new RdpAccountant().composeRdp(rdpPoissonSkellam(q, stepOf(z, 300), DEFAULT_RDP_ORDERS), steps).getEpsilon(1e-5);
  const z = calibrateNoiseMultiplier({ q, steps, delta: 1e-5, epsilon: 3, epsilonOf });
  assert.ok(epsilonOf(z) <= 3, `ε(${z}) = ${epsilonOf(z)}`);
  assert.ok(epsilonOf(z * (1 - 1e-6)) > 3 * (1 - 1e-4), 'and not much more noise than needed');
  // The price, mostly of the general subsampling bound (the same bound on the Gaussian's own RDP needs nearly as much).
  const gaussianZ = calibrateNoiseMultiplier({ q, steps, delta: 1e-5, epsilon: 3 });
  const boundedGaussian = (zz: number) =>
    new RdpAccountant().composeRdp(Float64Array.from(DEFAULT_RDP_ORDERS, (a) => Math.min(a / (2 * zz * zz), poissonSubsampledRdp(q, (l) => l / (2 * zz * zz), Math.max(2, Math.ceil(a))))), steps).getEpsilon(1e-5);
  const boundZ = calibrateNoiseMultiplier({ q, steps, delta: 1e-5, epsilon: 3, epsilonOf: boundedGaussian });
  console.log(`# q ${q}, ${steps} rounds, ε ≤ 3: z = ${z.toFixed(4)} (Skellam, Δ₂ = 300 steps), ${boundZ.toFixed(4)} (Gaussian under the same bound), ${gaussianZ.toFixed(4)} (Gaussian, exact)`);
  assert.ok(z > boundZ && boundZ > gaussianZ, `${z}, ${boundZ}, ${gaussianZ}`);
  assert.ok(z < 1.02 * boundZ, 'the Skellam noise itself costs under 2% more than a Gaussian under the same bound');
});
