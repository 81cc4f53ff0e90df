// erfc / erfcx / log erfc against 40-digit mpmath values; Gaussian tail helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { erfc, erfcx, logErfc, logAdd, logSub, normalIsf, normalSf } from '../../src/privacy/special.js';

// [x, log erfc(x), erfcx(x)] from mpmath (mp.dps = 40).
const MPMATH: Array<[number, number, number]> = [
  [-5.0, 0.69314718055917658, 144009798674.66104],
  [-1.2, 0.6472676150562196, 8.062854217063865],
  [0.0, 0.0, 1.0],
  [0.3, -0.39843005144008527, 0.73459933456765515],
  [1.0, -1.8496055099332482, 0.427583576155807],
  [1.49, -3.3494933196824849, 0.32322929380082385],
  [1.51, -3.4196693873666082, 0.31995676958333284],
  [2.5, -7.8068152727272644, 0.21080636406114358],
  [6.0, -38.377561173223388, 0.092776567800538354],
  [11.9, -144.66240352994079, 0.047245232484087669],
  [12.1, -149.47895678567702, 0.046469607339835012],
  [30.0, -903.97411711064388, 0.018795888861416751],
  [200.0, -40005.870694809082, 0.0028209126572120464],
];

test('erfc, erfcx and log erfc agree with mpmath to 1e-14 relative over the whole range', () => {
  for (const [x, logE, ex] of MPMATH) {
    assert.ok(Math.abs(logErfc(x) - logE) <= 1e-14 * Math.max(1, Math.abs(logE)), `logErfc(${x}) = ${logErfc(x)} vs ${logE}`);
    assert.ok(Math.abs(erfcx(x) / ex - 1) <= 1e-14, `erfcx(${x}) = ${erfcx(x)} vs ${ex}`);
    if (x < 26) assert.ok(Math.abs(erfc(x) / Math.exp(logE) - 1) <= 1e-13, `erfc(${x})`);
  }
  assert.equal(erfc(-Infinity), 2);
  assert.equal(logErfc(Infinity), -Infinity);
});

test('log-space helpers and the inverse normal tail', () => {
  assert.ok(Math.abs(logAdd(Math.log(3), Math.log(5)) - Math.log(8)) < 1e-15);
  assert.ok(Math.abs(logSub(Math.log(5), Math.log(3)) - Math.log(2)) < 1e-15);
  assert.ok(Number.isNaN(logSub(1, 2)));
  assert.equal(logSub(1, 1), -Infinity);
  assert.equal(logAdd(-Infinity, 2), 2);
  for (const p of [1e-22, 1e-9, 0.025, 0.5, 0.9]) {
    const t = normalIsf(p);
    assert.ok(Math.abs(normalSf(t) / p - 1) < 1e-12, `normalIsf(${p})`);
  }
  assert.ok(Math.abs(normalIsf(0.025) - 1.959963984540054) < 1e-12);
});
