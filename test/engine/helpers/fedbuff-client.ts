// A deployed client process for the FedBuff deployment test: the real FederaClient over wss with a
// trainer that adds a known update after `delayMs` of "training" (a slow device when large).
//   node --import tsx fedbuff-client.ts <url> <index> <token> <identity file> <ca file> <delayMs>
import { clientProcessArgs, runClientProcess } from '../../secagg/helpers/client-process.js';
import type { Dataset } from '../../../src/data/dataset.js';
import type { FitOptions, FitOutcome } from '../../../src/client/trainer.js';
import { KnownUpdateTrainer, knownUpdates } from '../../secagg/helpers/clients.js';
import { FEDBUFF_TEST as P } from './fedbuff-params.js';

const { args, rest } = clientProcessArgs();
const delayMs = Number(rest[0]);
const updates = knownUpdates(P.clients, P.dimension, P.seed, 1);

class SlowTrainer extends KnownUpdateTrainer {
  override async fit(data: Dataset, o: FitOptions): Promise<FitOutcome> {
    await new Promise((r) => setTimeout(r, delayMs));
    return super.fit(data, o);
  }
}

const x = new Float32Array(10).fill(args.index);
await runClientProcess(args, { data: { x, y: new Int32Array(10), numFeatures: 1, numClasses: 2 }, createTrainer: () => new SlowTrainer(updates) });
