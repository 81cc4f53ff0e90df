// PLD accountant against every forward case of the dp_accounting reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PldAccountant, discretizeSubsampledGaussian, gaussianEpsilon, pldEpsilon, pldEpsilonForDelta, subsampledGaussianDelta } from '../../src/privacy/accountant/pld.js';
import { rdpEpsilon } from '../../src/privacy/accountant/rdp.js';
import { throwsCode } from '../helpers/assertions.js';
import { describeCase, loadReference } from './reference.js';

const ref = loadReference();

test(`PLD ε matches eps_pld within max(1 % of ε, 1e-3) on all ${ref.forward.length} forward cases`, (t) => {
  let worst = 0;
  let worstRel = 0;
  for (const c of ref.forward) {
    const eps = pldEpsilon(c.q, c.sigma, c.steps, c.delta);
    const tol = Math.max(0.01 * c.eps_pld, 1e-3);
    const err = Math.abs(eps - c.eps_pld);
    assert.ok(err <= tol, `${describeCase(c)}: ε ${eps} vs ${c.eps_pld} (error ${err.toExponential(2)}, tolerance ${tol.toExponential(2)})`);
    worst = Math.max(worst, err / tol);
    worstRel = Math.max(worstRel, err / Math.max(c.eps_pld, 1e-12));
  }
  t.diagnostic(`PLD: max |Δ|/tolerance ${worst.toFixed(3)}, max relative error ${worstRel.toExponential(2)}`);
});

test('q = 1: the analytic Gaussian matches eps_exact_gaussian (dp_accounting) to 1e-6 relative', () => {
  const cases = ref.forward.filter((c) => c.eps_exact_gaussian !== undefined);
  assert.ok(cases.length > 10);
  for (const c of cases) {
    const eps = gaussianEpsilon(c.sigma, c.steps, c.delta);
    assert.ok(Math.abs(eps - c.eps_exact_gaussian!) <= 1e-6 * Math.max(1, c.eps_exact_gaussian!), `${describeCase(c)}: ${eps} vs ${c.eps_exact_gaussian}`);
  }
});

test('the discretised PLD upper-bounds δ(ε) at every grid point and holds all the mass', () => {
  for (const [q, s, dir] of [[0.01, 1, 'remove'], [0.05, 0.8, 'add'], [0.1, 2, 'remove']] as const) {
    const pld = discretizeSubsampledGaussian(q, s, dir, 1e-3);
    const total = pld.probs.reduce((a, b) => a + b, 0) + pld.infinityMass;
    assert.ok(Math.abs(total - 1) < 1e-6, `${q} ${s} ${dir}: mass ${total}`);
    // One step, no composition: ε for δ from the discrete PLD is at least the exact one.
    for (const delta of [1e-3, 1e-5]) {
      const eps = pldEpsilonForDelta(pld, delta);
      assert.ok(subsampledGaussianDelta(q, s, dir, eps) <= delta * (1 + 1e-6), `${q} ${s} ${dir} δ=${delta}: δ(ε=${eps}) exceeds δ`);
    }
  }
});

test('heterogeneous composition: PLD stays below RDP, and splitting steps changes nothing', () => {
  const mixed = new PldAccountant().compose(0.01, 1, 300).compose(0.02, 1.5, 200);
  const eps = mixed.getEpsilon(1e-5);
  const single = new PldAccountant().compose(0.01, 1, 300).getEpsilon(1e-5);
  assert.ok(eps > single);
  assert.ok(eps < rdpEpsilon(0.01, 1, 300, 1e-5).epsilon + rdpEpsilon(0.02, 1.5, 200, 1e-5).epsilon);
  const split = new PldAccountant().compose(0.01, 1, 100).compose(0.01, 1, 200).getEpsilon(1e-5);
  assert.ok(Math.abs(split - single) < 1e-12);
  assert.equal(new PldAccountant().getEpsilon(1e-5), 0);
});

test('PLD rejects bad inputs before composing anything', () => {
  throwsCode(() => new PldAccountant().compose(0.1, 0, 1), 'invalid_config', 'sigma');
  throwsCode(() => new PldAccountant().compose(2, 1, 1), 'invalid_config', 'q');
  throwsCode(() => new PldAccountant().compose(0.1, 1, 1.5), 'invalid_config', 'steps');
  throwsCode(() => new PldAccountant().compose(0.1, 1, 1).getEpsilon(0), 'invalid_config', 'delta');
  throwsCode(() => new PldAccountant({ valueDiscretizationInterval: 0 }), 'invalid_config', 'interval');
});
