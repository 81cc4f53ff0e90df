// The example page with bad and good local input, in headless Chromium against a real server
// that never starts a round (its quorum is larger than the pages): a wrong enrollment token, a
// malformed CSV, images of the wrong or of mixed sizes each give a clear error on the page and
// nothing crashes; a good CSV and a good image folder are accepted (the client reports itself
// ready to train with the right number of examples) — and the page never uploads the files.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verify } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { ed25519PublicKey } from '../../src/node/identity.js';
import type { FederaServer } from '../../src/server/server.js';
import { BROWSER_SKIP, closeBrowser, launchChromium } from '../helpers/chromium.js';
import { waitFor } from '../deploy/helpers/procs.js';
import { buildBrowserClient, grayPng, openClientPage, pageState, startMnistServer, writeImageFolder, type ClientPage } from './helpers-browser-client.js';

describe('the browser client page with bad and good input', { timeout: 120_000, skip: BROWSER_SKIP }, () => {
  let browser: Browser;
  let server: FederaServer;
  let url: string;
  let httpUrl: string;
  const pages: ClientPage[] = [];

  before(async () => {
    await buildBrowserClient();
    const s = await startMnistServer({ name: 'browser-input', rounds: 1, clientsPerRound: 1, minClients: 50, tokens: ['good-0', 'good-1', 'good-2'] });
    ({ server, url, httpUrl } = s);
    browser = await launchChromium();
  }, { timeout: 120_000 });

  after(async () => {
    await closeBrowser(browser);
    await server?.stop();
  }, { timeout: 30_000 });

  async function open(query: Record<string, string | number> = {}): Promise<ClientPage> {
    const p = await openClientPage(browser, httpUrl, { server: url, backend: 'wasm', ...query });
    pages.push(p);
    await waitFor('the page script', () => p.page.evaluate(() => (window as unknown as { federaPage?: { ready?: boolean } }).federaPage?.ready === true), 30_000, 50);
    return p;
  }

  async function shownError(p: ClientPage): Promise<string> {
    await p.page.locator('#error').waitFor({ state: 'visible', timeout: 60_000 });
    return (await p.page.locator('#error').textContent()) ?? '';
  }

  test('a wrong enrollment token: the server refuses the client and the page says why', async () => {
    const p = await open({ token: 'not-a-token', source: 'mnist', shard: 0, shards: 3, autostart: 1 });
    const text = await shownError(p);
    assert.match(text, /unauthorized/);
    assert.match(text, /token/i);
    assert.equal((await pageState(p.page)).status, 'error');
    assert.equal(server.store.listClients().length, 0, 'nobody enrolled');
    assert.deepEqual(p.problems, []);
  });

  test('a malformed CSV: the error names the file, line and column; joining is refused', async () => {
    const p = await open();
    await p.page.setInputFiles('#csv-file', { name: 'clinic.csv', mimeType: 'text/csv', buffer: Buffer.from('f0,f1,label\n0.5,1,0\n0.25,abc,1\n') });
    const text = await shownError(p);
    assert.match(text, /clinic\.csv line 3, column "f1": "abc" is not a number/);
    await p.page.click('#start');
    assert.match(await p.page.locator('#error').textContent() ?? '', /pick a CSV file first/);
    assert.deepEqual(p.problems, []);
  });

  test('images of mixed sizes, or of a size the model does not take, are refused with the file and sizes named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'federa-web-img-'));
    const mixed = writeImageFolder(join(dir, 'mixed'), [
      { cls: '0', name: 'a', png: grayPng(28, 28, (x) => x * 9) },
      { cls: '1', name: 'b', png: grayPng(30, 30, (_x, y) => y * 8) },
    ]);
    const p = await open();
    await p.page.setInputFiles('#image-folder', mixed);
    assert.match(await shownError(p), /1\/b\.png is 30×30 pixels; .*0\/a\.png is 28×28 — every image must have the same size/);

    const big = writeImageFolder(join(dir, 'big'), [
      { cls: 'cat', name: 'a', png: grayPng(32, 32, (x, y) => (x + y) * 4) },
      { cls: 'dog', name: 'b', png: grayPng(32, 32, (x) => 255 - x * 4) },
    ]);
    const q = await open({ token: 'good-0' });
    await q.page.setInputFiles('#image-folder', big);
    await waitFor('the folder summary', async () => /2 images of 32×32, 2 classes \(cat, dog\)/.test((await q.page.locator('#data-summary').textContent()) ?? ''), 30_000, 50);
    await q.page.click('#start');
    assert.match(await shownError(q), /the images are 32×32 pixels \(1024 values\); the server's model takes 784 features \(28×28 grayscale images\)/);
    assert.deepEqual([...p.problems, ...q.problems], []);
  });

  test('identities: kept per server and name; the raw-key fallback signs like the WebCrypto key', async () => {
    const p = await open();
    const r = await p.page.evaluate(async () => {
      const m = await import('/client/federa-browser.js' as string);
      const server = 'wss://fl.example.org:8443';
      const raw1 = await m.loadOrCreateBrowserIdentity({ server, name: 'raw', forceRawKey: true });
      const raw2 = await m.loadOrCreateBrowserIdentity({ server, name: 'raw' });
      const web1 = await m.loadOrCreateBrowserIdentity({ server, name: 'web' });
      const web2 = await m.loadOrCreateBrowserIdentity({ server, name: 'web' });
      const other = await m.loadOrCreateBrowserIdentity({ server: 'wss://other.example.org', name: 'web' });
      const msg = new TextEncoder().encode('federa/frame/v2\u0000 ‖ 32-byte challenge ‖ 32-byte digest: 80 bytes, more or less');
      return {
        raw: [raw1.identity.storage, raw1.created, raw2.created, raw1.identity.clientId === raw2.identity.clientId],
        web: [web1.identity.storage, web1.created, web2.created, web1.identity.clientId === web2.identity.clientId],
        otherServerIsAnotherClient: other.identity.clientId !== web1.identity.clientId,
        signatures: await Promise.all([raw2, web2].map(async ({ identity }) => ({ publicKey: Array.from(identity.publicKey as Uint8Array), signature: Array.from((await identity.signer.sign(msg)) as Uint8Array) }))),
        msg: Array.from(msg),
      };
    });
    assert.deepEqual(r.raw, ['raw-key', true, false, true]);
    assert.deepEqual(r.web, ['webcrypto', true, false, true]);
    assert.equal(r.otherServerIsAnotherClient, true);
    // Both signers produce RFC 8032 signatures that node:crypto verifies.
    for (const s of r.signatures) {
      assert.ok(verify(null, Buffer.from(r.msg), ed25519PublicKey(Uint8Array.from(s.publicKey)), Buffer.from(s.signature)));
    }
  });

  test('a good CSV and a good image folder are accepted, and neither file is uploaded', async () => {
    const header = [...Array.from({ length: 784 }, (_, j) => `p${j}`), 'label'].join(',');
    const rows = Array.from({ length: 20 }, (_, i) => [...Array.from({ length: 784 }, (_, j) => ((i * 7 + j) % 13) / 13), i % 10].join(','));
    const csv = Buffer.from([header, ...rows].join('\n') + '\n');
    const p = await open({ token: 'good-1', identity: 'csv' });
    await p.page.setInputFiles('#csv-file', { name: 'digits.csv', mimeType: 'text/csv', buffer: csv });
    await waitFor('the CSV summary', async () => /digits\.csv: 20 rows, 784 features, 10 classes/.test((await p.page.locator('#data-summary').textContent()) ?? ''), 30_000, 50);
    await p.page.click('#start');
    const ready = await waitFor('the CSV client to be ready', async () => (await pageState(p.page)).events.find((e) => e.type === 'ready'), 60_000, 100);
    assert.equal(Number(ready.trainExamples) + Number(ready.validationExamples), 20);

    const dir = writeImageFolder(mkdtempSync(join(tmpdir(), 'federa-web-img-')), [
      ...Array.from({ length: 6 }, (_, i) => ({ cls: String(i % 3), name: `im${i}`, png: grayPng(28, 28, (x, y) => ((x * (i + 1) + y) * 5) % 256) })),
      { cls: 'x', name: 'skip', png: Buffer.from('not an image') },
    ]);
    const q = await open({ token: 'good-2', identity: 'images' });
    await q.page.setInputFiles('#image-folder', dir);
    // 'x/skip.png' has an image name but no image inside: refused, naming it.
    assert.match(await shownError(q), /x\/skip\.png is not an image this browser can decode/);
    const clean = writeImageFolder(mkdtempSync(join(tmpdir(), 'federa-web-img-')), Array.from({ length: 6 }, (_, i) => ({ cls: String(i % 3), name: `im${i}`, png: grayPng(28, 28, (x, y) => ((x * (i + 1) + y) * 5) % 256) })));
    await q.page.setInputFiles('#image-folder', clean);
    await waitFor('the folder summary', async () => /6 images of 28×28, 3 classes/.test((await q.page.locator('#data-summary').textContent()) ?? ''), 30_000, 50);
    assert.equal(await q.page.locator('#error').isHidden(), true, 'the earlier error is cleared');
    await q.page.click('#start');
    const ready2 = await waitFor('the image client to be ready', async () => (await pageState(q.page)).events.find((e) => e.type === 'ready'), 60_000, 100);
    assert.equal(Number(ready2.trainExamples) + Number(ready2.validationExamples), 6);

    assert.equal(server.store.listClients().length, 3, 'the CSV, image and wrong-size pages enrolled');
    for (const x of [p, q]) {
      assert.deepEqual(x.sent.requestBodies, [], 'no request carries a body');
      assert.deepEqual(x.problems, []);
    }
    // The CSV's bytes are nowhere in the CSV page's frames (its first row's text, as sent to no one).
    const firstRow = Buffer.from(rows[0].slice(0, 60));
    assert.ok(p.sent.frames.every((f) => f.indexOf(firstRow) < 0));
  });
});
