/**
 * Shamir t-of-n secret sharing of byte strings over the prime field GF(65521), without BigInt.
 *
 * Each byte of the secret is the constant term of its own random polynomial of degree t − 1;
 * a share is the polynomials' values at the recipient's x-coordinate (1 … 65520), two bytes per
 * secret byte (little-endian field elements). Any t shares give back the secret by Lagrange
 * interpolation at 0; t − 1 shares say nothing about it (each byte is shared independently with
 * independent coefficients). Products stay below 2^32, so plain doubles compute them exactly.
 */
import { FederaError } from '../core/errors.js';

/** The largest prime below 2^16. */
export const SHAMIR_PRIME = 65521;
const P = SHAMIR_PRIME;

/** A source of uniform field elements in [0, 65521) (a CSPRNG, or a seeded stream in simulation). */
export type FieldRandom = (count: number) => Uint16Array;

/** Bytes of one share of an `n`-byte secret. */
export function shareBytesFor(secretBytes: number): number {
  return 2 * secretBytes;
}

function checkX(x: number, where: string): void {
  if (!Number.isInteger(x) || x < 1 || x >= P) throw new FederaError('invalid_argument', `${where}: share x-coordinate must be an integer in [1, ${P - 1}], got ${x}`);
}

/**
 * Splits `secret` into one share per x-coordinate in `xs`; any `threshold` of them reconstruct it.
 * `random(count)` must return `count` uniform field elements.
 */
export function splitSecret(secret: Uint8Array, xs: readonly number[], threshold: number, random: FieldRandom): Uint8Array[] {
  if (!Number.isInteger(threshold) || threshold < 1) throw new FederaError('invalid_argument', `Shamir: threshold must be an integer ≥ 1, got ${threshold}`);
  if (threshold > xs.length) throw new FederaError('invalid_argument', `Shamir: threshold ${threshold} exceeds the ${xs.length} shares`);
  const seen = new Set<number>();
  for (const x of xs) {
    checkX(x, 'Shamir split');
    if (seen.has(x)) throw new FederaError('invalid_argument', `Shamir split: x-coordinate ${x} appears twice`);
    seen.add(x);
  }
  const L = secret.length;
  const degree = threshold - 1;
  const coeffs = random(L * degree);
  if (coeffs.length !== L * degree) throw new FederaError('internal', 'Shamir: the random source returned the wrong number of elements');
  const out = xs.map(() => new Uint8Array(2 * L));
  for (let s = 0; s < xs.length; s++) {
    const x = xs[s];
    const share = out[s];
    for (let b = 0; b < L; b++) {
      // Horner: a_{t−1} x^{t−1} + … + a_1 x + secret
      let acc = 0;
      const base = b * degree;
      for (let k = degree - 1; k >= 0; k--) acc = (acc * x + coeffs[base + k]) % P;
      acc = (acc * x + secret[b]) % P;
      share[2 * b] = acc & 0xff;
      share[2 * b + 1] = acc >>> 8;
    }
  }
  return out;
}

/** (a^e) mod P by square-and-multiply; products stay below 2^32. */
function powMod(a: number, e: number): number {
  let r = 1;
  a %= P;
  while (e > 0) {
    if (e & 1) r = (r * a) % P;
    a = (a * a) % P;
    e >>>= 1;
  }
  return r;
}

/** Lagrange coefficients at 0 for the given distinct x-coordinates. */
export function lagrangeAtZero(xs: readonly number[]): Uint32Array {
  const out = new Uint32Array(xs.length);
  for (let k = 0; k < xs.length; k++) {
    let num = 1;
    let den = 1;
    for (let m = 0; m < xs.length; m++) {
      if (m === k) continue;
      num = (num * xs[m]) % P;
      den = (den * ((xs[m] - xs[k] + P) % P)) % P;
    }
    if (den === 0) throw new FederaError('invalid_argument', `Shamir reconstruct: x-coordinate ${xs[k]} appears twice`);
    out[k] = (num * powMod(den, P - 2)) % P;
  }
  return out;
}

/**
 * Reconstructs a secret of `secretBytes` bytes from at least `threshold` shares (the first
 * `threshold` are used). Throws `malformed_message` when a share has the wrong size, a value
 * outside the field, or the result is not a byte string (the shares do not belong together).
 */
export function reconstructSecret(shares: ReadonlyArray<{ x: number; share: Uint8Array }>, threshold: number, secretBytes: number, coefficients?: Uint32Array): Uint8Array {
  if (shares.length < threshold) {
    throw new FederaError('insufficient_results', `Shamir reconstruct: ${shares.length} share(s), ${threshold} needed`);
  }
  const used = shares.slice(0, threshold);
  const xs = used.map((s) => s.x);
  for (const x of xs) checkX(x, 'Shamir reconstruct');
  const lambda = coefficients ?? lagrangeAtZero(xs);
  const out = new Uint8Array(secretBytes);
  for (let b = 0; b < secretBytes; b++) {
    let acc = 0;
    for (let k = 0; k < used.length; k++) {
      const s = used[k].share;
      if (s.length !== 2 * secretBytes) throw new FederaError('malformed_message', `Shamir reconstruct: share for x = ${used[k].x} has ${s.length} bytes, expected ${2 * secretBytes}`);
      const y = s[2 * b] | (s[2 * b + 1] << 8);
      if (y >= P) throw new FederaError('malformed_message', `Shamir reconstruct: share for x = ${used[k].x} holds ${y}, outside the field`);
      acc = (acc + y * lambda[k]) % P;
    }
    if (acc > 255) throw new FederaError('malformed_message', `Shamir reconstruct: the shares do not interpolate to a byte string (byte ${b} = ${acc})`);
    out[b] = acc;
  }
  return out;
}

/** True when every two-byte element of `share` is a field element. */
export function isValidShare(share: Uint8Array, secretBytes: number): boolean {
  if (share.length !== 2 * secretBytes) return false;
  for (let i = 0; i < share.length; i += 2) if ((share[i] | (share[i + 1] << 8)) >= P) return false;
  return true;
}

/** Uniform field elements by rejection from 16-bit draws of `bytes(n)`. */
export function fieldRandomFrom(bytes: (n: number) => Uint8Array): FieldRandom {
  return (count) => {
    const out = new Uint16Array(count);
    let filled = 0;
    while (filled < count) {
      const need = count - filled;
      const raw = bytes(2 * need + 8);
      for (let i = 0; i + 1 < raw.length && filled < count; i += 2) {
        const v = raw[i] | (raw[i + 1] << 8);
        if (v < P) out[filled++] = v;
      }
    }
    return out;
  };
}
