// Acceptance: faults in a real deployment over wss. A client process is SIGKILLed while it trains
// (its round completes with the others); then the server is SIGKILLed mid-round and restarted on
// the same database: the run resumes from the last completed round, the clients reconnect by
// themselves (the killed one rejoins without a token), and the history holds each round once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { Store } from '../../src/server/store.js';
import { makeSelfSignedCertificate } from './helpers/tls.js';
import { writePartitionCsvs } from './helpers/data.js';
import { exitOf, federa, httpJson, serverAddress, waitFor, type Proc } from './helpers/procs.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface Status {
  round: number;
  phase: string;
  completedRounds: number;
  resumedAt?: number;
  clients: Array<{ clientId?: string; pending: Array<{ type: string; round: number; sinceMs: number }> }>;
}

test('a client killed mid-round is tolerated; a server killed mid-round resumes; each round is recorded once', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-deploy-faults-'));
  const logFile = join(dir, 'processes.log');
  const procs: Proc[] = [];
  t.after(() => procs.forEach((p) => p.kill()));
  const run = { name: 'faults', seed: 5, model: '2nn' as const, rounds: 5, clientsPerRound: 3, local: { epochs: 2, batchSize: 10, learningRate: 0.1 } };
  const { files, ids } = writePartitionCsvs(parseSimulationConfig({ ...run, clients: 4, partition: { kind: 'iid' } }), dir);
  const cert = makeSelfSignedCertificate(dir);
  const db = join(dir, 'server.db');
  const port = await freePort();
  const tokens = ids.map((id) => `enroll-${id}-abcdefgh`);
  const configFile = join(dir, 'run.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      ...run,
      dataset: { name: 'mnist' },
      evaluation: { federatedEvery: 0, centralEvery: 1 },
      server: { host: '127.0.0.1', port, tls: { cert: cert.certFile, key: cert.keyFile }, database: db, enrollmentTokens: tokens, minClients: 3, roundTimeoutMs: 120_000, keepCheckpoints: 3 },
    }),
  );
  const status = async (httpUrl: string) => (await httpJson(`${httpUrl}/api/status`, { ca: cert.certPem })).body as Status;
  const startClient = (i: number, withToken: boolean, tag = '') =>
    federa(`${ids[i]}${tag}`, [
      'client',
      '--server', `wss://127.0.0.1:${port}`,
      '--data', files[i],
      ...(withToken ? ['--token', tokens[i]] : []),
      '--id', ids[i],
      '--identity', join(dir, `${ids[i]}.identity.json`),
      '--ca', cert.certFile,
      '--reconnect-max-ms', '1000',
    ], { logFile });

  let server = federa('server-1', ['server', '--config', configFile], { logFile });
  procs.push(server);
  const { httpUrl } = await serverAddress(server);
  const clients = ids.map((_, i) => startClient(i, true));
  procs.push(...clients);

  // 1. Kill a client that has just started training in round 2.
  const victim = await waitFor('a client to start training in round 2', async () => {
    const s = await status(httpUrl);
    if (s.round !== 2 || s.phase !== 'training') return undefined;
    const training = s.clients.filter((c) => c.pending.some((p) => p.type === 'train' && p.round === 2 && p.sinceMs < 400));
    return training[0]?.clientId;
  }, 180_000, 20);
  const victimIndex = ids.indexOf(victim);
  clients[victimIndex].kill('SIGKILL');
  await waitFor('round 2 to complete', async () => (await status(httpUrl)).completedRounds >= 2, 120_000);
  const round2 = (await httpJson(`${httpUrl}/api/history`, { ca: cert.certPem })).body.rounds[1];
  assert.equal(round2.round, 2);
  assert.equal(round2.status, 'completed', JSON.stringify(round2));
  assert.equal(round2.selected.length, 3);
  assert.equal(round2.succeeded.length, 2, JSON.stringify(round2));
  assert.deepEqual(round2.failed.map((f: { clientId: string }) => f.clientId), [victim]);
  assert.equal(round2.failed[0].code, 'disconnected');
  t.diagnostic(`round 2 completed without ${victim}: ${round2.failed[0].reason}`);

  // 2. Kill the server while round 3 is in progress, then restart it on the same database.
  await waitFor('round 3 to be in progress', async () => {
    const s = await status(httpUrl);
    return s.round === 3 && s.phase === 'training' && s.clients.some((c) => c.pending.some((p) => p.type === 'train' && p.round === 3));
  }, 120_000, 20);
  server.kill('SIGKILL');
  await exitOf(server, 10_000);
  const killedAt = Date.now();
  server = federa('server-2', ['server', '--config', configFile], { logFile });
  procs.push(server);
  await serverAddress(server);
  const revived = startClient(victimIndex, false, '-restarted'); // enrolled before: no token needed
  procs.push(revived);
  const resumed = await waitFor('the restarted server to resume', async () => {
    const s = await status(httpUrl);
    return s.completedRounds >= 2 ? s : undefined;
  }, 60_000);
  assert.equal(resumed.resumedAt, 3, 'the run resumes after the last completed round');

  const serverExit = await exitOf(server, 240_000);
  assert.equal(serverExit.code, 0, server.lines.slice(-20).join('\n'));
  for (const c of [...clients.filter((_, i) => i !== victimIndex), revived]) {
    const e = await exitOf(c, 30_000);
    assert.equal(e.code, 0, `${c.name}: ${JSON.stringify(e)}\n${c.lines.slice(-10).join('\n')}`);
  }
  // Survivors reconnected by themselves: each logged a second "joined the run".
  for (const c of clients.filter((_, i) => i !== victimIndex)) {
    assert.ok(c.logs().filter((l) => l.msg === 'joined the run').length >= 2, `${c.name} did not rejoin`);
  }
  assert.ok(server.logs().some((l) => l.msg === 'client joined' && l.clientId === victim), 'the killed client rejoined the restarted server');
  assert.ok(!revived.logs().some((l) => l.msg === 'enrolled with the server'), 'the rejoining client did not enroll again');

  const store = new Store(db);
  t.after(() => store.close());
  assert.deepEqual(store.roundCounts('faults'), [1, 2, 3, 4, 5].map((round) => ({ round, count: 1 })));
  const history = store.history('faults');
  assert.ok(history.every((r) => r.status === 'completed'), JSON.stringify(history.map((r) => [r.round, r.status, r.reason])));
  assert.equal(store.getRun('faults')?.status, 'completed');
  assert.deepEqual(store.checkpointRounds('faults'), [3, 4, 5]);
  const failures = store.participation('faults', victim).filter((p) => p.outcome === 'failed');
  assert.deepEqual(failures.map((p) => [p.round, p.code]), [[2, 'disconnected']]);
  const accuracy = history.at(-1)!.centralEvaluation!.metrics.accuracy;
  assert.ok(accuracy > 0.85, `final accuracy ${accuracy}`);
  t.diagnostic(`server restarted ${((Date.now() - killedAt) / 1000).toFixed(1)} s before the end; final accuracy ${accuracy.toFixed(4)}`);
});
