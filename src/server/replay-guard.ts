/**
 * The checks every frame of an authenticated connection passes before it is used, cheap ones
 * first: client id, run id, round (no later than the next), the signature (made for this
 * connection's challenge, so a frame captured on another connection or before a server restart
 * never verifies), then the nonce, which must be above the last one accepted on the connection
 * and only advances for frames whose signature held; finally a non-reply may not claim a round
 * before its connection began (a reply's round is checked against its request by the grid).
 */
import type { DecodedFrame } from '../wire/codec.js';
import { NONCE_BYTES } from '../wire/codec.js';
import { toHex } from '../wire/crypto.js';
import { nonceIncreases } from '../wire/protocol.js';
import { verifyFrameSync } from '../node/identity.js';
import type { Conn } from './connection.js';
import type { Rejection } from './rejections.js';

/** Checks `frame` on the ready connection `conn`; advances its nonce when the frame is accepted. */
export function guardFrame(conn: Conn, frame: DecodedFrame, runId: string, currentRound: number): Rejection | undefined {
  const clientId = conn.clientId!;
  if (frame.clientId !== clientId) return { code: 'wrong_client', reason: `frame names client "${frame.clientId}" on the connection of ${clientId}` };
  if (frame.runId !== runId) return { code: 'wrong_run', reason: `frame for run "${frame.runId}"; this server runs "${runId}"` };
  if (frame.round > currentRound + 1) return { code: 'wrong_round', reason: `frame for round ${frame.round}; the run is at round ${currentRound}` };
  if (frame.signature.length === 0) return { code: 'bad_signature', reason: `unsigned ${frame.kind} frame from ${clientId}` };
  if (frame.nonce.length !== NONCE_BYTES) return { code: 'replay', reason: `${frame.kind} frame without a nonce` };
  if (!verifyFrameSync(frame, conn.key!, conn.challenge)) {
    return {
      code: 'bad_signature',
      reason: `the ${frame.kind} frame's signature does not verify with the enrolled key of ${clientId} for this connection (a frame signed for another connection, or before a server restart, never does)`,
    };
  }
  if (!nonceIncreases(conn.lastNonce!, frame.nonce)) {
    return {
      code: 'replay',
      reason: `nonce ${toHex(frame.nonce).slice(-12)} is not above the last one accepted on this connection (${toHex(conn.lastNonce!).slice(-12)}): a replayed or reordered frame`,
    };
  }
  conn.lastNonce = frame.nonce;
  if (frame.kind !== 'reply' && frame.round < conn.startRound) {
    return { code: 'wrong_round', reason: `stale ${frame.kind} frame: it claims round ${frame.round}, and this connection began in round ${conn.startRound}` };
  }
  return undefined;
}
