// Fixed-point encoding in Z_{2^k}: clipping, stochastic rounding without bias, no overflow for n
// clients at the extremes, exact decoding of the modular sum within n/s; masks cancel exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';
import { accumulatePacked, decodeSum, encodeUpdate, encodingFor, isPacked, packMasked, packedBytes, reduce, sumErrorBound } from '../../src/secagg/encoding.js';
import { accumulate, deriveKey, expandMask, KeyAgreement, generateKeyPair, seededRandom } from '../../src/secagg/primitives.js';
import { ctr } from '@noble/ciphers/aes';

test('n clients at ±c with weight 1 do not overflow, for several bit widths', () => {
  for (const [bits, n] of [[32, 500], [24, 100], [16, 10], [8, 3]] as const) {
    const p = encodingFor(bits, 2, n);
    for (const sign of [1, -1]) {
      const sum = new Uint32Array(5); // [weight, x0, x1, x2, x3]
      const v = new Float32Array([sign * 2, sign * 5, sign * 1.9999, 0]);
      for (let i = 0; i < n; i++) {
        accumulate(sum, encodeUpdate(v, 1, p, new Rng(i), new Uint32Array(5), 'test'), 1);
        reduce(sum, bits);
      }
      const { sum: s, weight } = decodeSum(sum, p);
      const bound = sumErrorBound(p, n) + 1e-9;
      assert.ok(Math.abs(weight - n) <= n / p.weightScale + 1e-9, `bits ${bits}: weight ${weight}`);
      assert.ok(Math.abs(s[0] - sign * 2 * n) <= bound, `bits ${bits} n ${n}: ${s[0]} vs ${sign * 2 * n}`);
      assert.ok(Math.abs(s[1] - sign * 2 * n) <= bound, 'clipped to c');
      assert.ok(Math.abs(s[2] - sign * 1.9999 * n) <= bound);
      assert.ok(Math.abs(s[3]) <= bound);
    }
  }
});

test('stochastic rounding is unbiased and within one step', () => {
  const p = encodingFor(16, 1, 100); // coarse: scale ≈ 326
  const x = new Float32Array([0.123456, -0.987654]);
  const rng = new Rng('rounding');
  const acc = [0, 0];
  const trials = 4000;
  for (let t = 0; t < trials; t++) {
    const e = encodeUpdate(x, 1, p, rng, new Uint32Array(3), 'test');
    const { sum } = decodeSum(e, p);
    for (let i = 0; i < 2; i++) {
      assert.ok(Math.abs(sum[i] - x[i]) < 1 / p.scale + 1e-9);
      acc[i] += sum[i];
    }
  }
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(acc[i] / trials - x[i]) < 0.2 / p.scale, `mean ${acc[i] / trials} vs ${x[i]}`);
});

test('bits too small for the number of clients, and non-finite values, are refused', () => {
  assert.throws(() => encodingFor(8, 1, 100), (e) => isFederaError(e, 'invalid_config') && /too small for 100 clients/.test(e.message));
  assert.throws(() => encodingFor(33, 1, 10), /bits/);
  assert.throws(() => encodingFor(32, 0, 10), /clippingRange/);
  const p = encodingFor(32, 1, 10);
  assert.throws(() => encodeUpdate(new Float32Array([NaN]), 1, p, new Rng(1), new Uint32Array(2), 'client x'), (e) => isFederaError(e, 'non_finite') && /client x/.test(e.message));
});

test('pairwise masks from X25519 + HKDF cancel exactly; self masks are removed by the seed', async () => {
  const random = seededRandom(new Rng('mask-test'));
  const ids = ['a', 'b', 'c', 'd'];
  const keys = ids.map(() => generateKeyPair(random));
  const d = 1001;
  const inputs = ids.map((_, i) => Uint32Array.from({ length: d }, (_, j) => (i * 1000 + j) >>> 0));
  const seeds = ids.map(() => random.bytes(16));
  const total = new Uint32Array(d);
  for (let i = 0; i < ids.length; i++) {
    const y = inputs[i].slice();
    accumulate(y, await expandMask(seeds[i], d), 1);
    const agreement = new KeyAgreement(keys[i]);
    for (let j = 0; j < ids.length; j++) {
      if (j === i) continue;
      const s = await agreement.sharedSecret(keys[j].publicKey, 'test');
      accumulate(y, await expandMask(deriveKey(s, 'pairwise-mask', 'run', 1, 16), d), ids[i] < ids[j] ? 1 : -1);
    }
    assert.notDeepEqual(y, inputs[i], 'a masked input differs from the input');
    accumulate(total, y, 1);
  }
  for (let i = 0; i < ids.length; i++) accumulate(total, await expandMask(seeds[i], d), -1);
  const plain = new Uint32Array(d);
  for (const v of inputs) accumulate(plain, v, 1);
  assert.deepEqual(total, plain);
});

test('the mask generator is AES-128-CTR: WebCrypto and @noble/ciphers give the same words', async () => {
  const seed = Uint8Array.from({ length: 16 }, (_, i) => i);
  const words = await expandMask(seed, 300);
  const stream = ctr(seed, new Uint8Array(16)).encrypt(new Uint8Array(1200));
  assert.deepEqual(words, new Uint32Array(stream.buffer, 0, 300));
});

test('CSPRNG key pairs (WebCrypto X25519 where present) agree with @noble/curves, and agreement is symmetric', async () => {
  const { generateSecureKeyPair, x25519PublicKey } = await import('../../src/secagg/primitives.js');
  const a = await generateSecureKeyPair();
  const b = await generateSecureKeyPair();
  assert.deepEqual(a.publicKey, x25519PublicKey(a.secretKey));
  assert.notDeepEqual(a.secretKey, b.secretKey);
  const ab = await new KeyAgreement(a).sharedSecret(b.publicKey, 'test');
  const ba = await new KeyAgreement(b).sharedSecret(a.publicKey, 'test');
  assert.deepEqual(ab, ba);
  await assert.rejects(new KeyAgreement(a).sharedSecret(new Uint8Array(32), 'test'), /key agreement failed|all-zero/);
});

test('masked vectors travel as a bit stream of exactly `bits` bits a value, and unpack to the same sum', () => {
  const rng = new Rng(11).stream('packing');
  for (const bits of [3, 5, 8, 13, 16, 17, 24, 26, 31, 32]) {
    for (const count of [1, 7, 8, 9, 1001]) {
      const full = 2 ** bits;
      const vectors = Array.from({ length: 3 }, () => Uint32Array.from({ length: count }, () => Math.floor(rng.next() * full)));
      // The largest value of the ring must survive too.
      vectors[0][count - 1] = full - 1;
      const acc = new Uint32Array(count);
      const expected = new Uint32Array(count);
      for (const v of vectors) {
        const packed = packMasked(v, bits);
        assert.ok(isPacked(packed, bits, count), `${bits} bits × ${count}: shape`);
        assert.equal(packed.byteLength, packedBytes(bits, count));
        assert.equal(packed.byteLength, bits === 32 ? 4 * count : Math.ceil((bits * count) / 8));
        accumulatePacked(acc, packed, bits);
        for (let i = 0; i < count; i++) expected[i] += v[i];
      }
      reduce(acc, bits);
      reduce(expected, bits);
      assert.deepEqual(acc, expected, `${bits} bits × ${count}: sum of unpacked values`);
    }
  }
  // Byte widths: the bit stream is plain little-endian bytes.
  assert.deepEqual(packMasked(Uint32Array.of(0x030201, 0x060504), 24), Uint8Array.of(1, 2, 3, 4, 5, 6));
  // 4-bit values: two per byte, the first in the low nibble.
  assert.deepEqual(packMasked(Uint32Array.of(0x1, 0x2, 0xf), 4), Uint8Array.of(0x21, 0x0f));
  assert.ok(!isPacked(new Uint8Array(packedBytes(26, 10) - 1), 26, 10));
  assert.ok(!isPacked(new Uint32Array(10), 26, 10));
});
