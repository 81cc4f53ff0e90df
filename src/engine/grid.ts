/**
 * How the engine reaches clients: a request/reply primitive per client. The in-memory transport
 * (simulation) and the WebSocket transport (deployment) implement it; nothing above it knows which.
 */
import type { MessageBase } from '../core/messages.js';
import type { SimulatedClock } from './clock.js';

export interface GridReply {
  readonly message: MessageBase;
  /** Bytes that went to the client for this request (as measured by the transport). */
  readonly bytesDown: number;
  /** Bytes that came back. */
  readonly bytesUp: number;
  /**
   * Called once the engine is done with `message` (after its reply handler returned, or when the
   * reply is not used). The transport may then reuse the message's buffers: typed arrays in a
   * reply are valid only until then, and a strategy that keeps an update must copy it.
   */
  release?(): void;
}

export interface Grid {
  /** Ids of the clients that can be selected now, in any order. */
  availableClients(): readonly string[];
  /** A simulation's clock (engine/clock.ts): exchanges then run in simulated time. Absent: real time. */
  readonly clock?: SimulatedClock;
  /**
   * Sends `message` to `clientId` and resolves with its reply. Rejects when the client cannot be
   * reached, fails, or `signal` aborts (deadline or round closed).
   */
  request(clientId: string, message: MessageBase, signal: AbortSignal): Promise<GridReply>;
}
