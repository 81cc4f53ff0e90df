// Issue 19 item 6: what a person sees. In Chromium at 1280 and 390 px, the report page and the
// dashboard lay out without overflow: no chart wider than its card or overlapping another, the
// document no wider than the viewport (no sideways scrolling), stat-card text not cut off; charts
// follow a resize; the dashboard's Events panel lists the clients that joined before it opened.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { BROWSER_SKIP, launchChromium } from '../helpers/chromium.js';
import { writeReport } from '../../src/node/report-file.js';
import { fakeHistory, meta } from '../report/fixtures.js';
import { startDashboardRun } from './dashboard-run.js';

let browser: Browser;
before(async () => {
  if (!BROWSER_SKIP) browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

interface Layout {
  viewport: number;
  documentWidth: number;
  charts: Array<{ id: string; card: { left: number; right: number; top: number; bottom: number }; widest: number; right: number }>;
  truncated: string[];
}

/** Bounding boxes of every chart card and of everything drawn inside it, and clipped stat text. */
async function measure(page: Page): Promise<Layout> {
  // tsx (esbuild keepNames) wraps nested functions in __name(); the page needs an identity shim.
  await page.evaluate('window.__name = window.__name || ((f) => f)');
  return page.evaluate(() => {
    const box = (el: Element) => el.getBoundingClientRect();
    const charts = [...document.querySelectorAll('.federa-chart')].map((fig) => {
      const card = box(fig);
      const inner = [...fig.querySelectorAll('.uplot, canvas, .u-wrap, .u-legend')].map(box);
      return {
        id: fig.className,
        card: { left: card.left, right: card.right, top: card.top, bottom: card.bottom },
        widest: Math.max(0, ...inner.map((b) => b.width)),
        right: Math.max(card.left, ...inner.map((b) => b.right)),
      };
    });
    const truncated = [...document.querySelectorAll('.stat .value, .stat .note, .stat .label')]
      .filter((el) => (el as HTMLElement).scrollWidth > (el as HTMLElement).clientWidth + 1)
      .map((el) => el.textContent ?? '');
    return { viewport: window.innerWidth, documentWidth: document.documentElement.scrollWidth, charts, truncated };
  });
}

function assertLaidOut(l: Layout, where: string, expectCharts: number): void {
  assert.ok(l.charts.length >= expectCharts, `${where}: ${l.charts.length} charts`);
  assert.ok(l.documentWidth <= l.viewport, `${where}: document ${l.documentWidth} px wide in a ${l.viewport} px viewport (sideways scrolling)`);
  for (const c of l.charts) {
    const cardWidth = c.card.right - c.card.left;
    assert.ok(c.widest <= cardWidth + 0.5, `${where}: ${c.id} draws ${c.widest} px inside a ${cardWidth} px card`);
    assert.ok(c.right <= c.card.right + 0.5, `${where}: ${c.id} reaches ${c.right}, its card ends at ${c.card.right}`);
    assert.ok(c.card.right <= l.viewport + 0.5, `${where}: ${c.id} card ends at ${c.card.right} beyond the viewport`);
  }
  // No two cards overlap.
  for (let i = 0; i < l.charts.length; i++) {
    for (let j = i + 1; j < l.charts.length; j++) {
      const a = l.charts[i].card;
      const b = l.charts[j].card;
      const overlap = Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
      assert.ok(!overlap, `${where}: ${l.charts[i].id} overlaps ${l.charts[j].id}`);
    }
  }
  assert.deepEqual(l.truncated, [], `${where}: stat text cut off`);
}

test('report.html: charts fit their cards and nothing scrolls sideways at 1280 and 390 px, on first load and after a resize', { timeout: 60_000, skip: BROWSER_SKIP }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-layout-report-'));
  const file = await writeReport(dir, meta({ rounds: 30, model: '2nn', note: 'a fairly long configuration value that must wrap rather than widen the page' }), fakeHistory(30));
  for (const width of [1280, 390]) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    t.after(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('.federa-chart canvas');
    assertLaidOut(await measure(page), `report at ${width} px`, 3);
    assert.deepEqual(errors, []);
  }
  // One page resized from wide to narrow and back: the charts follow.
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  t.after(() => page.close());
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('.federa-chart canvas');
  await page.setViewportSize({ width: 390, height: 900 });
  await page.waitForFunction(() => [...document.querySelectorAll('.federa-chart')].every((f) => (f.querySelector('.uplot') as HTMLElement).getBoundingClientRect().width <= f.getBoundingClientRect().width));
  assertLaidOut(await measure(page), 'report resized to 390 px', 3);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.waitForFunction(() => {
    const f = document.querySelector('.federa-chart') as HTMLElement;
    return (f.querySelector('.uplot') as HTMLElement).getBoundingClientRect().width > 400;
  });
  assertLaidOut(await measure(page), 'report resized back to 1280 px', 3);
});

test('dashboard: charts fit their cards, no sideways scrolling at 1280 and 390 px, joins listed under Events', { timeout: 120_000, skip: BROWSER_SKIP }, async (t) => {
  const run = await startDashboardRun({ rounds: 40, delayMs: 150 }); // long enough that the clients are still connected for both pages
  t.after(() => run.stop());
  await run.startClients();
  // The clients have joined before the page opens: the page can only learn it from the snapshot.
  const deadline = Date.now() + 30_000;
  while (run.server.history().rounds.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const width of [1280, 390]) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    t.after(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${run.httpUrl}/#token=${encodeURIComponent(run.adminToken)}`);
    await page.waitForSelector('#charts .federa-chart canvas', { timeout: 30_000 });
    await page.waitForFunction(() => Number(document.querySelector('#round-counter')?.getAttribute('data-completed')) >= 1);
    assertLaidOut(await measure(page), `dashboard at ${width} px`, 2);
    const events = (await page.textContent('#events')) ?? '';
    assert.doesNotMatch(events, /No events yet/);
    for (const id of ['client-0', 'client-1', 'client-2']) assert.ok(events.includes(`${id} connected`), `${width} px: Events lacks "${id} connected": ${events}`);
    assert.deepEqual(errors, []);
  }
});
