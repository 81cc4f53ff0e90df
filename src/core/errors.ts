/**
 * Typed errors. Every error federa raises on purpose is a `FederaError` with a stable `code`
 * that callers can switch on, and a message that says what was expected and what arrived.
 */
export type FederaErrorCode =
  | 'invalid_config'
  | 'invalid_argument'
  | 'shape_mismatch'
  | 'non_finite'
  | 'malformed_message'
  | 'payload_too_large'
  | 'client_failed'
  | 'timeout'
  | 'aborted'
  | 'insufficient_results'
  | 'not_found'
  | 'conflict'
  | 'data_error'
  | 'unsupported'
  | 'unauthorized'
  | 'rate_limited'
  | 'disconnected'
  | 'privacy_budget'
  | 'tls_error'
  | 'internal';

export class FederaError extends Error {
  readonly code: FederaErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: FederaErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FederaError';
    this.code = code;
    this.details = details;
  }
}

export function isFederaError(e: unknown, code?: FederaErrorCode): e is FederaError {
  return e instanceof FederaError && (code === undefined || e.code === code);
}

/** A one-line description of any thrown value, for logs and failure records. */
export function describeError(e: unknown): string {
  if (e instanceof FederaError) return `${e.code}: ${e.message}`;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

export function invalidArgument(message: string, details?: Record<string, unknown>): FederaError {
  return new FederaError('invalid_argument', message, details);
}
