/**
 * Virtual clients for simulation: a population of N client ids whose runtimes exist only while
 * they take part in an exchange. 10,000 registered clients cost an id and a partition each; a
 * trainer and a copy of the client's data exist only for the clients of the current exchange.
 */
import { FederaError } from '../core/errors.js';
import type { ClientHost, LeasedClient } from '../transport/memory.js';
import { ClientRuntime, type ClientData, type ClientLayer } from '../client/runtime.js';
import type { Trainer } from '../client/trainer.js';

export interface VirtualClientOptions {
  /** Client ids, or a count (ids `client-0` … `client-(n−1)`, zero-padded to sort in order). */
  clients: readonly string[] | number;
  /** Builds a client's data when it is materialised (e.g. a subset of a shared dataset). */
  data: (clientId: string, index: number) => ClientData | Promise<ClientData>;
  /** Makes a trainer; trainers are pooled and reused by successive virtual clients. */
  createTrainer: () => Trainer | Promise<Trainer>;
  /** How many virtual clients may be materialised at once (default 1: in-process training is serial). */
  concurrency?: number;
  /** Client-side layers: the same for every client, or chosen per client (e.g. attackers). */
  layers?: readonly ClientLayer[] | ((clientId: string, index: number) => readonly ClientLayer[]);
}

export class VirtualClientHost implements ClientHost {
  private readonly idList: readonly string[];
  private readonly index: Map<string, number>;
  private readonly o: VirtualClientOptions;
  private readonly idle: Trainer[] = [];
  /** Per-client layer state, kept across materialisations (only for clients that took part). */
  private readonly states = new Map<string, Map<string, unknown>>();
  private trainers = 0;
  private readonly waiting: Array<() => void> = [];
  private live = 0;
  /** Largest number of clients that were materialised at the same time. */
  peakLive = 0;
  /** Total materialisations. */
  materialised = 0;

  constructor(options: VirtualClientOptions) {
    this.o = options;
    this.idList = typeof options.clients === 'number' ? clientIds(options.clients) : [...options.clients];
    this.index = new Map(this.idList.map((id, i) => [id, i]));
    if (this.index.size !== this.idList.length) throw new FederaError('invalid_config', 'virtual clients: client ids must be unique');
    const c = options.concurrency ?? 1;
    if (!Number.isInteger(c) || c < 1) throw new FederaError('invalid_config', `concurrency must be an integer ≥ 1, got ${c}`);
  }

  ids(): readonly string[] {
    return this.idList;
  }

  /** Clients materialised right now. */
  get liveClients(): number {
    return this.live;
  }

  async acquire(clientId: string): Promise<LeasedClient> {
    const i = this.index.get(clientId);
    if (i === undefined) throw new FederaError('not_found', `no virtual client with id ${clientId}`);
    await this.slot();
    let trainer: Trainer | undefined;
    try {
      trainer = this.idle.pop() ?? (this.trainers++, await this.o.createTrainer());
      const data = await this.o.data(clientId, i);
      const layers = typeof this.o.layers === 'function' ? this.o.layers(clientId, i) : this.o.layers;
      let state = this.states.get(clientId);
      if (!state) this.states.set(clientId, (state = new Map()));
      const runtime = new ClientRuntime({ clientId, trainer, data, layers, state });
      this.live++;
      this.materialised++;
      this.peakLive = Math.max(this.peakLive, this.live);
      const t = trainer;
      let released = false;
      return {
        handle: (m) => runtime.handle(m),
        release: () => {
          if (released) return;
          released = true;
          this.live--;
          this.idle.push(t);
          this.freeSlot();
        },
      };
    } catch (e) {
      if (trainer) this.idle.push(trainer);
      this.freeSlot();
      throw e;
    }
  }

  /** Disposes every pooled trainer. */
  dispose(): void {
    for (const t of this.idle.splice(0)) t.dispose();
  }

  private busy = 0;
  private async slot(): Promise<void> {
    const limit = this.o.concurrency ?? 1;
    if (this.busy < limit) {
      this.busy++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy++;
  }

  private freeSlot(): void {
    this.busy--;
    this.waiting.shift()?.();
  }
}

export function clientIds(n: number): string[] {
  if (!Number.isInteger(n) || n < 1) throw new FederaError('invalid_config', `number of clients must be an integer ≥ 1, got ${n}`);
  const width = String(n - 1).length;
  return Array.from({ length: n }, (_, i) => `client-${String(i).padStart(width, '0')}`);
}
