/**
 * Why a connection could not be opened, from the `error` event a WebSocket fires before `close`.
 * Node's `ws` carries the socket's Error (with OpenSSL's verification code for TLS failures);
 * browsers hide the reason, so there the result only says that the connection failed.
 * Isomorphic: no node: imports.
 */

export type TlsProblem = 'name_mismatch' | 'unknown_ca' | 'expired' | 'not_yet_valid' | 'other_certificate';

export interface ConnectError {
  /** The error code as reported (`ECONNREFUSED`, `ERR_TLS_CERT_ALTNAME_INVALID`, `CERT_HAS_EXPIRED`, …). */
  readonly code?: string;
  /** The underlying message. */
  readonly message: string;
  /** Set for certificate failures: they do not go away by retrying. */
  readonly tls?: TlsProblem;
  /** What to do about it, when known. */
  readonly hint?: string;
}

const UNKNOWN_CA = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE']);
const OTHER_CERT = new Set(['CERT_REVOKED', 'CERT_REJECTED', 'INVALID_CA', 'INVALID_PURPOSE', 'CERT_CHAIN_TOO_LONG', 'PATH_LENGTH_EXCEEDED', 'HOSTNAME_MISMATCH']);

function classify(code: string | undefined): TlsProblem | undefined {
  if (!code) return undefined;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') return 'name_mismatch';
  if (UNKNOWN_CA.has(code)) return 'unknown_ca';
  if (code === 'CERT_HAS_EXPIRED') return 'expired';
  if (code === 'CERT_NOT_YET_VALID') return 'not_yet_valid';
  if (OTHER_CERT.has(code)) return 'other_certificate';
  return undefined;
}

function hintFor(problem: TlsProblem | undefined, code: string | undefined, url: string): string | undefined {
  let host = url;
  try {
    host = new URL(url).hostname;
  } catch {
    // keep the URL as it is
  }
  switch (problem) {
    case 'name_mismatch':
      return `the server's certificate is not valid for "${host}": connect with a name the certificate lists, or make a certificate for it (federa cert --host ${host})`;
    case 'unknown_ca':
      return 'the server\'s certificate is not signed by a CA this client trusts: pass the CA certificate with --ca <file> (federa cert writes ca.pem)';
    case 'expired':
      return 'the server\'s certificate has expired: make a new one (federa cert --host …) and restart the server';
    case 'not_yet_valid':
      return 'the server\'s certificate is not valid yet: check the clocks of the server and this machine';
    case 'other_certificate':
      return 'the server\'s certificate was rejected';
    default:
      break;
  }
  if (code === 'ECONNREFUSED') return 'nothing listens at that address: is the server running, and is the port right?';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve "${host}"`;
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'no answer: a firewall may drop the connection (docs/troubleshooting.md)';
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'TLS handshake failed: does the server speak wss (TLS) on this port, or plain ws?';
  return undefined;
}

/** The reason behind a WebSocket `error` event (a `ws` ErrorEvent, an Error, or a browser Event). */
export function describeConnectError(ev: unknown, url: string): ConnectError {
  const e = (ev && typeof ev === 'object' && 'error' in ev ? (ev as { error: unknown }).error : ev) as { code?: unknown; message?: unknown } | undefined;
  const code = e && typeof e.code === 'string' ? e.code : undefined;
  const raw = e && typeof e.message === 'string' && e.message ? e.message : ev && typeof ev === 'object' && typeof (ev as { message?: unknown }).message === 'string' ? String((ev as { message: string }).message) : '';
  const message = raw || 'the connection failed (the browser does not say why)';
  const tls = classify(code);
  const hint = hintFor(tls, code, url);
  return { ...(code ? { code } : {}), message, ...(tls ? { tls } : {}), ...(hint ? { hint } : {}) };
}

/** One line for logs and errors: "message (CODE): hint". */
export function formatConnectError(e: ConnectError): string {
  return `${e.message}${e.code && !e.message.includes(e.code) ? ` (${e.code})` : ''}${e.hint ? `; ${e.hint}` : ''}`;
}
