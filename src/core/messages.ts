/**
 * Messages between the server and clients. Every message names its type, run and round; the
 * engine sends instructions and collects replies, whatever the transport.
 */
import { FederaError } from './errors.js';

/** 2: frames are signed for their connection's challenge and their nonces increase on a connection. */
export const PROTOCOL_VERSION = 2;

export type ConfigValue = number | string | boolean;
/** Plain key/value settings sent with an instruction (learning rate, epochs, proximal mu, ...). */
export type Config = Readonly<Record<string, ConfigValue>>;
/** Named scalar metrics (loss, accuracy, ...). */
export type Metrics = Record<string, number>;

export interface MessageBase {
  readonly type: string;
  readonly runId: string;
  readonly round: number;
}

/** Server → client: train from `params` with `config`. */
export interface TrainInstruction extends MessageBase {
  readonly type: 'train';
  readonly params: Float32Array;
  readonly config: Config;
}

/** Client → server: `update` = trained parameters − received parameters. */
export interface TrainReply extends MessageBase {
  readonly type: 'train_result';
  readonly update: Float32Array;
  readonly numExamples: number;
  readonly metrics: Metrics;
}

/** Server → client: evaluate `params` on the local validation split. */
export interface EvaluateInstruction extends MessageBase {
  readonly type: 'evaluate';
  readonly params: Float32Array;
  readonly config: Config;
}

export interface EvaluateReply extends MessageBase {
  readonly type: 'evaluate_result';
  readonly loss: number;
  readonly numExamples: number;
  readonly metrics: Metrics;
}

/** Client → server: the client could not carry out the instruction. */
export interface ErrorReply extends MessageBase {
  readonly type: 'error';
  readonly code: string;
  readonly message: string;
}

export type FederaMessage = TrainInstruction | TrainReply | EvaluateInstruction | EvaluateReply | ErrorReply;

/**
 * Bytes a message occupies as payload: typed arrays by their byte length, everything else by the
 * length of its JSON. Transports that serialise report their real frame sizes instead.
 */
export function payloadBytes(message: MessageBase): number {
  let bytes = 0;
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) {
    if (ArrayBuffer.isView(value)) bytes += value.byteLength;
    else rest[key] = value;
  }
  return bytes + new TextEncoder().encode(JSON.stringify(rest)).length;
}

/** Throws `malformed_message` unless `m` has a string type and runId and a non-negative integer round. */
export function checkHeader(m: unknown, where: string): asserts m is MessageBase {
  if (typeof m !== 'object' || m === null) throw new FederaError('malformed_message', `${where}: message is not an object`);
  const r = m as Record<string, unknown>;
  if (typeof r.type !== 'string' || r.type.length === 0) throw new FederaError('malformed_message', `${where}: message has no type`);
  if (typeof r.runId !== 'string') throw new FederaError('malformed_message', `${where}: message "${r.type}" has no runId`);
  if (typeof r.round !== 'number' || !Number.isInteger(r.round) || r.round < 0) {
    throw new FederaError('malformed_message', `${where}: message "${r.type}" has an invalid round ${String(r.round)}`);
  }
}

/** Throws unless every metric is a finite number. */
export function checkMetrics(metrics: unknown, where: string): asserts metrics is Metrics {
  if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) {
    throw new FederaError('malformed_message', `${where}: metrics must be an object of numbers`);
  }
  for (const [k, v] of Object.entries(metrics)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new FederaError('non_finite', `${where}: metric "${k}" is not a finite number (${String(v)})`);
    }
  }
}

export function checkExampleCount(n: unknown, where: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new FederaError('malformed_message', `${where}: numExamples must be a non-negative integer, got ${String(n)}`);
  }
}
