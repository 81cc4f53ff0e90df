// Bring-your-own model in the browser: the server loads a user's TF.js model.json (not a zoo
// model); two headless Chromium pages of /client/, with no model code of their own, build it from
// the architecture in the WELCOME's model spec and train it on their MNIST shards.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Browser } from 'playwright-core';
import { initBackend } from '../../src/models/backend.js';
import { modelJsonServerModel } from '../../src/node/model-json.js';
import { loadMnist } from '../../src/node/mnist.js';
import { parseServerConfig } from '../../src/config/rules.js';
import { FederaServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/core/log.js';
import { BROWSER_SKIP, launchChromium } from '../helpers/chromium.js';
import { buildBrowserClient, openClientPage, type ClientPage } from './helpers-browser-client.js';

let browser: Browser;
let server: FederaServer;
let pages: ClientPage[] = [];

before(async () => {
  if (BROWSER_SKIP) return;
  await initBackend('wasm');
  const dir = mkdtempSync(join(tmpdir(), 'federa-web-byo-'));
  // The user's model, saved as model.save('file://…') would (topology only: seeded initial weights).
  const mine = tf.sequential({
    name: 'my_mlp',
    layers: [tf.layers.dense({ inputShape: [784], units: 32, activation: 'relu', name: 'byo_hidden' }), tf.layers.dense({ units: 10, activation: 'softmax', name: 'byo_out' })],
  });
  mkdirSync(join(dir, 'model'));
  await mine.save(tf.io.withSaveHandler(async (a) => (writeFileSync(join(dir, 'model', 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology })), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  mine.dispose();
  const model = await modelJsonServerModel(join(dir, 'model', 'model.json'), { numFeatures: 784, numClasses: 10, seed: 5, evaluationData: loadMnist().test });
  const config = parseServerConfig({
    name: 'browser-byo',
    seed: 5,
    model: 'logreg', // replaced by the model.json below
    rounds: 2,
    clientsPerRound: 2,
    minResults: 1,
    dataset: { name: 'mnist' },
    local: { epochs: 1, batchSize: 16, learningRate: 0.1 },
    evaluation: { federatedEvery: 0, centralEvery: 1 },
    server: { host: '127.0.0.1', port: 0, database: join(dir, 'server.db'), minClients: 2, enrollmentTokens: ['web-token-0', 'web-token-1'], roundTimeoutMs: 120_000, heartbeatMs: 5_000 },
  });
  await buildBrowserClient();
  server = new FederaServer(config, { model, logger: silentLogger, processMetrics: false });
  const { url, httpUrl } = await server.start();
  browser = await launchChromium();
  pages = await Promise.all([0, 1].map((i) => openClientPage(browser, httpUrl, { server: url, token: `web-token-${i}`, source: 'mnist', shard: i, shards: 2, autostart: 1, backend: 'wasm' })));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('two Chromium tabs train the server’s model.json; the global model improves', { timeout: 180_000, skip: BROWSER_SKIP }, async () => {
  const outcome = await server.done;
  assert.equal(outcome.status, 'completed');
  const h = server.history();
  assert.deepEqual(h.rounds.map((r) => r.status), ['completed', 'completed']);
  for (const r of h.rounds) assert.equal(r.succeeded.length, 2, `round ${r.round}: ${JSON.stringify(r.failed)}`);
  const before = Number(h.initialEvaluation!.metrics.accuracy);
  const last = Number(h.rounds[1].centralEvaluation!.metrics.accuracy);
  assert.ok(last > before + 0.3, `central accuracy ${before} → ${last}`);
  for (const p of pages) assert.deepEqual(p.problems, [], 'no page errors');
});
