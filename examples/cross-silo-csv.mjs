// Cross-silo deployment on one machine: a server and two "hospitals", each with its own CSV file,
// over wss:// with a development certificate. The same code runs across machines: start the
// server on one, a FederaClient on each hospital's (their CSV files never leave them).
//
//   node examples/cross-silo-csv.mjs [rounds]
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from 'federa';
import { FederaClient, FederaServer, parseServerConfig, writeDevelopmentCertificates } from 'federa/node';

const rounds = Number(process.argv[2] ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'federa-cross-silo-'));

// 1. Each hospital's data: two lab values and a diagnosis (0/1) that depends on them; hospital B
//    sees older patients (a shifted distribution), as real silos do.
function writeHospital(name, n, shift, rng) {
  const rows = ['age_z,marker,diagnosis'];
  for (let i = 0; i < n; i++) {
    const age = rng.normal() + shift;
    const marker = rng.normal();
    const risk = 1.5 * age + 2 * marker + 0.3 * rng.normal();
    rows.push(`${age.toFixed(3)},${marker.toFixed(3)},${risk > shift * 1.5 ? 1 : 0}`);
  }
  const file = join(dir, `${name}.csv`);
  writeFileSync(file, rows.join('\n') + '\n');
  return file;
}
const rng = new Rng(11);
const hospitals = { 'hospital-a': writeHospital('hospital-a', 300, 0, rng.stream('a')), 'hospital-b': writeHospital('hospital-b', 200, 0.8, rng.stream('b')) };

// 2. A development CA and a server certificate for 127.0.0.1 (`federa cert --host 127.0.0.1`).
const certs = await writeDevelopmentCertificates({ hosts: ['127.0.0.1', 'localhost'], outDir: join(dir, 'certs') });

// 3. The server: logistic regression on 2 features, both hospitals every round, one token each.
const tokens = { 'hospital-a': 'token-hospital-a-4c1d', 'hospital-b': 'token-hospital-b-9e2f' };
const config = parseServerConfig({
  name: 'cross-silo-demo',
  seed: 5,
  model: 'logreg',
  input: { numFeatures: 2, numClasses: 2 },
  rounds,
  clientsPerRound: 2,
  local: { epochs: 5, batchSize: 16, learningRate: 0.5 },
  server: { host: '127.0.0.1', port: 0, tls: { cert: certs.serverCert, key: certs.serverKey }, database: join(dir, 'federa.db'), minClients: 2, enrollmentTokens: Object.values(tokens) },
});
const server = new FederaServer(config, { processMetrics: false });
const { url } = await server.start();
console.log(`server at ${url}`);

// 4. The hospitals join with their own token, trusting the development CA.
const clients = Object.entries(hospitals).map(
  ([id, file]) => new FederaClient({ server: url, data: file, labelColumn: 'diagnosis', token: tokens[id], clientId: id, identity: join(dir, `${id}.identity.json`), ca: readFileSync(certs.caCert) }),
);
const outcomes = await Promise.all(clients.map((c) => c.start()));
const history = server.history().rounds;
await server.stop();

for (const r of history) {
  const fed = r.federatedEvaluation;
  console.log(`round ${r.round}: ${r.succeeded.join(' + ')} · train loss ${r.train?.loss?.toFixed(3)} · federated accuracy ${fed ? fed.metrics.accuracy.toFixed(3) : '-'}`);
}
console.log(JSON.stringify({ example: 'cross-silo-csv', rounds: history.length, clients: outcomes.map((o) => o.reason), succeeded: history.at(-1)?.succeeded, accuracy: history.at(-1)?.federatedEvaluation?.metrics.accuracy ?? null }));
