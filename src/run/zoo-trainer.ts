/**
 * The default trainer factory of deployed clients: the TF.js zoo, built from the model spec the
 * server sends. Loaded lazily, so clients with their own trainer never load TF.js.
 */
import { FederaError } from '../core/errors.js';
import type { Trainer } from '../client/trainer.js';
import type { ModelSpec } from '../wire/protocol.js';

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
