/**
 * The distribution of a per-client quantity over the clients of one evaluation (fairness: does
 * the global model work for every client, or only on average?): mean, variance, the mean of the
 * worst and of the best 10 % of clients, Jain's fairness index (Σx)²/(n·Σx²) — 1 when every
 * client gets the same, 1/n when one gets everything — and the five numbers of a box plot.
 */

export interface DistributionStats {
  /** Clients in the distribution. */
  readonly clients: number;
  readonly mean: number;
  /** Population variance. */
  readonly variance: number;
  /** Mean of the worst ⌈n/10⌉ clients (lowest accuracy, highest loss). */
  readonly worst10: number;
  /** Mean of the best ⌈n/10⌉ clients. */
  readonly best10: number;
  /** Jain's index (Σx)²/(n·Σx²), in [1/n, 1]; 1 when all are equal (and when all are 0). */
  readonly jain: number;
  readonly min: number;
  readonly q1: number;
  readonly median: number;
  readonly q3: number;
  readonly max: number;
}

/** The p-quantile of sorted values, by linear interpolation between order statistics. */
function quantile(sorted: readonly number[], p: number): number {
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/**
 * Statistics of `values` (finite numbers; others are ignored), `higherIsBetter` deciding which
 * end is "worst". Undefined when no value is finite.
 */
export function describeDistribution(values: readonly number[], higherIsBetter: boolean): DistributionStats | undefined {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = xs.length;
  if (n === 0) return undefined;
  let sum = 0;
  let sq = 0;
  for (const x of xs) (sum += x), (sq += x * x);
  const mean = sum / n;
  let variance = 0;
  for (const x of xs) variance += (x - mean) ** 2;
  variance /= n;
  const tail = Math.ceil(n / 10);
  const low = xs.slice(0, tail).reduce((a, b) => a + b, 0) / tail;
  const high = xs.slice(n - tail).reduce((a, b) => a + b, 0) / tail;
  return {
    clients: n,
    mean,
    variance,
    worst10: higherIsBetter ? low : high,
    best10: higherIsBetter ? high : low,
    jain: sq === 0 ? 1 : (sum * sum) / (n * sq),
    min: xs[0],
    q1: quantile(xs, 0.25),
    median: quantile(xs, 0.5),
    q3: quantile(xs, 0.75),
    max: xs[n - 1],
  };
}
