/**
 * The deployment protocol on top of the codec: control-frame bodies (challenge, hello, welcome,
 * notice, bye), close codes, limits and reconnect backoff. Isomorphic; the server (src/server)
 * and every client (src/wire/client.ts, Node and browsers) share it.
 *
 * A connection: server CHALLENGE → client HELLO (signed, echoes the challenge; carries an
 * enrollment token the first time) → server WELCOME → INSTRUCTION/REPLY pairs by request id,
 * client PINGs, server CANCELs and NOTICEs → BYE or close.
 */
import { FederaError } from '../core/errors.js';
import { NONCE_BYTES, type Frame, type WireRecord, type WireValue } from './codec.js';
import { CHALLENGE_BYTES, PUBLIC_KEY_BYTES } from './crypto.js';

export { CHALLENGE_BYTES };

/** WebSocket close codes of the protocol (4000–4999 are the application's). */
export const CloseCode = {
  protocolViolation: 4000,
  /** Enrollment refused, unknown or revoked identity: do not retry. */
  unauthorized: 4001,
  handshakeTimeout: 4002,
  rateLimited: 4003,
  runComplete: 4004,
  serverShutdown: 4005,
  /** Another connection authenticated as the same client: do not retry. */
  replaced: 4006,
  heartbeatTimeout: 4007,
  /** Set by WebSocket implementations for a message over the size limit. */
  tooBig: 1009,
} as const;

/** Close codes after which a client must not reconnect. */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.unauthorized, CloseCode.replaced]);

/** Largest frame accepted before a connection has authenticated. */
export const PREAUTH_MAX_FRAME_BYTES = 64 * 1024;
export const DEFAULT_HEARTBEAT_MS = 10_000;
export const SOFTWARE = 'federa/0.1';

/** What a client needs to build its trainer: sent by the server in WELCOME. */
export interface ModelSpec {
  /** A model of the zoo ("logreg", "2nn", "cnn", …) or a name the client's own trainer factory knows. */
  name: string;
  numFeatures: number;
  /** Classes (classification), 2 (binary) or targets (regression). */
  numClasses: number;
  layout: Array<{ name: string; shape: number[] }>;
  /** 'classification' when absent. */
  task?: 'classification' | 'binary' | 'regression';
  /** Shape of one example (conv models), when not flat. */
  inputShape?: number[];
  /**
   * A TF.js layers-model topology (the `modelTopology` of a model.json), as JSON text: the
   * architecture of a bring-your-own model, which clients build instead of a zoo model. Weights
   * never travel here; they come with every round's parameters.
   */
  architecture?: string;
}

const SPEC_TASKS: ReadonlySet<string> = new Set(['classification', 'binary', 'regression']);

export interface Challenge {
  runId: string;
  round: number;
  challenge: Uint8Array;
  heartbeatMs: number;
  maxFrameBytes: number;
}

export interface Hello {
  clientId: string;
  runId: string;
  round: number;
  challenge: Uint8Array;
  publicKey: Uint8Array;
  enrollmentToken?: string;
  software?: string;
}

export interface Welcome {
  runId: string;
  round: number;
  clientId: string;
  /** True when this connection enrolled the identity. */
  enrolled: boolean;
  heartbeatMs: number;
  maxFrameBytes: number;
  /** The run seed: clients derive their local validation split from it, as simulation does. */
  seed: number | string;
  validationFraction: number;
  model: ModelSpec;
}

/**
 * The nonce of a connection's `sequence`-th client frame (its HELLO is 1): 16 bytes, `sequence`
 * big-endian in the last 8. On a connection nonces strictly increase (as 128-bit big-endian
 * numbers): the server refuses a frame whose nonce is not above the last one it accepted there,
 * so a replay on the same connection is refused with a store of one nonce per connection.
 */
export function sequenceNonce(sequence: number): Uint8Array {
  if (!Number.isSafeInteger(sequence) || sequence < 1) throw new FederaError('invalid_argument', `sequenceNonce: the sequence must be a positive safe integer, got ${sequence}`);
  const nonce = new Uint8Array(NONCE_BYTES);
  const view = new DataView(nonce.buffer);
  view.setUint32(8, Math.floor(sequence / 2 ** 32));
  view.setUint32(12, sequence >>> 0);
  return nonce;
}

/** Whether `nonce` is above `previous` as big-endian numbers of the same length (the replay rule). */
export function nonceIncreases(previous: Uint8Array, nonce: Uint8Array): boolean {
  if (nonce.length !== previous.length) return false;
  for (let i = 0; i < nonce.length; i++) if (nonce[i] !== previous[i]) return nonce[i] > previous[i];
  return false;
}

export interface Notice {
  code: string;
  reason: string;
  requestId?: number;
}

function bad(what: string, reason: string): FederaError {
  return new FederaError('malformed_message', `${what}: ${reason}`);
}

function field<T>(body: WireRecord, name: string, what: string, check: (v: WireValue) => v is WireValue & T, expected: string): T {
  const v = body[name];
  if (v === undefined || !check(v)) throw bad(what, `field "${name}" must be ${expected}`);
  return v as T;
}
const isNum = (v: WireValue): v is number => typeof v === 'number';
const isStr = (v: WireValue): v is string => typeof v === 'string';
const isBool = (v: WireValue): v is boolean => typeof v === 'boolean';
const isBytes = (v: WireValue): v is Uint8Array => v instanceof Uint8Array;
const isRecord = (v: WireValue): v is WireRecord => typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && !Array.isArray(v);
const isInt = (v: WireValue): v is number => Number.isInteger(v) && (v as number) >= 0;

/** Client ids: 1–128 characters of letters, digits, `.`, `_`, `-`, `@`, `:`. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._@:-]{1,128}$/;

export function checkClientId(id: string, what = 'client id'): string {
  if (!CLIENT_ID_PATTERN.test(id)) throw new FederaError('invalid_argument', `${what} "${id.slice(0, 64)}" must be 1–128 letters, digits, ".", "_", "-", "@" or ":"`);
  return id;
}

export function challengeBody(c: Omit<Challenge, 'runId' | 'round'>): WireRecord {
  return { challenge: c.challenge, heartbeatMs: c.heartbeatMs, maxFrameBytes: c.maxFrameBytes, server: SOFTWARE };
}

export function parseChallenge(f: Frame): Challenge {
  const w = 'challenge';
  const challenge = field<Uint8Array>(f.body, 'challenge', w, isBytes, `${CHALLENGE_BYTES} bytes`);
  if (challenge.length !== CHALLENGE_BYTES) throw bad(w, `challenge is ${challenge.length} bytes, expected ${CHALLENGE_BYTES}`);
  const heartbeatMs = field<number>(f.body, 'heartbeatMs', w, isInt, 'a non-negative integer');
  const maxFrameBytes = field<number>(f.body, 'maxFrameBytes', w, isInt, 'a non-negative integer');
  return { runId: f.runId, round: f.round, challenge, heartbeatMs, maxFrameBytes };
}

export function helloBody(h: Omit<Hello, 'clientId' | 'runId' | 'round'>): WireRecord {
  const body: Record<string, WireValue> = { challenge: h.challenge, publicKey: h.publicKey, software: h.software ?? SOFTWARE };
  if (h.enrollmentToken !== undefined) body.enrollmentToken = h.enrollmentToken;
  return body;
}

export function parseHello(f: Frame): Hello {
  const w = 'hello';
  if (f.kind !== 'hello') throw bad(w, `expected a hello frame, got ${f.kind}`);
  checkClientIdWire(f.clientId, w);
  const challenge = field<Uint8Array>(f.body, 'challenge', w, isBytes, `${CHALLENGE_BYTES} bytes`);
  const publicKey = field<Uint8Array>(f.body, 'publicKey', w, isBytes, `${PUBLIC_KEY_BYTES} bytes`);
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw bad(w, `publicKey is ${publicKey.length} bytes, expected ${PUBLIC_KEY_BYTES}`);
  const token = f.body.enrollmentToken;
  if (token !== undefined && (typeof token !== 'string' || token.length === 0 || token.length > 512)) throw bad(w, 'enrollmentToken must be a string of 1–512 characters');
  const software = typeof f.body.software === 'string' ? f.body.software.slice(0, 64) : undefined;
  return { clientId: f.clientId, runId: f.runId, round: f.round, challenge, publicKey, enrollmentToken: token as string | undefined, software };
}

function checkClientIdWire(id: string, what: string): void {
  if (!CLIENT_ID_PATTERN.test(id)) throw bad(what, `client id "${id.slice(0, 64)}" must be 1–128 letters, digits, ".", "_", "-", "@" or ":"`);
}

export function welcomeBody(w: Omit<Welcome, 'runId' | 'round'>): WireRecord {
  return {
    clientId: w.clientId,
    enrolled: w.enrolled,
    heartbeatMs: w.heartbeatMs,
    maxFrameBytes: w.maxFrameBytes,
    seed: w.seed,
    validationFraction: w.validationFraction,
    model: {
      name: w.model.name,
      numFeatures: w.model.numFeatures,
      numClasses: w.model.numClasses,
      layout: w.model.layout.map((t) => ({ name: t.name, shape: Int32Array.from(t.shape) })),
      // Optional fields only when set, so a zoo classification spec encodes as before.
      ...(w.model.task !== undefined ? { task: w.model.task } : {}),
      ...(w.model.inputShape !== undefined ? { inputShape: Int32Array.from(w.model.inputShape) } : {}),
      ...(w.model.architecture !== undefined ? { architecture: w.model.architecture } : {}),
    },
  };
}

function optionalSpecFields(model: WireRecord, w: string): Pick<ModelSpec, 'task' | 'inputShape' | 'architecture'> {
  const out: Pick<ModelSpec, 'task' | 'inputShape' | 'architecture'> = {};
  if (model.task !== undefined) {
    if (typeof model.task !== 'string' || !SPEC_TASKS.has(model.task)) throw bad(w, `model.task must be classification, binary or regression, got ${String(model.task).slice(0, 40)}`);
    out.task = model.task as ModelSpec['task'];
  }
  if (model.inputShape !== undefined) {
    if (!(model.inputShape instanceof Int32Array) || model.inputShape.some((d) => d < 1)) throw bad(w, 'model.inputShape must be positive i32 dimensions');
    out.inputShape = Array.from(model.inputShape);
  }
  if (model.architecture !== undefined) {
    if (typeof model.architecture !== 'string') throw bad(w, 'model.architecture must be text (a TF.js model topology as JSON)');
    out.architecture = model.architecture;
  }
  return out;
}

export function parseWelcome(f: Frame): Welcome {
  const w = 'welcome';
  const b = f.body;
  const model = field<WireRecord>(b, 'model', w, isRecord, 'a record');
  const layout = model.layout;
  if (!Array.isArray(layout)) throw bad(w, 'model.layout must be a list');
  const seed = b.seed;
  if (typeof seed !== 'number' && typeof seed !== 'string') throw bad(w, 'seed must be a number or a string');
  const validationFraction = field<number>(b, 'validationFraction', w, isNum, 'a number');
  if (!(validationFraction >= 0 && validationFraction < 1)) throw bad(w, `validationFraction ${validationFraction} is outside [0, 1)`);
  return {
    runId: f.runId,
    round: f.round,
    clientId: field<string>(b, 'clientId', w, isStr, 'a string'),
    enrolled: field<boolean>(b, 'enrolled', w, isBool, 'a boolean'),
    heartbeatMs: field<number>(b, 'heartbeatMs', w, isInt, 'a non-negative integer'),
    maxFrameBytes: field<number>(b, 'maxFrameBytes', w, isInt, 'a non-negative integer'),
    seed,
    validationFraction,
    model: {
      name: field<string>(model, 'name', 'welcome.model', isStr, 'a string'),
      numFeatures: field<number>(model, 'numFeatures', 'welcome.model', isInt, 'a non-negative integer'),
      numClasses: field<number>(model, 'numClasses', 'welcome.model', isInt, 'a non-negative integer'),
      layout: (layout as WireValue[]).map((t, i) => {
        if (!isRecord(t) || typeof t.name !== 'string' || !(t.shape instanceof Int32Array)) throw bad(w, `model.layout[${i}] must be {name: text, shape: i32}`);
        return { name: t.name, shape: Array.from(t.shape) };
      }),
      ...optionalSpecFields(model, w),
    },
  };
}

export function noticeBody(n: Notice): WireRecord {
  return n.requestId === undefined ? { code: n.code, reason: n.reason } : { code: n.code, reason: n.reason, requestId: n.requestId };
}

export function parseNotice(f: Frame): Notice {
  const code = typeof f.body.code === 'string' ? f.body.code : 'unknown';
  const reason = typeof f.body.reason === 'string' ? f.body.reason : '';
  const requestId = typeof f.body.requestId === 'number' ? f.body.requestId : undefined;
  return { code, reason, requestId };
}

// ---------------------------------------------------------------------------------------------
// Reconnecting

export interface BackoffOptions {
  /** First delay (default 500 ms). */
  initialMs?: number;
  /** Largest delay (default 30 s). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Fraction of the delay that is random (default 0.5: "equal jitter"). */
  jitter?: number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter so that a
 * restarted server is not hit by every client at the same instant.
 */
export function backoffDelay(attempt: number, o: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = o.initialMs ?? 500;
  const max = o.maxMs ?? 30_000;
  const factor = o.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0.5));
  const d = Math.min(max, initial * factor ** Math.min(attempt, 60));
  return d * (1 - jitter) + d * jitter * random();
}
