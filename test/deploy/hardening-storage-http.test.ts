// Issue 13, finding 12 (part): a database whose -wal file was lost while the run was mid-way is
// refused (the commit marker beside it says rounds are missing) instead of silently resuming from
// an older round or starting a new run under the same name; a malformed percent-encoding in an
// admin path is the request's fault (400), not the server's (500). Over real processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { exitOf, federa, httpJson, serverAddress, waitFor, type Proc } from './helpers/procs.js';

const ADMIN = 'admin-secret-0123456789abcdef';

function clientCsv(seed: number): string {
  const rng = new Rng(seed);
  const rows = ['f0,f1,f2,f3,label'];
  for (let i = 0; i < 40; i++) rows.push([0, 1, 2, 3].map(() => (rng.next() + (i % 2 ? 0.5 : -0.5)).toFixed(4)).join(',') + `,${i % 2}`);
  return rows.join('\n') + '\n';
}

test('a database that lost its -wal file mid-run is refused; a malformed admin path is a 400', { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-hardening-wal-'));
  const logFile = join(dir, 'processes.log');
  const procs: Proc[] = [];
  t.after(() => procs.forEach((p) => p.kill()));
  const ids = ['c0', 'c1'];
  const tokens = ids.map((id) => `token-${id}-abcdefgh`);
  const db = join(dir, 'server.db');
  const configFile = join(dir, 'run.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      name: 'walrun',
      model: 'logreg',
      input: { numFeatures: 4, numClasses: 2 },
      rounds: 100_000,
      clientsPerRound: 2,
      local: { epochs: 1, batchSize: 40, learningRate: 0.1 },
      evaluation: { federatedEvery: 0, centralEvery: 0 },
      server: { host: '127.0.0.1', port: 0, database: db, enrollmentTokens: tokens, minClients: 2, adminToken: ADMIN },
    }),
  );
  const server = federa('server-1', ['server', '--config', configFile], { logFile });
  procs.push(server);
  const { url, httpUrl } = await serverAddress(server);

  // A malformed escape in an admin path: 400 naming the segment (it was a 500).
  const auth = { authorization: `Bearer ${ADMIN}` };
  const bad = await httpJson(`${httpUrl}/admin/clients/%E0%A4%A/events`, { headers: auth });
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.body.error, /malformed percent-encoding/);
  assert.equal((await httpJson(`${httpUrl}/admin/clients/${encodeURIComponent('no such')}/events`, { headers: auth })).status, 200);

  for (const [i, id] of ids.entries()) {
    const data = join(dir, `${id}.csv`);
    writeFileSync(data, clientCsv(i + 1));
    procs.push(federa(id, ['client', '--server', url, '--data', data, '--token', tokens[i], '--id', id, '--identity', join(dir, `${id}.identity.json`), '--reconnect-max-ms', '500'], { logFile }));
  }
  const committed = await waitFor('a few rounds to be committed', async () => {
    const s = (await httpJson(`${httpUrl}/api/status`)).body as { completedRounds: number };
    return s.completedRounds >= 5 ? s.completedRounds : undefined;
  });
  server.kill('SIGKILL');
  await exitOf(server);
  assert.ok(existsSync(`${db}-wal`), 'the killed server left its write-ahead log');
  // The database is copied (or restored) without its -wal and -shm files.
  rmSync(`${db}-wal`);
  rmSync(`${db}-shm`, { force: true });

  const again = federa('server-2', ['server', '--config', configFile], { logFile });
  procs.push(again);
  const exit = await exitOf(again, 60_000);
  const out = again.lines.join('\n');
  assert.notEqual(exit.code, 0, `the server started on a database that lost rounds:\n${out.slice(-2000)}`);
  assert.match(out, /committed round \d+ to .*server\.db, but the database (holds only \d+ rounds?|does not hold the run at all): committed rounds are lost/);
  assert.match(out, /-wal/);
  assert.equal(again.logs().some((l) => l.msg === 'listening' || l.msg === 'new run'), false, 'nothing was served or created');
  process.stderr.write(`hardening-wal: ${committed}+ rounds committed before the kill; restart refused: ${/but the database ([^:]*)/.exec(out)?.[1]}\n`);
});
