// Writes `<dir>/report.html` for a run, inlining uPlot's browser build so the page works offline.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { renderReport, type ReportAssets, type ReportMeta, type ReportRound } from '../report/report.js';

const require = createRequire(import.meta.url);
let assets: Promise<ReportAssets> | undefined;

/** uPlot's `dist/uPlot.iife.min.js` and `dist/uPlot.min.css`, read once per process. */
export function loadReportAssets(): Promise<ReportAssets> {
  assets ??= Promise.all([
    readFile(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  ]).then(([uplotJs, uplotCss]) => ({ uplotJs, uplotCss }));
  assets.catch(() => (assets = undefined)); // let a later call retry
  return assets;
}

/** Renders the report and writes it (atomically) to `<dir>/<fileName>` (default report.html); returns that path. */
export async function writeReport(dir: string, meta: ReportMeta, rounds: readonly ReportRound[], fileName = 'report.html'): Promise<string> {
  const html = renderReport(meta, rounds, await loadReportAssets());
  await mkdir(dir, { recursive: true });
  const file = join(dir, fileName);
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, html, 'utf8');
  await rename(tmp, file);
  return file;
}
