import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { chartRuntimeSource, chartSpecs, formatBytes, mountCharts, seriesFromHistory } from '../../src/report/charts.js';
import { fakeHistory, round, skipped } from './fixtures.js';

test('seriesFromHistory aligns every series with rounds and puts null in skipped rounds', () => {
  const s = seriesFromHistory([round(1), skipped(2), round(3, { federatedEvaluation: undefined, train: { metrics: {} } })]);
  assert.deepEqual(s.rounds, [1, 2, 3]);
  for (const [key, values] of Object.entries(s)) {
    if (Array.isArray(values)) assert.equal(values.length, 3, key);
    else for (const [sub, v] of Object.entries(values)) assert.equal((v as unknown[]).length, 3, `${key}.${sub}`);
  }
  assert.deepEqual(s.centralAccuracy, [0.4 + 1 / 100, null, 0.4 + 3 / 100]);
  assert.deepEqual(s.centralLoss, [1.2, null, 1.2 / 3]);
  assert.deepEqual(s.federatedAccuracy, [0.5 + 1 / 100, null, null]);
  assert.deepEqual(s.federatedLoss, [1.1, null, null]);
  assert.deepEqual(s.trainLoss, [1, null, null]);
  assert.deepEqual(s.bytesUp, [3000, 0, 3000]);
  assert.deepEqual(s.succeeded, [3, 0, 3]);
  assert.deepEqual(s.failed, [0, 0, 0]);
});

test('seriesFromHistory reads `acc` when there is no `accuracy`, and drops non-finite values', () => {
  const s = seriesFromHistory([round(1, { centralEvaluation: { loss: NaN, metrics: { acc: 0.7 } } })]);
  assert.deepEqual(s.centralAccuracy, [0.7]);
  assert.deepEqual(s.centralLoss, [null]);
});

test('chartSpecs gives three charts whose data columns match their series', () => {
  const s = seriesFromHistory(fakeHistory(30));
  const specs = chartSpecs(s, { width: 500, height: 200 });
  assert.deepEqual(specs.map((c) => c.id), ['accuracy', 'loss', 'bytes']);
  for (const spec of specs) {
    assert.equal(spec.data.length, spec.options.series.length);
    assert.equal(spec.data[0], s.rounds);
    assert.equal(spec.options.width, 500);
    assert.equal(spec.options.scales.x.time, false);
    assert.equal(spec.empty, false);
  }
  assert.deepEqual(specs[0].data.slice(1), [s.centralAccuracy, s.federatedAccuracy]);
  assert.deepEqual(specs[1].data.slice(1), [s.trainLoss, s.federatedLoss, s.centralLoss]);
  assert.deepEqual(specs[2].data.slice(1), [s.bytesDown, s.bytesUp]);
});

test('chartSpecs marks charts without any value as empty (all rounds skipped)', () => {
  const specs = chartSpecs(seriesFromHistory([skipped(1), skipped(2)]));
  assert.deepEqual(specs.map((c) => c.empty), [true, true, false]);
  assert.deepEqual(chartSpecs(seriesFromHistory([])).map((c) => c.empty), [true, true, true]);
});

test('formatBytes', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1500), '1.50 kB');
  assert.equal(formatBytes(4_070_800), '4.07 MB');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(null), '—');
});

// A minimal DOM: enough for mountCharts.
function fakeDom() {
  const listeners: string[] = [];
  const make = (tag: string): any => ({
    tag, className: '', textContent: '', children: [] as any[], clientWidth: 640,
    appendChild(c: any) { this.children.push(c); return c; },
  });
  const doc: any = { createElement: make, defaultView: { addEventListener: (t: string) => listeners.push(t), removeEventListener() {} } };
  const container = make('div');
  container.ownerDocument = doc;
  return { doc, container, listeners };
}

function fakeUPlot() {
  const made: { opts: any; data: any; target: any }[] = [];
  function UPlot(this: any, opts: any, data: any, target: any) { made.push({ opts, data, target }); this.height = opts.height; this.destroy = () => {}; }
  (UPlot as any).paths = { bars: (o: unknown) => ({ bars: o }) };
  return { UPlot, made };
}

test('mountCharts creates one uPlot per non-empty chart, sized to the container', () => {
  const { container, listeners } = fakeDom();
  const { UPlot, made } = fakeUPlot();
  const s = seriesFromHistory([skipped(1), skipped(2)]);
  const mounted = mountCharts(container, UPlot, s);
  assert.equal(container.children.length, 3);
  assert.equal(made.length, 1); // only bytes has data
  assert.equal(made[0].opts.width, 640);
  assert.ok(made[0].opts.series[1].paths, 'bytes drawn as bars');
  assert.deepEqual(listeners, ['resize']);
  mounted.destroy();
});

test('chartRuntimeSource is standalone browser JS that can mount the charts', () => {
  const { container } = fakeDom();
  const { UPlot, made } = fakeUPlot();
  const ctx = vm.createContext({ container, uPlot: UPlot, series: seriesFromHistory(fakeHistory(12)) });
  vm.runInContext(`${chartRuntimeSource()}\nmountCharts(container, uPlot, series, { height: 200 });`, ctx);
  assert.equal(made.length, 3);
  assert.equal(made[2].opts.axes[1].values(null, [0, 2000])[1], '2.00 kB');
  assert.equal(made[0].opts.series[1].value(null, 0.5), '0.5000');
});

test('chartSpecs adds the privacy chart (ε per round) only when some round recorded privacy', () => {
  const plain = chartSpecs(seriesFromHistory([round(1), round(2)]));
  assert.deepEqual(plain.map((c) => c.id), ['accuracy', 'loss', 'bytes']);
  const dp = chartSpecs(seriesFromHistory([round(1, { privacy: { epsilon: 0.5, delta: 1e-5 } }), skipped(2), round(3, { privacy: { epsilon: 0.9, delta: 1e-5 } })]));
  assert.deepEqual(dp.map((c) => c.id), ['accuracy', 'loss', 'bytes', 'privacy']);
  assert.deepEqual(dp[3].data, [[1, 2, 3], [0.5, null, 0.9]]);
});

test('chartSpecs adds accuracy against simulated time only for runs with devices (simulatedTime in the records)', () => {
  const plain = chartSpecs(seriesFromHistory([round(1), round(2)]));
  assert.ok(!plain.some((c) => c.id === 'time'));
  const timed = chartSpecs(seriesFromHistory([round(1, { simulatedTime: 12.5 }), round(2, { simulatedTime: 30 }), round(3, { simulatedTime: 41.25 })]));
  const time = timed.find((c) => c.id === 'time')!;
  assert.equal(time.title, 'Accuracy against simulated time');
  assert.deepEqual(time.data, [[12.5, 30, 41.25], [1, 2, 3].map((n) => 0.4 + n / 100)]);
  assert.equal(time.options.axes[0].label, 'simulated seconds');
  assert.equal(time.data.length, time.options.series.length);
});

test('the fairness chart: per-client accuracy (worst 10 %, quartiles, best 10 %, Jain) from federated evaluation, with the interquartile band', () => {
  const dist = (m: number) => ({ worst10: m - 0.2, q1: m - 0.05, median: m, q3: m + 0.05, best10: m + 0.1, jain: 0.98 });
  const rounds = [1, 2, 3].map((n) => round(n, { federatedEvaluation: { loss: 1, metrics: { accuracy: 0.5 }, numExamples: 30, clients: 3, distribution: { accuracy: dist(0.5 + n / 10) } } }));
  const spec = chartSpecs(seriesFromHistory(rounds)).find((c) => c.id === 'fairness')!;
  assert.equal(spec.title, 'Accuracy across clients (federated evaluation)');
  assert.deepEqual(spec.data[0], [1, 2, 3]);
  assert.deepEqual(spec.data[1], [1, 2, 3].map((n) => 0.5 + n / 10 - 0.2));
  assert.deepEqual(spec.data[3], [1, 2, 3].map((n) => 0.5 + n / 10));
  assert.deepEqual(spec.data[6], [0.98, 0.98, 0.98]);
  assert.equal(spec.data.length, spec.options.series.length);
  assert.deepEqual(spec.options.bands, [{ series: [4, 2], fill: 'rgba(15,118,110,0.12)' }]);
  assert.ok(!chartSpecs(seriesFromHistory([round(1)])).some((c) => c.id === 'fairness'), 'no chart without distributions');
});

test('mountCharts().update redraws live: existing charts get the new data, charts that gain data are created', () => {
  const { container } = fakeDom();
  const made: any[] = [];
  function UPlot(this: any, opts: any, data: any) {
    this.opts = opts;
    this.data = data;
    this.height = opts.height;
    this.setData = (d: any) => (this.data = d);
    this.destroy = () => {};
    made.push(this);
  }
  const mounted = mountCharts(container, UPlot, seriesFromHistory([skipped(1)]));
  assert.deepEqual(Object.keys(mounted.data()), ['bytes']);
  mounted.update(seriesFromHistory([skipped(1), round(2), round(3, { privacy: { epsilon: 1.5, delta: 1e-5 } })]));
  assert.equal(container.children.length, 4, 'accuracy, loss, bytes and privacy figures');
  assert.equal(made.length, 4, 'the bytes chart was reused, three were created');
  const data = mounted.data() as Record<string, any[]>;
  assert.deepEqual(Object.keys(data).sort(), ['accuracy', 'bytes', 'loss', 'privacy']);
  assert.deepEqual(data.bytes[0], [1, 2, 3]);
  assert.deepEqual(data.accuracy[1], [null, 0.4 + 2 / 100, 0.4 + 3 / 100]);
  assert.deepEqual(data.privacy[1], [null, null, 1.5]);
  mounted.destroy();
});
