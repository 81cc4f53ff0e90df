/**
 * The in-memory transport: the engine's `Grid` over function calls, for simulation and tests.
 * Typed arrays are copied on the way to the client, as a wire would, so no client can touch the
 * server's global model; payload sizes are counted as their wire size would be.
 */
import type { MessageBase } from '../core/messages.js';
import { payloadBytes } from '../core/messages.js';
import { FederaError } from '../core/errors.js';
import { sharedBuffers } from '../core/buffers.js';
import type { Grid, GridReply } from '../engine/grid.js';
import type { SimulatedClock } from '../engine/clock.js';

export type MessageHandler = (message: MessageBase) => Promise<MessageBase>;

/** A client borrowed for one request; `release` gives back whatever it holds. */
export interface LeasedClient {
  handle: MessageHandler;
  release(): void;
}

/** Where an in-memory grid finds its clients: fixed handlers, or virtual clients made on demand. */
export interface ClientHost {
  ids(): readonly string[];
  acquire(clientId: string): Promise<LeasedClient>;
}

export class InMemoryGrid implements Grid {
  private readonly host: ClientHost;
  /** A simulation's clock: only the clients online now are available, and exchanges run in simulated time. */
  readonly clock?: SimulatedClock;

  constructor(clients: ClientHost | ReadonlyMap<string, MessageHandler>, options: { clock?: SimulatedClock } = {}) {
    this.host = isHost(clients) ? clients : fixedHost(clients);
    if (options.clock) this.clock = options.clock;
  }

  availableClients(): readonly string[] {
    const clock = this.clock;
    if (!clock) return this.host.ids();
    const t = clock.now();
    return this.host.ids().filter((id) => clock.isOnline(id, t));
  }


  async request(clientId: string, message: MessageBase, signal: AbortSignal): Promise<GridReply> {
    if (signal.aborted) throw signal.reason ?? new FederaError('aborted', 'request aborted');
    const bytesDown = payloadBytes(message);
    const work = (async () => {
      const client = await this.host.acquire(clientId);
      // Copied only once the client is materialised, into a pooled buffer that is reused after
      // the reply: fresh multi-megabyte arrays cost page faults, reused ones only a memcpy.
      const { copy, borrowed } = this.copyTypedArrays(message);
      try {
        return await client.handle(copy);
      } finally {
        client.release();
        for (const b of borrowed) sharedBuffers.give(b);
      }
    })();
    // The exchange stops waiting when it closes; the virtual client still finishes and is released.
    const reply = await work;
    return {
      message: reply,
      bytesDown,
      bytesUp: payloadBytes(reply),
      // Buffers the client took from the shared pool (its update) go back once the engine is done.
      release: () => {
        for (const v of Object.values(reply)) if (v instanceof Float32Array) sharedBuffers.give(v);
      },
    };
  }

  /** Copies every typed array of `m` as a wire would; Float32Arrays go through the pool. */
  private copyTypedArrays<T extends MessageBase>(m: T): { copy: T; borrowed: Float32Array[] } {
    const out: Record<string, unknown> = {};
    const borrowed: Float32Array[] = [];
    for (const [k, v] of Object.entries(m)) {
      if (v instanceof Float32Array) {
        const b = sharedBuffers.take(v.length);
        b.set(v);
        borrowed.push(b);
        out[k] = b;
      } else if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
        out[k] = (v as Uint8Array).slice();
      } else out[k] = v;
    }
    return { copy: out as T, borrowed };
  }
}

function isHost(x: ClientHost | ReadonlyMap<string, MessageHandler>): x is ClientHost {
  return typeof (x as ClientHost).acquire === 'function';
}

function fixedHost(handlers: ReadonlyMap<string, MessageHandler>): ClientHost {
  const ids = [...handlers.keys()];
  return {
    ids: () => ids,
    acquire: async (id) => {
      const handle = handlers.get(id);
      if (!handle) throw new FederaError('not_found', `no client with id ${id}`);
      return { handle, release: () => {} };
    },
  };
}

