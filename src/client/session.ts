/**
 * What a deployed client does when the server welcomes it, shared by the Node client
 * (`src/node/client.ts`) and the browser client (`src/browser/client.ts`): build the trainer for
 * the server's model spec, check its parameter layout, load the local data and cut the same
 * validation split a simulated client gets, and wrap it all in a `ClientRuntime` with the client
 * layers. Isomorphic: where the data comes from (a file, a module, a page's file picker) is the
 * caller's business.
 */
import { FederaError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { ParamLayout } from '../core/params.js';
import { Rng } from '../core/rng.js';
import type { Dataset } from '../data/dataset.js';
import { subset } from '../data/dataset.js';
import { splitIndices } from '../data/partition.js';
import type { ModelSpec, Welcome } from '../wire/protocol.js';
import { ClientRuntime, type ClientData, type ClientLayer, type MessageHandler } from './runtime.js';
import type { Trainer } from './trainer.js';
import { dpClientLayer } from '../privacy/client-layer.js';
import { compressionClientLayer } from '../compress/layers.js';
import { secAggClientLayer } from '../secagg/client-layer.js';

export interface DataContext {
  clientId: string;
  model: ModelSpec;
  seed: number | string;
}

/** A function that produces the client's data once the model is known (also what a data module exports). */
export type DataSource = (ctx: DataContext) => Dataset | ClientData | Promise<Dataset | ClientData>;

/** Builds the trainer for the server's model; `seed` is the run seed (the initial weights). */
export type TrainerFactory = (model: ModelSpec, ctx: { seed: number | string }) => Trainer | Promise<Trainer>;

/** Models of the TF.js zoo a client can build from a model spec alone. */
export const ZOO_MODELS: ReadonlySet<string> = new Set(['logreg', '2nn', 'cnn', 'cifar-cnn', 'lstm']);

/**
 * The default trainer factory: a spec with an `architecture` (a bring-your-own TF.js model) is
 * built from it; otherwise the TF.js zoo model it names. TF.js is loaded lazily, so clients with
 * their own trainer never load it.
 */
export async function zooTrainer(model: ModelSpec, ctx: { seed: number | string }): Promise<Trainer> {
  if (model.architecture !== undefined) {
    const { trainerFromSpec } = await import('../models/model-json.js');
    return trainerFromSpec(model, ctx.seed);
  }
  if (!ZOO_MODELS.has(model.name)) {
    throw new FederaError('unsupported', `the server's model "${model.name}" is not in federa's zoo (${[...ZOO_MODELS].join(', ')}); pass createTrainer to build it`);
  }
  const { createTfjsTrainer } = await import('../models/tfjs-trainer.js');
  return createTfjsTrainer(model.name as 'logreg' | '2nn' | 'cnn' | 'cifar-cnn' | 'lstm', model.numFeatures, model.numClasses, {
    seed: ctx.seed,
    task: model.task,
    inputShape: model.inputShape,
  });
}

export function isDataset(x: unknown): x is Dataset {
  return typeof x === 'object' && x !== null && (x as Dataset).x instanceof Float32Array && (x as Dataset).y instanceof Int32Array;
}

export function isClientData(x: unknown): x is ClientData {
  return typeof x === 'object' && x !== null && isDataset((x as ClientData).train);
}

/**
 * Checks the local data against the server's model and, for a plain Dataset, cuts the validation
 * split a simulated client's partition gets: positions shuffled by the run seed's
 * "validation-split/<client id>" stream (so a partition written out in order splits identically).
 */
export function prepareClientData(raw: Dataset | ClientData, welcome: Welcome, clientId: string): ClientData {
  const model = welcome.model;
  const check = (d: Dataset, what: string) => {
    if (d.numFeatures !== model.numFeatures) throw new FederaError('data_error', `${what} has ${d.numFeatures} features; the server's model ${model.name} takes ${model.numFeatures}`);
    if (d.numClasses > model.numClasses) throw new FederaError('data_error', `${what} has ${d.numClasses} classes; the server's model has ${model.numClasses}`);
  };
  if (isClientData(raw)) {
    check(raw.train, 'the training data');
    if (raw.validation) check(raw.validation, 'the validation data');
    return raw;
  }
  check(raw, 'the data');
  const all = Int32Array.from({ length: raw.y.length }, (_, i) => i);
  const { first, second } = splitIndices(all, welcome.validationFraction, new Rng(welcome.seed).stream('validation-split').stream(clientId));
  return { train: subset(raw, first), validation: subset(raw, second) };
}

/**
 * The layer stack of a deployed client (Node or browser): secure aggregation outermost (it answers
 * the secagg stages and masks what the inner layers produced; anything else passes through), then
 * `layers`, by default compression (decodes a compressed model, encodes updates with the pipeline
 * the server announces) and DP (acts only on DP-FedAvg instructions; a server in distributed or
 * local mode refuses replies without the client's noise). So a client follows the server's
 * `[compression]`, `[privacy]` and `[secagg]` without any setting of its own.
 */
export function deployedClientLayers(layers?: readonly ClientLayer[]): ClientLayer[] {
  return [secAggClientLayer(), ...(layers ?? [compressionClientLayer(), dpClientLayer()])];
}

export interface ClientSessionOptions {
  clientId: string;
  /** Loads the raw local data for a run (called on every new welcome; cache it if loading is costly). */
  loadData: (welcome: Welcome) => Dataset | ClientData | Promise<Dataset | ClientData>;
  createTrainer?: TrainerFactory;
  /** Client-side layers (clipping, noise, compression, masking), outermost first. */
  layers?: readonly ClientLayer[];
  logger?: Logger;
  /** Called once the runtime is ready (the browser client reports it to its page). */
  onReady?: (info: { welcome: Welcome; trainer: Trainer; data: ClientData }) => void;
}

/**
 * The handler a client serves a run with. One per client: a reconnect to the same run (same model,
 * seed and validation split) keeps the trainer and the layers' state; a new run gets new ones.
 */
export class ClientSession {
  private readonly o: ClientSessionOptions;
  private readonly logger: Logger;
  private trainer: Trainer | undefined;
  private handlerKey: string | undefined;
  private handler: MessageHandler | undefined;
  /** Layer state that outlives one instruction (e.g. a compression residual). */
  private readonly state = new Map<string, unknown>();

  constructor(options: ClientSessionOptions) {
    this.o = options;
    this.logger = options.logger ?? silentLogger;
  }

  /** The `onWelcome` of a `WireClient`. */
  async onWelcome(w: Welcome): Promise<MessageHandler> {
    const key = JSON.stringify([w.model, w.seed, w.validationFraction]);
    if (this.handler && key === this.handlerKey) return this.handler;
    this.dispose();
    const trainer = await (this.o.createTrainer ?? zooTrainer)(w.model, { seed: w.seed });
    this.trainer = trainer;
    const layout = ParamLayout.fromJSON(w.model.layout);
    if (!trainer.layout.equals(layout)) {
      throw new FederaError('invalid_config', `the local trainer's parameter layout (${trainer.layout.size} values) does not match the server's model ${w.model.name} (${layout.size} values)`);
    }
    const data = prepareClientData(await this.o.loadData(w), w, this.o.clientId);
    const runtime = new ClientRuntime({ clientId: this.o.clientId, trainer, data, layers: this.o.layers, state: this.state });
    this.logger.info({ clientId: this.o.clientId, model: w.model.name, trainExamples: data.train.y.length, validationExamples: data.validation?.y.length ?? 0 }, 'ready to train');
    this.o.onReady?.({ welcome: w, trainer, data });
    this.handler = (m) => runtime.handle(m);
    this.handlerKey = key;
    return this.handler;
  }

  /** Frees the trainer (the next welcome builds a new one). */
  dispose(): void {
    this.trainer?.dispose();
    this.trainer = undefined;
    this.handler = undefined;
    this.handlerKey = undefined;
  }
}
