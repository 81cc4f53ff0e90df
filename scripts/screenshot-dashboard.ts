// Saves a screenshot of the dashboard in the middle of a live run (the picture in docs/ and the
// README): the test deployment of test/web/dashboard-run.ts, Debian's Chromium, 1400 px wide.
//
//   node --import tsx scripts/screenshot-dashboard.ts [out.png]    (default docs/dashboard.png)
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../test/helpers/chromium.js';
import { startDashboardRun } from '../test/web/dashboard-run.js';

const out = process.argv[2] ?? fileURLToPath(new URL('../docs/dashboard.png', import.meta.url));
const ROUNDS = 10;
const SHOT_AFTER = 7;

const run = await startDashboardRun({ rounds: ROUNDS, delayMs: 350 });
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(`${run.httpUrl}/#token=${encodeURIComponent(run.adminToken)}`);
  await page.waitForFunction(() => (window as unknown as { __federaDashboard: { connection: string } }).__federaDashboard.connection === 'live');
  await run.startClients();
  // Mid-run: clients connected, a round in progress, the charts part-way.
  await page.waitForFunction((n) => Number(document.querySelector('#round-counter')?.getAttribute('data-completed')) >= n, SHOT_AFTER, { timeout: 120_000 });
  await page.waitForTimeout(300); // one frame for the charts
  await page.screenshot({ path: out, fullPage: true });
  console.log(`saved ${out}`);
} finally {
  await browser.close();
  await run.stop();
}
