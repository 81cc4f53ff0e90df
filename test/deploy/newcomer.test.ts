// Issue 19 item 4, a newcomer's first deployment: mistakes are found in the right order and the
// messages say what to do. A --data typo (or a CSV without its label column) fails before the
// client connects, so its token still enrolls the corrected client; a missing or mismatched
// certificate is reported before the database exists; a changed config names the flag that starts
// a new run; stopping says what stopping means (no "round skipped" next to "interrupted").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../src/core/log.js';
import { FederaClient } from '../../src/node/client.js';
import { FederaServer } from '../../src/server/server.js';
import { FakeTrainer } from '../helpers/fake-trainer.js';
import { scriptedWireClient, toyModel, toyServerConfig } from './helpers/scripted.js';
import { exitOf, federa, waitFor } from './helpers/procs.js';
import { makeSelfSignedCertificate } from './helpers/tls.js';

const D = 6;

function csv(path: string, header = 'a,b,label'): string {
  writeFileSync(path, [header, ...Array.from({ length: 12 }, (_, i) => `${i % 4},${i % 3},${i % 2}`)].join('\n') + '\n');
  return path;
}

function capture(): Logger & { lines: Array<{ level: string; msg: string }> } {
  const lines: Array<{ level: string; msg: string }> = [];
  const at = (level: string) => (_f: object, msg?: string) => void lines.push({ level, msg: msg ?? '' });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

test('a --data typo or a CSV without its label column stops the client before it connects: the token still enrolls the fixed client', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-newcomer-'));
  const server = new FederaServer(toyServerConfig(dir, { rounds: 1, clientsPerRound: 1, validationFraction: 0 }, { minClients: 1 }), { model: toyModel(D), processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  const home = join(dir, 'home');
  const good = csv(join(dir, 'site-a.csv'));
  const noLabel = csv(join(dir, 'site-b.csv'), 'a,b,diagnosis');

  const typo = federa('typo', ['client', '--server', url, '--data', join(dir, 'site-a.cvs'), '--token', 'token-0', '--id', 'site-a'], { env: { FEDERA_HOME: home } });
  assert.equal((await exitOf(typo, 60_000)).code, 1);
  assert.match(typo.lines.join('\n'), /data file .*site-a\.cvs does not exist \(nothing was sent to the server\)/);
  const label = federa('label', ['client', '--server', url, '--data', noLabel, '--token', 'token-0', '--id', 'site-a'], { env: { FEDERA_HOME: home } });
  assert.equal((await exitOf(label, 60_000)).code, 1);
  assert.match(label.lines.join('\n'), /label/);
  // Neither attempt reached the server: no enrollment, no connection.
  assert.equal(server.store.listClients().length, 0);

  process.env.FEDERA_HOME = home;
  t.after(() => delete process.env.FEDERA_HOME);
  const fixed = new FederaClient({ server: url, data: good, token: 'token-0', clientId: 'site-a', createTrainer: () => new FakeTrainer(D, 1), reconnect: { maxMs: 200, maxAttempts: 20 } });
  t.after(() => fixed.stop());
  assert.equal((await fixed.start()).reason, 'run_complete');
  assert.equal(server.history().rounds.length, 1);
  // Ctrl-C after a finished run says so (not "an unfinished round runs again").
  await waitFor('the run to complete', () => server.describeStop() === 'stopping; the run is complete', 30_000);
});

test('a missing or mismatched certificate is reported before the database is created, with the command that makes one', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-newcomer-tls-'));
  const a = makeSelfSignedCertificate(join(dir));
  const bDir = join(dir, 'b');
  mkdirSync(bDir);
  const b = makeSelfSignedCertificate(bDir);
  const cases: Array<[string, { cert: string; key: string }, RegExp]> = [
    ['missing', { cert: join(dir, 'certs/server.pem'), key: join(dir, 'certs/server-key.pem') }, /server\.tls: cannot read the certificate .*server\.pem.*npx federa cert --host/],
    ['mismatched', { cert: a.certFile, key: b.keyFile }, /server\.tls: .* are not a certificate and its private key/],
  ];
  for (const [name, tls, message] of cases) {
    const db = join(dir, `${name}.db`);
    const config = join(dir, `${name}.json`);
    writeFileSync(config, JSON.stringify({ name: 'first-run', model: 'logreg', input: { numFeatures: 4, numClasses: 2 }, server: { port: 0, host: '127.0.0.1', database: db, tls } }));
    const p = federa(`server-${name}`, ['server', '--config', config]);
    assert.equal((await exitOf(p, 60_000)).code, 2, p.lines.join('\n'));
    assert.match(p.lines.join('\n'), message);
    assert.equal(existsSync(db), false, `${name}: no database was created`);
  }
});

test('resuming with a changed config names what differs and the flag that starts a new run instead', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-newcomer-resume-'));
  const first = new FederaServer(toyServerConfig(dir, { rounds: 3, clientsPerRound: 1 }, { minClients: 1 }), { model: toyModel(D), processMetrics: false });
  await first.start();
  await first.stop();
  const changed = new FederaServer(toyServerConfig(dir, { rounds: 3, clientsPerRound: 1, local: { epochs: 5 } }, { minClients: 1 }), { model: toyModel(D), processMetrics: false });
  await assert.rejects(changed.start(), /run "toy-run" in .* was started with a different config \(local differs\); use the same config to resume it, or start a new run under another name \(--name <run>/);
});

test('stopping says what it means: before the first round, mid-round (interrupted, not "skipped"), after the run', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-newcomer-stop-'));
  const log = capture();
  const server = new FederaServer(toyServerConfig(dir, { rounds: 2, clientsPerRound: 1, validationFraction: 0 }, { minClients: 1, roundTimeoutMs: 60_000 }), { model: toyModel(D), processMetrics: false, logger: log });
  const { url } = await server.start();
  assert.equal(server.describeStop(), 'stopping before the first round; the run starts when the server starts again');
  // A client that never answers: the round stays open until the server stops.
  const silent = scriptedWireClient(url, { index: 0, train: () => new Promise(() => {}) });
  t.after(() => silent.stop());
  void silent.start().catch(() => {});
  await waitFor('round 1 in training', () => log.lines.some((l) => l.msg === 'round 1 started'), 30_000);
  assert.equal(server.describeStop(), 'stopping; round 1 is interrupted and runs again when the server resumes');
  await server.stop();
  const messages = log.lines.map((l) => l.msg);
  assert.ok(messages.includes('round 1 was interrupted; it runs again when the server resumes'), messages.join('\n'));
  assert.ok(!messages.some((m) => /round 1 skipped/.test(m)), `no "skipped" for an interrupted round:\n${messages.join('\n')}`);
});
