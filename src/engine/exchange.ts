/**
 * One exchange: send a message to each of a set of clients and collect their replies until all
 * have answered, a deadline passes, or enough have answered. Every round workflow is a sequence of
 * exchanges (training is one; secure aggregation is five).
 */
import type { MessageBase } from '../core/messages.js';
import { FederaError, describeError, isFederaError } from '../core/errors.js';
import type { Grid } from './grid.js';
import type { SimulatedClock } from './clock.js';
import type { ClientFailure } from '../core/records.js';
import { WIRE_LIMITS, truncateString } from '../wire/limits.js';

export type { ClientFailure };

export interface ExchangeRequest {
  readonly clientId: string;
  readonly message: MessageBase;
  /**
   * Payload bytes of this message with float32 arrays, when a layer encoded it (compression);
   * counted in `bytesDownFloat32` in place of the bytes the transport measured.
   */
  readonly float32Bytes?: number;
}

export interface ExchangeOptions {
  /** Replies later than this are not waited for; those clients fail with code `timeout`. */
  timeoutMs?: number;
  /** Close the exchange once this many replies were accepted (over-selection); the rest are `dropped`. */
  stopAfter?: number;
  signal?: AbortSignal;
  /**
   * With a simulated clock on the grid (engine/clock.ts), the exchange runs in simulated time and
   * advances the clock (default). `false`: the caller keeps the clock (an asynchronous workflow
   * that orders its own events); the exchange then runs as without one.
   */
  useClock?: boolean;
}

export interface ExchangeOutcome {
  /** Clients whose reply was accepted by `onReply`, in the order they arrived. */
  readonly succeeded: string[];
  readonly failures: ClientFailure[];
  /** Clients not waited for because `stopAfter` replies had arrived. */
  readonly dropped: string[];
  readonly bytesDown: number;
  readonly bytesUp: number;
  /** `bytesDown` with every encoded request counted at its float32 size (`float32Bytes`). */
  readonly bytesDownFloat32?: number;
  readonly durationMs: number;
  /** Simulated ms the exchange took (a grid with a clock). */
  readonly simulatedMs?: number;
  /** ms from the exchange's start to each accepted reply (simulated with a clock). */
  readonly replyMs?: Readonly<Record<string, number>>;
}

/**
 * Sends every request at once and hands each reply to `onReply`, one at a time in arrival order.
 * Typed arrays in a reply are valid only during its `onReply` call (the transport may reuse them
 * afterwards): copy what must outlive it.
 * `onReply` throws to reject a reply (the client is then recorded as failed with the error's code).
 * An `error` reply from a client is a failure with the client's code and message.
 */
export async function exchange(
  grid: Grid,
  requests: readonly ExchangeRequest[],
  onReply: (clientId: string, reply: MessageBase) => void | Promise<void>,
  options: ExchangeOptions = {},
): Promise<ExchangeOutcome> {
  const seen = new Set<string>();
  for (const r of requests) {
    if (seen.has(r.clientId)) throw new FederaError('invalid_argument', `exchange: client ${r.clientId} appears twice`);
    seen.add(r.clientId);
  }
  if (grid.clock && options.useClock !== false) return exchangeSimulated(grid, grid.clock, requests, onReply, options);
  return exchangeNow(grid, requests, onReply, options);
}

/**
 * An exchange in simulated time. Each request's duration on its device is known before it runs:
 * a client that would go offline first fails (`offline`), one slower than the deadline fails
 * (`timeout`), and the others run one after another in the order their replies would arrive
 * (ties in request order), until `stopAfter` were accepted — the rest are `dropped` without being
 * run. The clock moves to when the exchange would close: the `stopAfter`-th accepted reply, or
 * the last reply, the deadline (when a client missed it) or the last disconnect, whichever is last.
 */
async function exchangeSimulated(
  grid: Grid,
  clock: SimulatedClock,
  requests: readonly ExchangeRequest[],
  onReply: (clientId: string, reply: MessageBase) => void | Promise<void>,
  options: ExchangeOptions,
): Promise<ExchangeOutcome> {
  const started = now();
  const start = clock.now();
  const timeout = options.timeoutMs;
  const failures: ClientFailure[] = [];
  const runnable: { request: ExchangeRequest; at: number; order: number }[] = [];
  let end = 0;
  const seconds = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 0);
  requests.forEach((request, order) => {
    const { durationMs, offlineAfterMs } = clock.timing(request.clientId, request.message);
    const clientId = request.clientId;
    if (offlineAfterMs !== undefined && offlineAfterMs < durationMs && (timeout === undefined || offlineAfterMs < timeout)) {
      failures.push({ clientId, code: 'offline', reason: `the device went offline ${seconds(offlineAfterMs)} s into the request (simulated time); its reply needed ${seconds(durationMs)} s` });
      end = Math.max(end, offlineAfterMs);
    } else if (timeout !== undefined && durationMs > timeout) {
      failures.push({ clientId, code: 'timeout', reason: `no reply within ${timeout} ms (simulated time): the device needs ${seconds(durationMs)} s` });
      end = Math.max(end, timeout);
    } else runnable.push({ request, at: durationMs, order });
  });
  runnable.sort((a, b) => a.at - b.at || a.order - b.order);
  const succeeded: string[] = [];
  const dropped: string[] = [];
  let bytesDown = 0;
  let bytesUp = 0;
  let bytesDownFloat32 = 0;
  let enough = false;
  const replyMs: Record<string, number> = {};
  for (const { request, at } of runnable) {
    if (enough || options.signal?.aborted) {
      if (enough) dropped.push(request.clientId);
      else failures.push({ clientId: request.clientId, code: 'aborted', reason: 'the exchange was aborted' });
      continue;
    }
    const one = await exchangeNow(grid, [request], onReply, { signal: options.signal });
    bytesDown += one.bytesDown;
    bytesUp += one.bytesUp;
    bytesDownFloat32 += one.bytesDownFloat32 ?? one.bytesDown;
    succeeded.push(...one.succeeded);
    for (const id of one.succeeded) replyMs[id] = at;
    failures.push(...one.failures);
    end = Math.max(end, at);
    if (options.stopAfter !== undefined && succeeded.length >= options.stopAfter) {
      enough = true;
      end = at; // the exchange closes on this reply, before any later disconnect or deadline
    }
  }
  clock.advanceTo(start + end);
  return { succeeded, failures, dropped, bytesDown, bytesUp, bytesDownFloat32, durationMs: now() - started, simulatedMs: end, replyMs };
}

/** An exchange in real time: every request at once, replies handed on in arrival order. */
async function exchangeNow(
  grid: Grid,
  requests: readonly ExchangeRequest[],
  onReply: (clientId: string, reply: MessageBase) => void | Promise<void>,
  options: ExchangeOptions,
): Promise<ExchangeOutcome> {
  const started = now();
  const controller = new AbortController();
  const replyMs: Record<string, number> = {};
  const succeeded: string[] = [];
  const failures: ClientFailure[] = [];
  const dropped: string[] = [];
  let bytesDown = 0;
  let bytesUp = 0;
  let bytesDownFloat32 = 0;
  let closed: 'timeout' | 'enough' | 'aborted' | null = null;
  // One promise that settles when the exchange closes, raced against every request, so that
  // closing never waits for a client (and no per-request abort listeners pile up on the signal).
  let signalClosed!: () => void;
  const closedPromise = new Promise<'closed'>((resolve) => (signalClosed = () => resolve('closed')));
  const close = (why: 'timeout' | 'enough' | 'aborted') => {
    if (closed) return;
    closed = why;
    signalClosed();
    controller.abort(new FederaError(why === 'timeout' ? 'timeout' : 'aborted', `exchange closed (${why})`));
  };
  const timer = options.timeoutMs !== undefined ? setTimeout(() => close('timeout'), options.timeoutMs) : undefined;
  const onOuterAbort = () => close('aborted');
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (options.signal?.aborted) close('aborted');

  // Replies are handed to onReply strictly one after another, so aggregations need no locking.
  let queue: Promise<void> = Promise.resolve();
  const pendingFailure = (clientId: string) => {
    if (closed === 'enough') dropped.push(clientId);
    else if (closed === 'timeout') failures.push({ clientId, code: 'timeout', reason: `no reply within ${options.timeoutMs} ms` });
    else failures.push({ clientId, code: 'aborted', reason: 'the exchange was aborted' });
  };

  await Promise.all(
    requests.map(async ({ clientId, message, float32Bytes }) => {
      if (closed) {
        pendingFailure(clientId);
        return;
      }
      let reply;
      try {
        const pending = grid.request(clientId, message, controller.signal);
        const first = await Promise.race([pending, closedPromise]);
        if (first === 'closed') {
          // A late reply is not used; its buffers go back to the transport, its rejection is expected.
          pending.then((r) => r.release?.(), () => {});
          pendingFailure(clientId);
          return;
        }
        reply = first;
      } catch (e) {
        if (closed) pendingFailure(clientId);
        else failures.push({ clientId, code: isFederaError(e) ? e.code : 'unreachable', reason: describeError(e) });
        return;
      }
      bytesDown += reply.bytesDown;
      bytesUp += reply.bytesUp;
      bytesDownFloat32 += float32Bytes ?? reply.bytesDown;
      const got = reply;
      const arrived = now() - started;
      queue = queue.then(async () => {
        try {
          if (closed) {
            pendingFailure(clientId);
            return;
          }
          const m = got.message as MessageBase & { code?: unknown; message?: unknown };
          if (m.type === 'error') {
            // Capped here too (the server's grid already cut them and counted it), so no transport can store an unbounded string.
            failures.push({ clientId, code: `client_error:${truncateString(String(m.code), WIRE_LIMITS.errorCode).value}`, reason: truncateString(String(m.message), WIRE_LIMITS.errorMessage).value });
            return;
          }
          try {
            await onReply(clientId, got.message);
            succeeded.push(clientId);
            replyMs[clientId] = arrived;
            if (options.stopAfter !== undefined && succeeded.length >= options.stopAfter) close('enough');
          } catch (e) {
            failures.push({ clientId, code: `rejected:${isFederaError(e) ? e.code : 'error'}`, reason: describeError(e) });
          }
        } finally {
          got.release?.();
        }
      });
      await queue;
    }),
  );
  await queue;
  if (timer !== undefined) clearTimeout(timer);
  options.signal?.removeEventListener('abort', onOuterAbort);
  return { succeeded, failures, dropped, bytesDown, bytesUp, bytesDownFloat32, durationMs: now() - started, replyMs };
}

export function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/**
 * A macrotask turn (Node and browsers). Rounds whose training never waits on I/O (simulated
 * clients on the flat kernels) would otherwise run back to back on microtasks alone, and signals
 * (Ctrl-C), timers and sockets would not be served until the run ended.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
