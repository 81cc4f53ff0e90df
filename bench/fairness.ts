/**
 * Fairness across clients: FedAvg against q-FedAvg (Li et al. 2020) at q ∈ {0, 1, 5}. MNIST
 * logistic regression, 100 clients with Dirichlet(α = 0.3) labels (at least 4 examples each), 10 a round, the same seed for
 * every variant. The last round evaluates every client on its own validation split; printed: the
 * mean, variance, worst and best 10 % of the clients' accuracy, Jain's index, and the central test
 * accuracy.
 *
 * One JSON line per variant, then a table.
 *   npx tsx bench/fairness.ts                   30 rounds
 *   npx tsx bench/fairness.ts --rounds 60 --alpha 0.5
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../src/config/rules.js';
import { simulate } from '../src/cli/simulate.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '30' },
    alpha: { type: 'string', default: '0.3' },
    seed: { type: 'string', default: '3' },
  },
});
const rounds = Number(flags.rounds);
const variants = [
  { name: 'FedAvg', strategy: { name: 'fedavg' } },
  { name: 'q-FedAvg, q = 0', strategy: { name: 'qffl', q: 0 } },
  { name: 'q-FedAvg, q = 1', strategy: { name: 'qffl', q: 1 } },
  { name: 'q-FedAvg, q = 5', strategy: { name: 'qffl', q: 5 } },
];
const sink = { write: () => true };
const rows: Record<string, unknown>[] = [];
for (const v of variants) {
  const out = mkdtempSync(join(tmpdir(), 'federa-bench-fairness-'));
  const config = parseSimulationConfig({
    name: 'bench-fairness',
    seed: Number(flags.seed),
    model: 'logreg',
    clients: 100,
    clientsPerRound: 10,
    rounds,
    partition: { kind: 'dirichlet', alpha: Number(flags.alpha), minSize: 4 },
    validationFraction: 0.3,
    evaluation: { federatedEvery: rounds, federatedFraction: 1, centralEvery: rounds },
    strategy: v.strategy,
    output: out,
  });
  const r = await simulate(config, { out: sink, progress: false });
  rmSync(out, { recursive: true, force: true });
  const last = r.history.at(-1)!;
  const d = last.federatedEvaluation?.distribution?.accuracy;
  const row = {
    bench: 'fairness',
    variant: v.name,
    clients: d?.clients ?? null,
    mean: d?.mean ?? null,
    variance: d?.variance ?? null,
    worst10: d?.worst10 ?? null,
    best10: d?.best10 ?? null,
    jain: d?.jain ?? null,
    central_accuracy: r.finalAccuracy ?? null,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.log('\nvariant             clients    mean  variance  worst 10 %  best 10 %    Jain  central acc.');
const f = (v: unknown, d = 4) => (typeof v === 'number' ? v.toFixed(d) : '-');
for (const r of rows) {
  console.log(`${String(r.variant).padEnd(18)}  ${String(r.clients).padStart(7)}  ${f(r.mean)}  ${f(r.variance, 5).padStart(8)}  ${f(r.worst10).padStart(10)}  ${f(r.best10).padStart(9)}  ${f(r.jain)}  ${f(r.central_accuracy).padStart(12)}`);
}
