import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rotate, unrotate, rotatedLength, fwht } from '../../src/compress/hadamard.js';
import { Rng } from '../../src/core/rng.js';

test('rotated lengths: whole blocks, the last partial block padded to a power of two', () => {
  assert.equal(rotatedLength(1000, 256), 1024);
  assert.equal(rotatedLength(1024, 256), 1024);
  assert.equal(rotatedLength(1025, 256), 1025);
  assert.equal(rotatedLength(1027, 256), 1028);
  assert.equal(rotatedLength(199_210, 1024), 194 * 1024 + 1024);
  assert.equal(rotatedLength(5, 1), 5);
  assert.equal(rotatedLength(0, 64), 0);
});

test('the rotation is orthonormal: the images of the unit vectors are orthonormal columns', () => {
  for (const [m, block] of [[8, 8], [13, 4], [21, 16], [64, 64], [5, 1]]) {
    const p = rotatedLength(m, block);
    const cols: Float32Array[] = [];
    for (let j = 0; j < m; j++) {
      const e = new Float32Array(m);
      e[j] = 1;
      const y = new Float32Array(p);
      rotate(e, block, 12345, y);
      cols.push(y);
    }
    for (let a = 0; a < m; a++) {
      for (let b = 0; b < m; b++) {
        let dot = 0;
        for (let i = 0; i < p; i++) dot += cols[a][i] * cols[b][i];
        assert.ok(Math.abs(dot - (a === b ? 1 : 0)) < 1e-6, `m ${m} block ${block}: <c${a}, c${b}> = ${dot}`);
      }
    }
  }
});

test('unrotate inverts rotate and the norm is preserved', () => {
  const rng = new Rng('rot');
  for (const [m, block] of [[1000, 256], [4096, 1024], [3, 4], [777, 1]]) {
    const x = new Float32Array(m);
    for (let i = 0; i < m; i++) x[i] = rng.normal() * 3;
    const y = new Float32Array(rotatedLength(m, block));
    rotate(x, block, 987654321, y);
    let nx = 0, ny = 0;
    for (const v of x) nx += v * v;
    for (const v of y) ny += v * v;
    assert.ok(Math.abs(nx - ny) / nx < 1e-5, `norms ${nx} ${ny}`);
    const back = new Float32Array(m);
    unrotate(y, block, 987654321, back);
    for (let i = 0; i < m; i++) assert.ok(Math.abs(back[i] - x[i]) < 1e-4, `m ${m} i ${i}: ${back[i]} vs ${x[i]}`);
  }
});

test('the seed picks the signs: same seed same output, another seed another rotation', () => {
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const a = new Float32Array(64), b = new Float32Array(64), c = new Float32Array(64);
  rotate(x, 64, 1, a);
  rotate(x, 64, 1, b);
  rotate(x, 64, 2, c);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('a spike is spread evenly over its block (what makes quantization after rotation accurate)', () => {
  const x = new Float32Array(1024);
  x[100] = 64;
  const y = new Float32Array(1024);
  rotate(x, 1024, 7, y);
  for (const v of y) assert.ok(Math.abs(Math.abs(v) - 2) < 1e-5, `|${v}| should be 64/√1024 = 2`);
});

test('fwht matches the Walsh–Hadamard matrix for a small size', () => {
  const x = Float32Array.from([1, 2, 3, 4]);
  fwht(x, 0, 4);
  // H4 = [[1,1,1,1],[1,-1,1,-1],[1,1,-1,-1],[1,-1,-1,1]]
  assert.deepEqual([...x], [10, -2, -4, 0]);
});
