/**
 * The privacy audit against differential privacy: loss-threshold membership inference (federa
 * audit, src/node/audit.ts) on MNIST 2NN runs trained at ε ∈ {1, 3, 8, ∞}: 400 clients of 16
 * examples, 10 a round, 4 rounds of 30 local epochs (deliberately overfit), central DP with clip
 * 0.5 and the noise calibrated to each ε. Expected shape: the attack's AUC falls toward 0.5 as ε
 * falls. (The canary-based empirical ε is not built yet.)
 *
 * One JSON line per ε, then a table.
 *   npx tsx bench/audit.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../src/config/rules.js';
import { simulate } from '../src/cli/simulate.js';
import { auditRun } from '../src/node/audit.js';

const rows: Record<string, unknown>[] = [];
for (const epsilon of [1, 3, 8, Infinity]) {
  const out = mkdtempSync(join(tmpdir(), 'federa-bench-audit-'));
  const config = parseSimulationConfig({
    name: 'bench-audit',
    seed: 3,
    model: '2nn',
    clients: 400,
    clientsPerRound: 10,
    rounds: 4,
    partition: { kind: 'iid' },
    local: { epochs: 30, batchSize: 10, learningRate: 0.1 },
    evaluation: { federatedEvery: 0, centralEvery: 4 },
    ...(Number.isFinite(epsilon) ? { privacy: { mode: 'central', clipNorm: 0.5, targetEpsilon: epsilon, sampling: 'fixed' } } : {}),
    output: out,
  });
  const run = await simulate(config, { out: { write: () => true }, progress: false });
  const a = await auditRun(run.runDir);
  rmSync(out, { recursive: true, force: true });
  const row = { bench: 'audit', epsilon: Number.isFinite(epsilon) ? epsilon : 'inf', measured_epsilon: a.epsilon ?? null, accuracy: run.finalAccuracy, example_auc: a.examples.auc, example_tpr_1pct: a.examples.tprAt1PctFpr, client_auc: a.clients?.auc ?? null, client_tpr_1pct: a.clients?.tprAt1PctFpr ?? null };
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.log('\ntarget ε   ε spent  accuracy  example AUC  TPR@1%FPR  client AUC  TPR@1%FPR');
const f = (v: unknown, d = 4) => (typeof v === 'number' ? v.toFixed(d) : '-');
for (const r of rows) console.log(`${String(r.epsilon).padStart(8)}  ${f(r.measured_epsilon, 3).padStart(7)}  ${f(r.accuracy).padStart(8)}  ${f(r.example_auc).padStart(11)}  ${f(r.example_tpr_1pct).padStart(9)}  ${f(r.client_auc).padStart(10)}  ${f(r.client_tpr_1pct).padStart(9)}`);
