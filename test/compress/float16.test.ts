import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFloat16, decodeFloat16, halfBitsToNumber, numberToHalfBits } from '../../src/compress/float16.js';
import { Rng } from '../../src/core/rng.js';

const finiteHalves = () => {
  const bits: number[] = [];
  for (let h = 0; h < 65536; h++) if ((h & 0x7c00) !== 0x7c00) bits.push(h);
  return Uint16Array.from(bits);
};

test('every finite float16 decodes to its value and encodes back to the same bits', () => {
  const halves = finiteHalves();
  assert.equal(halves.length, 65536 - 2 * 1024);
  const values = new Float32Array(halves.length);
  assert.equal(decodeFloat16(halves, values), -1);
  for (let i = 0; i < halves.length; i++) assert.equal(values[i], Math.fround(halfBitsToNumber(halves[i])));
  // Spot values of the format.
  assert.equal(halfBitsToNumber(0x3c00), 1);
  assert.equal(halfBitsToNumber(0x7bff), 65504);
  assert.equal(halfBitsToNumber(0x0001), 2 ** -24);
  assert.equal(halfBitsToNumber(0x0400), 2 ** -14);
  assert.equal(halfBitsToNumber(0xc000), -2);
  const back = new Uint16Array(halves.length);
  assert.equal(encodeFloat16(values, back), -1);
  assert.deepEqual(back, halves);
});

test('float32 → float16 rounds to the nearest value, ties to even, subnormals included', () => {
  // Midpoints between consecutive positive halves (exact in float32) go to the even neighbour.
  for (let h = 0; h < 0x7bff; h++) {
    const a = halfBitsToNumber(h), b = halfBitsToNumber(h + 1);
    const mid = Math.fround((a + b) / 2);
    assert.equal(mid, (a + b) / 2);
    const got = numberToHalfBits(mid);
    assert.equal(got, h % 2 === 0 ? h : h + 1, `midpoint of 0x${h.toString(16)} and its successor`);
    assert.equal(numberToHalfBits(-mid), got | 0x8000);
  }
  // Random float32 values: the chosen half is at least as close as both neighbours.
  const rng = new Rng('f16');
  const x = new Float32Array(20000);
  for (let i = 0; i < x.length; i++) x[i] = (rng.next() * 2 - 1) * 2 ** (rng.next() * 40 - 26);
  const h = new Uint16Array(x.length);
  assert.equal(encodeFloat16(x, h), -1);
  for (let i = 0; i < x.length; i++) {
    const v = halfBitsToNumber(h[i]);
    const mag = h[i] & 0x7fff;
    const down = mag > 0 ? Math.abs(halfBitsToNumber(mag - 1)) : -Infinity;
    const up = mag < 0x7bff ? halfBitsToNumber(mag + 1) : Infinity;
    const e = Math.abs(Math.abs(x[i]) - Math.abs(v));
    assert.ok(e <= Math.abs(Math.abs(x[i]) - down) && e <= Math.abs(up - Math.abs(x[i])), `x=${x[i]} → ${v}`);
    if (x[i] !== 0) assert.equal(Math.sign(v) || Math.sign(1 / v), Math.sign(x[i]));
  }
  assert.equal(numberToHalfBits(2 ** -25), 0); // halfway to the smallest subnormal: even (0)
  assert.equal(numberToHalfBits(Math.fround(2 ** -25 * 1.001)), 1);
  assert.equal(numberToHalfBits(-0), 0x8000);
  assert.equal(numberToHalfBits(65519), 0x7bff);
});

test('values without a finite float16 are refused with their index', () => {
  for (const bad of [65520, -70000, Infinity, -Infinity, NaN, 3e38]) {
    const x = Float32Array.from([1, 2, bad, 4]);
    assert.equal(encodeFloat16(x, new Uint16Array(4)), 2, String(bad));
  }
  assert.equal(decodeFloat16(Uint16Array.from([0x3c00, 0x7c00]), new Float32Array(2)), 1);
  assert.equal(decodeFloat16(Uint16Array.from([0xfe00]), new Float32Array(1)), 0);
});
