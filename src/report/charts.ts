// Chart data for run reports and the live dashboard. Isomorphic: no `node:` imports and no DOM
// access at import time. `seriesFromHistory` and `chartSpecs` are pure; `mountCharts` is the only
// browser-side function and takes the uPlot constructor as an argument.
//
// `formatBytes`, `chartSpecs` and `mountCharts` are also inlined into the static report page via
// `chartRuntimeSource()` (Function.prototype.toString), so they must stay self-contained: they may
// call each other but nothing else from this module, and no imports.

/** A client failure in a round, as recorded in history.jsonl. */
export interface ReportFailure {
  clientId: string;
  code: string;
  reason: string;
}

/** One line of `runs/<id>/history.jsonl`: the structural subset the report reads. */
export interface ReportRound {
  round: number;
  status: 'completed' | 'skipped';
  reason?: string;
  selected: string[];
  succeeded: string[];
  failed: ReportFailure[];
  /** Weighted mean of client fit metrics. */
  train?: { loss?: number; metrics: Record<string, number> };
  federatedEvaluation?: {
    loss: number;
    metrics: Record<string, number>;
    numExamples: number;
    clients: number;
    /** The spread of the evaluated clients' accuracy (fairness). */
    distribution?: { accuracy?: { worst10: number; q1: number; median: number; q3: number; best10: number; jain: number } };
  };
  centralEvaluation?: { loss: number; metrics: Record<string, number> };
  /** Privacy spent so far (runs with differential privacy). */
  privacy?: { epsilon: number; delta: number };
  bytes: { down: number; up: number };
  timing: { totalMs: number; trainMs: number; evaluateMs: number; centralEvaluateMs: number };
  /** Simulations with devices: simulated seconds at the end of the round. */
  simulatedTime?: number;
}

/** Run metadata written next to the history. */
export interface ReportMeta {
  runId: string;
  createdAt: string;
  config: Record<string, unknown>;
  summary?: Record<string, unknown>;
}

export type MaybeNumber = number | null;

/** Per-round values, every array aligned with `rounds`; `null` where a round lacks the value. */
export interface ChartSeries {
  rounds: number[];
  /**
   * What the "accuracy" series hold: 'Accuracy' for classifiers, 'R²' for a regression run (whose
   * records have `r2` and no accuracy). Absent means 'Accuracy'.
   */
  qualityLabel?: string;
  centralAccuracy: MaybeNumber[];
  centralLoss: MaybeNumber[];
  federatedAccuracy: MaybeNumber[];
  federatedLoss: MaybeNumber[];
  trainLoss: MaybeNumber[];
  bytesUp: MaybeNumber[];
  bytesDown: MaybeNumber[];
  /** Number of clients that succeeded / failed in the round. */
  succeeded: MaybeNumber[];
  failed: MaybeNumber[];
  /** ε spent after the round (runs with differential privacy). */
  epsilon: MaybeNumber[];
  /** Simulated seconds at the end of the round (simulations with devices). */
  simulatedTime?: MaybeNumber[];
  /** Federated evaluation's per-client accuracy: worst 10 %, quartiles, best 10 %, Jain's index. */
  clientAccuracy?: { worst10: MaybeNumber[]; q1: MaybeNumber[]; median: MaybeNumber[]; q3: MaybeNumber[]; best10: MaybeNumber[]; jain: MaybeNumber[] };
}

export type ChartId = 'accuracy' | 'loss' | 'bytes' | 'privacy' | 'time' | 'fairness';

/** uPlot options plus data for one chart. `options` may hold functions (axis formatters). */
export interface ChartSpec {
  id: ChartId;
  title: string;
  /** True when no series of the chart has a single value: show a placeholder instead. */
  empty: boolean;
  /** Draw the series as side-by-side bars (mountCharts wires `uPlot.paths.bars`). */
  bars: boolean;
  options: Record<string, any>;
  data: [number[], ...MaybeNumber[][]];
}

export interface ChartSpecOptions {
  width?: number;
  height?: number;
}

/** The metric names read as accuracy, in order of preference. */
export const ACCURACY_KEYS = ['accuracy', 'acc'] as const;

function finite(v: unknown): MaybeNumber {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The accuracy in a metrics record (`accuracy`, else `acc`), or null. */
export function accuracyOf(metrics: Record<string, number> | undefined): MaybeNumber {
  if (!metrics) return null;
  for (const k of ACCURACY_KEYS) {
    const v = finite(metrics[k]);
    if (v !== null) return v;
  }
  return null;
}

/** The regression counterpart of {@link accuracyOf}: `r2`, or null. */
export function r2Of(metrics: Record<string, number> | undefined): MaybeNumber {
  return metrics ? finite(metrics.r2) : null;
}

/**
 * The headline quality metric of a run's history: accuracy when any evaluation recorded one,
 * else R² when one did (regression), else accuracy (nothing yet). With its display label.
 */
export function qualityMetric(rounds: readonly ReportRound[]): { label: 'Accuracy' | 'R²'; of: (m: Record<string, number> | undefined) => MaybeNumber } {
  const evals = rounds.flatMap((r) => [r.centralEvaluation?.metrics, r.federatedEvaluation?.metrics]);
  if (evals.some((m) => accuracyOf(m) !== null)) return { label: 'Accuracy', of: accuracyOf };
  if (evals.some((m) => r2Of(m) !== null)) return { label: 'R²', of: r2Of };
  return { label: 'Accuracy', of: accuracyOf };
}

/** Turns history records into aligned chart series (input order is kept). */
export function seriesFromHistory(rounds: readonly ReportRound[]): ChartSeries {
  const quality = qualityMetric(rounds);
  const s: ChartSeries = {
    rounds: [],
    centralAccuracy: [],
    centralLoss: [],
    federatedAccuracy: [],
    federatedLoss: [],
    trainLoss: [],
    bytesUp: [],
    bytesDown: [],
    succeeded: [],
    failed: [],
    epsilon: [],
    simulatedTime: [],
    clientAccuracy: { worst10: [], q1: [], median: [], q3: [], best10: [], jain: [] },
  };
  if (quality.label !== 'Accuracy') s.qualityLabel = quality.label;
  for (const r of rounds) {
    s.rounds.push(r.round);
    s.centralAccuracy.push(quality.of(r.centralEvaluation?.metrics));
    s.centralLoss.push(finite(r.centralEvaluation?.loss));
    s.federatedAccuracy.push(quality.of(r.federatedEvaluation?.metrics));
    s.federatedLoss.push(finite(r.federatedEvaluation?.loss));
    s.trainLoss.push(finite(r.train?.loss));
    s.bytesUp.push(finite(r.bytes?.up));
    s.bytesDown.push(finite(r.bytes?.down));
    s.succeeded.push(Array.isArray(r.succeeded) ? r.succeeded.length : null);
    s.failed.push(Array.isArray(r.failed) ? r.failed.length : null);
    s.epsilon.push(finite(r.privacy?.epsilon));
    s.simulatedTime!.push(finite(r.simulatedTime));
    const d = r.federatedEvaluation?.distribution?.accuracy;
    const c = s.clientAccuracy!;
    c.worst10.push(finite(d?.worst10));
    c.q1.push(finite(d?.q1));
    c.median.push(finite(d?.median));
    c.q3.push(finite(d?.q3));
    c.best10.push(finite(d?.best10));
    c.jain.push(finite(d?.jain));
  }
  return s;
}

/** 1500 -> "1.50 kB" (SI units, so axis ticks land on round numbers). Inlined into the report page. */
export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return (n < 0 ? '-' : '') + v.toFixed(digits) + ' ' + units[i];
}

/**
 * uPlot options and data for the accuracy, loss and bytes-per-round charts, plus the privacy
 * budget spent (ε) when some round recorded it.
 */
export function chartSpecs(series: ChartSeries, opts: ChartSpecOptions = {}): ChartSpec[] {
  const width = opts.width ?? 600;
  const height = opts.height ?? 260;
  const hasData = (cols: MaybeNumber[][]) => cols.some((c) => c.some((v) => v != null));
  const fmtNum = (v: number | null | undefined, digits: number) =>
    v == null || !Number.isFinite(v) ? '—' : Number(v).toFixed(digits);
  const line = (label: string, stroke: string, digits: number, dash?: number[]) => ({
    label,
    stroke,
    width: 2,
    dash,
    spanGaps: true,
    points: { size: 5 },
    value: (_u: unknown, v: number | null) => fmtNum(v, digits),
  });
  const xAxis = {
    label: 'round',
    incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000],
    grid: { stroke: '#eceff3' },
  };
  const yAxis = (label: string, size: number, values?: unknown) => ({
    label,
    size,
    grid: { stroke: '#eceff3' },
    values,
  });
  const base = (bars: boolean) => ({
    width,
    height,
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    scales: {
      x: {
        time: false,
        range: (_u: unknown, min: number, max: number) =>
          bars || min === max ? [min - 0.5, max + 0.5] : [min, max],
      },
      // Bars are compared by height: their axis starts at zero.
      ...(bars ? { y: { range: (_u: unknown, _min: number, max: number) => [0, max > 0 ? max * 1.05 : 1] } } : {}),
    },
  });
  const x = series.rounds;

  const acc: MaybeNumber[][] = [series.centralAccuracy, series.federatedAccuracy];
  const loss: MaybeNumber[][] = [series.trainLoss, series.federatedLoss, series.centralLoss];
  const bytes: MaybeNumber[][] = [series.bytesDown, series.bytesUp];
  const epsilon: MaybeNumber[] = series.epsilon || [];

  const specs: ChartSpec[] = [
    {
      id: 'accuracy',
      title: series.qualityLabel ?? 'Accuracy',
      empty: !hasData(acc),
      bars: false,
      options: {
        ...base(false),
        axes: [xAxis, yAxis(series.qualityLabel ?? 'accuracy', 56)],
        series: [
          { label: 'round' },
          line('central', '#2563eb', 4),
          line('federated', '#ea580c', 4, [6, 4]),
        ],
      },
      data: [x, ...acc],
    },
    {
      id: 'loss',
      title: 'Loss',
      empty: !hasData(loss),
      bars: false,
      options: {
        ...base(false),
        axes: [xAxis, yAxis('loss', 56)],
        series: [
          { label: 'round' },
          line('train', '#16a34a', 4),
          line('federated', '#ea580c', 4, [6, 4]),
          line('central', '#2563eb', 4),
        ],
      },
      data: [x, ...loss],
    },
    {
      id: 'bytes',
      title: 'Bytes per round',
      empty: !hasData(bytes),
      bars: true,
      options: {
        ...base(true),
        axes: [
          xAxis,
          yAxis('bytes', 72, (_u: unknown, splits: number[]) => splits.map((v) => formatBytes(v))),
        ],
        series: [
          { label: 'round' },
          { label: 'down', stroke: '#0891b2', fill: 'rgba(8,145,178,0.35)', width: 1, value: (_u: unknown, v: number | null) => formatBytes(v) },
          { label: 'up', stroke: '#7c3aed', fill: 'rgba(124,58,237,0.35)', width: 1, value: (_u: unknown, v: number | null) => formatBytes(v) },
        ],
      },
      data: [x, ...bytes],
    },
  ];
  // Simulated time (devices): the central quality against the simulated seconds, not rounds.
  const times = series.simulatedTime || [];
  if (hasData([times])) {
    const tx: number[] = [];
    const ty: MaybeNumber[] = [];
    times.forEach((t, i) => {
      if (t == null) return;
      tx.push(t);
      ty.push(series.centralAccuracy[i]);
    });
    specs.push({
      id: 'time',
      title: `${series.qualityLabel ?? 'Accuracy'} against simulated time`,
      empty: !hasData([ty]),
      bars: false,
      options: {
        ...base(false),
        axes: [{ label: 'simulated seconds', grid: { stroke: '#eceff3' } }, yAxis(series.qualityLabel ?? 'accuracy', 56)],
        series: [{ label: 'simulated s', value: (_u: unknown, v: number | null) => fmtNum(v, 1) }, line('central', '#2563eb', 4)],
      },
      data: [tx, ty],
    });
  }
  // Fairness: how the evaluated clients' accuracy is spread, round by round (a box, in lines).
  const ca = series.clientAccuracy;
  if (ca && hasData([ca.median])) {
    specs.push({
      id: 'fairness',
      title: 'Accuracy across clients (federated evaluation)',
      empty: false,
      bars: false,
      options: {
        ...base(false),
        axes: [xAxis, yAxis('client accuracy', 56)],
        series: [
          { label: 'round' },
          line('worst 10 %', '#dc2626', 4, [4, 3]),
          line('q1', '#94a3b8', 4),
          line('median', '#0f766e', 4),
          line('q3', '#94a3b8', 4),
          line('best 10 %', '#16a34a', 4, [4, 3]),
          { ...line("Jain's index", '#7c3aed', 3, [2, 2]), show: false },
        ],
        // The interquartile range as a band between q3 and q1.
        bands: [{ series: [4, 2], fill: 'rgba(15,118,110,0.12)' }],
      },
      data: [x, ca.worst10, ca.q1, ca.median, ca.q3, ca.best10, ca.jain],
    });
  }
  if (hasData([epsilon])) {
    specs.push({
      id: 'privacy',
      title: 'Privacy budget spent (ε)',
      empty: false,
      bars: false,
      options: {
        ...base(false),
        axes: [xAxis, yAxis('ε', 56)],
        series: [{ label: 'round' }, line('ε', '#db2777', 3)],
      },
      data: [x, epsilon],
    });
  }
  return specs;
}

export interface MountedCharts {
  /** The uPlot instances drawn so far. */
  charts: unknown[];
  /**
   * Redraws from new series (live views): charts keep their place and size and get the new data;
   * a chart that gains its first value, or appears (privacy), is created.
   */
  update(series: ChartSeries): void;
  /** The data each drawn chart holds, by chart id (for tests and debugging). */
  data(): Record<string, unknown>;
  destroy(): void;
}

/**
 * Browser side: appends one `<figure class="federa-chart">` per chart to `container` and draws it
 * with `uPlot` (the constructor, e.g. `window.uPlot`). Charts follow the container's width.
 */
export function mountCharts(
  container: HTMLElement,
  uPlot: any,
  series: ChartSeries,
  opts: ChartSpecOptions = {},
): MountedCharts {
  const doc = container.ownerDocument;
  const figures: Record<string, { plot: HTMLElement; chart: any }> = {};
  const charts: any[] = [];
  // The plot's own width (its figure is a grid item with min-width 0), never less than a phone's.
  const widthOf = (el: HTMLElement) => Math.max(160, Math.floor(el.clientWidth || opts.width || 600));
  // Each chart follows its own card, also when the card changes width without the window resizing
  // (a grid reflowing as figures arrive); the window's resize event where ResizeObserver is missing.
  const win = doc.defaultView;
  const RO = win ? (win as any).ResizeObserver : undefined;
  const observer = RO ? new RO(() => onResize()) : undefined;
  const figureFor = (spec: ChartSpec) => {
    let f = figures[spec.id];
    if (!f) {
      const figure = doc.createElement('figure');
      figure.className = 'federa-chart federa-chart-' + spec.id;
      const caption = doc.createElement('figcaption');
      caption.textContent = spec.title;
      const plot = doc.createElement('div');
      plot.className = 'federa-chart-plot';
      figure.appendChild(caption);
      figure.appendChild(plot);
      container.appendChild(figure);
      f = figures[spec.id] = { plot, chart: null };
      if (observer) observer.observe(plot);
    }
    return f;
  };
  const draw = (spec: ChartSpec) => {
    const f = figureFor(spec);
    if (f.chart) {
      f.chart.setData(spec.data);
      return;
    }
    f.plot.textContent = '';
    if (spec.empty) {
      const note = doc.createElement('p');
      note.className = 'federa-chart-empty';
      note.textContent = 'No data';
      f.plot.appendChild(note);
      return;
    }
    const options: Record<string, any> = { ...spec.options, width: widthOf(f.plot) };
    if (spec.bars && uPlot.paths && uPlot.paths.bars) {
      options.series = options.series.map((s: Record<string, unknown>, i: number) =>
        i === 0 ? s : { ...s, paths: uPlot.paths.bars({ size: [0.42, 48], align: i % 2 === 1 ? -1 : 1 }), points: { show: false } },
      );
    }
    f.chart = new uPlot(options, spec.data, f.plot);
    charts.push(f.chart);
  };
  // Every figure is in the grid before any chart measures its width: a chart drawn while it was
  // the grid's only item would take the whole row and overflow its card once the others arrive.
  const mount = (specs: ChartSpec[]) => {
    for (const spec of specs) figureFor(spec);
    for (const spec of specs) draw(spec);
  };
  mount(chartSpecs(series, opts));
  const onResize = () => {
    for (const id in figures) {
      const f = figures[id];
      if (f.chart) {
        const width = widthOf(f.plot);
        if (width !== f.chart.width) f.chart.setSize({ width, height: f.chart.height });
      }
    }
  };
  if (!observer && win) win.addEventListener('resize', onResize);
  return {
    charts,
    update(next: ChartSeries) {
      mount(chartSpecs(next, opts));
    },
    data() {
      const out: Record<string, unknown> = {};
      for (const id in figures) if (figures[id].chart) out[id] = figures[id].chart.data;
      return out;
    },
    destroy() {
      if (observer) observer.disconnect();
      else if (win) win.removeEventListener('resize', onResize);
      for (const c of charts) c.destroy();
      charts.length = 0;
      for (const id in figures) delete figures[id];
    },
  };
}

/**
 * Plain browser JavaScript defining `formatBytes`, `chartSpecs` and `mountCharts` as globals of a
 * classic `<script>`, for pages built without a bundler (the static report).
 */
export function chartRuntimeSource(): string {
  // Loaders such as tsx/esbuild (keepNames) wrap nested functions in `__name(fn, "name")`;
  // an identity shim keeps the serialised source runnable wherever it was loaded from.
  const shim = 'var __name = function (fn) { return fn; };';
  return [shim, formatBytes, chartSpecs, mountCharts].map((f) => String(f)).join('\n');
}
