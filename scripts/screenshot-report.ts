// Saves screenshots of a report.html (the picture in docs/): a 40-round history like a real run's,
// rendered by writeReport and opened in Debian's Chromium at 1280 px and at 390 px (a phone).
//
//   node --import tsx scripts/screenshot-report.ts [run folder]   (default: a made-up history; writes docs/report.png, docs/report-narrow.png)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { launchChromium } from '../test/helpers/chromium.js';
import { writeReport } from '../src/node/report-file.js';
import { rebuildReport } from '../src/node/rebuild-report.js';
import { fakeHistory, meta } from '../test/report/fixtures.js';

const docs = fileURLToPath(new URL('../docs/', import.meta.url));
const file = process.argv[2]
  ? (await rebuildReport(process.argv[2], { out: join(mkdtempSync(join(tmpdir(), 'federa-shot-')), 'report.html') })).file
  : await writeReport(mkdtempSync(join(tmpdir(), 'federa-shot-')), meta({ rounds: 40, model: '2nn', clients: 100, clientsPerRound: 10 }), fakeHistory(40));
const browser = await launchChromium();
try {
  for (const [width, name] of [[1280, 'report.png'], [390, 'report-narrow.png']] as const) {
    const page = await browser.newPage({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('.federa-chart canvas');
    await page.waitForTimeout(200);
    await page.screenshot({ path: join(docs, name), fullPage: false });
    console.log(`saved ${join(docs, name)}`);
  }
} finally {
  await browser.close();
}
