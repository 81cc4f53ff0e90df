// RDP accountant against every forward case of the dp_accounting reference (exact signed series).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RDP_ORDERS, RdpAccountant, rdpAtOrder, rdpEpsilon, rdpPoissonGaussian, rdpToEpsilon } from '../../src/privacy/accountant/rdp.js';
import { computeEpsilon } from '../../src/privacy/accountant/calibrate.js';
import { throwsCode } from '../helpers/assertions.js';
import { describeCase, loadReference } from './reference.js';

const ref = loadReference();

test('the default orders are dp_accounting DEFAULT_RDP_ORDERS, double for double', () => {
  assert.equal(DEFAULT_RDP_ORDERS.length, ref.orders.length);
  ref.orders.forEach((o, i) => assert.equal(DEFAULT_RDP_ORDERS[i], o, `order ${i}`));
});

test(`RDP ε matches eps_rdp_exact within 1e-6·max(1, ε) on all ${ref.forward.length} forward cases`, (t) => {
  let worst = 0;
  for (const c of ref.forward) {
    const { epsilon, order } = rdpEpsilon(c.q, c.sigma, c.steps, c.delta);
    const err = Math.abs(epsilon - c.eps_rdp_exact) / Math.max(1, c.eps_rdp_exact);
    assert.ok(err <= 1e-6, `${describeCase(c)}: ε ${epsilon} vs ${c.eps_rdp_exact} (rel. error ${err.toExponential(2)})`);
    assert.equal(order, c.rdp_exact_optimal_order, `${describeCase(c)}: optimal order`);
    // The library's absolute-value series is a looser bound: never below ours.
    assert.ok(c.eps_rdp >= epsilon * (1 - 1e-9), `${describeCase(c)}: eps_rdp ${c.eps_rdp} < ours ${epsilon}`);
    worst = Math.max(worst, err);
  }
  t.diagnostic(`RDP: max relative error vs eps_rdp_exact ${worst.toExponential(2)}`);
});

test('q = 1 is the plain Gaussian, α/(2σ²), and integer orders follow the binomial sum', () => {
  assert.equal(rdpAtOrder(1, 2, 8), 8 / 8);
  // A_2 = (1−q)² + 2q(1−q) + q²·e^{1/σ²} → RDP at α = 2 is log(1 + q²(e^{1/σ²} − 1)).
  const q = 0.1, s = 0.9;
  assert.ok(Math.abs(rdpAtOrder(q, s, 2) - Math.log1p(q * q * Math.expm1(1 / (s * s)))) < 1e-14);
});

test('ε grows with steps and q, falls with σ; composition adds RDP order by order', () => {
  const e = (q: number, s: number, t: number) => rdpEpsilon(q, s, t, 1e-5).epsilon;
  assert.ok(e(0.01, 1, 100) < e(0.01, 1, 1000));
  assert.ok(e(0.01, 1, 100) < e(0.02, 1, 100));
  assert.ok(e(0.01, 1.2, 100) < e(0.01, 1, 100));
  const mixed = new RdpAccountant().compose(0.01, 1, 30).compose(0.05, 2, 20).rdp();
  const a = rdpPoissonGaussian(0.01, 1);
  const b = rdpPoissonGaussian(0.05, 2);
  mixed.forEach((r, k) => assert.ok(Math.abs(r - (30 * a[k] + 20 * b[k])) <= 1e-12 * Math.max(1, r)));
  const acc = new RdpAccountant().compose(0.01, 1, 40).compose(0.01, 1, 60);
  assert.equal(acc.steps, 100);
  assert.ok(Math.abs(acc.getEpsilon(1e-5) - e(0.01, 1, 100)) < 1e-9);
});

test('rdpToEpsilon: the KL bound gives 0 for tiny RDP, orders ≤ 1.01 are unusable, result ≥ 0', () => {
  assert.equal(rdpToEpsilon([2, 3], [1e-13, 1e-13], 1e-5).epsilon, 0);
  assert.equal(rdpToEpsilon([1.005], [0.1], 1e-5).epsilon, Infinity);
  const r = rdpToEpsilon([2, 32], [0.5, 8], 1e-5);
  assert.equal(r.epsilon, Math.min(0.5 + Math.log1p(-1 / 2) - Math.log(2e-5), 8 + Math.log1p(-1 / 32) - Math.log(32e-5) / 31));
});

test('bad inputs are invalid_config errors naming the parameter', () => {
  throwsCode(() => computeEpsilon({ q: 0.01, sigma: 0, steps: 10, delta: 1e-5 }), 'invalid_config', 'sigma');
  throwsCode(() => computeEpsilon({ q: 0.01, sigma: -1, steps: 10, delta: 1e-5 }), 'invalid_config', 'sigma');
  throwsCode(() => computeEpsilon({ q: 0, sigma: 1, steps: 10, delta: 1e-5 }), 'invalid_config', 'q');
  throwsCode(() => computeEpsilon({ q: 1.5, sigma: 1, steps: 10, delta: 1e-5 }), 'invalid_config', 'q');
  throwsCode(() => computeEpsilon({ q: 0.1, sigma: 1, steps: 10, delta: 0 }), 'invalid_config', 'delta');
  throwsCode(() => computeEpsilon({ q: 0.1, sigma: 1, steps: 10, delta: 1 }), 'invalid_config', 'delta');
  throwsCode(() => computeEpsilon({ q: 0.1, sigma: 1, steps: 2.5, delta: 1e-5 }), 'invalid_config', 'steps');
  throwsCode(() => computeEpsilon({ q: 0.1, sigma: 1, steps: -3, delta: 1e-5 }), 'invalid_config', 'steps');
  throwsCode(() => computeEpsilon({ q: 0.1, sigma: Number.NaN, steps: 3, delta: 1e-5 }), 'invalid_config', 'sigma');
});
