// FedBuff deployed: a FederaServer with strategy "fedbuff" (K = 3, all 6 clients training at
// once) and 6 real client processes over wss, two of them 25× slower. The versions advance on the
// fast clients' uploads while the slow ones train; the slow uploads arrive later, several versions
// stale, and are weighted by (1 + τ)^−0.5; every buffer moves the model by exactly Σ s(τ)·Δ / K.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParamLayout, makeParams } from '../../src/core/params.js';
import { parseServerConfig } from '../../src/config/rules.js';
import { FederaServer, type ServerModel } from '../../src/server/server.js';
import { Store } from '../../src/server/store.js';
import { makeSelfSignedCertificate } from '../deploy/helpers/tls.js';
import { ROOT, track } from '../deploy/helpers/procs.js';
import { knownUpdates } from '../secagg/helpers/clients.js';
import { FEDBUFF_TEST as P } from './helpers/fedbuff-params.js';

const CLIENT = fileURLToPath(new URL('./helpers/fedbuff-client.ts', import.meta.url));
const K = 3;
const ROUNDS = 40;

test('FedBuff over wss with 6 client processes, 2 of them slow: versions advance without waiting; slow uploads count later, down-weighted by their staleness', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-fedbuff-wss-'));
  const cert = makeSelfSignedCertificate(dir);
  const layout = ParamLayout.fromShapes([{ name: 'w', shape: [P.dimension] }]);
  const model: ServerModel = { spec: { name: 'known-updates', numFeatures: 1, numClasses: 2, layout: layout.toJSON() }, initialParams: makeParams(layout) };
  const tokens = Array.from({ length: P.clients }, (_, i) => `fedbuff-token-${i}-0123456789`);
  const config = parseServerConfig({
    name: 'fedbuff-wss',
    seed: 2,
    model: 'logreg',
    rounds: ROUNDS,
    clientsPerRound: P.clients,
    validationFraction: 0,
    input: { numFeatures: 1, numClasses: 2 },
    evaluation: { federatedEvery: 0, centralEvery: 0 },
    strategy: { name: 'fedbuff', bufferSize: K, concurrency: P.clients, serverLearningRate: 1 },
    server: { port: 0, host: '127.0.0.1', tls: { cert: cert.certFile, key: cert.keyFile }, database: join(dir, 'server.db'), enrollmentTokens: tokens, heartbeatMs: 0 },
  });
  const server = new FederaServer(config, { model, processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  const outputs: string[][] = [];
  const exits = tokens.map((token, i) => {
    const args = ['--import', 'tsx', CLIENT, url, String(i), token, join(dir, `client-${i}.json`), cert.certFile, String(i < 2 ? P.slowMs : P.fastMs)];
    const child = track(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    const lines: string[] = (outputs[i] = []);
    child.stdout.on('data', (c) => lines.push(String(c)));
    child.stderr.on('data', (c) => lines.push(String(c)));
    t.after(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
    return new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  });
  const outcome = await server.done;
  assert.equal(outcome.status, 'completed');
  const codes = await Promise.all(exits);
  codes.forEach((c, i) => assert.equal(c, 0, `client-${i}: ${outputs[i].join('').slice(-800)}`));

  const store = new Store(join(dir, 'server.db'));
  t.after(() => store.close());
  const history = store.history('fedbuff-wss');
  assert.equal(history.length, ROUNDS);
  assert.ok(history.every((h) => h.status === 'completed'), JSON.stringify(history.map((h) => h.reason)));
  const buffers = history.map((h) => h.events!.find((e) => e.kind === 'fedbuff-buffer') as unknown as { staleness: number[]; weights: number[] });
  // The first buffers are filled by fast clients alone: the slow ones are still training.
  const slow = new Set(['client-0', 'client-1']);
  const firstSlow = history.findIndex((h) => h.succeeded.some((id) => slow.has(id)));
  assert.ok(firstSlow >= 2, `versions advanced without the slow clients: their first upload is in round ${firstSlow + 1}`);
  // ... and arrive stale, down-weighted.
  for (const [r, h] of history.entries()) {
    h.succeeded.forEach((id, k) => {
      if (slow.has(id)) {
        assert.ok(buffers[r].staleness[k] >= 1, `round ${r + 1}: ${id}'s upload is ${buffers[r].staleness[k]} versions stale`);
        assert.ok(Math.abs(buffers[r].weights[k] - (1 + buffers[r].staleness[k]) ** -0.5) < 1e-12);
      }
    });
  }
  // Every buffer, replayed: the final model is Σ over rounds of Σ s(τ)·Δ / K.
  const updates = knownUpdates(P.clients, P.dimension, P.seed, 1);
  const want = new Float64Array(P.dimension);
  for (const [r, h] of history.entries()) {
    h.succeeded.forEach((id, k) => {
      const u = updates[Number(id.split('-')[1])];
      for (let j = 0; j < P.dimension; j++) want[j] += Math.fround(u[j] * buffers[r].weights[k]) / K;
    });
  }
  const params = store.latestCheckpoint('fedbuff-wss')!.params;
  for (let j = 0; j < P.dimension; j++) assert.ok(Math.abs(params[j] - want[j]) < 1e-4, `coordinate ${j}: ${params[j]} vs ${want[j]}`);
  t.diagnostic(`slow clients first counted in round ${firstSlow + 1}; staleness per round: ${buffers.map((b) => b.staleness.join('/')).join(' ')}`);
});
