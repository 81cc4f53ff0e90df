/**
 * Client identities and frame signatures with node:crypto: Ed25519 key pairs made on the client,
 * kept in a file readable only by its owner, and the same signing construction as
 * `src/wire/crypto.ts` (which browsers use through WebCrypto/@noble).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { FederaError, describeError } from '../core/errors.js';
import type { DecodedFrame } from '../wire/codec.js';
import { SIGNATURE_BYTES } from '../wire/codec.js';
import { CHALLENGE_BYTES, PUBLIC_KEY_BYTES, signingMessage, toHex, type FrameCrypto, type FrameSigner } from '../wire/crypto.js';
import { checkClientId } from '../wire/protocol.js';

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** A node:crypto public key object for a raw 32-byte Ed25519 key. */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== PUBLIC_KEY_BYTES) throw new FederaError('invalid_argument', `Ed25519 public key must be ${PUBLIC_KEY_BYTES} bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' });
}

export function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' }) as { x?: string };
  if (!jwk.x) throw new FederaError('invalid_argument', 'not an Ed25519 key');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** Synchronous signature check of a decoded frame signed for the connection of `challenge` (the server's hot path). */
export function verifyFrameSync(frame: DecodedFrame, publicKey: KeyObject, challenge: Uint8Array): boolean {
  if (frame.signature.length !== SIGNATURE_BYTES || challenge.length !== CHALLENGE_BYTES) return false;
  try {
    return verify(null, signingMessage(challenge, sha256(frame.signedPart)), publicKey, frame.signature);
  } catch {
    return false;
  }
}

/** node:crypto behind the isomorphic `FrameCrypto` interface. */
export const nodeFrameCrypto: FrameCrypto = {
  sha256,
  verify(publicKey, message, signature) {
    try {
      return verify(null, message, ed25519PublicKey(publicKey), signature);
    } catch {
      return false;
    }
  },
  randomBytes: (n) => new Uint8Array(randomBytes(n)),
};

export function nodeSigner(privateKey: KeyObject): FrameSigner {
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  return { publicKey, sign: (m) => new Uint8Array(sign(null, m, privateKey)) };
}

/** A client identity: its id and Ed25519 key pair. */
export interface ClientIdentity {
  readonly clientId: string;
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
  /** Servers (URL origins) that have enrolled this identity: no token needed there any more. */
  readonly enrolledWith: readonly string[];
  /**
   * Per server (as `enrolledWith`): a fingerprint of the token that enrolled this identity there,
   * so that a different token given later is an error instead of being silently ignored.
   */
  readonly enrollmentTokens?: Readonly<Record<string, string>>;
  /** The file it lives in, if any. */
  readonly path?: string;
}

interface IdentityFile {
  format: 'federa-identity-v1';
  clientId: string;
  publicKey: string;
  privateKey: string;
  enrolledWith: string[];
  enrollmentTokens?: Record<string, string>;
  createdAt: string;
}

/** A new identity (not saved). The default id is `client-` + 16 hex digits of SHA-256(public key). */
export function createIdentity(clientId?: string): ClientIdentity {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  const id = clientId ?? `client-${toHex(sha256(raw)).slice(0, 16)}`;
  checkClientId(id);
  return { clientId: id, publicKey: raw, privateKey, enrolledWith: [] };
}

/**
 * The identity name a client gets when `--id` is not given: unique per data file (or, for data
 * that is not a file, per working directory), so two clients started on one machine with
 * different data never share an identity: `data-<file stem>-<8 hex of SHA-256(absolute path)>`.
 */
export function defaultIdentityName(dataFile: string | undefined, cwd: string = process.cwd()): string {
  const target = dataFile !== undefined ? resolve(cwd, dataFile) : resolve(cwd);
  const stem = basename(target).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 32) || 'root';
  const hash = createHash('sha256').update(target, 'utf8').digest('hex').slice(0, 8);
  return `${dataFile !== undefined ? 'data' : 'dir'}-${stem}-${hash}`;
}

/**
 * Where `federa client` keeps an identity when `--identity` is not given:
 * `$FEDERA_HOME/identities/<host>/<name>.json` (FEDERA_HOME defaults to ~/.federa). `name` is the
 * client id given with `--id`, or `defaultIdentityName(...)`.
 */
export function defaultIdentityPath(server: string, name: string | undefined): string {
  const home = process.env.FEDERA_HOME ?? join(homedir(), '.federa');
  const host = (() => {
    try {
      return new URL(server).host.replace(/[^A-Za-z0-9.-]/g, '_');
    } catch {
      return 'server';
    }
  })();
  return join(home, 'identities', host, `${(name ?? 'default').replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}

export function saveIdentity(identity: ClientIdentity, path: string): ClientIdentity {
  const file: IdentityFile = {
    format: 'federa-identity-v1',
    clientId: identity.clientId,
    publicKey: b64url(identity.publicKey),
    privateKey: identity.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    enrolledWith: [...identity.enrolledWith],
    ...(identity.enrollmentTokens ? { enrollmentTokens: { ...identity.enrollmentTokens } } : {}),
    createdAt: new Date().toISOString(),
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
  chmodSync(path, 0o600);
  return { ...identity, path };
}

export function loadIdentity(path: string): ClientIdentity {
  let file: IdentityFile;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as IdentityFile;
  } catch (e) {
    throw new FederaError('invalid_config', `cannot read identity file ${path}: ${describeError(e)}`);
  }
  if (file.format !== 'federa-identity-v1' || typeof file.clientId !== 'string' || typeof file.privateKey !== 'string') {
    throw new FederaError('invalid_config', `identity file ${path} is not a federa identity (format federa-identity-v1)`);
  }
  const privateKey = createPrivateKey(file.privateKey);
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  if (file.publicKey && b64url(publicKey) !== file.publicKey) throw new FederaError('invalid_config', `identity file ${path}: public key does not match the private key`);
  return {
    clientId: checkClientId(file.clientId),
    publicKey,
    privateKey,
    enrolledWith: Array.isArray(file.enrolledWith) ? file.enrolledWith : [],
    ...(file.enrollmentTokens && typeof file.enrollmentTokens === 'object' ? { enrollmentTokens: file.enrollmentTokens } : {}),
    path,
  };
}

/**
 * Loads the identity at `path`, or makes and saves a new one. A given `clientId` must match the
 * file's (an identity is one client id and one key).
 */
export function loadOrCreateIdentity(path: string, clientId?: string): { identity: ClientIdentity; created: boolean } {
  if (existsSync(path)) {
    const identity = loadIdentity(path);
    if (clientId !== undefined && identity.clientId !== clientId) {
      throw new FederaError('invalid_config', `identity file ${path} belongs to client "${identity.clientId}", not "${clientId}"`);
    }
    return { identity, created: false };
  }
  return { identity: saveIdentity(createIdentity(clientId), path), created: true };
}

/** A fingerprint of an enrollment token (kept in identity files; not the token, which stays secret). */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(`federa-enrollment-token\0${token}`, 'utf8').digest('hex').slice(0, 16);
}

/** Records that `server` has enrolled the identity (with `token`, when given), in its file. */
export function markEnrolled(identity: ClientIdentity, server: string, token?: string): ClientIdentity {
  const origin = serverKey(server);
  const fp = token !== undefined ? tokenFingerprint(token) : undefined;
  const known = identity.enrolledWith.includes(origin);
  if (known && (fp === undefined || identity.enrollmentTokens?.[origin] === fp)) return identity;
  const next: ClientIdentity = {
    ...identity,
    enrolledWith: known ? identity.enrolledWith : [...identity.enrolledWith, origin],
    ...(fp !== undefined ? { enrollmentTokens: { ...identity.enrollmentTokens, [origin]: fp } } : {}),
  };
  return identity.path ? saveIdentity(next, identity.path) : next;
}

/**
 * Refuses a token that cannot be meant for this identity: one enrolled with `server` already,
 * by another token (or by one it did not record). The server ignores a token from a known
 * identity, so accepting it would silently run as another client and leave the token unused.
 */
export function checkTokenForIdentity(identity: ClientIdentity, server: string, token: string | undefined): void {
  if (token === undefined) return;
  const origin = serverKey(server);
  if (!identity.enrolledWith.includes(origin)) return;
  const recorded = identity.enrollmentTokens?.[origin];
  if (recorded === tokenFingerprint(token)) return;
  const where = identity.path ? ` (identity file ${identity.path})` : '';
  throw new FederaError(
    'invalid_config',
    `identity "${identity.clientId}"${where} is already enrolled with ${origin} ${recorded ? 'by a different token' : 'by an earlier token'}; ` +
      'this --token would be ignored. To enroll another client, give it its own name with --id <name> (or --identity <file>); to run this client again, leave out --token',
    { field: 'token', clientId: identity.clientId },
  );
}

/** The part of a server URL that names it for enrollment purposes (scheme-less host:port). */
export function serverKey(server: string): string {
  try {
    return new URL(server).host;
  } catch {
    return server;
  }
}
