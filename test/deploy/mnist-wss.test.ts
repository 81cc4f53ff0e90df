// Acceptance: a server and 5 client processes train the MNIST 2NN for 5 rounds over wss (TLS with
// a certificate made at test time); the result equals the same-seed simulation. The deployment
// runs with `server.deterministic` (replies aggregated in selection order), so the final model is
// expected to be bitwise identical to the simulation's, not just within 0.5 accuracy points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { simulate } from '../../src/cli/simulate.js';
import { Store } from '../../src/server/store.js';
import { makeSelfSignedCertificate } from './helpers/tls.js';
import { writePartitionCsvs } from './helpers/data.js';
import { exitOf, federa, httpJson, serverAddress, type Proc } from './helpers/procs.js';

test('5 client processes over wss train MNIST 2NN like the same-seed simulation', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-deploy-mnist-'));
  const logFile = join(dir, 'processes.log');
  const procs: Proc[] = [];
  t.after(() => procs.forEach((p) => p.kill()));
  const run = { name: 'mnist-2nn', seed: 11, model: '2nn' as const, rounds: 5, clientsPerRound: 5, local: { epochs: 1, batchSize: 20, learningRate: 0.1 } };
  const simConfig = parseSimulationConfig({ ...run, clients: 5, output: join(dir, 'sim') });
  const { files, ids } = writePartitionCsvs(simConfig, dir);
  const cert = makeSelfSignedCertificate(dir);
  const db = join(dir, 'server.db');
  const tokens = ids.map((id) => `token-for-${id}-0123456789`);
  const configFile = join(dir, 'run.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      ...run,
      dataset: { name: 'mnist' },
      server: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile }, database: db, enrollmentTokens: tokens, minClients: 5, deterministic: true },
    }),
  );

  const started = Date.now();
  const server = federa('server', ['server', '--config', configFile], { logFile });
  procs.push(server);
  const address = await serverAddress(server);
  assert.match(address.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
  const clients = ids.map((id, i) =>
    federa(id, ['client', '--server', address.url, '--data', files[i], '--token', tokens[i], '--id', id, '--identity', join(dir, `${id}.identity.json`), '--ca', cert.certFile], { logFile }),
  );
  procs.push(...clients);

  // The HTTPS endpoints answer while the run goes on (only with the right CA).
  const health = await httpJson(`${address.httpUrl}/health`, { ca: cert.certPem });
  assert.equal(health.status, 200);
  assert.equal(health.body.runId, 'mnist-2nn');

  const serverExit = await exitOf(server, 240_000);
  assert.equal(serverExit.code, 0, `server exit ${JSON.stringify(serverExit)}:\n${server.lines.slice(-20).join('\n')}`);
  for (const c of clients) {
    const e = await exitOf(c, 30_000);
    assert.equal(e.code, 0, `${c.name} exit ${JSON.stringify(e)}:\n${c.lines.slice(-10).join('\n')}`);
  }
  const deploySeconds = (Date.now() - started) / 1000;

  const store = new Store(db);
  t.after(() => store.close());
  const history = store.history('mnist-2nn');
  assert.deepEqual(history.map((r) => r.round), [1, 2, 3, 4, 5]);
  for (const r of history) {
    assert.equal(r.status, 'completed');
    assert.deepEqual([...r.succeeded].sort(), ids);
    assert.equal(r.failed.length, 0);
    // Real frame sizes: 5 × (4·d parameter bytes + small overhead) per direction of training.
    assert.ok(r.bytes.up >= 5 * 4 * 199_210 && r.bytes.up < 5 * 4 * 199_210 * 1.2 + 5 * 4 * 199_210, `bytes up ${r.bytes.up}`);
  }
  const checkpoint = store.latestCheckpoint('mnist-2nn')!;
  assert.equal(checkpoint.round, 5);
  const deployAccuracy = history[4].centralEvaluation!.metrics.accuracy;

  const sim = await simulate(simConfig, { out: { write: () => true }, progress: false });
  const simAccuracy = sim.finalAccuracy!;
  const bitwise = Buffer.from(checkpoint.params.buffer).equals(Buffer.from(sim.params.buffer, sim.params.byteOffset, sim.params.byteLength));
  t.diagnostic(`deployment accuracy ${deployAccuracy.toFixed(4)} vs simulation ${simAccuracy.toFixed(4)}; bitwise-identical model: ${bitwise}; deployment ${deploySeconds.toFixed(1)} s`);
  assert.ok(Math.abs(deployAccuracy - simAccuracy) <= 0.005, `deployment ${deployAccuracy} vs simulation ${simAccuracy}`);
  assert.ok(deployAccuracy > 0.8, `accuracy ${deployAccuracy}`);
  assert.ok(bitwise, 'the deterministic deployment should reproduce the simulation bit for bit');
  // Same clients, same training losses round by round.
  for (let i = 0; i < 5; i++) assert.equal(history[i].train?.loss, sim.history[i].train?.loss, `round ${i + 1} train loss`);
});
