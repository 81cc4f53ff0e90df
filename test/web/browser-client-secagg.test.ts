// Secure aggregation with browser clients: the browser client carries the same secure-aggregation
// layer as the Node client, so three Chromium tabs complete SecAgg rounds (keys, shares, masked
// input, unmasking) with a federa server configured with `secagg`, the global model improves, and
// what the tabs send for training is the masked vector, never a plain update.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { decodeFrame } from '../../src/wire/codec.js';
import { SECAGG_MESSAGES } from '../../src/secagg/protocol.js';
import type { FederaServer } from '../../src/server/server.js';
import { BROWSER_SKIP, closeBrowser, launchChromium } from '../helpers/chromium.js';
import { buildBrowserClient, openClientPage, pageState, startMnistServer, type ClientPage } from './helpers-browser-client.js';

let browser: Browser;
let server: FederaServer;
const pages: ClientPage[] = [];

before(async () => {
  if (BROWSER_SKIP) return;
  await buildBrowserClient();
  const s = await startMnistServer({ name: 'browser-secagg', rounds: 2, run: { secagg: { enabled: true } } });
  server = s.server;
  browser = await launchChromium();
  for (let i = 0; i < 3; i++) {
    pages.push(await openClientPage(browser, s.httpUrl, { server: s.url, token: `web-token-${i}`, source: 'mnist', shard: i, shards: 3, autostart: 1 }));
  }
}, { timeout: 150_000 });

after(async () => {
  await closeBrowser(browser);
  await server?.stop();
}, { timeout: 30_000 });

test('three tabs complete 2 secure-aggregation rounds; they send masked vectors, not updates', { timeout: 120_000, skip: BROWSER_SKIP }, async () => {
  const outcome = await server.done;
  assert.equal(outcome.status, 'completed');
  const h = server.history();
  assert.equal(h.rounds.length, 2);
  for (const r of h.rounds) {
    assert.equal(r.status, 'completed', JSON.stringify(r.failed));
    assert.equal(r.succeeded.length, 3, `round ${r.round}: ${JSON.stringify(r.failed)}`);
  }
  const before = Number(h.initialEvaluation!.metrics.accuracy);
  const last = Number(h.rounds.at(-1)!.centralEvaluation!.metrics.accuracy);
  assert.ok(last > before + 0.3, `accuracy went from ${before} to ${last}`);
  for (const p of pages) {
    const types = new Set(p.sent.frames.map((b) => decodeFrame(new Uint8Array(b))).filter((f) => f.kind === 'reply').map((f) => f.type));
    for (const t of [SECAGG_MESSAGES.keys, SECAGG_MESSAGES.shares, SECAGG_MESSAGES.maskedResult, SECAGG_MESSAGES.unmaskResult]) assert.ok(types.has(t), `a ${t} reply (got ${[...types].join(', ')})`);
    assert.ok(!types.has('train_result'), 'no plain update left the tab');
    const st = await pageState(p.page);
    assert.equal(st.error, undefined);
    assert.ok(st.rounds.some((r) => typeof r.loss === 'number'), 'the page showed its local training');
    assert.deepEqual(p.problems, []);
  }
});
