/**
 * Server-side layers: transformations of every message the engine sends and every reply it
 * receives, whatever the workflow — the server half of compression (decode uplink, encode
 * downlink) and of other client layers. The client half is a `ClientLayer`.
 */
import type { MessageBase } from '../core/messages.js';

export interface ServerLayerContext {
  readonly runId: string;
  readonly round: number;
  readonly clientId: string;
}

export interface ServerLayer {
  readonly name: string;
  /** Rewrites an instruction before it goes to `ctx.clientId` (layers apply in order). */
  outgoing?(message: MessageBase, ctx: ServerLayerContext): MessageBase;
  /**
   * Rewrites a reply before the workflow reads it (layers apply in reverse order). Throwing
   * rejects the reply: the client is recorded as failed with the error's code.
   */
  incoming?(reply: MessageBase, ctx: ServerLayerContext): MessageBase;
}

export function applyOutgoing(layers: readonly ServerLayer[], message: MessageBase, ctx: ServerLayerContext): MessageBase {
  let m = message;
  for (const layer of layers) if (layer.outgoing) m = layer.outgoing(m, ctx);
  return m;
}

export function applyIncoming(layers: readonly ServerLayer[], reply: MessageBase, ctx: ServerLayerContext): MessageBase {
  let m = reply;
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    if (layer.incoming) m = layer.incoming(m, ctx);
  }
  return m;
}
