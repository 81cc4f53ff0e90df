// The server side shared by the secure-aggregation tests over wss: a FederaServer on 127.0.0.1
// with a self-signed certificate, the known-updates model of WSS_TEST's dimension, one
// enrollment token per client, and one round of secure aggregation with `secagg` settings.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParamLayout, makeParams } from '../../../src/core/params.js';
import { parseServerConfig } from '../../../src/config/rules.js';
import { FederaServer, type ServerModel } from '../../../src/server/server.js';
import { makeSelfSignedCertificate } from '../../deploy/helpers/tls.js';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { ROOT, track } from '../../deploy/helpers/procs.js';
import { WSS_TEST as P } from './wss-params.js';
import assert from 'node:assert/strict';
import { Store } from '../../../src/server/store.js';

const CLIENT = fileURLToPath(new URL('./wss-client.ts', import.meta.url));

export interface WssSecAggServer {
  dir: string;
  server: FederaServer;
  url: string;
  tokens: string[];
  certFile: string;
  database: string;
}

export async function startWssSecAggServer(
  name: string,
  options: { clients: number; seed: number; secagg: Record<string, unknown>; extra?: Record<string, unknown> },
): Promise<WssSecAggServer> {
  const dir = mkdtempSync(join(tmpdir(), `federa-${name}-`));
  const cert = makeSelfSignedCertificate(dir);
  const layout = ParamLayout.fromShapes([{ name: 'w', shape: [P.dimension] }]);
  const model: ServerModel = { spec: { name: 'known-updates', numFeatures: 1, numClasses: 2, layout: layout.toJSON() }, initialParams: makeParams(layout) };
  const tokens = Array.from({ length: options.clients }, (_, i) => `${name}-token-${i}-0123456789`);
  const config = parseServerConfig({
    name,
    seed: options.seed,
    model: 'logreg',
    rounds: 1,
    clientsPerRound: options.clients,
    validationFraction: 0,
    input: { numFeatures: 1, numClasses: 2 },
    evaluation: { federatedEvery: 0, centralEvery: 0 },
    ...options.extra,
    secagg: { maxWeight: P.maxWeight, ...options.secagg },
    server: { port: 0, host: '127.0.0.1', tls: { cert: cert.certFile, key: cert.keyFile }, database: join(dir, 'server.db'), enrollmentTokens: tokens, heartbeatMs: 0 },
  });
  const server = new FederaServer(config, { model, processMetrics: false });
  const { url } = await server.start();
  return { dir, server, url, tokens, certFile: cert.certFile, database: join(dir, 'server.db') };
}

/**
 * Starts `count` client processes (helpers/wss-client.ts) against `s`; `extraArgs(i)` is appended
 * to client i's arguments (e.g. the stage to die at). Each is killed after the test.
 */
export function spawnWssClients(t: TestContext, s: WssSecAggServer, count: number, extraArgs: (i: number) => string[] = () => []) {
  const outputs: string[][] = [];
  const exits = Array.from({ length: count }, (_, i) => {
    const args = ['--import', 'tsx', CLIENT, s.url, String(i), s.tokens[i], join(s.dir, `client-${i}.json`), s.certFile, ...extraArgs(i)];
    const child = track(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    const lines: string[] = (outputs[i] = []);
    child.stdout.on('data', (c) => lines.push(String(c)));
    child.stderr.on('data', (c) => lines.push(String(c)));
    t.after(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
    return new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  });
  return { outputs, exits };
}

/**
 * Runs `s`'s run to its end with `count` client processes that all exit cleanly, and opens its
 * store (closed after the test): the first half of every wss test without dropouts.
 */
export async function completeWssRun(t: TestContext, s: WssSecAggServer, count: number): Promise<Store> {
  t.after(() => s.server.stop());
  const { outputs, exits } = spawnWssClients(t, s, count);
  const outcome = await s.server.done;
  assert.equal(outcome.status, 'completed');
  const ended = await Promise.all(exits);
  ended.forEach(({ code }, i) => assert.equal(code, 0, `client-${i}: ${outputs[i].join('').slice(-800)}`));
  const store = new Store(s.database);
  t.after(() => store.close());
  return store;
}
