/**
 * Personalization: FedAvg's global model against the same model fine-tuned by each client on its
 * own training split (evaluation.fineTuneEpochs, as TensorFlow Federated's personalization
 * evaluation). MNIST 2NN, 100 clients with Dirichlet(α = 0.1) labels (at least 4 examples each),
 * 10 a round; the last round evaluates every client on its own validation split. Printed: the mean
 * and the worst and best 10 % of the clients' accuracy, and Jain's index, for the global and the
 * fine-tuned models, and for Ditto's personal models (Li et al. 2021, λ = 0.1) in a second run
 * with the same seed. (FedRep is not built yet.)
 *
 * One JSON line per variant, then a table.
 *   npx tsx bench/personal.ts                   30 rounds, 2 fine-tuning epochs
 *   npx tsx bench/personal.ts --rounds 60 --fine-tune 5 --model logreg
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
    'fine-tune': { type: 'string', default: '2' },
    model: { type: 'string', default: '2nn' },
    alpha: { type: 'string', default: '0.1' },
    seed: { type: 'string', default: '5' },
  },
});
const rounds = Number(flags.rounds);
const base = (extra: Record<string, unknown>) => {
  const out = mkdtempSync(join(tmpdir(), 'federa-bench-personal-'));
  return { out, config: parseSimulationConfig({
  name: 'bench-personal',
  seed: Number(flags.seed),
  model: flags.model,
  clients: 100,
  clientsPerRound: 10,
  rounds,
  partition: { kind: 'dirichlet', alpha: Number(flags.alpha), minSize: 4 },
  validationFraction: 0.3,
  evaluation: { federatedEvery: rounds, federatedFraction: 1, centralEvery: rounds, fineTuneEpochs: 0 },
  output: out,
  ...extra,
}) };
};
const lastDistribution = async (extra: Record<string, unknown>) => {
  const { out, config } = base(extra);
  const r = await simulate(config, { out: { write: () => true }, progress: false });
  rmSync(out, { recursive: true, force: true });
  return r.history.at(-1)!.federatedEvaluation!.distribution!;
};
const tuned = await lastDistribution({ evaluation: { federatedEvery: rounds, federatedFraction: 1, centralEvery: rounds, fineTuneEpochs: Number(flags['fine-tune']) } });
const ditto = await lastDistribution({ ditto: { lambda: 0.1 } });
const rows = [
  { variant: 'FedAvg (global model)', ...tuned.accuracy! },
  { variant: `FedAvg + fine-tuning (${flags['fine-tune']} epochs)`, ...tuned.personalizedAccuracy! },
  { variant: 'Ditto (λ = 0.1)', ...ditto.personalizedAccuracy! },
];
for (const row of rows) console.log(JSON.stringify({ bench: 'personal', model: flags.model, rounds, ...row }));
console.log('\nvariant                              clients    mean  worst 10 %  best 10 %    Jain');
for (const row of rows) console.log(`${row.variant.padEnd(35)}  ${String(row.clients).padStart(7)}  ${row.mean.toFixed(4)}  ${row.worst10.toFixed(4).padStart(10)}  ${row.best10.toFixed(4).padStart(9)}  ${row.jain.toFixed(4)}`);
console.log(`\nmean client accuracy over the global model: fine-tuning ${((rows[1].mean - rows[0].mean) * 100).toFixed(1)} points, Ditto ${((rows[2].mean - rows[0].mean) * 100).toFixed(1)} points`);
