// A deployed client process for the secure-aggregation wss test: the real FederaClient (which
// always carries the secure-aggregation layer) with a trainer that adds a known update.
//   node --import tsx wss-client.ts <url> <index> <token> <identity file> <ca file> [die-at message type]
// With a message type, the process kills itself (SIGKILL, no goodbye) when that instruction arrives.
import { readFileSync } from 'node:fs';
import { FederaClient } from '../../../src/node/client.js';
import { KnownUpdateTrainer, indexedData, knownUpdates } from './clients.js';
import { WSS_TEST } from './wss-params.js';

const [url, indexText, token, identity, caFile, dieAt] = process.argv.slice(2);
const index = Number(indexText);
const updates = knownUpdates(WSS_TEST.clients, WSS_TEST.dimension, WSS_TEST.seed, WSS_TEST.range);
const { train, partitions } = indexedData(WSS_TEST.sizes);
const rows = partitions[index];
const data = { x: Float32Array.from(rows, (r) => train.x[r]), y: Int32Array.from(rows, (r) => train.y[r]), numFeatures: 1, numClasses: 2 };
const client = new FederaClient({
  server: url,
  data,
  token,
  clientId: `client-${index}`,
  identity,
  ca: readFileSync(caFile),
  createTrainer: () => new KnownUpdateTrainer(updates),
  reconnect: { maxAttempts: 20 },
  onInstruction: (info) => {
    if (dieAt && info.type === dieAt) process.kill(process.pid, 'SIGKILL');
  },
});
const outcome = await client.start();
process.stdout.write(JSON.stringify({ msg: 'done', ...outcome }) + '\n');
process.exit(0);
