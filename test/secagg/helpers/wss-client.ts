// A deployed client process for the secure-aggregation wss test: the real FederaClient (which
// always carries the secure-aggregation layer) with a trainer that adds a known update.
//   node --import tsx wss-client.ts <url> <index> <token> <identity file> <ca file> [die-at message type]
// With a message type, the process kills itself (SIGKILL, no goodbye) when that instruction arrives.
import { clientProcessArgs, runClientProcess } from './client-process.js';
import { KnownUpdateTrainer, indexedData, knownUpdates } from './clients.js';
import { WSS_TEST } from './wss-params.js';

const { args, rest } = clientProcessArgs();
const dieAt = rest[0];
const updates = knownUpdates(WSS_TEST.clients, WSS_TEST.dimension, WSS_TEST.seed, WSS_TEST.range);
const { train, partitions } = indexedData(WSS_TEST.sizes);
const rows = partitions[args.index];
const data = { x: Float32Array.from(rows, (r) => train.x[r]), y: Int32Array.from(rows, (r) => train.y[r]), numFeatures: 1, numClasses: 2 };
await runClientProcess(args, {
  data,
  createTrainer: () => new KnownUpdateTrainer(updates),
  onInstruction: (info) => {
    if (dieAt && info.type === dieAt) process.kill(process.pid, 'SIGKILL');
  },
});
