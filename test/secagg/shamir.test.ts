// Shamir t-of-n over GF(65521): any t shares reconstruct, t − 1 do not; malformed shares are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';
import { SHAMIR_PRIME, fieldRandomFrom, isValidShare, lagrangeAtZero, reconstructSecret, splitSecret } from '../../src/secagg/shamir.js';
import { seededRandom } from '../../src/secagg/primitives.js';

const random = fieldRandomFrom((n) => seededRandom(new Rng('shamir-test')).bytes(n));

function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first, ...s]), ...subsets(rest, k)];
}

test('every subset of t of 7 shares reconstructs the secret; order does not matter', () => {
  const secret = Uint8Array.from({ length: 48 }, (_, i) => (i * 37 + 11) & 0xff);
  secret[0] = 0;
  secret[1] = 255;
  const xs = [1, 2, 3, 5, 8, 13, 21];
  const t = 4;
  const shares = splitSecret(secret, xs, t, random).map((share, i) => ({ x: xs[i], share }));
  for (const s of shares) assert.equal(s.share.length, 96);
  const all = subsets(shares, t);
  assert.equal(all.length, 35);
  for (const sub of all) assert.deepEqual(reconstructSecret(sub, t, 48), secret);
  assert.deepEqual(reconstructSecret([...shares].reverse(), t, 48), secret);
});

test('t − 1 shares are refused, and reconstructing with t − 1 as if t were lower gives a different secret', () => {
  const secret = new Uint8Array(32).fill(200);
  const xs = [1, 2, 3, 4, 5];
  const shares = splitSecret(secret, xs, 3, random).map((share, i) => ({ x: xs[i], share }));
  assert.throws(() => reconstructSecret(shares.slice(0, 2), 3, 32), (e) => isFederaError(e, 'insufficient_results'));
  // Interpolating 2 points of a degree-2 polynomial: almost surely not the secret (or not bytes at all).
  let wrong = 0;
  for (const pair of subsets(shares, 2)) {
    try {
      const guess = reconstructSecret(pair, 2, 32);
      if (!guess.every((b, i) => b === secret[i])) wrong++;
    } catch (e) {
      assert.ok(isFederaError(e, 'malformed_message'));
      wrong++;
    }
  }
  assert.equal(wrong, 10);
});

test('t − 1 shares are uniform: the same shares are consistent with any secret', () => {
  // For t = 2, one share y = s + a·x; for any other secret s' there is a' = (y − s')/x: check by construction.
  const xs = [1, 2, 3];
  const a = splitSecret(new Uint8Array([7]), xs, 2, random);
  const y1 = a[0][0] | (a[0][1] << 8);
  assert.ok(y1 < SHAMIR_PRIME);
  for (const other of [0, 100, 255]) {
    const slope = (((y1 - other) % SHAMIR_PRIME) + SHAMIR_PRIME) % SHAMIR_PRIME; // x = 1
    const y2 = (other + slope * 2) % SHAMIR_PRIME;
    const share2 = new Uint8Array([y2 & 0xff, y2 >>> 8]);
    assert.deepEqual(reconstructSecret([{ x: 1, share: a[0] }, { x: 2, share: share2 }], 2, 1), new Uint8Array([other]));
  }
});

test('Lagrange coefficients sum to 1 (they interpolate the constant polynomial)', () => {
  const lambda = lagrangeAtZero([3, 9, 17, 400, 65520]);
  assert.equal(lambda.reduce((s, v) => (s + v) % SHAMIR_PRIME, 0), 1);
});

test('malformed input: bad x, repeated x, out-of-field values, wrong share size', () => {
  assert.throws(() => splitSecret(new Uint8Array(4), [0, 1], 2, random), /x-coordinate/);
  assert.throws(() => splitSecret(new Uint8Array(4), [1, 1], 2, random), /appears twice/);
  assert.throws(() => splitSecret(new Uint8Array(4), [1, 2], 3, random), /exceeds/);
  const share = new Uint8Array([0xf2, 0xff, 0, 0]); // 65522 ≥ p
  assert.equal(isValidShare(share, 2), false);
  assert.throws(() => reconstructSecret([{ x: 1, share }, { x: 2, share: new Uint8Array(4) }], 2, 2), /outside the field/);
  assert.throws(() => reconstructSecret([{ x: 1, share: new Uint8Array(3) }, { x: 2, share: new Uint8Array(4) }], 2, 2), /3 bytes/);
});
