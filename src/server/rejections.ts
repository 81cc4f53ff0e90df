/**
 * Why the server rejects a client frame: the codes sent in NOTICEs, logged, counted on `/metrics`
 * (a fixed label set) and stored against the client, and the error each one fails the client's
 * pending requests with.
 */
import type { FederaErrorCode } from '../core/errors.js';

/** Why a frame was rejected (sent in NOTICEs, logged, counted, stored). */
export type RejectionCode =
  | 'text_frame'
  | 'malformed_message'
  | 'non_finite'
  | 'payload_too_large'
  | 'rate_limited'
  | 'unauthenticated'
  | 'bad_challenge'
  | 'unknown_client'
  | 'invalid_token'
  | 'identity_conflict'
  | 'wrong_key'
  | 'revoked'
  | 'bad_signature'
  | 'wrong_client'
  | 'wrong_run'
  | 'wrong_round'
  | 'replay'
  | 'unexpected_frame'
  | 'unexpected_reply'
  | 'oversized_string';

/** A frame refused by one of the checks, with the reason told to the client. */
export interface Rejection {
  code: RejectionCode;
  reason: string;
}

/** The error a rejection fails the client's pending requests with (so the round records why). */
export const REJECTION_ERROR: Readonly<Record<RejectionCode, FederaErrorCode>> = {
  text_frame: 'malformed_message',
  malformed_message: 'malformed_message',
  non_finite: 'non_finite',
  payload_too_large: 'payload_too_large',
  rate_limited: 'rate_limited',
  unauthenticated: 'unauthorized',
  bad_challenge: 'unauthorized',
  unknown_client: 'unauthorized',
  invalid_token: 'unauthorized',
  identity_conflict: 'unauthorized',
  wrong_key: 'unauthorized',
  revoked: 'unauthorized',
  bad_signature: 'unauthorized',
  wrong_client: 'unauthorized',
  wrong_run: 'unauthorized',
  wrong_round: 'malformed_message',
  replay: 'unauthorized',
  unexpected_frame: 'malformed_message',
  unexpected_reply: 'malformed_message',
  oversized_string: 'malformed_message',
};
