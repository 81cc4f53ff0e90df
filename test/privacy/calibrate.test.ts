// The inverse problem (smallest σ for a target ε) against the reference's inverse cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calibrateNoiseMultiplier, computeEpsilon } from '../../src/privacy/accountant/calibrate.js';
import { throwsCode } from '../helpers/assertions.js';
import { describeCase, loadReference } from './reference.js';

const ref = loadReference();

test(`RDP: σ within 1e-6 relative of sigma_rdp_exact on all ${ref.inverse.length} inverse cases, and ε(σ) ≤ target`, (t) => {
  let worst = 0;
  for (const c of ref.inverse) {
    const sigma = calibrateNoiseMultiplier({ q: c.q, steps: c.steps, delta: c.delta, epsilon: c.target_eps, accountant: 'rdp' });
    const rel = Math.abs(sigma / c.sigma_rdp_exact - 1);
    assert.ok(rel <= 1e-6, `${describeCase(c)}: σ ${sigma} vs ${c.sigma_rdp_exact} (rel. ${rel.toExponential(2)})`);
    assert.ok(computeEpsilon({ q: c.q, sigma, steps: c.steps, delta: c.delta }) <= c.target_eps, `${describeCase(c)}: ε(σ) above target`);
    // Smallest: 1e-6 less noise already exceeds the target.
    assert.ok(computeEpsilon({ q: c.q, sigma: sigma * (1 - 1e-6), steps: c.steps, delta: c.delta }) > c.target_eps, `${describeCase(c)}: not the smallest σ`);
    worst = Math.max(worst, rel);
  }
  t.diagnostic(`RDP σ: max relative error vs sigma_rdp_exact ${worst.toExponential(2)}`);
});

test(`PLD: σ within 1 % of sigma_pld on all ${ref.inverse.length} inverse cases, and ε(σ) ≤ target`, (t) => {
  let worst = 0;
  for (const c of ref.inverse) {
    const sigma = calibrateNoiseMultiplier({ q: c.q, steps: c.steps, delta: c.delta, epsilon: c.target_eps, accountant: 'pld' });
    const rel = Math.abs(sigma / c.sigma_pld - 1);
    assert.ok(rel <= 0.01, `${describeCase(c)}: σ ${sigma} vs ${c.sigma_pld} (rel. ${rel.toExponential(2)})`);
    assert.ok(computeEpsilon({ q: c.q, sigma, steps: c.steps, delta: c.delta, accountant: 'pld' }) <= c.target_eps);
    worst = Math.max(worst, rel);
  }
  t.diagnostic(`PLD σ: max relative error vs sigma_pld ${worst.toExponential(2)}`);
});

test('calibration refuses bad input and an unreachable target', () => {
  throwsCode(() => calibrateNoiseMultiplier({ q: 0.1, steps: 10, delta: 1e-5, epsilon: 0 }), 'invalid_config', 'epsilon');
  throwsCode(() => calibrateNoiseMultiplier({ q: 0.1, steps: 10, delta: 1e-5, epsilon: -1 }), 'invalid_config', 'epsilon');
  throwsCode(() => calibrateNoiseMultiplier({ q: 1.1, steps: 10, delta: 1e-5, epsilon: 1 }), 'invalid_config', 'q');
  throwsCode(() => calibrateNoiseMultiplier({ q: 0.1, steps: 0, delta: 1e-5, epsilon: 1 }), 'invalid_config', 'steps');
  throwsCode(() => calibrateNoiseMultiplier({ q: 0.1, steps: 10, delta: 2, epsilon: 1 }), 'invalid_config', 'delta');
  throwsCode(() => calibrateNoiseMultiplier({ q: 1, steps: 1e9, delta: 1e-10, epsilon: 1e-6 }), 'invalid_config', 'out of reach');
});
