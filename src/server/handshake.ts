/**
 * The handshake: a connection's first frame must be a HELLO that answers the connection's
 * challenge, names this run, carries a nonce (the start of the connection's sequence) and is
 * signed by the key it presents; then the client is either enrolled already (not revoked, same
 * key) or enrolls now with a one-time token. Every failure closes the connection.
 */
import { timingSafeEqual, type KeyObject } from 'node:crypto';
import { isFederaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { NONCE_BYTES, type DecodedFrame } from '../wire/codec.js';
import { CloseCode, parseHello } from '../wire/protocol.js';
import { ed25519PublicKey, verifyFrameSync } from '../node/identity.js';
import type { ClientDirectory } from './store.js';
import type { Rejection } from './rejections.js';

export interface Authenticated {
  ok: true;
  clientId: string;
  key: KeyObject;
  /** Whether this hello enrolled the client (first connection with its token). */
  enrolled: boolean;
  software: unknown;
}

export interface Refused extends Rejection {
  ok: false;
  /** The close code the connection is closed with. */
  close: number;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Authenticates (and, with a token, enrolls) the client of a connection's first frame. */
export function authenticate(frame: DecodedFrame, challenge: Uint8Array, runId: string, directory: ClientDirectory, logger: Logger): Authenticated | Refused {
  const refuse = (code: Refused['code'], reason: string, close: number = CloseCode.unauthorized): Refused => ({ ok: false, code, reason, close });
  if (frame.kind !== 'hello') return refuse('unauthenticated', `a ${frame.kind} frame before authentication; the first frame must be a signed hello`);
  let hello;
  try {
    hello = parseHello(frame);
  } catch (e) {
    return refuse('malformed_message', (e as Error).message, CloseCode.protocolViolation);
  }
  if (!sameBytes(hello.challenge, challenge)) return refuse('bad_challenge', "the hello does not answer this connection's challenge (a replayed or forged hello)");
  if (frame.runId !== runId) return refuse('wrong_run', `hello for run "${frame.runId}"; this server runs "${runId}"`);
  if (frame.nonce.length !== NONCE_BYTES) return refuse('replay', 'a hello without a nonce (its nonce starts the sequence of this connection)');
  const key = ed25519PublicKey(hello.publicKey);
  if (!verifyFrameSync(frame, key, challenge)) return refuse('bad_signature', `the hello of client ${hello.clientId} is not signed by the key it presents`);
  const known = directory.lookup(hello.clientId);
  if (known) {
    if (known.revoked) return refuse('revoked', `client ${hello.clientId} has been revoked`);
    if (!sameBytes(known.publicKey, hello.publicKey)) return refuse('wrong_key', `client ${hello.clientId} is enrolled with another key`);
    return { ok: true, clientId: hello.clientId, key, enrolled: false, software: hello.software };
  }
  if (hello.enrollmentToken === undefined) return refuse('unknown_client', `client ${hello.clientId} is not enrolled; connect once with an enrollment token`);
  try {
    directory.enroll(hello.clientId, hello.publicKey, hello.enrollmentToken);
  } catch (e) {
    const code = isFederaError(e, 'unauthorized') && e.details?.reason === 'identity_conflict' ? 'identity_conflict' : 'invalid_token';
    return refuse(code, `enrollment of ${hello.clientId} refused: ${e instanceof Error ? e.message : String(e)}`);
  }
  logger.info({ clientId: hello.clientId }, 'client enrolled');
  return { ok: true, clientId: hello.clientId, key, enrolled: true, software: hello.software };
}
