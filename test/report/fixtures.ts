import type { ReportMeta, ReportRound } from '../../src/report/charts.js';

/** A completed round with sensible defaults; override any field. */
export function round(n: number, over: Partial<ReportRound> = {}): ReportRound {
  return {
    round: n,
    status: 'completed',
    selected: ['c0', 'c1', 'c2'],
    succeeded: ['c0', 'c1', 'c2'],
    failed: [],
    train: { loss: 1 / n, metrics: { accuracy: 0.5 } },
    federatedEvaluation: { loss: 1.1 / n, metrics: { accuracy: 0.5 + n / 100 }, numExamples: 300, clients: 3 },
    centralEvaluation: { loss: 1.2 / n, metrics: { accuracy: 0.4 + n / 100 } },
    bytes: { down: 3000, up: 3000 },
    timing: { totalMs: 100, trainMs: 80, evaluateMs: 10, centralEvaluateMs: 10 },
    ...over,
  };
}

export function skipped(n: number, reason = 'not enough clients'): ReportRound {
  return {
    round: n,
    status: 'skipped',
    reason,
    selected: [],
    succeeded: [],
    failed: [],
    bytes: { down: 0, up: 0 },
    timing: { totalMs: 1, trainMs: 0, evaluateMs: 0, centralEvaluateMs: 0 },
  };
}

export function meta(config: Record<string, unknown> = { rounds: 3 }): ReportMeta {
  return { runId: 'run-1', createdAt: '2024-01-01T00:00:00.000Z', config };
}

/** A plausible n-round history: learning curves with noise, a few failures and skipped rounds. */
export function fakeHistory(n: number): ReportRound[] {
  const out: ReportRound[] = [];
  for (let i = 1; i <= n; i++) {
    if (i % 11 === 0) {
      out.push(skipped(i, 'only 1 of 3 required clients available'));
      continue;
    }
    const wobble = Math.sin(i * 1.7) * 0.01;
    const acc = 0.97 - 0.6 * Math.exp(-i / 6) + wobble;
    const failed =
      i % 7 === 0 ? [{ clientId: `client-${i % 10}`, code: 'TIMEOUT', reason: 'fit exceeded 30000 ms <deadline>' }] : [];
    const ids = Array.from({ length: 10 }, (_, k) => `client-${k}`);
    out.push({
      round: i,
      status: 'completed',
      selected: ids,
      succeeded: ids.filter((id) => !failed.some((f) => f.clientId === id)),
      failed,
      train: { loss: 2.3 * Math.exp(-i / 7) + 0.05, metrics: { accuracy: acc + 0.02 } },
      federatedEvaluation: i % 2 === 0
        ? { loss: 2.4 * Math.exp(-i / 7) + 0.08, metrics: { accuracy: acc - 0.01 }, numExamples: 5000, clients: 10 }
        : undefined,
      centralEvaluation: { loss: 2.4 * Math.exp(-i / 7) + 0.07 - wobble, metrics: { accuracy: acc } },
      bytes: { down: 10 * 407_080, up: (10 - failed.length) * 407_080 },
      timing: { totalMs: 1800 + 200 * Math.cos(i), trainMs: 1500, evaluateMs: 150, centralEvaluateMs: 120 },
    });
  }
  return out;
}
