/**
 * How the engine reaches clients: a request/reply primitive per client. The in-memory transport
 * (simulation) and the WebSocket transport (deployment) implement it; nothing above it knows which.
 */
import type { MessageBase } from '../core/messages.js';

export interface GridReply {
  readonly message: MessageBase;
  /** Bytes that went to the client for this request (as measured by the transport). */
  readonly bytesDown: number;
  /** Bytes that came back. */
  readonly bytesUp: number;
}

export interface Grid {
  /** Ids of the clients that can be selected now, in any order. */
  availableClients(): readonly string[];
  /**
   * Sends `message` to `clientId` and resolves with its reply. Rejects when the client cannot be
   * reached, fails, or `signal` aborts (deadline or round closed).
   */
  request(clientId: string, message: MessageBase, signal: AbortSignal): Promise<GridReply>;
}
