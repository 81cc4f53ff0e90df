/**
 * The in-memory transport: the engine's `Grid` over function calls, for simulation and tests.
 * Typed arrays are copied on the way to the client, as a wire would, so no client can touch the
 * server's global model; payload sizes are counted as their wire size would be.
 */
import type { MessageBase } from '../core/messages.js';
import { payloadBytes } from '../core/messages.js';
import { FederaError } from '../core/errors.js';
import type { Grid, GridReply } from '../engine/grid.js';

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

  constructor(clients: ClientHost | ReadonlyMap<string, MessageHandler>) {
    this.host = isHost(clients) ? clients : fixedHost(clients);
  }

  availableClients(): readonly string[] {
    return this.host.ids();
  }

  async request(clientId: string, message: MessageBase, signal: AbortSignal): Promise<GridReply> {
    if (signal.aborted) throw signal.reason ?? new FederaError('aborted', 'request aborted');
    const copy = copyTypedArrays(message);
    const bytesDown = payloadBytes(message);
    const work = (async () => {
      const client = await this.host.acquire(clientId);
      try {
        return await client.handle(copy);
      } finally {
        client.release();
      }
    })();
    const reply = await raceAbort(work, signal);
    return { message: reply, bytesDown, bytesUp: payloadBytes(reply) };
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

function copyTypedArrays<T extends MessageBase>(m: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) out[k] = ArrayBuffer.isView(v) && !(v instanceof DataView) ? (v as Float32Array).slice() : v;
  return out as T;
}

function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new FederaError('aborted', 'request aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
