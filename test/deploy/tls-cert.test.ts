// Issue 19 item 2: `federa cert` writes a CA and a server certificate with the right
// subjectAltNames; a client trusting that CA trains over wss; a wrong name, an unknown CA and an
// expired certificate each fail at once with the TLS reason (not "could not reach … after N attempts").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFederaError } from '../../src/core/errors.js';
import { MemoryLogger } from '../../src/core/log.js';
import { FederaClient } from '../../src/node/client.js';
import { createIdentity } from '../../src/node/identity.js';
import { writeDevelopmentCertificates } from '../../src/node/certificates.js';
import { FederaServer } from '../../src/server/server.js';
import { FakeTrainer } from '../helpers/fake-trainer.js';
import { toyModel, toyServerConfig } from './helpers/scripted.js';
import { spawn } from 'node:child_process';
import { exitOf, ROOT, type Proc } from './helpers/procs.js';

/** `federa cert …` (registered by src/cli/cert.ts) as a child process. */
function certCli(name: string, args: string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/command.ts', 'src/cli/cert.ts', 'registerCertCommand', 'cert', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const s of [child.stdout, child.stderr]) s.on('data', (d: Buffer) => lines.push(...d.toString('utf8').split('\n').filter(Boolean)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { name, child, lines, logs: () => [], exited, kill: () => child.exitCode === null && child.kill('SIGKILL') };
}

const D = 4;
const data = { x: new Float32Array(20), y: Int32Array.from({ length: 10 }, (_, i) => i % 2), numFeatures: 2, numClasses: 2 };

function client(url: string, ca: Buffer | undefined, logger?: MemoryLogger) {
  return new FederaClient({ server: url, data, token: 'token-0', identity: createIdentity('tls-client'), ca, createTrainer: () => new FakeTrainer(D, 1), reconnect: { maxMs: 100, maxAttempts: 50 }, logger });
}

/** A bare TLS server with the given certificate (the client fails in the handshake, before any WebSocket). */
async function tlsServer(certFile: string, keyFile: string): Promise<{ url: string; server: Server }> {
  const server = createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (_req, res) => res.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `wss://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected the client to fail');
}

test('federa cert (CLI): CA and server certificate with the given subjectAltNames, signed by the CA, keys private', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-cert-cli-'));
  const p = certCli('cert', ['--host', '127.0.0.1,localhost', '--host', 'fl.example.org', '--out', dir]);
  t.after(() => p.kill());
  const exit = await exitOf(p, 60_000);
  assert.equal(exit.code, 0, p.lines.join('\n'));
  const leaf = new X509Certificate(readFileSync(join(dir, 'server.pem')));
  const ca = new X509Certificate(readFileSync(join(dir, 'ca.pem')));
  assert.deepEqual(leaf.subjectAltName!.split(', ').sort(), ['DNS:fl.example.org', 'DNS:localhost', 'IP Address:127.0.0.1']);
  assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), 'server certificate signed by the CA');
  assert.equal(ca.ca, true);
  assert.equal(leaf.ca, false);
  assert.ok(leaf.checkHost('fl.example.org') && leaf.checkIP('127.0.0.1') && !leaf.checkHost('other.example.org'));
  assert.equal(statSync(join(dir, 'server-key.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'ca-key.pem')).mode & 0o777, 0o600);
  assert.ok(p.lines.some((l) => l.includes('--ca') && l.includes('ca.pem')), p.lines.join('\n'));
  // Again without --force: refused; with it, a new server certificate from the same CA.
  const again = certCli('cert-again', ['--host', '127.0.0.1', '--out', dir]);
  t.after(() => again.kill());
  assert.notEqual((await exitOf(again, 60_000)).code, 0);
  assert.ok(again.lines.some((l) => /exists already; pass --force/.test(l)), again.lines.join('\n'));
  const r = await writeDevelopmentCertificates({ hosts: ['10.1.2.3'], outDir: dir, force: true });
  assert.equal(r.newCa, false);
  const leaf2 = new X509Certificate(readFileSync(r.serverCert));
  assert.ok(leaf2.verify(ca.publicKey));
  assert.equal(leaf2.subjectAltName, 'IP Address:10.1.2.3');
  await assert.rejects(writeDevelopmentCertificates({ hosts: ['bad host!'], outDir: dir, force: true }), /--host "bad host!" is neither/);
});

test('a client trusting the generated CA trains over wss; without the CA it fails at once naming the unknown CA', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-cert-ok-'));
  const certs = await writeDevelopmentCertificates({ hosts: ['127.0.0.1', 'localhost'], outDir: dir });
  const server = new FederaServer(toyServerConfig(dir, { rounds: 1, clientsPerRound: 1, validationFraction: 0 }, { host: '127.0.0.1', tls: { cert: certs.serverCert, key: certs.serverKey } }), { model: toyModel(D), processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  assert.match(url, /^wss:\/\/127\.0\.0\.1:/);

  const logger = new MemoryLogger();
  const untrusted = await rejection(client(url, undefined, logger).start());
  assert.ok(isFederaError(untrusted, 'tls_error'), String(untrusted));
  assert.equal(untrusted.details?.tls, 'unknown_ca');
  assert.match(untrusted.message, /--ca/);
  assert.doesNotMatch(untrusted.message, /after \d+ attempts/);

  const ok = client(url, readFileSync(certs.caCert));
  const outcome = await ok.start();
  assert.equal(outcome.reason, 'run_complete');
  assert.deepEqual(server.history().rounds[0].succeeded, ['tls-client']);
});

test('a certificate for another name fails with the name mismatch; an expired one says it expired', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-cert-bad-'));
  const wrong = await writeDevelopmentCertificates({ hosts: ['fl.example.org'], outDir: join(dir, 'wrong') });
  const a = await tlsServer(wrong.serverCert, wrong.serverKey);
  t.after(() => a.server.close());
  const started = Date.now();
  const mismatch = await rejection(client(a.url, readFileSync(wrong.caCert)).start());
  assert.ok(isFederaError(mismatch, 'tls_error'), String(mismatch));
  assert.equal(mismatch.details?.tls, 'name_mismatch');
  assert.match(mismatch.message, /127\.0\.0\.1/);
  assert.match(mismatch.message, /federa cert --host 127\.0\.0\.1/);
  assert.ok(Date.now() - started < 10_000, 'no retries for a certificate problem');

  const old = await writeDevelopmentCertificates({ hosts: ['127.0.0.1'], outDir: join(dir, 'old'), notBefore: new Date(Date.now() - 30 * 86_400_000), days: 2 });
  const b = await tlsServer(old.serverCert, old.serverKey);
  t.after(() => b.server.close());
  const expired = await rejection(client(b.url, readFileSync(old.caCert)).start());
  assert.ok(isFederaError(expired, 'tls_error'), String(expired));
  assert.equal(expired.details?.tls, 'expired');
  assert.match(expired.message, /expired/);
});

test('a refused connection says so, and the give-up error carries the last reason', { timeout: 30_000 }, async () => {
  const c = new FederaClient({ server: 'wss://127.0.0.1:9', data, token: 't', identity: createIdentity('nobody'), createTrainer: () => new FakeTrainer(D, 1), reconnect: { initialMs: 10, maxMs: 20, maxAttempts: 2 } });
  const e = await rejection(c.start());
  assert.ok(isFederaError(e, 'disconnected'), String(e));
  assert.match(e.message, /after 2 attempts: .*ECONNREFUSED.*nothing listens/);
});
