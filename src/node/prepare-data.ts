/**
 * A simulation's data: the config's dataset loaded, its test split made and the training set
 * partitioned among the clients (iid, Dirichlet, shards, or the source's natural clients), all
 * fixed by the seed. `federa simulate` trains on it; `federa export-data` writes it as client files.
 */
import { FederaError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { Dataset } from '../data/dataset.js';
import { partitionDirichlet, partitionIid, partitionShards } from '../data/partition.js';
import type { SimulationConfig } from '../config/schema.js';
import { loadConfiguredData } from './workloads.js';

export interface PreparedData {
  train: Dataset;
  test: Dataset;
  partitions: Int32Array[];
  clientIds?: string[];
  description: string;
}

/** Loads the dataset, makes the test split and partitions the training set, all fixed by the seed. */
export function prepareData(config: SimulationConfig): PreparedData {
  const rng = new Rng(config.seed);
  const data = loadConfiguredData(config.dataset, { task: config.task, seed: config.seed, model: config.model, numClients: config.clients });
  const { train, test } = data;
  const p = config.partition;
  const prng = rng.stream('partitioning');
  let partitions: Int32Array[];
  let clientIds: string[] | undefined;
  // Regression has no classes to skew: label-based partitions need class labels.
  if (config.task === 'regression' && (p.kind === 'dirichlet' || p.kind === 'shards')) {
    throw new FederaError('invalid_config', `partition ${p.kind} splits by class label, but task regression has float targets; use --partition iid or natural (with a group column)`, { field: 'partition' });
  }
  try {
    switch (p.kind) {
      case 'iid':
        partitions = partitionIid(train.y.length, config.clients, prng);
        break;
      case 'dirichlet':
        partitions = partitionDirichlet(train.y, train.numClasses, config.clients, p.alpha, prng, { minSize: p.minSize });
        break;
      case 'shards':
        partitions = partitionShards(train.y, config.clients, p.shardsPerClient, prng);
        break;
      case 'natural': {
        if (!data.natural) {
          throw new FederaError('invalid_config', `partition natural needs data whose examples belong to clients (synthetic, leaf, text, or csv with dataset.groupColumn / --group-column); ${config.dataset.name} has none`, { field: 'partition' });
        }
        partitions = data.natural.partitions;
        clientIds = data.natural.clientIds;
        break;
      }
    }
  } catch (e) {
    // Name what the user can change: the data fits the partition, or the flags change.
    if (e instanceof FederaError && e.code === 'invalid_config' && p.kind !== 'natural') {
      const flags = p.kind === 'dirichlet' ? '--alpha (larger), --clients (fewer) or --partition iid' : p.kind === 'shards' ? '--shards-per-client or --clients' : '--clients or --partition';
      throw new FederaError('invalid_config', `partition ${p.kind} of ${train.y.length} examples among ${config.clients} clients failed: ${e.message}; change ${flags}`);
    }
    throw e;
  }
  return { train, test, partitions, clientIds, description: data.description };
}
