import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml, formatDuration, jsonForScript, renderReport, summarizeRounds } from '../../src/report/report.js';
import { meta, round, skipped } from './fixtures.js';

const assets = { uplotJs: 'window.uPlot = function () {};', uplotCss: '.uplot { color: red; }' };
const HOSTILE = '</script><script>alert(1)</script>';

function dataBlock(html: string): unknown {
  const m = /<script type="application\/json" id="federa-report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'data block present');
  return JSON.parse(m[1]);
}

test('jsonForScript cannot close the script element and round-trips', () => {
  const value = { a: HOSTILE, b: '<!-- x -->', c: 'a & b', d: '\u2028\u2029' };
  const out = jsonForScript(value);
  assert.doesNotMatch(out, /[<>]/);
  assert.doesNotMatch(out, /\u2028|\u2029/);
  assert.deepEqual(JSON.parse(out), value);
});

test('a hostile config value or run id never appears unescaped in the page', () => {
  const html = renderReport(
    { runId: `id${HOSTILE}`, createdAt: HOSTILE, config: { name: HOSTILE, nested: { list: [HOSTILE] } }, summary: { note: HOSTILE } },
    [round(1)],
    assets,
  );
  assert.ok(!html.includes(HOSTILE));
  assert.ok(!html.includes('<script>alert(1)'));
  assert.ok(html.includes('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;'), 'shown escaped in the config');
  // Exactly the page's own script elements close: the data block, uPlot, the chart code.
  assert.equal(html.match(/<\/script/gi)?.length, 3);
  assert.equal((dataBlock(html) as { runId: string }).runId, `id${HOSTILE}`);
});

test('inlined assets cannot close their elements either', () => {
  const html = renderReport(meta(), [round(1)], { uplotJs: 'var s = "</script><b>";', uplotCss: '/* </style><b> */' });
  assert.ok(html.includes('var s = "<\\/script><b>";'));
  assert.ok(html.includes('/* <\\/style><b> */'));
  assert.equal(html.match(/<\/script/gi)?.length, 3);
});

test('failure and skip reasons are HTML-escaped', () => {
  const html = renderReport(
    meta(),
    [
      round(1, {
        succeeded: ['c0'],
        failed: [{ clientId: 'c<1>', code: 'FIT_ERROR', reason: '<img src=x onerror=alert(1)> "quoted" & more' }],
      }),
      skipped(2, '<b>too few</b>'),
    ],
    assets,
  );
  assert.ok(!html.includes('<img src=x'));
  assert.ok(!html.includes('<b>too few</b>'));
  assert.ok(html.includes('c&lt;1&gt;: FIT_ERROR — &lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; &amp; more'));
  assert.ok(html.includes('&lt;b&gt;too few&lt;/b&gt;'));
});

test('summarizeRounds computes the headline numbers from a hand-made history', () => {
  const history = [
    round(1, { centralEvaluation: { loss: 0.9, metrics: { accuracy: 0.6 } }, bytes: { down: 100, up: 90 }, timing: { totalMs: 1000, trainMs: 0, evaluateMs: 0, centralEvaluateMs: 0 } }),
    round(2, {
      centralEvaluation: { loss: 0.5, metrics: { accuracy: 0.8 } },
      failed: [{ clientId: 'c2', code: 'TIMEOUT', reason: 'slow' }],
      bytes: { down: 100, up: 60 },
      timing: { totalMs: 2000, trainMs: 0, evaluateMs: 0, centralEvaluateMs: 0 },
    }),
    skipped(3),
    round(4, { centralEvaluation: { loss: 0.6, metrics: { accuracy: 0.75 } }, bytes: { down: 100, up: 90 }, timing: { totalMs: 1500, trainMs: 0, evaluateMs: 0, centralEvaluateMs: 0 } }),
    round(5, { centralEvaluation: undefined, bytes: { down: 100, up: 90 }, timing: { totalMs: 500, trainMs: 0, evaluateMs: 0, centralEvaluateMs: 0 } }),
  ];
  const s = summarizeRounds(history);
  assert.deepEqual(s, {
    rounds: 5,
    completed: 4,
    skipped: 1,
    finalCentral: { round: 4, accuracy: 0.75, loss: 0.6 },
    finalFederated: { round: 5, accuracy: 0.5 + 5 / 100, loss: 1.1 / 5 },
    bestAccuracy: { round: 2, value: 0.8, source: 'central' },
    clientFailures: 1,
    bytesUp: 330,
    bytesDown: 400,
    totalMs: 5001,
  });
  const html = renderReport(meta(), history, assets);
  assert.match(html, /Final central accuracy<\/div><div class="value">0\.7500<\/div><div class="note">round 4/);
  assert.match(html, /Final central loss<\/div><div class="value">0\.6000</);
  assert.match(html, /Best central accuracy<\/div><div class="value">0\.8000<\/div><div class="note">round 2/);
  assert.match(html, /Rounds completed<\/div><div class="value">4 \/ 5<\/div><div class="note">1 skipped · 1 client failure</);
  assert.match(html, /↑ 330 B<\/div><div class="note">↓ 400 B/);
  assert.match(html, /Total time<\/div><div class="value">5\.00 s</);
});

test('best accuracy falls back to federated evaluation when there is no central one', () => {
  const s = summarizeRounds([round(1, { centralEvaluation: undefined }), round(2, { centralEvaluation: undefined })]);
  assert.equal(s.finalCentral, null);
  assert.deepEqual(s.bestAccuracy, { round: 2, value: 0.5 + 2 / 100, source: 'federated' });
});

test('zero rounds: a complete page without charts code', () => {
  const html = renderReport(meta(), [], assets);
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<\/html>\n$/);
  assert.match(html, /No rounds recorded/);
  assert.ok(!html.includes(assets.uplotJs));
  assert.deepEqual((dataBlock(html) as { series: { rounds: number[] } }).series.rounds, []);
  assert.match(html, /Final central accuracy<\/div><div class="value">—/);
});

test('all rounds skipped: table and charts still render', () => {
  const html = renderReport(meta(), [skipped(1), skipped(2, 'no clients')], assets);
  assert.match(html, /<div class="value">0 \/ 2<\/div><div class="note">2 skipped · 0 client failures</);
  assert.equal(html.match(/<tr class="skipped">/g)?.length, 2);
  assert.ok(html.includes(assets.uplotJs));
  const data = dataBlock(html) as { series: { centralAccuracy: unknown[] } };
  assert.deepEqual(data.series.centralAccuracy, [null, null]);
});

test('escapeHtml and formatDuration', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  assert.equal(formatDuration(450), '450 ms');
  assert.equal(formatDuration(12_345), '12.3 s');
  assert.equal(formatDuration(125_000), '2m 05s');
  assert.equal(formatDuration(3_725_000), '1h 02m 05s');
});
