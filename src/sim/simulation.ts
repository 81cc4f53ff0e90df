/**
 * A simulated federation on one machine: a dataset split among virtual clients, the in-memory
 * transport, and the same round engine, client runtime and layers as a deployment.
 */
import type { Params } from '../core/params.js';
import { Rng } from '../core/rng.js';
import { FederaError } from '../core/errors.js';
import type { Dataset } from '../data/dataset.js';
import { subset } from '../data/dataset.js';
import { splitIndices } from '../data/partition.js';
import type { Trainer } from '../client/trainer.js';
import type { ClientData, ClientLayer } from '../client/runtime.js';
import { RoundEngine, type EngineOptions, type RunResult } from '../engine/engine.js';
import { InMemoryGrid } from '../transport/memory.js';
import { VirtualClientHost, clientIds } from './virtual-clients.js';
import { DeviceFleet, type DeviceSpec } from './devices.js';

export interface SimulationOptions extends Omit<EngineOptions, 'grid' | 'initialParams'> {
  /** The pooled training data that `partitions` index into. */
  train: Dataset;
  /** One array of example indices (into `train`) per client. */
  partitions: readonly Int32Array[];
  /** Fraction of each client's examples held out as its local validation split (default 0.1). */
  validationFraction?: number;
  /** Makes a trainer; a few are pooled and reused by the virtual clients. */
  createTrainer: () => Trainer | Promise<Trainer>;
  initialParams: Params;
  /** Client ids; default `client-000` … */
  clientIds?: readonly string[];
  layers?: readonly ClientLayer[] | ((clientId: string, index: number) => readonly ClientLayer[]);
  /** Rewrites a client's data when it is materialised (e.g. data poisoning by simulated attackers). */
  clientData?: (clientId: string, index: number, data: ClientData) => ClientData;
  /** Virtual clients materialised at once (default 1). */
  concurrency?: number;
  /**
   * Device profiles (sim/devices.ts): the run then happens in simulated time — deadlines
   * (`roundTimeoutMs`, in simulated ms), stragglers, over-selection and availability follow the
   * devices, and each round records its `simulatedTime`.
   */
  devices?: DeviceSpec;
  /** Expected uplink bytes ÷ float32 update bytes, for the devices' upload times (compression). */
  uplinkRatio?: number;
}

export interface SimulationResult extends RunResult {
  /** Most virtual clients that existed at the same time. */
  peakLiveClients: number;
}

export async function runSimulation(o: SimulationOptions): Promise<SimulationResult> {
  const ids = o.clientIds ? [...o.clientIds] : clientIds(o.partitions.length);
  if (ids.length !== o.partitions.length) {
    throw new FederaError('invalid_config', `${ids.length} client ids for ${o.partitions.length} partitions`);
  }
  const fraction = o.validationFraction ?? 0.1;
  if (!(fraction >= 0 && fraction < 1)) throw new FederaError('invalid_config', `validationFraction must be in [0, 1), got ${fraction}`);
  const splitRng = new Rng(o.seed).stream('validation-split');
  const host = new VirtualClientHost({
    clients: ids,
    concurrency: o.concurrency,
    layers: o.layers,
    createTrainer: o.createTrainer,
    // The client's data is cut out of the pooled dataset only while the client is materialised.
    data: (clientId, i) => {
      const { first, second } = splitIndices(o.partitions[i], fraction, splitRng.stream(clientId));
      const data: ClientData = { train: subset(o.train, first), validation: subset(o.train, second) };
      return o.clientData ? o.clientData(clientId, i, data) : data;
    },
  });
  const indexOf = new Map(ids.map((id, i) => [id, i]));
  const fleet = o.devices
    ? new DeviceFleet(o.devices, {
        clients: ids,
        seed: o.seed,
        uplinkRatio: o.uplinkRatio,
        // The same split the client's data gets when it is materialised, counted without copying it.
        examples: (clientId) => {
          const n = o.partitions[indexOf.get(clientId)!].length;
          const train = n === 0 ? 0 : Math.max(1, Math.round(n * (1 - fraction)));
          return { train, validation: n - train };
        },
      })
    : undefined;
  const engine = new RoundEngine({ ...o, grid: new InMemoryGrid(host, fleet ? { clock: fleet } : {}) });
  try {
    const result = await engine.run();
    return { ...result, peakLiveClients: host.peakLive };
  } finally {
    host.dispose();
  }
}
