// Regression runs in the report and charts: R² (not accuracy) is the headline metric, under its
// own name, with the values the history recorded; classifier runs are unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartSpecs, qualityMetric, seriesFromHistory } from '../../src/report/charts.js';
import { renderReport, summarizeRounds } from '../../src/report/report.js';
import { meta, round } from './fixtures.js';

const regression = [1, 2, 3].map((n) =>
  round(n, {
    train: { loss: 1 / n, metrics: { mse: 1 / n, mae: 0.5 / n } },
    federatedEvaluation: { loss: 1.1 / n, metrics: { mse: 1.1 / n, mae: 0.6 / n, r2: 0.5 + n / 10 }, numExamples: 300, clients: 3 },
    centralEvaluation: { loss: 1.2 / n, metrics: { mse: 1.2 / n, mae: 0.7 / n, r2: 0.4 + n / 10 } },
  }),
);

test('a regression history charts R² and summarises it by name', () => {
  assert.equal(qualityMetric(regression).label, 'R²');
  const series = seriesFromHistory(regression);
  assert.equal(series.qualityLabel, 'R²');
  assert.deepEqual(series.centralAccuracy.map((v) => +v!.toFixed(3)), [0.5, 0.6, 0.7]);
  const chart = chartSpecs(series).find((c) => c.id === 'accuracy')!;
  assert.equal(chart.title, 'R²');
  assert.equal(chart.empty, false);
  const s = summarizeRounds(regression);
  assert.equal(s.qualityLabel, 'R²');
  assert.ok(Math.abs(s.finalCentral!.accuracy! - 0.7) < 1e-12);
  const html = renderReport(meta(), regression, { uplotJs: '', uplotCss: '' });
  assert.match(html, /Final central R²/);
  assert.match(html, /<th class="num">Central R²<\/th>/);
  assert.doesNotMatch(html, /Final central accuracy/);
});

test('a classifier history keeps "Accuracy"', () => {
  const rounds = [round(1), round(2)];
  assert.equal(qualityMetric(rounds).label, 'Accuracy');
  assert.equal(seriesFromHistory(rounds).qualityLabel, undefined);
  assert.equal(chartSpecs(seriesFromHistory(rounds)).find((c) => c.id === 'accuracy')!.title, 'Accuracy');
  assert.match(renderReport(meta(), rounds, { uplotJs: '', uplotCss: '' }), /Final central accuracy/);
});
