// Issue 13, finding 12 (part): plain ws:// carries the enrollment token, the model and every
// update in clear and leaves the server unauthenticated. It is allowed to a loopback host only,
// unless forced (--insecure-allow-ws, insecureAllowWs); the server refuses to serve plain ws on a
// network interface unless forced (server.insecureAllowWs). Over the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WireClient, checkTransportSecurity, isLoopbackHost } from '../../src/wire/client.js';
import { FederaClient } from '../../src/node/client.js';
import { createIdentity, nodeFrameCrypto, nodeSigner } from '../../src/node/identity.js';
import { isFederaError } from '../../src/core/errors.js';
import { exitOf, federa, serverAddress, type Proc } from './helpers/procs.js';

test('ws:// is refused for hosts other than loopback unless forced (WireClient, FederaClient)', () => {
  for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]', 'app.localhost']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['10.0.0.1', 'fl.example.org', '[::]', '0.0.0.0', '128.0.0.1', 'localhost.example.org']) assert.equal(isLoopbackHost(h), false, h);
  checkTransportSecurity('ws://127.0.0.1:8443/ws');
  checkTransportSecurity('wss://fl.example.org:8443/ws');
  checkTransportSecurity('ws://fl.example.org:8443/ws', true);
  const refused = (e: unknown) => isFederaError(e, 'invalid_config') && /refusing the unencrypted server URL ws:\/\/fl\.example\.org:8443\/ws/.test((e as Error).message) && /--insecure-allow-ws/.test((e as Error).message);
  assert.throws(() => checkTransportSecurity('ws://fl.example.org:8443/ws'), refused);
  const identity = createIdentity('ws-check');
  const wire = (url: string, insecureAllowWs?: boolean) =>
    new WireClient({ url, connect: () => { throw new Error('not used'); }, clientId: identity.clientId, signer: nodeSigner(identity.privateKey), crypto: nodeFrameCrypto, onWelcome: () => async (m) => m, ...(insecureAllowWs ? { insecureAllowWs } : {}) });
  assert.throws(() => wire('ws://fl.example.org:8443'), refused);
  assert.throws(() => wire('http://fl.example.org:8443'), refused, 'http:// turns into ws:// and is refused as well');
  assert.equal(wire('ws://fl.example.org:8443', true).url, 'ws://fl.example.org:8443/ws');
  assert.equal(wire('ws://localhost:8443').url, 'ws://localhost:8443/ws');
  // FederaClient refuses when it starts (before any connection), with the same message.
  const c = new FederaClient({ server: 'ws://fl.example.org:8443', data: { train: { x: new Float32Array(0) } } as never, identity, token: 'unused-token' });
  return assert.rejects(() => c.start(), refused);
});

test('federa client and server refuse plain ws to or on a network interface unless --insecure-allow-ws', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-hardening-ws-'));
  const procs: Proc[] = [];
  t.after(() => procs.forEach((p) => p.kill()));
  const data = join(dir, 'c.csv');
  writeFileSync(data, 'f0,f1,f2,f3,label\n0,0,0,0,0\n1,1,1,1,1\n');
  const run = (name: string, args: string[]) => {
    const p = federa(name, args, { logFile: join(dir, 'processes.log') });
    procs.push(p);
    return p;
  };

  // The client: refused before it connects, naming the flag.
  const refused = run('client-refused', ['client', '--server', 'ws://federa-test.invalid:8443', '--data', data, '--identity', join(dir, 'a.json'), '--token', 'tok-aaaaaaaaaaaa', '--max-attempts', '1']);
  assert.equal((await exitOf(refused, 60_000)).code, 1);
  assert.match(refused.lines.join('\n'), /refusing the unencrypted server URL ws:\/\/federa-test\.invalid:8443\/ws.*--insecure-allow-ws/);
  // Forced: it tries (and here cannot reach the host), instead of refusing.
  const forced = run('client-forced', ['client', '--server', 'ws://federa-test.invalid:8443', '--data', data, '--identity', join(dir, 'b.json'), '--token', 'tok-bbbbbbbbbbbb', '--max-attempts', '1', '--insecure-allow-ws', '--reconnect-max-ms', '100']);
  assert.equal((await exitOf(forced, 60_000)).code, 1);
  const forcedOut = forced.lines.join('\n');
  assert.doesNotMatch(forcedOut, /refusing the unencrypted/);
  assert.match(forcedOut, /could not reach ws:\/\/federa-test\.invalid:8443\/ws/);

  // The server: no TLS on 0.0.0.0 is refused before anything starts.
  const configFile = join(dir, 'run.json');
  writeFileSync(configFile, JSON.stringify({ name: 'ws', model: 'logreg', input: { numFeatures: 4, numClasses: 2 }, rounds: 1, clientsPerRound: 1, server: { host: '0.0.0.0', port: 0, database: join(dir, 'ws.db') } }));
  const server = run('server-refused', ['server', '--config', configFile]);
  assert.notEqual((await exitOf(server, 60_000)).code, 0);
  assert.match(server.lines.join('\n'), /server\.host is "0\.0\.0\.0" but server\.tls is not set.*--insecure-allow-ws/);
  assert.equal(server.logs().some((l) => l.msg === 'listening'), false);
  const allowed = run('server-forced', ['server', '--config', configFile, '--insecure-allow-ws']);
  await serverAddress(allowed);
  assert.ok(allowed.logs().some((l) => l.level === 40 && /serving without TLS on a non-loopback interface/.test(String(l.msg))));
  // Loopback without TLS needs no flag (local tests, a proxy on the same machine).
  writeFileSync(configFile, JSON.stringify({ name: 'ws2', model: 'logreg', input: { numFeatures: 4, numClasses: 2 }, rounds: 1, clientsPerRound: 1, server: { host: '127.0.0.1', port: 0, database: join(dir, 'ws2.db') } }));
  await serverAddress(run('server-loopback', ['server', '--config', configFile]));
});
