// A regression over the network: the server's model spec says task 'regression'; stock Node
// clients read their CSV's float target column and train; R² comes back in the history. A client
// that was not told its target column refuses with a message saying so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/models/backend.js';
import { resolveModel } from '../../src/node/workloads.js';
import { FederaServer, type ServerModel } from '../../src/server/server.js';
import { FederaClient } from '../../src/node/client.js';
import { createIdentity } from '../../src/node/identity.js';
import { parseCsv } from '../../src/data/csv.js';
import { Rng } from '../../src/core/rng.js';
import { toyServerConfig } from './helpers/scripted.js';

await initBackend('wasm');

function csv(rows: number, seed: number): string {
  const rng = new Rng(seed);
  const lines = ['a,b,price'];
  for (let i = 0; i < rows; i++) {
    const a = rng.next();
    const b = rng.next();
    lines.push(`${a.toFixed(4)},${b.toFixed(4)},${(2 * a - b + 0.5 + 0.02 * rng.normal()).toFixed(4)}`);
  }
  return lines.join('\n');
}

test('stock Node clients train a regression from CSV files; R² in the server history', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-deploy-reg-'));
  const files = [0, 1].map((i) => {
    const p = join(dir, `site-${i}.csv`);
    writeFileSync(p, csv(200, i + 1));
    return p;
  });
  const test = parseCsv(csv(200, 9), { targetColumns: ['price'] }).dataset;
  const resolved = await resolveModel('logreg', { numFeatures: 2, numClasses: 1, task: 'regression' }, { seed: 4 });
  const evaluator = await resolved.createTrainer();
  t.after(() => evaluator.dispose());
  const model: ServerModel = {
    spec: resolved.spec,
    initialParams: resolved.initialParams,
    evaluate: async (_r, p) => {
      evaluator.setParameters(p.data);
      const e = await evaluator.evaluate(test);
      return { loss: e.loss, metrics: e.metrics };
    },
  };
  assert.equal(model.spec.task, 'regression');
  const config = toyServerConfig(dir, { name: 'reg-run', rounds: 4, clientsPerRound: 2, local: { epochs: 3, batchSize: 10, learningRate: 0.1 }, evaluation: { federatedEvery: 1, centralEvery: 1 } });
  const server = new FederaServer(config, { model, processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  const clients = files.map((f, i) => new FederaClient({ server: url, data: f, targetColumns: ['price'], token: `token-${i}`, identity: createIdentity(`client-${i}`) }));
  t.after(() => clients.forEach((c) => c.stop()));
  const outcomes = await Promise.all(clients.map((c) => c.start()));
  assert.deepEqual(outcomes.map((o) => o.reason), ['run_complete', 'run_complete']);
  const rounds = server.history().rounds;
  assert.deepEqual(rounds.map((r) => r.status), ['completed', 'completed', 'completed', 'completed']);
  const r2 = rounds.map((r) => r.centralEvaluation!.metrics.r2);
  assert.ok(r2[3] > 0.9, `central R² by round ${r2}`);
  assert.equal(typeof rounds[3].federatedEvaluation!.metrics.mae, 'number');
});

test('a client with no target column for a regression server says what is missing', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-deploy-reg2-'));
  const file = join(dir, 'site.csv');
  writeFileSync(file, csv(20, 3));
  const resolved = await resolveModel('logreg', { numFeatures: 2, numClasses: 1, task: 'regression' }, { seed: 4 });
  const server = new FederaServer(toyServerConfig(dir, { name: 'reg-run-2', rounds: 1, clientsPerRound: 1 }), { model: { spec: resolved.spec, initialParams: resolved.initialParams }, processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  const client = new FederaClient({ server: url, data: file, token: 'token-0', identity: createIdentity('client-0'), reconnect: { maxAttempts: 1 } });
  t.after(() => client.stop());
  // The file has no "label" column: found before connecting, with both ways out named.
  await assert.rejects(client.start(), (e) => /column "label": no such column .* for a server whose model is a regression, the float target column\(s\) \(targetColumns, --target-column\); nothing was sent/.test((e as Error).message));
  assert.equal(server.store.listClients().length, 0);
  // A file that has a label column but no target named: the server's spec says regression.
  const labelled = join(dir, 'labelled.csv');
  writeFileSync(labelled, ['a,b,label', '0.1,0.2,0', '0.3,0.4,1', '0.5,0.6,0'].join('\n') + '\n');
  const second = new FederaClient({ server: url, data: labelled, token: 'token-0', identity: createIdentity('client-1'), reconnect: { maxAttempts: 1 } });
  t.after(() => second.stop());
  await assert.rejects(second.start(), (e) => /is a regression: name the float target column\(s\)/.test((e as Error).message));
});
