// Issue 19 item 3: two clients on one machine, each with its own data file and token and no
// --id/--identity, get two identities (one per data file) and both train; a token given with an
// identity that is already enrolled by another token is an error (library and CLI), never ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFederaError } from '../../src/core/errors.js';
import { FederaClient } from '../../src/node/client.js';
import { checkTokenForIdentity, createIdentity, defaultIdentityName, markEnrolled, tokenFingerprint } from '../../src/node/identity.js';
import { FederaServer } from '../../src/server/server.js';
import { FakeTrainer } from '../helpers/fake-trainer.js';
import { toyModel, toyServerConfig } from './helpers/scripted.js';
import { exitOf, federa } from './helpers/procs.js';

const D = 6;

function csv(path: string, rows: number, value: number): string {
  const lines = ['a,b,label', ...Array.from({ length: rows }, (_, i) => `${value},${i % 3},${i % 2}`)];
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

test('default identity names: one per data file, one per working directory for in-memory data', () => {
  assert.notEqual(defaultIdentityName('a.csv', '/x'), defaultIdentityName('b.csv', '/x'));
  assert.notEqual(defaultIdentityName('a.csv', '/x'), defaultIdentityName('a.csv', '/y'), 'same file name in two folders');
  assert.equal(defaultIdentityName('a.csv', '/x'), defaultIdentityName('/x/a.csv', '/elsewhere'));
  assert.match(defaultIdentityName('hospital A.csv', '/x'), /^data-hospital_A-[0-9a-f]{8}$/);
  assert.notEqual(defaultIdentityName(undefined, '/x'), defaultIdentityName(undefined, '/y'));
  assert.match(defaultIdentityName(undefined, '/x/site'), /^dir-site-[0-9a-f]{8}$/);
});

test('a token is checked against the identity: unknown server or same token pass; another token is refused', () => {
  const id = createIdentity('clinic');
  const server = 'wss://127.0.0.1:8443';
  checkTokenForIdentity(id, server, 'tok-1'); // not enrolled yet: the token enrolls it
  const enrolled = markEnrolled(id, server, 'tok-1');
  assert.equal(enrolled.enrollmentTokens?.['127.0.0.1:8443'], tokenFingerprint('tok-1'));
  checkTokenForIdentity(enrolled, server, 'tok-1'); // the same command again
  checkTokenForIdentity(enrolled, server, undefined);
  checkTokenForIdentity(enrolled, 'wss://other:8443', 'tok-2'); // another server
  assert.throws(() => checkTokenForIdentity(enrolled, server, 'tok-2'), (e) => isFederaError(e, 'invalid_config') && /already enrolled/.test(e.message) && /--id/.test(e.message));
  // An identity enrolled before tokens were recorded: a token cannot be matched, so it is refused too.
  const legacy = markEnrolled(id, server);
  assert.throws(() => checkTokenForIdentity(legacy, server, 'tok-1'), /already enrolled with 127\.0\.0\.1:8443 by an earlier token/);
});

test('two clients on one machine, default identities, own tokens: both enroll and train; a third with a used identity and another token is refused', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-identities-'));
  const home = join(dir, 'home');
  const saved = process.env.FEDERA_HOME;
  process.env.FEDERA_HOME = home;
  t.after(() => (saved === undefined ? delete process.env.FEDERA_HOME : (process.env.FEDERA_HOME = saved)));
  const server = new FederaServer(toyServerConfig(dir, { rounds: 2, clientsPerRound: 2, validationFraction: 0 }, { minClients: 2 }), { model: toyModel(D), processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  const files = [csv(join(dir, 'hospital-a.csv'), 12, 1), csv(join(dir, 'hospital-b.csv'), 14, 2)];
  const clients = files.map((data, i) => new FederaClient({ server: url, data, token: `token-${i}`, createTrainer: () => new FakeTrainer(D, i + 1), reconnect: { maxMs: 200, maxAttempts: 20 } }));
  t.after(() => clients.forEach((c) => c.stop()));
  assert.notEqual(clients[0].clientId, clients[1].clientId);
  const outcomes = await Promise.all(clients.map((c) => c.start()));
  assert.deepEqual(outcomes.map((o) => o.reason), ['run_complete', 'run_complete']);
  const rounds = server.history().rounds;
  assert.equal(rounds.length, 2);
  for (const r of rounds) assert.deepEqual([...r.succeeded].sort(), [clients[0].clientId, clients[1].clientId].sort());

  const host = new URL(url).host.replace(/[^A-Za-z0-9.-]/g, '_');
  const stored = readdirSync(join(home, 'identities', host)).sort();
  assert.deepEqual(stored, files.map((f) => `${defaultIdentityName(f)}.json`).sort());
  for (const [i, f] of files.entries()) {
    const file = JSON.parse(readFileSync(join(home, 'identities', host, `${defaultIdentityName(f)}.json`), 'utf8'));
    assert.equal(file.clientId, clients[i].clientId);
    assert.equal(file.enrollmentTokens[new URL(url).host], tokenFingerprint(`token-${i}`));
  }

  // The first data file's identity with the second client's token: refused before connecting.
  assert.throws(() => new FederaClient({ server: url, data: files[0], token: 'token-5' }), (e) => isFederaError(e, 'invalid_config') && e.message.includes(defaultIdentityName(files[0])));
  // The same through the CLI: a clear message and a non-zero exit; no identity file is written for it.
  const cli = federa('cli-client', ['client', '--server', url, '--data', files[0], '--token', 'token-6'], { env: { FEDERA_HOME: home } });
  t.after(() => cli.kill());
  const exit = await exitOf(cli, 60_000);
  assert.notEqual(exit.code, 0);
  assert.ok(cli.lines.some((l) => /already enrolled with .* by a different token.*--id <name>/.test(l)), cli.lines.join('\n'));
  // --id gives the same data file a new identity of its own, which the new token enrolls.
  const named = new FederaClient({ server: url, data: files[0], token: 'token-5', clientId: 'hospital-a-2' });
  assert.equal(named.clientId, 'hospital-a-2');
  assert.ok(existsSync(join(home, 'identities', host, 'hospital-a-2.json')));
});
