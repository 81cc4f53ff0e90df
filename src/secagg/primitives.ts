/**
 * The vetted primitives secure aggregation uses, isomorphic (Node 20 and browsers): X25519 key
 * agreement (WebCrypto, or @noble/curves where WebCrypto lacks X25519), HKDF-SHA256
 * (@noble/hashes), AES-256-GCM for share ciphertexts (@noble/ciphers) and AES-128-CTR as the mask
 * generator (WebCrypto, or @noble/ciphers without `crypto.subtle`; both give the same keystream).
 * Nothing here implements a cipher, a curve or a KDF.
 */
import { x25519 } from '@noble/curves/ed25519';
import { hkdf } from '@noble/hashes/hkdf';
import { sha256 } from '@noble/hashes/sha2';
import { gcm, ctr } from '@noble/ciphers/aes';
import { FederaError } from '../core/errors.js';
import { Rng } from '../core/rng.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** Bytes of a self-mask seed (an AES-128 key for the mask generator). */
export const SEED_BYTES = 16;

const utf8 = new TextEncoder();

/** Where keys, seeds, nonces and Shamir coefficients come from. */
export interface RandomSource {
  bytes(n: number): Uint8Array;
}

/** The platform CSPRNG (`crypto.getRandomValues`): the only choice outside simulation. */
export const secureRandom: RandomSource = {
  bytes(n) {
    const c = (globalThis as { crypto?: Crypto }).crypto;
    if (!c?.getRandomValues) throw new FederaError('unsupported', 'secure aggregation needs a CSPRNG: globalThis.crypto.getRandomValues is missing');
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) c.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
    return out;
  },
};

/** A seeded, NOT cryptographically secure source, for reproducible simulations only. */
export function seededRandom(rng: Rng): RandomSource {
  return {
    bytes(n) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 4) {
        const v = rng.nextU32();
        for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (v >>> (8 * k)) & 0xff;
      }
      return out;
    },
  };
}

function subtle(): SubtleCrypto | undefined {
  return (globalThis as { crypto?: Crypto }).crypto?.subtle;
}

// ---------------------------------------------------------------------------------------------
// X25519

export interface KeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export function generateKeyPair(random: RandomSource): KeyPair {
  const secretKey = random.bytes(KEY_BYTES);
  return { secretKey, publicKey: x25519PublicKey(secretKey) };
}

function fromB64url(text: string): Uint8Array {
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * A fresh key pair from the CSPRNG: WebCrypto's X25519 key generation where available (native,
 * ~15× faster than computing the public key in JS), else `generateKeyPair(secureRandom)`.
 */
export async function generateSecureKeyPair(): Promise<KeyPair> {
  const s = subtle();
  if (s && webX25519 !== false) {
    try {
      const pair = (await s.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
      const jwk = await s.exportKey('jwk', pair.privateKey);
      const secretKey = fromB64url(jwk.d!);
      const publicKey = fromB64url(jwk.x!);
      if (secretKey.length === KEY_BYTES && publicKey.length === KEY_BYTES) return { secretKey, publicKey };
    } catch {
      webX25519 = false;
    }
  }
  return generateKeyPair(secureRandom);
}

/** The public key of a raw 32-byte X25519 secret key. */
export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secretKey);
}

function b64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

let webX25519: boolean | undefined;

/**
 * Computes X25519 shared secrets of one secret key with many public keys. WebCrypto (native,
 * ~15× faster than pure JS here) when the platform has X25519, else @noble/curves; the results
 * are identical. A public key that yields the all-zero secret (low order) is refused.
 */
export class KeyAgreement {
  private privateKey: Promise<CryptoKey | null> | undefined;

  constructor(private readonly pair: KeyPair) {}

  async sharedSecret(publicKey: Uint8Array, where: string): Promise<Uint8Array> {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== KEY_BYTES) {
      throw new FederaError('malformed_message', `${where}: an X25519 public key must be ${KEY_BYTES} bytes`);
    }
    const key = await (this.privateKey ??= this.importPrivate());
    const s = subtle();
    if (key && s) {
      try {
        const pub = await s.importKey('raw', publicKey as Uint8Array<ArrayBuffer>, { name: 'X25519' }, false, []);
        return new Uint8Array(await s.deriveBits({ name: 'X25519', public: pub } as unknown as EcdhKeyDeriveParams, key, 256));
      } catch (e) {
        throw new FederaError('malformed_message', `${where}: X25519 key agreement failed (invalid or low-order public key)`, undefined, { cause: e });
      }
    }
    let out: Uint8Array;
    try {
      out = x25519.getSharedSecret(this.pair.secretKey, publicKey);
    } catch (e) {
      throw new FederaError('malformed_message', `${where}: X25519 key agreement failed (invalid public key)`, undefined, { cause: e });
    }
    if (out.every((b) => b === 0)) throw new FederaError('malformed_message', `${where}: X25519 gave the all-zero secret (low-order public key)`);
    return out;
  }

  private async importPrivate(): Promise<CryptoKey | null> {
    const s = subtle();
    if (!s || webX25519 === false) return null;
    try {
      const jwk = { kty: 'OKP', crv: 'X25519', d: b64url(this.pair.secretKey), x: b64url(this.pair.publicKey) };
      const key = await s.importKey('jwk', jwk, { name: 'X25519' }, false, ['deriveBits']);
      webX25519 = true;
      return key;
    } catch {
      webX25519 = false;
      return null;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Key derivation and authenticated encryption

const SALT = utf8.encode('federa/secagg/v1');

/** HKDF-SHA256 of a shared secret, bound to a purpose, the run and the round. */
export function deriveKey(sharedSecret: Uint8Array, purpose: 'share-encryption' | 'pairwise-mask', runId: string, round: number, length: number): Uint8Array {
  return hkdf(sha256, sharedSecret, SALT, utf8.encode(`${purpose}\0${runId}\0${round}`), length);
}

/** What a share ciphertext is bound to: run, round, sender and recipient. */
export function shareAssociatedData(runId: string, round: number, from: string, to: string): Uint8Array {
  return utf8.encode(`federa/secagg/share\0${runId}\0${round}\0${from}\0${to}`);
}

/** nonce ‖ AES-256-GCM(key, nonce, plaintext, ad) */
export function seal(key: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, random: RandomSource): Uint8Array {
  const nonce = random.bytes(NONCE_BYTES);
  const ct = gcm(key, nonce, ad).encrypt(plaintext);
  const out = new Uint8Array(NONCE_BYTES + ct.length);
  out.set(nonce);
  out.set(ct, NONCE_BYTES);
  return out;
}

/** The plaintext, or null when the ciphertext does not authenticate (wrong key, binding or bytes). */
export function open(key: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) return null;
  try {
    return gcm(key, sealed.subarray(0, NONCE_BYTES), ad).decrypt(sealed.subarray(NONCE_BYTES));
  } catch {
    return null;
  }
}

/** A commitment to a self-mask seed, sent before the masked input so a reconstruction can be checked. */
export function seedCommitment(seed: Uint8Array, runId: string, round: number, clientId: string): Uint8Array {
  const label = utf8.encode(`federa/secagg/seed\0${runId}\0${round}\0${clientId}\0`);
  const m = new Uint8Array(label.length + seed.length);
  m.set(label);
  m.set(seed, label.length);
  return sha256(m);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// ---------------------------------------------------------------------------------------------
// Mask generator: AES-128-CTR keystream of 4·length bytes read as little-endian uint32 words.

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
let zeros = new Uint8Array(0);

/**
 * The mask of `length` uint32 words expanded from a 16-byte seed: AES-128-CTR(seed, counter 0)
 * over zero bytes. WebCrypto where available (OpenSSL in Node), else @noble/ciphers — the same bytes.
 */
export async function expandMask(seed: Uint8Array, length: number): Promise<Uint32Array> {
  if (seed.length !== SEED_BYTES) throw new FederaError('invalid_argument', `mask seed must be ${SEED_BYTES} bytes, got ${seed.length}`);
  const bytes = 4 * length;
  if (zeros.length < bytes) zeros = new Uint8Array(bytes);
  const counter = new Uint8Array(16);
  const s = subtle();
  let stream: Uint8Array;
  if (s) {
    const key = await s.importKey('raw', seed as Uint8Array<ArrayBuffer>, { name: 'AES-CTR' }, false, ['encrypt']);
    stream = new Uint8Array(await s.encrypt({ name: 'AES-CTR', counter, length: 64 }, key, zeros.subarray(0, bytes)));
  } else {
    stream = ctr(seed, counter).encrypt(zeros.subarray(0, bytes));
  }
  const words = new Uint32Array(stream.buffer, stream.byteOffset, length);
  if (!LITTLE_ENDIAN) for (let i = 0; i < length; i++) words[i] = ((words[i] & 0xff) << 24 | (words[i] & 0xff00) << 8 | (words[i] >>> 8) & 0xff00 | words[i] >>> 24) >>> 0;
  return words;
}

/** acc += sign · mask (mod 2^32). */
export function accumulate(acc: Uint32Array, mask: Uint32Array, sign: 1 | -1): void {
  const n = acc.length;
  if (sign === 1) for (let i = 0; i < n; i++) acc[i] += mask[i];
  else for (let i = 0; i < n; i++) acc[i] -= mask[i];
}

/**
 * acc += Σ signᵢ·PRG(seedᵢ), keeping up to `window` expansions in flight: WebCrypto runs AES off
 * the main thread (Node's thread pool), so generating the next masks overlaps adding this one.
 */
export async function accumulateMasks(acc: Uint32Array, masks: ReadonlyArray<{ seed: Uint8Array; sign: 1 | -1 }>, window = 3): Promise<void> {
  const pending: Array<Promise<Uint32Array>> = [];
  let next = 0;
  const launch = () => {
    if (next < masks.length) pending.push(expandMask(masks[next++].seed, acc.length));
  };
  for (let i = 0; i < window; i++) launch();
  for (let i = 0; i < masks.length; i++) {
    const mask = await pending.shift()!;
    launch();
    accumulate(acc, mask, masks[i].sign);
  }
}
