// Tests for the numeric kernels (src/core/kernels.ts).
//
// kernels.ts reads FEDERA_NO_WASM once, at module load. This file therefore runs twice: in the
// test process (WebAssembly SIMD path) and, from the last test, in a child process started with
// FEDERA_NO_WASM=1 (plain JS fallback). Every test registered with `shared()` runs in both; the
// parent checks that the child passed all of them and that both paths agree bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import {
  WeightedSum,
  simdKernelsAvailable,
  subtract,
  axpy,
  l2Norm,
  findNonFinite,
  assertFinite,
} from '../../src/core/kernels.js';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';
import { throwsCode } from '../helpers/assertions.js';

const FALLBACK = process.env.FEDERA_NO_WASM === '1';
const PATH = FALLBACK ? 'js' : 'wasm';
let sharedCount = 0;
function shared(name: string, fn: () => void): void {
  sharedCount++;
  test(`[${PATH}] ${name}`, fn);
}


/** Hex of the raw bytes: equality means bit-identical (distinguishes -0 from 0, NaN payloads). */
function bits(a: Float32Array | Float64Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
}

const f32 = (values: number[]) => Float32Array.from(values);
const fround = (values: number[]) => Float32Array.from(values.map(Math.fround));

shared('kernel path matches FEDERA_NO_WASM', () => {
  assert.equal(simdKernelsAvailable(), !FALLBACK);
});

// ---- Hand-computed sums --------------------------------------------------------------------

// Three length-5 vectors with weights 1, 2, 3:
//   a = [ 1,  2,    3, 4,  5]   (w = 1)
//   b = [0.5, -1,   2, 0, 10]   (w = 2)
//   c = [-1,  0.25, 1, 3, -2]   (w = 3)
//   Σ wx: i0 = 1 + 1 − 3 = −1;  i1 = 2 − 2 + 0.75 = 0.75;  i2 = 3 + 4 + 3 = 10;
//         i3 = 4 + 0 + 9 = 13;  i4 = 5 + 20 − 6 = 19.        Σ w = 6.
const A5 = f32([1, 2, 3, 4, 5]);
const B5 = f32([0.5, -1, 2, 0, 10]);
const C5 = f32([-1, 0.25, 1, 3, -2]);

shared('sum / mean / meanPlus of 3 vectors of length 5, weights 1, 2, 3', () => {
  const ws = new WeightedSum(5);
  assert.equal(ws.size, 5);
  ws.add(A5, 1);
  ws.add(B5, 2);
  ws.add(C5, 3);
  assert.equal(ws.count, 3);
  assert.equal(ws.totalWeight, 6);
  assert.deepEqual(ws.sum(), Float64Array.from([-1, 0.75, 10, 13, 19]));
  // mean = Σ wx / 6, rounded once to float32.
  assert.deepEqual(ws.mean(), fround([-1 / 6, 0.75 / 6, 10 / 6, 13 / 6, 19 / 6]));
  // meanPlus(base) = f32(base + Σ wx / 6), base = [10, −20, 0.5, 0, 100].
  const base = f32([10, -20, 0.5, 0, 100]);
  assert.deepEqual(ws.meanPlus(base), fround([10 - 1 / 6, -20 + 0.125, 0.5 + 10 / 6, 13 / 6, 100 + 19 / 6]));
  assert.deepEqual(base, f32([10, -20, 0.5, 0, 100]), 'meanPlus does not modify base');
  // meanPlus(null) is mean(); reading the result twice gives the same values (no state consumed).
  assert.deepEqual(ws.meanPlus(null), ws.mean());
  assert.deepEqual(ws.sum(), Float64Array.from([-1, 0.75, 10, 13, 19]));
});

// Length 37 = 4 blocks of 8 (SIMD loop) + a tail of 5 (scalar loop); the fold kernel does 9
// blocks of 4 + 1. With
//   a[i] = i              (w = 1)
//   b[i] = i/2 − 3        (w = 2)  → 2·b[i] = i − 6
//   c[i] = (i mod 4) − 1.5 (w = 3) → 3·c[i] = 3·(i mod 4) − 4.5
// Σ wx[i] = i + (i − 6) + 3·(i mod 4) − 4.5 = 2i + 3·(i mod 4) − 10.5, e.g.
//   i=0: −10.5   i=1: 2 + 3 − 10.5 = −5.5   i=31: 62 + 9 − 10.5 = 60.5
//   i=32: 64 + 0 − 10.5 = 53.5   i=35: 70 + 9 − 10.5 = 68.5   i=36: 72 − 10.5 = 61.5
// (all multiples of 0.5 far below 2^23: exact in float32 at every step).
const N37 = 37;
const A37 = Float32Array.from({ length: N37 }, (_, i) => i);
const B37 = Float32Array.from({ length: N37 }, (_, i) => i / 2 - 3);
const C37 = Float32Array.from({ length: N37 }, (_, i) => (i % 4) - 1.5);
const SUM37 = Array.from({ length: N37 }, (_, i) => 2 * i + 3 * (i % 4) - 10.5);

shared('sum / mean / meanPlus of 3 vectors of length 37 (SIMD blocks and scalar tail)', () => {
  const ws = new WeightedSum(N37);
  ws.add(A37, 1);
  ws.add(B37, 2);
  ws.add(C37, 3);
  const sum = ws.sum();
  assert.deepEqual(sum, Float64Array.from(SUM37));
  assert.equal(sum[0], -10.5);
  assert.equal(sum[1], -5.5);
  assert.equal(sum[31], 60.5);
  assert.equal(sum[32], 53.5);
  assert.equal(sum[35], 68.5);
  assert.equal(sum[36], 61.5);
  assert.deepEqual(ws.mean(), fround(SUM37.map((s) => s / 6)));
  const base = Float32Array.from({ length: N37 }, (_, i) => 100 - i);
  assert.deepEqual(ws.meanPlus(base), fround(SUM37.map((s, i) => 100 - i + s / 6)));
});

shared('a sum read mid-stream keeps accumulating correctly', () => {
  const ws = new WeightedSum(N37);
  ws.add(A37, 1);
  assert.deepEqual(ws.sum(), Float64Array.from(A37));
  ws.add(B37, 2);
  ws.add(C37, 3);
  assert.deepEqual(ws.sum(), Float64Array.from(SUM37));
});

// ---- Two-level accumulation ----------------------------------------------------------------

shared('two-level accumulation: float32 partial sums of 32 inputs folded into float64', () => {
  // Add [2^24, …] once, then [1, …] 95 times (96 adds, weight 1), in every lane of a length-37
  // vector. 2^24 + 1 is not a float32: it is halfway between 2^24 and 2^24 + 2 and rounds to
  // the even 2^24. So:
  //   partial 1 = adds 1–32:  2^24 (+1 lost 31 times) = 2^24  → folded: total = 2^24
  //   partial 2 = adds 33–64: 32 ones = 32 (exact)          → total = 2^24 + 32
  //   partial 3 = adds 65–96: 32 ones = 32                  → total = 2^24 + 64 = 16777280
  // A plain float32 accumulator would give 2^24 = 16777216; a float64 one 2^24 + 95 = 16777311.
  const ws = new WeightedSum(N37);
  ws.add(new Float32Array(N37).fill(2 ** 24), 1);
  const ones = new Float32Array(N37).fill(1);
  for (let t = 0; t < 95; t++) ws.add(ones, 1);
  assert.equal(ws.count, 96);
  assert.deepEqual(ws.sum(), new Float64Array(N37).fill(16777280));
});

shared('two-level accumulation stays within its error bound of a float64 reference (1000+ adds)', () => {
  // Error bound: each float32 partial sum holds m ≤ 32 terms. Rounding each product w·x to float32
  // and each of the m − 1 additions costs at most u = 2^-24 relative, so a partial sum is off by
  // at most ≈ 32·u·Σ|w·x| over its terms (recursive summation, γ_m ≈ m·u). Folding into float64
  // adds ≤ 2^-53 relative per fold: negligible. Hence |sum − exact| ≤ 33·u·Σ_all|w·x| per element.
  const u = 2 ** -24;
  const rng = new Rng(2024).stream('kernels-accumulation');
  const ws = new WeightedSum(N37);
  const ref = new Float64Array(N37);
  const absSum = new Float64Array(N37);
  const T = 1000;
  for (let t = 0; t < T; t++) {
    const scale = 10 ** (rng.int(7) - 3); // 1e-3 … 1e3
    const x = Float32Array.from({ length: N37 }, () => rng.normal() * scale);
    const w = 1 + (t % 3);
    ws.add(x, w);
    for (let i = 0; i < N37; i++) {
      ref[i] += w * x[i]; // float64, and exact: x is float32 and w a small integer
      absSum[i] += Math.abs(w * x[i]);
    }
  }
  const sum = ws.sum();
  for (let i = 0; i < N37; i++) {
    const err = Math.abs(sum[i] - ref[i]);
    assert.ok(err <= 33 * u * absSum[i], `lane ${i}: |${sum[i]} − ${ref[i]}| = ${err} > bound ${33 * u * absSum[i]}`);
  }

  // The same bound separates two-level from plain float32 accumulation: 2^24 then 1000 ones. The
  // bound is 33·2^-24·(2^24 + 1000) ≈ 33.002. Two-level loses the 31 ones of the first partial sum
  // (error 31 ≤ 33.002); a plain float32 sum would lose all 1000.
  const adv = new WeightedSum(3);
  adv.add(new Float32Array(3).fill(2 ** 24), 1);
  for (let t = 0; t < 1000; t++) adv.add(new Float32Array(3).fill(1), 1);
  const exact = 2 ** 24 + 1000;
  const bound = 33 * u * (2 ** 24 + 1000);
  for (const s of adv.sum()) {
    assert.equal(s, exact - 31);
    assert.ok(Math.abs(s - exact) <= bound);
  }
});

// ---- Rejections leave the sum untouched ------------------------------------------------------

/** Two sums fed the same good vectors; `victim` then gets a bad one, `twin` does not. */
function twins(): { victim: WeightedSum; twin: WeightedSum } {
  const victim = new WeightedSum(N37);
  const twin = new WeightedSum(N37);
  for (const ws of [victim, twin]) {
    ws.add(A37, 1);
    ws.add(B37, 2); // partial float32 sum pending, not folded yet
  }
  return { victim, twin };
}

function rejectsAndLeavesSum(make: () => { x: Float32Array; w: number }, index: number | null, label: string): void {
  // (1) compared with a twin that never saw the bad vector, with the partial sum still pending;
  const { victim, twin } = twins();
  const { x, w } = make();
  const copy = x.slice();
  assert.throws(() => victim.add(x, w, 'update from client c7'), (e: unknown) => {
    assert.ok(isFederaError(e, 'non_finite'), `${label}: expected non_finite, got ${String(e)}`);
    assert.ok(e.message.startsWith('update from client c7:'), e.message);
    if (index !== null) {
      assert.ok(e.message.includes(`index ${index}`), `${label}: message "${e.message}" does not name index ${index}`);
      assert.deepEqual(e.details, { index });
    } else {
      assert.match(e.message, /overflow/);
    }
    return true;
  });
  assert.equal(bits(x), bits(copy), 'the rejected input is not modified');
  assert.equal(victim.count, 2);
  assert.equal(victim.totalWeight, 3);
  assert.equal(bits(victim.sum()), bits(twin.sum()), `${label}: sum changed by a rejected add`);
  // ... and the sum keeps working afterwards, exactly like the twin.
  victim.add(C37, 3);
  twin.add(C37, 3);
  assert.equal(bits(victim.sum()), bits(twin.sum()));
  assert.deepEqual(victim.sum(), Float64Array.from(SUM37));
  assert.equal(bits(victim.mean()), bits(twin.mean()));

  // (2) sum() read before and after the rejected add is bit-identical.
  const ws = new WeightedSum(N37);
  ws.add(A37, 1);
  const before = ws.sum();
  assert.throws(() => ws.add(make().x, make().w), (e: unknown) => isFederaError(e, 'non_finite'));
  assert.equal(bits(ws.sum()), bits(before));
}

shared('NaN at index k is rejected (non_finite, names k) and the sum is unchanged', () => {
  for (const k of [0, 3, 31, 32, 36]) {
    rejectsAndLeavesSum(() => {
      const x = C37.slice();
      x[k] = NaN;
      return { x, w: 3 };
    }, k, `NaN at ${k}`);
  }
});

shared('±Infinity at index k is rejected (non_finite, names k) and the sum is unchanged', () => {
  for (const [k, v] of [[5, Infinity], [20, -Infinity], [34, Infinity]] as const) {
    rejectsAndLeavesSum(() => {
      const x = C37.slice();
      x[k] = v;
      return { x, w: 3 };
    }, k, `${v} at ${k}`);
  }
  // Weight 0 does not excuse a non-finite value (0 · ∞ = NaN).
  rejectsAndLeavesSum(() => {
    const x = C37.slice();
    x[7] = Infinity;
    return { x, w: 0 };
  }, 7, 'Infinity with weight 0');
});

shared('float32 overflow of finite inputs is rejected (non_finite) and the sum is unchanged', () => {
  // 3e38 is a finite float32 (max ≈ 3.4028e38) but 10 · 3e38 = 3e39 is not.
  assert.equal(Number.isFinite(Math.fround(3e38)), true);
  for (const k of [2, 33]) {
    rejectsAndLeavesSum(() => {
      const x = new Float32Array(N37);
      x[k] = 3e38;
      return { x, w: 10 };
    }, null, `overflow at ${k}`);
    rejectsAndLeavesSum(() => {
      const x = new Float32Array(N37);
      x[k] = -3e38;
      return { x, w: 10 };
    }, null, `negative overflow at ${k}`);
  }
  // Overflow of the float32 partial sum itself: 2e38 + 2e38 = 4e38 > float32 max. (No sum() call
  // in between: sum() folds the partial into the float64 total, after which 4e38 would fit.)
  const ws = new WeightedSum(4);
  const twin = new WeightedSum(4);
  const big = f32([0, 2e38, 0, 0]);
  ws.add(big, 1);
  twin.add(big, 1);
  throwsCode(() => ws.add(big, 1), 'non_finite', 'overflow');
  assert.equal(ws.count, 1);
  assert.equal(bits(ws.sum()), bits(twin.sum()));
  assert.deepEqual(ws.sum(), Float64Array.from([0, Math.fround(2e38), 0, 0]));
});

shared('wrong length → shape_mismatch; bad weights → invalid_argument; nothing counted', () => {
  const ws = new WeightedSum(5);
  ws.add(A5, 1);
  for (const n of [0, 4, 6, 37]) {
    assert.throws(() => ws.add(new Float32Array(n), 1), (e: unknown) => {
      assert.ok(isFederaError(e, 'shape_mismatch'));
      assert.deepEqual(e.details, { expected: 5, actual: n });
      return true;
    });
  }
  for (const w of [-1, -1e-30, NaN, Infinity, -Infinity]) throwsCode(() => ws.add(B5, w), 'invalid_argument');
  assert.equal(ws.count, 1);
  assert.equal(ws.totalWeight, 1);
  assert.deepEqual(ws.sum(), Float64Array.from([1, 2, 3, 4, 5]));
  throwsCode(() => ws.meanPlus(new Float32Array(4)), 'shape_mismatch');
  throwsCode(() => new WeightedSum(-1), 'invalid_argument');
  throwsCode(() => new WeightedSum(2.5), 'invalid_argument');
});

shared('mean with zero total weight → insufficient_results', () => {
  const ws = new WeightedSum(5);
  throwsCode(() => ws.mean(), 'insufficient_results');
  throwsCode(() => ws.meanPlus(A5), 'insufficient_results');
  ws.add(A5, 0); // accepted but weightless
  assert.equal(ws.count, 1);
  assert.equal(ws.totalWeight, 0);
  assert.deepEqual(ws.sum(), new Float64Array(5));
  throwsCode(() => ws.mean(), 'insufficient_results');
});

shared('reset() empties the sum (including pending float32 partials) for reuse', () => {
  const ws = new WeightedSum(N37);
  // 40 adds: one fold at 32, then 8 pending in the partial sum.
  for (let t = 0; t < 40; t++) ws.add(new Float32Array(N37).fill(1000 + t), 2);
  ws.reset();
  assert.equal(ws.count, 0);
  assert.equal(ws.totalWeight, 0);
  throwsCode(() => ws.mean(), 'insufficient_results');
  assert.deepEqual(ws.sum(), new Float64Array(N37));
  ws.add(A37, 1);
  ws.add(B37, 2);
  ws.add(C37, 3);
  assert.deepEqual(ws.sum(), Float64Array.from(SUM37));
  assert.deepEqual(ws.mean(), fround(SUM37.map((s) => s / 6)));
  // Reset with only a pending partial (no fold yet), then reuse.
  ws.reset();
  ws.add(new Float32Array(N37).fill(7), 1);
  ws.add(new Float32Array(N37).fill(-1), 1); // partial = 6, pending
  ws.reset();
  ws.add(A37, 2);
  assert.deepEqual(ws.sum(), Float64Array.from(A37, (v) => 2 * v));
  assert.equal(ws.totalWeight, 2);
});

shared('independent sums do not share memory; large sizes work; size 0 works', () => {
  const one = new WeightedSum(5);
  const two = new WeightedSum(5);
  one.add(A5, 1);
  two.add(B5, 1);
  assert.deepEqual(one.sum(), Float64Array.from(A5));
  assert.deepEqual(two.sum(), Float64Array.from(B5));
  // 100,003 elements: several 64 KiB wasm pages, and an odd tail.
  const n = 100_003;
  const big = new WeightedSum(n);
  const x = Float32Array.from({ length: n }, (_, i) => i % 1000);
  big.add(x, 2);
  big.add(x, 1);
  const s = big.sum();
  assert.equal(s.length, n);
  for (const i of [0, 1, 999, 1000, 65535, 99_999, 100_002]) assert.equal(s[i], 3 * (i % 1000), `index ${i}`);
  const m = big.meanPlus(new Float32Array(n).fill(1));
  assert.equal(m[100_002], 1 + 2); // 1 + (3·2)/3
  const empty = new WeightedSum(0);
  empty.add(new Float32Array(0), 1);
  assert.deepEqual(empty.mean(), new Float32Array(0));
});

// ---- Plain helpers -------------------------------------------------------------------------

shared('subtract, axpy, l2Norm', () => {
  // subtract: [5, 4, 3, 2, 1] − [1, 1, 1, 1, 1.5] = [4, 3, 2, 1, −0.5]
  assert.deepEqual(subtract(f32([5, 4, 3, 2, 1]), f32([1, 1, 1, 1, 1.5])), f32([4, 3, 2, 1, -0.5]));
  const out = new Float32Array(5);
  assert.equal(subtract(f32([5, 4, 3, 2, 1]), f32([0, 1, 2, 3, 4]), out), out);
  assert.deepEqual(out, f32([5, 3, 1, -1, -3]));
  throwsCode(() => subtract(f32([1, 2]), f32([1])), 'shape_mismatch');
  throwsCode(() => subtract(f32([1, 2]), f32([1, 2]), new Float32Array(3)), 'shape_mismatch');
  // axpy: [1, 2, 3, 4, 5] += 0.5 · [2, 2, 2, 2, −4] = [2, 3, 4, 5, 3]
  const acc = Float64Array.from([1, 2, 3, 4, 5]);
  axpy(acc, [2, 2, 2, 2, -4], 0.5);
  assert.deepEqual(acc, Float64Array.from([2, 3, 4, 5, 3]));
  const acc32 = f32([1, 1, 1]);
  axpy(acc32, f32([1, 2, 3]), -2);
  assert.deepEqual(acc32, f32([-1, -3, -5]));
  throwsCode(() => axpy(new Float32Array(3), [1, 2], 1), 'shape_mismatch');
  // l2Norm: √(3² + 4²) = 5; √(1 + 4 + 4 + 16 + 0) = 5; empty = 0.
  assert.equal(l2Norm([3, 4]), 5);
  assert.equal(l2Norm(f32([1, -2, 2, 4, 0])), 5);
  assert.equal(l2Norm([]), 0);
  // Accumulated in float64: (3·2^70)² + (4·2^70)² = 25·2^140 overflows float32 (max ≈ 2^128) but
  // not float64, and √(25·2^140) = 5·2^70 exactly.
  assert.equal(l2Norm(f32([3 * 2 ** 70, 4 * 2 ** 70])), 5 * 2 ** 70);
});

shared('findNonFinite and assertFinite', () => {
  assert.equal(findNonFinite(f32([1, 2, 3])), -1);
  assert.equal(findNonFinite([]), -1);
  assert.equal(findNonFinite([0, -0, 3.4e38, -3.4e38, 1e-45]), -1);
  assert.equal(findNonFinite(f32([1, NaN, Infinity])), 1);
  assert.equal(findNonFinite([1, 2, 3, -Infinity]), 3);
  assert.equal(findNonFinite([Infinity, NaN]), 0);
  assertFinite(f32([1, 2]), 'x');
  assert.throws(() => assertFinite(f32([0, 0, NaN]), 'client update'), (e: unknown) => {
    assert.ok(isFederaError(e, 'non_finite'));
    assert.ok(e.message.startsWith('client update:'));
    assert.ok(e.message.includes('index 2'));
    assert.deepEqual(e.details, { index: 2 });
    return true;
  });
});

// ---- Both paths: the child process and a bit-for-bit cross check ---------------------------

/** A deterministic workload whose result bits both kernel paths must agree on. */
function fingerprint(): string {
  const rng = new Rng(7).stream('kernels-cross-path');
  const n = 1003;
  const ws = new WeightedSum(n);
  for (let t = 0; t < 70; t++) {
    const x = Float32Array.from({ length: n }, () => rng.normal() * 10 ** (rng.int(5) - 2));
    ws.add(x, 1 + rng.int(500));
  }
  const base = Float32Array.from({ length: n }, () => rng.normal());
  return `${bits(ws.sum())}:${bits(ws.meanPlus(base))}`;
}

if (FALLBACK) {
  test('[js] report fingerprint to the parent', (t) => {
    t.diagnostic(`fingerprint=${fingerprint()}`);
  });
} else {
  test('the JS fallback (FEDERA_NO_WASM=1, child process) passes the same tests and agrees bit for bit', () => {
    const file = fileURLToPath(import.meta.url);
    const env: NodeJS.ProcessEnv = { ...process.env, FEDERA_NO_WASM: '1' };
    delete env.NODE_TEST_CONTEXT; // otherwise the child talks to our test runner's protocol, not TAP
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], {
      cwd: resolve(dirname(file), '../..'),
      env,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const out = `${child.stdout}\n${child.stderr}`;
    assert.equal(child.status, 0, `child failed:\n${out.slice(-5000)}`);
    assert.match(out, /^# fail 0$/m);
    const pass = /^# pass (\d+)$/m.exec(out);
    assert.ok(pass, `no pass count in child output:\n${out.slice(-2000)}`);
    assert.equal(Number(pass[1]), sharedCount + 1, 'every shared test plus the fingerprint test passed in the child');
    assert.match(out, /ok \d+ - \[js\] kernel path matches FEDERA_NO_WASM/);
    const fp = /fingerprint=([0-9a-f:]+)/.exec(out);
    assert.ok(fp, 'child reported no fingerprint');
    assert.equal(fp[1], fingerprint(), 'JS fallback and wasm kernels give different bits for the same inputs');
  });
}
