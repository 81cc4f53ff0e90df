// The static run report: one self-contained HTML page (every script and style inlined) that a
// person opens from disk. Isomorphic: builds a string; the Node side (node/report-file.ts) reads
// the uPlot assets and writes the file.
import {
  qualityMetric,
  chartRuntimeSource,
  formatBytes,
  seriesFromHistory,
  type ReportMeta,
  type ReportRound,
} from './charts.js';

export type { ReportFailure, ReportMeta, ReportRound } from './charts.js';

/** uPlot's browser build (`uPlot.iife.min.js`) and stylesheet, inlined into the page. */
export interface ReportAssets {
  uplotJs: string;
  uplotCss: string;
}

export interface RoundValue {
  round: number;
  value: number;
}

/** Headline numbers of a run, computed from its history. */
export interface ReportSummary {
  rounds: number;
  completed: number;
  skipped: number;
  /** Last round that has a central evaluation; its accuracy is null if it recorded none. */
  finalCentral: { round: number; accuracy: number | null; loss: number } | null;
  /** Last round that has a federated evaluation. */
  finalFederated: { round: number; accuracy: number | null; loss: number } | null;
  /** Highest accuracy (earliest round on ties): central if any round has it, else federated. */
  bestAccuracy: (RoundValue & { source: 'central' | 'federated' }) | null;
  /**
   * What the accuracy fields hold: 'Accuracy', or 'R²' for a regression run (its records have
   * `r2` and no accuracy; the fields then hold R²). Absent means 'Accuracy'.
   */
  qualityLabel?: 'R²';
  clientFailures: number;
  bytesUp: number;
  bytesDown: number;
  totalMs: number;
}

export function summarizeRounds(rounds: readonly ReportRound[]): ReportSummary {
  const quality = qualityMetric(rounds);
  const accuracyOf = quality.of;
  const s: ReportSummary = {
    rounds: rounds.length,
    completed: 0,
    skipped: 0,
    finalCentral: null,
    finalFederated: null,
    bestAccuracy: null,
    clientFailures: 0,
    bytesUp: 0,
    bytesDown: 0,
    totalMs: 0,
  };
  let bestCentral: RoundValue | null = null;
  let bestFederated: RoundValue | null = null;
  const better = (best: RoundValue | null, round: number, value: number | null) =>
    value !== null && (best === null || value > best.value) ? { round, value } : best;
  for (const r of rounds) {
    if (r.status === 'skipped') s.skipped++;
    else s.completed++;
    s.clientFailures += r.failed?.length ?? 0;
    s.bytesUp += num(r.bytes?.up);
    s.bytesDown += num(r.bytes?.down);
    s.totalMs += num(r.timing?.totalMs);
    if (r.centralEvaluation) {
      const accuracy = accuracyOf(r.centralEvaluation.metrics);
      s.finalCentral = { round: r.round, accuracy, loss: r.centralEvaluation.loss };
      bestCentral = better(bestCentral, r.round, accuracy);
    }
    if (r.federatedEvaluation) {
      const accuracy = accuracyOf(r.federatedEvaluation.metrics);
      s.finalFederated = { round: r.round, accuracy, loss: r.federatedEvaluation.loss };
      bestFederated = better(bestFederated, r.round, accuracy);
    }
  }
  if (quality.label !== 'Accuracy') s.qualityLabel = quality.label;
  if (bestCentral) s.bestAccuracy = { ...bestCentral, source: 'central' };
  else if (bestFederated) s.bestAccuracy = { ...bestFederated, source: 'federated' };
  return s;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/**
 * JSON safe to place inside a `<script>` element: `<`, `>`, `&` and the JS line separators are
 * written as \u escapes, so no `</script>` or `<!--` can appear. JSON.parse gives the value back.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value ?? null)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Inlines trusted code in a `<script>`/`<style>` element without letting it close the element. */
function inlineRaw(code: string, tag: 'script' | 'style'): string {
  return code.replace(new RegExp(`</(${tag})`, 'gi'), '<\\/$1').replace(/<!--/g, '<\\!--');
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m ${sec}s` : `${m}m ${sec}s`;
}

function fmt(v: number | null | undefined, digits = 4): string {
  return v == null || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

function stat(label: string, value: string, note = ''): string {
  return `<div class="stat"><div class="label">${escapeHtml(label)}</div><div class="value">${escapeHtml(value)}</div>${
    note ? `<div class="note">${escapeHtml(note)}</div>` : ''
  }</div>`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function summaryBlock(s: ReportSummary): string {
  const best = s.bestAccuracy;
  const q = s.qualityLabel ?? 'accuracy';
  return `<section class="stats">
${stat(`Final central ${q}`, fmt(s.finalCentral?.accuracy), s.finalCentral ? `round ${s.finalCentral.round}` : 'no central evaluation')}
${stat('Final central loss', fmt(s.finalCentral?.loss), s.finalCentral ? `round ${s.finalCentral.round}` : '')}
${stat(`Final federated ${q}`, fmt(s.finalFederated?.accuracy), s.finalFederated ? `round ${s.finalFederated.round}` : 'no federated evaluation')}
${stat(best ? `Best ${best.source} ${q}` : `Best ${q}`, fmt(best?.value), best ? `round ${best.round}` : '')}
${stat('Rounds completed', `${s.completed} / ${s.rounds}`, `${s.skipped} skipped · ${plural(s.clientFailures, 'client failure')}`)}
${stat('Bytes', `↑ ${formatBytes(s.bytesUp)}`, `↓ ${formatBytes(s.bytesDown)}`)}
${stat('Total time', formatDuration(s.totalMs))}
</section>`;
}

function roundRow(r: ReportRound, quality: (m: Record<string, number> | undefined) => number | null): string {
  const skipped = r.status === 'skipped';
  const status = `<span class="badge ${skipped ? 'skipped' : 'ok'}">${escapeHtml(r.status)}</span>${
    r.reason ? `<small>${escapeHtml(r.reason)}</small>` : ''
  }`;
  const ids = (list: readonly string[] | undefined) => escapeHtml((list ?? []).join(', '));
  const failed = r.failed ?? [];
  const failures = failed
    .map((f) => `<small class="failure">${escapeHtml(f.clientId)}: ${escapeHtml(f.code)} — ${escapeHtml(f.reason)}</small>`)
    .join('');
  const failedTitle = escapeHtml(failed.map((f) => `${f.clientId}: ${f.code} — ${f.reason}`).join('\n'));
  const timing = r.timing
    ? `train ${formatDuration(r.timing.trainMs)}, evaluate ${formatDuration(r.timing.evaluateMs)}, central ${formatDuration(r.timing.centralEvaluateMs)}`
    : '';
  return `<tr class="${skipped ? 'skipped' : ''}">
<td class="num">${escapeHtml(r.round)}</td>
<td>${status}</td>
<td class="num" title="${ids(r.selected)}">${r.selected?.length ?? 0}</td>
<td class="num" title="${ids(r.succeeded)}">${r.succeeded?.length ?? 0}</td>
<td class="num${failed.length ? ' bad' : ''}" title="${failedTitle}">${failed.length}${failures}</td>
<td class="num">${fmt(r.train?.loss)}</td>
<td class="num">${fmt(quality(r.federatedEvaluation?.metrics))}</td>
<td class="num">${fmt(quality(r.centralEvaluation?.metrics))}</td>
<td class="num">↓ ${escapeHtml(formatBytes(r.bytes?.down))}<br>↑ ${escapeHtml(formatBytes(r.bytes?.up))}</td>
<td class="num" title="${escapeHtml(timing)}">${escapeHtml(formatDuration(r.timing?.totalMs ?? NaN))}</td>
</tr>`;
}

const STYLE = `
:root { color-scheme: light; --fg: #1f2933; --muted: #64748b; --line: #e2e8f0; --bg: #f8fafc; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
@media (max-width: 600px) { main { padding: 12px; } }
h1 { font-size: 22px; margin: 0 0 4px; word-break: break-all; }
h2 { font-size: 16px; margin: 28px 0 10px; }
.meta { color: var(--muted); margin: 0 0 16px; }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(140px, 100%), 1fr)); gap: 10px; }
.stat { min-width: 0; overflow-wrap: anywhere; }
.stat, .federa-chart, .table-wrap, pre { background: #fff; border: 1px solid var(--line); border-radius: 8px; }
.stat { padding: 10px 12px; }
.stat .label { color: var(--muted); font-size: 12px; }
.stat .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.stat .note { color: var(--muted); font-size: 12px; }
#charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(460px, 100%), 1fr)); gap: 12px; }
.federa-chart { margin: 0; padding: 10px 12px; min-width: 0; }
.federa-chart-bytes { grid-column: 1 / -1; }
.federa-chart figcaption { font-weight: 600; margin-bottom: 4px; }
.federa-chart-empty, .empty { color: var(--muted); padding: 24px 0; text-align: center; margin: 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { position: sticky; top: 0; background: #f1f5f9; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
td small { display: block; color: var(--muted); white-space: normal; text-align: left; max-width: 280px; }
td.bad { color: #b91c1c; }
td.bad small.failure { color: #b91c1c; }
tr.skipped td { background: #fffbeb; }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px; }
.badge.ok { background: #dcfce7; color: #166534; }
.badge.skipped { background: #fef3c7; color: #92400e; }
pre { padding: 12px; overflow: auto; font-size: 12px; max-height: 480px; }
`;

/** A complete, self-contained HTML document for one run. */
export function renderReport(meta: ReportMeta, rounds: readonly ReportRound[], assets: ReportAssets): string {
  const summary = summarizeRounds(rounds);
  const series = seriesFromHistory(rounds);
  const quality = qualityMetric(rounds);
  const qShort = quality.label === 'Accuracy' ? 'acc.' : quality.label;
  const runId = escapeHtml(meta.runId);
  const table = rounds.length
    ? `<div class="table-wrap"><table>
<thead><tr><th class="num">Round</th><th>Status</th><th class="num">Selected</th><th class="num">Succeeded</th><th class="num">Failed</th><th class="num">Train loss</th><th class="num">Fed. ${qShort}</th><th class="num">Central ${qShort}</th><th class="num">Bytes</th><th class="num">Time</th></tr></thead>
<tbody>
${rounds.map((r) => roundRow(r, quality.of)).join('\n')}
</tbody></table></div>`
    : '<p class="empty">No rounds recorded.</p>';
  const recorded = meta.summary
    ? `<h2>Recorded summary</h2>\n<pre>${escapeHtml(JSON.stringify(meta.summary, null, 2))}</pre>`
    : '';
  const mount = `(function () {
  var el = document.getElementById('federa-report-data');
  var data = JSON.parse(el.textContent);
  var charts = document.getElementById('charts');
  if (typeof uPlot === 'undefined') { charts.textContent = 'Charts unavailable (uPlot failed to load).'; return; }
  mountCharts(charts, uPlot, data.series, { height: 260 });
})();`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>federa run ${runId}</title>
<style>${inlineRaw(assets.uplotCss, 'style')}</style>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Run ${runId}</h1>
<p class="meta">created ${escapeHtml(meta.createdAt)} · ${plural(summary.rounds, 'round')}</p>
${summaryBlock(summary)}
<h2>Charts</h2>
<div id="charts">${rounds.length ? '' : '<p class="empty">No rounds recorded.</p>'}</div>
<h2>Rounds</h2>
${table}
<h2>Config</h2>
<pre>${escapeHtml(JSON.stringify(meta.config ?? {}, null, 2))}</pre>
${recorded}
</main>
<script type="application/json" id="federa-report-data">${jsonForScript({ runId: meta.runId, series })}</script>
${
  rounds.length
    ? `<script>${inlineRaw(assets.uplotJs, 'script')}</script>
<script>
${inlineRaw(chartRuntimeSource(), 'script')}
${mount}
</script>`
    : ''
}
</body>
</html>
`;
}
