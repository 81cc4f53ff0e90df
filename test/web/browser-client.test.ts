// Issue 8, browser client: a federa server and three headless Chromium pages of /client/ (each in
// its own browser context, so its own IndexedDB identity) train MNIST logistic regression for 3
// rounds. One page is reloaded mid-run and must rejoin as the same client without a new token and
// take part in a later round. Every WebSocket frame and request body the pages send is recorded
// and searched for the pages' raw examples; the train replies must carry the model update.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { decodeFrame } from '../../src/wire/codec.js';
import { decodeImageSubset } from '../../src/browser/data.js';
import { mnistSubsetBytes } from '../../src/server/static.js';
import type { FederaServer } from '../../src/server/server.js';
import { BROWSER_SKIP, closeBrowser, launchChromium } from '../helpers/chromium.js';
import { waitFor } from '../deploy/helpers/procs.js';
import { buildBrowserClient, contains, openClientPage, pageState, startMnistServer, type ClientPage, type PageState } from './helpers-browser-client.js';

const SHARDS = 3;
const RELOADED = 1;

describe('three Chromium tabs train MNIST logistic regression with a federa server', { timeout: 150_000, skip: BROWSER_SKIP }, () => {
  let browser: Browser;
  let server: FederaServer;
  let pages: ClientPage[] = [];
  let after_: PageState;
  let history: ReturnType<FederaServer['history']>;

  before(async () => {
    await buildBrowserClient();
    const s = await startMnistServer({ rounds: 3 });
    server = s.server;
    browser = await launchChromium();
    pages = await Promise.all(
      Array.from({ length: SHARDS }, (_, i) =>
        openClientPage(
          browser,
          s.httpUrl,
          { server: s.url, token: `web-token-${i}`, source: 'mnist', shard: i, shards: SHARDS, autostart: 1 }, // automatic backend
          { reloadAfterFirstUpdate: i === RELOADED },
        ),
      ),
    );
    const outcome = await server.done;
    assert.equal(outcome.status, 'completed');
    const p = pages[RELOADED];
    after_ = await waitFor('the reloaded tab to hear that the run is complete', async () => {
      const st = await pageState(p.page);
      return st.status === 'done' || st.error ? st : undefined;
    }, 30_000, 100);
    history = server.history();
  }, { timeout: 150_000 });

  after(async () => {
    await closeBrowser(browser);
    await server?.stop();
  }, { timeout: 30_000 });

  test('3 rounds complete and the global model improves (central accuracy after > before)', async () => {
    assert.equal(history.rounds.length, 3);
    for (const r of history.rounds) assert.equal(r.status, 'completed', `round ${r.round}: ${JSON.stringify(r.reason ?? r.failed)}`);
    const before = Number(history.initialEvaluation!.metrics.accuracy);
    const last = Number(history.rounds.at(-1)!.centralEvaluation!.metrics.accuracy);
    assert.ok(before < 0.2, `initial accuracy ${before} is about chance`);
    assert.ok(last > before + 0.3, `accuracy went from ${before} to ${last}`);
    // Every tab trained: all three ids succeeded in round 1 (before the reload mattered).
    const ids = await Promise.all(pages.map(async (p) => (await pageState(p.page)).clientId!));
    assert.equal(new Set(ids).size, 3, 'three distinct identities');
    assert.deepEqual([...history.rounds[0].succeeded].sort(), [...ids].sort());
    // And each page saw its local metrics.
    for (const p of pages) {
      const st = await pageState(p.page);
      assert.equal(st.error, undefined, `page error: ${st.error}`);
      assert.ok(st.rounds.some((r) => typeof r.loss === 'number' && r.loss > 0 && typeof r.accuracy === 'number'), 'local loss and accuracy shown');
      // Headless Chromium renders WebGL in software (SwiftShader): the automatic choice is wasm.
      assert.equal(st.events.find((e) => e.type === 'backend')?.backend, 'wasm');
      assert.equal(await p.page.locator('#status').textContent(), 'the run is complete');
      assert.ok((await p.page.locator('#rounds tbody tr').count()) >= 1, 'the rounds table has rows');
      assert.deepEqual(p.problems, []);
    }
  });

  test('a reloaded tab rejoins with the same identity, without a new token, and takes part in a later round', async () => {
    const p = pages[RELOADED];
    assert.equal(await p.page.evaluate(() => sessionStorage.getItem('federa-test-reloaded')), '1', 'the tab reloaded');
    assert.equal(after_.error, undefined);
    // The frames of both documents, in order: HELLO, train reply of round r0, reload, HELLO, ...
    const frames = p.sent.frames.map((b) => decodeFrame(new Uint8Array(b)));
    const hellos = frames.flatMap((f, i) => (f.kind === 'hello' ? [i] : []));
    assert.ok(hellos.length >= 2, `two connections (one per document), got ${hellos.length}`);
    const clientId = frames[hellos[0]].clientId;
    const [first, second] = [frames[hellos[0]], frames[hellos[1]]];
    assert.equal(second.clientId, clientId, 'the same client id after the reload');
    assert.deepEqual(second.body.publicKey, first.body.publicKey, 'the same key after the reload');
    assert.equal(after_.clientId, clientId);
    const r0 = Math.max(...frames.slice(0, hellos[1]).filter((f) => f.type === 'train_result').map((f) => f.round));
    assert.ok(r0 >= 1, 'an update went out before the reload');
    const identity = after_.events.find((e) => e.type === 'identity')!;
    assert.equal(identity.created, false, 'the identity came from IndexedDB');
    assert.equal(identity.storage, 'webcrypto', 'a non-extractable WebCrypto key');
    const welcome = after_.events.find((e) => e.type === 'welcome')!;
    assert.equal(welcome.enrolled, false, 'not enrolled a second time');
    // The server's registry: three clients; three of the four tokens used, the spare one not.
    assert.equal(server.store.listClients().length, 3);
    const tokens = server.store.listTokens();
    assert.equal(tokens.filter((t) => t.usedBy).length, 3, JSON.stringify(tokens));
    const later = history.rounds.filter((r) => r.round > r0 && r.succeeded.includes(clientId));
    assert.ok(later.length > 0, `client ${clientId} succeeded in no round after round ${r0}: ${JSON.stringify(history.rounds.map((r) => [r.round, r.succeeded]))}`);
    assert.ok(frames.slice(hellos[1]).some((f) => f.type === 'train_result' && f.round > r0), 'the reloaded document sent an update');
    // The stored key cannot be read by the page's scripts.
    const extractable = await pages[RELOADED].page.evaluate(
      () =>
        new Promise<boolean | string>((resolve) => {
          const open = indexedDB.open('federa');
          open.onsuccess = () => {
            const get = open.result.transaction('identities').objectStore('identities').getAll();
            get.onsuccess = () => resolve((get.result[0]?.keys?.privateKey as CryptoKey | undefined)?.extractable ?? 'no key');
          };
        }),
    );
    assert.equal(extractable, false);
  });

  test('no frame or request carries raw examples; train replies carry the update', () => {
    const all = decodeImageSubset(new Uint8Array(mnistSubsetBytes()));
    const f = all.numFeatures;
    pages.forEach((p, shard) => {
      const mine = decodeImageSubset(new Uint8Array(mnistSubsetBytes()), { shard, shards: SHARDS });
      const needles: Array<[string, Buffer]> = [];
      for (let e = 0; e < mine.y.length; e += Math.floor(mine.y.length / 8)) {
        const px = mine.x.subarray(e * f, (e + 1) * f);
        const start = px.findIndex((v) => v > 0.2); // a window inside the digit, not the blank border
        needles.push([`example ${e}: 16 pixels as float32`, Buffer.from(Float32Array.from(px.subarray(start, start + 16)).buffer)]);
        needles.push([`example ${e}: 24 pixels as bytes`, Buffer.from(Array.from(px.subarray(start, start + 24), (v) => Math.round(v * 255)))]);
      }
      const labels = mine.y.subarray(0, 24);
      needles.push(['24 labels as bytes', Buffer.from(Array.from(labels))]);
      needles.push(['24 labels as int32', Buffer.from(Int32Array.from(labels).buffer)]);
      needles.push(['24 labels as float32', Buffer.from(Float32Array.from(labels).buffer)]);
      needles.push(['24 labels as text', Buffer.from(Array.from(labels).join(','))]);
      assert.ok(p.sent.frames.length >= 2, `frames were recorded (${p.sent.frames.length})`);
      for (const [what, needle] of needles) {
        for (const frame of p.sent.frames) assert.ok(!contains(frame, needle), `a WebSocket frame of page ${shard} holds ${what}`);
        for (const body of p.sent.requestBodies) assert.ok(!contains(body, needle), `a request body of page ${shard} holds ${what}`);
      }
      assert.deepEqual(p.sent.requests.filter((r) => !r.startsWith('GET ')), [], 'the page only GETs (its page, bundle, demo data, /api/history)');
      const updates = p.sent.frames
        .map((b) => decodeFrame(new Uint8Array(b)))
        .filter((fr) => fr.kind === 'reply' && fr.type === 'train_result')
        .map((fr) => fr.body.update);
      assert.ok(updates.length >= 1, `page ${shard} sent train results`);
      for (const u of updates) {
        assert.ok(u instanceof Float32Array && u.length === f * 10 + 10, 'the update of the 784→10 model');
        assert.ok(u.some((v) => v !== 0), 'a non-zero update');
      }
    });
    assert.equal(all.y.length, 2400);
  });
});
