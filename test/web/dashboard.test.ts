// The dashboard in real Chromium (Debian's, through playwright-core) against a live in-process
// server with WebSocket clients on 127.0.0.1: it is refused without a valid admin token, and with
// one it follows the run live (no reload) until its round counter, accuracy chart data and client
// table match the server's own APIs (/api/history, /admin/clients).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { BROWSER_SKIP, closeBrowser, launchChromium } from '../helpers/chromium.js';
import { httpJson, waitFor } from '../deploy/helpers/procs.js';
import { startDashboardRun, type DashboardRun } from './dashboard-run.js';
import { EventEmitter } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { silentLogger } from '../../src/core/log.js';
import { SseParser } from '../../src/dashboard/sse.js';
import type { DashboardActivity, DashboardClient, DashboardSnapshot } from '../../src/dashboard/protocol.js';
import { DashboardStream, sseMessage } from '../../src/server/dashboard.js';
import type { FederaServer } from '../../src/server/server.js';

let browser: Browser;
before(async () => {
  if (!BROWSER_SKIP) browser = await launchChromium();
}, { timeout: 120_000 });
after(async () => {
  await closeBrowser(browser);
}, { timeout: 30_000 });

interface PageView {
  loadedAt: number;
  connection: string;
  received: Array<{ event: string; round?: number }>;
  chartData(): Record<string, unknown>;
}

async function newPage(): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => requests.push(`${r.method()} ${r.url()} ${r.headers().authorization ?? ''}`));
  return { page, errors, requests };
}

const ROUNDS = 3;

test('the dashboard is refused without the admin token, follows a run live with it, and matches the history API', { timeout: 120_000, skip: BROWSER_SKIP }, async (t) => {
  const run: DashboardRun = await startDashboardRun({ rounds: ROUNDS, delayMs: 250 });
  t.after(() => run.stop());
  const base = run.httpUrl;

  // --- Refused: no token, then a wrong one. -------------------------------------------------
  {
    const { page, errors } = await newPage();
    await page.goto(`${base}/`);
    await page.waitForSelector('#login:not([hidden])');
    assert.equal(await page.isHidden('#app'), true, 'no data view without a token');
    assert.equal(await page.locator('#rounds tbody tr').count(), 0);

    await page.goto(`${base}/#token=not-the-admin-token`);
    await page.waitForFunction(() => (window as unknown as { __federaDashboard: PageView }).__federaDashboard.connection === 'refused');
    assert.match((await page.textContent('#login-message')) ?? '', /refused/i);
    assert.equal(await page.textContent('#conn-text'), 'refused');
    assert.equal(await page.isHidden('#app'), true);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('federa-admin-token')), null, 'a refused token is forgotten');
    assert.equal(new URL(page.url()).hash, '', 'the token is taken out of the address bar');
    // The form takes the right token and opens the data view.
    await page.fill('#token', run.adminToken);
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => (window as unknown as { __federaDashboard: PageView }).__federaDashboard.connection === 'live');
    assert.equal(await page.isVisible('#app'), true);
    assert.equal(await page.isHidden('#login'), true);
    assert.equal(await page.textContent('#run-title b'), 'dashboard-demo');
    assert.deepEqual(errors, []);
    await page.close();
  }
  for (const auth of [undefined, 'Bearer wrong', `Basic ${run.adminToken}`]) {
    for (const path of ['/admin/dashboard', '/admin/events']) {
      const r = await httpJson(`${base}${path}`, { headers: auth ? { authorization: auth } : {} });
      assert.equal(r.status, 401, `${path} with ${auth ?? 'no'} authorization`);
      assert.ok(!r.text.includes('"history"'));
    }
  }

  // --- With the token: open before any client connects, then watch the run. ----------------
  const { page, errors, requests } = await newPage();
  await page.goto(`${base}/#token=${encodeURIComponent(run.adminToken)}`);
  await page.waitForFunction(() => (window as unknown as { __federaDashboard: PageView }).__federaDashboard.connection === 'live');
  assert.equal(new URL(page.url()).hash, '', 'the token is taken out of the address bar');
  const loadedAt = await page.evaluate(() => {
    (window as unknown as { __marker: string }).__marker = 'set-before-the-run';
    return (window as unknown as { __federaDashboard: PageView }).__federaDashboard.loadedAt;
  });
  assert.equal(await page.getAttribute('#round-counter', 'data-completed'), '0');

  await run.startClients();
  // Two rounds seen while the run is going…
  await page.waitForFunction(() => Number(document.querySelector('#round-counter')?.getAttribute('data-completed')) >= 2, null, { timeout: 60_000 });
  const midRun = (await httpJson(`${base}/api/history`)).body as { rounds: unknown[] };
  assert.ok(midRun.rounds.length >= 2);
  // …then to the end of the run.
  const outcome = await run.server.done;
  assert.equal(outcome.status, 'completed');
  await page.waitForFunction((n) => document.querySelector('#round-counter')?.getAttribute('data-completed') === String(n), ROUNDS, { timeout: 20_000 });

  const history = (await httpJson(`${base}/api/history`)).body as { rounds: Array<{ round: number; centralEvaluation: { metrics: { accuracy: number } }; privacy: { epsilon: number }; failed: Array<{ clientId: string; code: string; reason: string }> }> };
  assert.equal(history.rounds.length, ROUNDS);

  // Round counter.
  assert.equal(await page.getAttribute('#round-counter', 'data-completed'), String(history.rounds.length));
  assert.match((await page.textContent('#round-counter .value')) ?? '', new RegExp(`^${ROUNDS} / ${ROUNDS}$`));
  assert.equal(await page.locator('#rounds tbody tr[data-round]').count(), ROUNDS);

  // The accuracy chart holds the history's central accuracy, round by round (and ε its privacy).
  const charts = (await page.evaluate(() => (window as unknown as { __federaDashboard: PageView }).__federaDashboard.chartData())) as Record<string, Array<Array<number | null>>>;
  assert.deepEqual(charts.accuracy[0], history.rounds.map((r) => r.round));
  assert.deepEqual(charts.accuracy[1], history.rounds.map((r) => r.centralEvaluation.metrics.accuracy));
  assert.deepEqual(charts.privacy[1], history.rounds.map((r) => r.privacy.epsilon));
  const drawn = await page.locator('#charts .federa-chart-accuracy canvas').count();
  assert.equal(drawn, 1, 'the accuracy chart is drawn');

  // The client table matches /admin/clients (eventually: the list refreshes every 2 s).
  const admin = { authorization: `Bearer ${run.adminToken}` };
  const registry = (await httpJson(`${base}/admin/clients`, { headers: admin })).body as { clients: Array<{ id: string; participations: number; failures: number; violations: number; connected: boolean }> };
  assert.equal(registry.clients.length, 5);
  const expected = registry.clients.map((c) => ({ id: c.id, status: c.connected ? 'connected' : 'offline', participations: String(c.participations), failures: String(c.failures) }));
  await waitFor('the client table to match /admin/clients', async () => {
    const rows = await page.$$eval('#clients tbody tr[data-client]', (trs) =>
      trs.map((tr) => ({ id: tr.getAttribute('data-client'), status: tr.getAttribute('data-status'), participations: tr.getAttribute('data-participations'), failures: tr.getAttribute('data-failures') })),
    );
    return JSON.stringify(rows) === JSON.stringify(expected) || undefined;
  }, 10_000, 200);
  assert.ok(registry.clients.some((c) => c.participations > 0) && registry.clients.some((c) => c.failures > 0), 'the run had both successes and failures');

  // Failures and the rejected frame are listed with their reasons.
  const failure = history.rounds.flatMap((r) => r.failed)[0];
  assert.equal(failure.code, 'rejected:shape_mismatch');
  const events = (await page.textContent('#events')) ?? '';
  assert.ok(events.includes(failure.reason), 'a round failure with its reason');
  assert.match(events, /client-9: frame rejected \(text_frame\) — text frames are not part of the protocol/);

  // Live, not reloaded: the marker and the load stamp survive, and the rounds came as events.
  const final = await page.evaluate(() => ({
    marker: (window as unknown as { __marker?: string }).__marker,
    view: (window as unknown as { __federaDashboard: PageView }).__federaDashboard,
  }));
  assert.equal(final.marker, 'set-before-the-run');
  assert.equal(final.view.loadedAt, loadedAt);
  assert.deepEqual(final.view.received.filter((e) => e.event === 'round').map((e) => e.round), [1, 2, 3]);
  assert.equal(final.view.received.filter((e) => e.event === 'snapshot').length, 1, 'one stream, never reconnected');
  assert.equal(requests.filter((r) => r.startsWith('GET ') && new URL(r.split(' ')[1]).pathname === '/').length, 1, 'the page was loaded once');

  // The token travels only in the Authorization header of the stream request, never in a URL or a log.
  const withToken = requests.filter((r) => r.includes(run.adminToken));
  assert.deepEqual(withToken.map((r) => r.split(' ').slice(0, 2).join(' ').replace(base, '')), ['GET /admin/events']);
  assert.ok(withToken[0].endsWith(`Bearer ${run.adminToken}`));
  assert.ok(!JSON.stringify(run.logger.entries).includes(run.adminToken), 'the admin token is not in the server log');
  assert.deepEqual(errors, []);
  await page.close();
});

// ---------------------------------------------------------------------------------------------
// The server side alone (no browser): the page and assets, the stream's auth and event format,
// bounded buffers, the SSE parser the page uses.

/** Opens the event stream with node:http and parses it with the page's own parser. */
function openStream(url: string, headers: Record<string, string>) {
  const events: Array<{ event: string; id?: string; data: any }> = [];
  const parser = new SseParser((m) => events.push({ event: m.event, id: m.id, data: JSON.parse(m.data) }));
  let response: IncomingMessage | undefined;
  const req = httpRequest(url, { headers, agent: false });
  const opened = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', (res) => {
      response = res;
      res.setEncoding('utf8');
      res.on('data', (c: string) => parser.push(c));
      resolve(res);
    });
    req.on('error', reject);
  });
  req.end();
  return { events, opened, close: () => (response ? response.destroy() : req.destroy()) };
}

test('GET /admin/events: admin token required; a snapshot first, then rounds, client activity and status as JSON events', { timeout: 60_000 }, async (t) => {
  const run = await startDashboardRun({ rounds: 2, delayMs: 50 });
  t.after(() => run.stop());
  const base = run.httpUrl;

  const refused = openStream(`${base}/admin/events`, { authorization: 'Bearer nope' });
  const r401 = await refused.opened;
  assert.equal(r401.statusCode, 401);
  assert.equal(r401.headers['www-authenticate'], 'Bearer realm="federa-admin"');
  refused.close();

  const s = openStream(`${base}/admin/events`, { authorization: `Bearer ${run.adminToken}` });
  t.after(() => s.close());
  const res = await s.opened;
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
  assert.equal(res.headers['cache-control'], 'no-store');
  const first = await waitFor('the snapshot', () => s.events[0], 10_000, 20);
  assert.equal(first.event, 'snapshot');
  const snap = first.data as DashboardSnapshot;
  assert.ok(Number.isFinite(Date.parse(snap.serverTime)));
  assert.equal(snap.status.runId, 'dashboard-demo');
  assert.equal(snap.status.rounds, 2);
  assert.deepEqual(snap.runs.map((r) => [r.id, r.status]), [['dashboard-demo', 'running']]);
  assert.deepEqual(snap.history.rounds, []);
  assert.deepEqual(snap.clients, []);
  assert.deepEqual(snap.activity, []);
  // The snapshot is what GET /admin/dashboard returns (same auth).
  const dash = await httpJson(`${base}/admin/dashboard`, { headers: { authorization: `Bearer ${run.adminToken}` } });
  assert.equal(dash.status, 200);
  assert.deepEqual(Object.keys(dash.body).sort(), Object.keys(snap).sort());

  await run.startClients();
  await run.server.done;
  await waitFor('the completed status', () => s.events.find((e) => e.event === 'status' && e.data.status.phase === 'completed'), 10_000, 20);

  const history = (await httpJson(`${base}/api/history`)).body as { rounds: unknown[] };
  assert.deepEqual(s.events.filter((e) => e.event === 'round').map((e) => e.data), history.rounds, 'round events are the committed records');
  const ids = s.events.map((e) => Number(e.id));
  assert.ok(ids.every((id, i) => Number.isInteger(id) && (i === 0 || id > ids[i - 1])), `increasing ids: ${ids}`);
  const activity = s.events.filter((e) => e.event === 'activity').map((e) => e.data as DashboardActivity);
  assert.deepEqual(activity.filter((a) => a.kind === 'joined').map((a) => a.clientId).sort(), ['client-0', 'client-1', 'client-2', 'client-3', 'client-9']);
  const rejected = activity.find((a) => a.kind === 'rejected')!;
  assert.equal(rejected.clientId, 'client-9');
  assert.equal(rejected.code, 'text_frame');
  assert.match(rejected.reason!, /text frames are not part of the protocol/);
  assert.ok(Number.isFinite(Date.parse(rejected.at)));
  // Phases as they happened, and a clients event that knows every enrolled client.
  const phases = s.events.filter((e) => e.event === 'status').map((e) => e.data.status.phase as string);
  assert.ok(phases.includes('training') && phases.at(-1) === 'completed', phases.join(','));
  const lastClients = s.events.filter((e) => e.event === 'clients').at(-1)!.data as { clients: DashboardClient[] };
  assert.deepEqual(lastClients.clients.map((c) => c.id), ['client-0', 'client-1', 'client-2', 'client-3', 'client-9']);
});

test('the page and its assets are served without data, with a strict content security policy', { timeout: 60_000 }, async (t) => {
  const run = await startDashboardRun({ rounds: 1 });
  t.after(() => run.stop());
  const get = (path: string, method = 'GET') =>
    new Promise<{ status: number; headers: IncomingMessage['headers']; text: string }>((resolve, reject) => {
      const req = httpRequest(`${run.httpUrl}${path}`, { method, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on('error', reject);
      req.end();
    });
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type']!, /^text\/html/);
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'/);
  assert.equal(page.headers['referrer-policy'], 'no-referrer');
  assert.ok(page.text.includes('<script type="module" src="/dashboard/app.js">'));
  assert.ok(!page.text.includes('dashboard-demo') && !page.text.includes(run.adminToken), 'the shell holds no run data');
  const head = await get('/', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.text, '');
  const js = await get('/dashboard/app.js');
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type']!, /^text\/javascript/);
  assert.ok(js.text.includes('/admin/events') && js.text.length > 20_000, 'the bundle holds the app and uPlot');
  const css = await get('/dashboard/app.css');
  assert.match(css.headers['content-type']!, /^text\/css/);
  assert.ok(css.text.includes('.uplot') && css.text.includes('.federa-chart'));
  assert.equal((await get('/dashboard/nope.js')).status, 404);
});

/** A FederaServer stand-in with just what DashboardStream reads. */
function fakeServer() {
  return {
    events: new EventEmitter(),
    status: () => ({ runId: 'r', phase: 'training', rounds: 3, round: 1, completedRounds: 0, quorum: 1, connections: 0 }),
    history: () => ({ runId: 'r', rounds: [] }),
    grid: undefined,
    store: { listRuns: () => [], listClients: () => [], clientEvents: () => [] },
  };
}

/** A response for DashboardStream.subscribe; `buffered` plays the socket's unsent backlog. */
class FakeResponse extends EventEmitter {
  status = 0;
  text = '';
  buffered = 0;
  destroyed = false;
  writableEnded = false;
  get writableLength(): number {
    return this.buffered;
  }
  writeHead(status: number): this {
    this.status = status;
    return this;
  }
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
  end(chunk?: string): void {
    if (chunk) this.text += chunk;
    this.writableEnded = true;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

function fakeSubscriber() {
  return { req: new EventEmitter(), res: new FakeResponse() };
}

test('a slow stream is dropped instead of buffered without bound; other viewers go on; streams are limited', () => {
  const server = fakeServer();
  const stream = new DashboardStream(server as unknown as FederaServer, silentLogger, { maxSubscribers: 2, maxBufferedBytes: 1000, refreshMs: 60_000 });
  const fast = fakeSubscriber();
  const slow = fakeSubscriber();
  stream.subscribe(fast.req as never, fast.res as never);
  stream.subscribe(slow.req as never, slow.res as never);
  assert.equal(stream.subscribers, 2);
  assert.equal(server.events.listenerCount('round'), 1);
  const record = { round: 1, status: 'completed', selected: [], succeeded: [], failed: [], dropped: [], bytes: { down: 1, up: 2 }, timing: { totalMs: 1, trainMs: 1, evaluateMs: 0, centralEvaluateMs: 0 } };
  server.events.emit('round', record);
  assert.ok(slow.res.text.includes('event: round\n'));
  // The slow viewer stops reading: its backlog passes the limit.
  slow.res.buffered = 5000;
  server.events.emit('round', { ...record, round: 2 });
  assert.equal(slow.res.destroyed, true);
  assert.equal(stream.dropped, 1);
  assert.equal(stream.subscribers, 1);
  assert.ok(!slow.res.text.includes('"round":2'));
  assert.match(fast.res.text, /event: round\nid: \d+\ndata: \{"round":2,/);
  // A third viewer while two are open is refused; after one leaves, there is room again.
  const third = fakeSubscriber();
  stream.subscribe(third.req as never, third.res as never);
  assert.equal(third.res.status, 200);
  const fourth = fakeSubscriber();
  stream.subscribe(fourth.req as never, fourth.res as never);
  assert.equal(fourth.res.status, 503);
  assert.match(fourth.res.text, /too many dashboard streams/);
  // When every viewer has gone, the stream stops listening to the server.
  fast.req.emit('close');
  third.res.emit('close');
  assert.equal(stream.subscribers, 0);
  assert.equal(server.events.listenerCount('round'), 0);
});

test('a snapshot larger than the buffer limit gets room to drain (a long run does not lock its viewers out)', () => {
  const server = fakeServer();
  const record = { round: 1, status: 'completed', selected: ['a-long-client-id'], succeeded: [], failed: [], dropped: [], bytes: { down: 1, up: 2 }, timing: { totalMs: 1, trainMs: 1, evaluateMs: 0, centralEvaluateMs: 0 } };
  server.history = () => ({ runId: 'r', rounds: Array.from({ length: 200 }, (_, i) => ({ ...record, round: i + 1 })) }) as never;
  const stream = new DashboardStream(server as unknown as FederaServer, silentLogger, { maxBufferedBytes: 1000, refreshMs: 60_000 });
  const viewer = fakeSubscriber();
  stream.subscribe(viewer.req as never, viewer.res as never);
  const snapshotBytes = Buffer.byteLength(viewer.res.text);
  assert.ok(snapshotBytes > 10_000);
  viewer.res.buffered = snapshotBytes; // nothing sent yet
  server.events.emit('round', { ...record, round: 201 });
  assert.equal(viewer.res.destroyed, false);
  assert.ok(viewer.res.text.includes('"round":201'));
  viewer.res.buffered = 3 * snapshotBytes; // the viewer never reads
  server.events.emit('round', { ...record, round: 202 });
  assert.equal(viewer.res.destroyed, true);
  assert.equal(stream.dropped, 1);
});

test('sseMessage and SseParser: one JSON line per event, parsed back across chunk boundaries and line endings', () => {
  const data = { text: 'line\nbreak', n: 1 } as unknown as DashboardActivity;
  const msg = sseMessage('activity', data, 7);
  assert.equal(msg, `event: activity\nid: 7\ndata: ${JSON.stringify(data)}\n\n`);
  assert.equal(msg.split('\n').length, 5, 'the newline inside the data is escaped by JSON');
  const got: Array<{ event: string; data: string; id?: string }> = [];
  const p = new SseParser((m) => got.push(m));
  const wire = `retry: 3000\n: keep-alive\n\n${msg}event: x\r\ndata: a\r\ndata: b\r\n\r\ndata: plain\r`;
  for (const ch of wire) p.push(ch); // one character at a time
  p.push('\n\n');
  assert.deepEqual(got, [
    { event: 'activity', id: '7', data: JSON.stringify(data) },
    { event: 'x', id: '7', data: 'a\nb' },
    { event: 'message', id: '7', data: 'plain' },
  ]);
});
