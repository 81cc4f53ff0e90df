/**
 * Frame signatures, isomorphic. A client signs every frame it sends with its Ed25519 key:
 *
 *     signature = Ed25519.sign(key, "federa/frame/v2" || 0x00 || challenge || SHA-256(frame before the signature))
 *
 * `challenge` is the 32 random bytes of the server's CHALLENGE on this connection: a frame is
 * bound to the connection it was signed for, so it verifies on no other connection (another
 * connection of the same client, or any connection after a server restart).
 *
 * Pure Ed25519 (RFC 8032) over a fixed 80-byte message, so that the expensive part — hashing a
 * multi-megabyte update — is one SHA-256 pass that every platform does natively (node:crypto,
 * WebCrypto). Nothing here implements a primitive: hashes and signatures come from WebCrypto, or
 * from @noble/curves where a browser lacks WebCrypto Ed25519. The Node side (`src/node/identity.ts`)
 * uses node:crypto with the same construction.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { FederaError } from '../core/errors.js';
import { SIGNATURE_BYTES, SIGNATURE_FIELD_BYTES, attachSignature, unsignedPart, type DecodedFrame } from './codec.js';

export const FRAME_SIGNING_CONTEXT: Uint8Array = new TextEncoder().encode('federa/frame/v2\0');
export const PUBLIC_KEY_BYTES = 32;
/** Bytes of a connection's challenge (the server's CHALLENGE frame), signed into every frame. */
export const CHALLENGE_BYTES = 32;

/** Hashing, verification and randomness: node:crypto, WebCrypto or @noble. */
export interface FrameCrypto {
  sha256(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean | Promise<boolean>;
  randomBytes(length: number): Uint8Array;
}

/** A client's identity key: signs 80-byte signing messages. */
export interface FrameSigner {
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** `context || challenge || digest`: the message an Ed25519 frame signature signs on the connection of `challenge`. */
export function signingMessage(challenge: Uint8Array, digest: Uint8Array): Uint8Array {
  if (challenge.length !== CHALLENGE_BYTES) throw new FederaError('invalid_argument', `signingMessage: the challenge must be ${CHALLENGE_BYTES} bytes, got ${challenge.length}`);
  const m = new Uint8Array(FRAME_SIGNING_CONTEXT.length + CHALLENGE_BYTES + digest.length);
  m.set(FRAME_SIGNING_CONTEXT);
  m.set(challenge, FRAME_SIGNING_CONTEXT.length);
  m.set(digest, FRAME_SIGNING_CONTEXT.length + CHALLENGE_BYTES);
  return m;
}

/** Signs a frame encoded with `reserveSignature: true`, in place, for the connection whose CHALLENGE was `challenge`; returns it. */
export async function signFrame(frame: Uint8Array, signer: FrameSigner, crypto: FrameCrypto, challenge: Uint8Array): Promise<Uint8Array> {
  if (frame.length < SIGNATURE_FIELD_BYTES) throw new FederaError('invalid_argument', 'signFrame: frame too short');
  const message = signingMessage(challenge, await crypto.sha256(unsignedPart(frame)));
  return attachSignature(frame, await signer.sign(message));
}

/** True when `frame` carries a valid signature by `publicKey`, made for the connection whose CHALLENGE was `challenge`. */
export async function verifyFrame(frame: DecodedFrame, publicKey: Uint8Array, crypto: FrameCrypto, challenge: Uint8Array): Promise<boolean> {
  if (frame.signature.length !== SIGNATURE_BYTES || publicKey.length !== PUBLIC_KEY_BYTES || challenge.length !== CHALLENGE_BYTES) return false;
  const digest = await crypto.sha256(frame.signedPart);
  return crypto.verify(publicKey, signingMessage(challenge, digest), frame.signature);
}

function subtle(): SubtleCrypto | undefined {
  return (globalThis as { crypto?: Crypto }).crypto?.subtle;
}

function randomBytes(length: number): Uint8Array {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (!c?.getRandomValues) throw new FederaError('unsupported', 'no CSPRNG: globalThis.crypto.getRandomValues is missing');
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) c.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  return out;
}

/** WebCrypto's SHA-256 and randomness; Ed25519 verification through @noble/curves. Works in browsers and Node. */
export function webFrameCrypto(): FrameCrypto {
  return {
    async sha256(data) {
      const s = subtle();
      if (!s) throw new FederaError('unsupported', 'WebCrypto (crypto.subtle) is not available; pages must be served over https');
      return new Uint8Array(await s.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
    },
    verify(publicKey, message, signature) {
      try {
        return ed25519.verify(signature, message, publicKey);
      } catch {
        return false;
      }
    },
    randomBytes,
  };
}

/** A signer over a raw 32-byte Ed25519 secret key, with @noble/curves (any platform). */
export function nobleSigner(secretKey: Uint8Array): FrameSigner {
  if (secretKey.length !== 32) throw new FederaError('invalid_argument', `Ed25519 secret key must be 32 bytes, got ${secretKey.length}`);
  const key = secretKey.slice();
  return { publicKey: ed25519.getPublicKey(key), sign: (m) => ed25519.sign(m, key) };
}

/** A fresh Ed25519 secret key from the platform CSPRNG. */
export function generateSecretKey(): Uint8Array {
  return randomBytes(32);
}

/**
 * A signer over a WebCrypto Ed25519 key pair (browsers keep such keys non-extractable in
 * IndexedDB). Needs WebCrypto Ed25519 (Chrome 137+, Firefox 129+, Safari 17+, Node 20).
 */
export async function webCryptoSigner(keys: CryptoKeyPair): Promise<FrameSigner> {
  const s = subtle();
  if (!s) throw new FederaError('unsupported', 'WebCrypto (crypto.subtle) is not available');
  const publicKey = new Uint8Array(await s.exportKey('raw', keys.publicKey));
  return { publicKey, sign: async (m) => new Uint8Array(await s.sign('Ed25519', keys.privateKey, m as Uint8Array<ArrayBuffer>)) };
}

/** Lowercase hex of bytes (fingerprints, nonce cache keys). */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i].toString(16).padStart(2, '0');
  return s;
}

/** A default client id for a public key: `client-` + the first 16 hex digits of its SHA-256. */
export async function fingerprintId(publicKey: Uint8Array, crypto: FrameCrypto): Promise<string> {
  return `client-${toHex(await crypto.sha256(publicKey)).slice(0, 16)}`;
}
