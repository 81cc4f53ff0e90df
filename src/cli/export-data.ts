/**
 * `federa export-data`: writes each client's share of a data set as a CSV file, split as the
 * same-seed simulation splits it, so a first deployment has client data that fits the model
 * (`federa export-data mnist --clients 2 --out data` → data/client-0.csv, data/client-1.csv).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { parseSimulationConfig } from '../config/rules.js';
import { exportClientData } from '../node/export-data.js';

function count(flag: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new InvalidArgumentError(`${flag} expects a whole number ≥ 1, got "${v}"`);
    return Number(v);
  };
}

export function registerExportDataCommand(program: Command): void {
  program
    .command('export-data')
    .description("write each client's share of a data set as a CSV file (client-<i>.csv), split as the same-seed simulation splits it")
    .argument('[data]', 'mnist | fashion-mnist | synthetic:α,β | idx:<path> | leaf:<path> | csv:<path> | images:<folder> | text:<file.jsonl>', 'mnist')
    .requiredOption('-o, --out <dir>', 'folder for the files (created if missing)')
    .option('--clients <n>', 'number of clients (ignored by data with clients of its own)', count('--clients'), 2)
    .option('--partition <kind>', 'iid | dirichlet | shards | natural (default: natural for synthetic, leaf and text, else iid)')
    .option('--alpha <α>', 'Dirichlet concentration for --partition dirichlet', (v) => Number(v))
    .option('--seed <seed>', 'seed of the split (the simulation default is 42)', (v) => (/^-?\d+$/.test(v) ? Number(v) : v), 42)
    .option('--label-column <name>', 'csv: class column')
    .option('--target-columns <a,b>', 'csv: float target column(s) (regression)', (v) => v.split(',').map((x) => x.trim()).filter(Boolean))
    .option('--group-column <name>', "csv: column naming each row's client (natural partition)")
    .option('--test', 'also write test.csv, the central test split')
    .action((spec: string, opts: Record<string, unknown>) => {
      const raw: Record<string, unknown> = { dataset: spec, clients: opts.clients, seed: opts.seed, minClients: 1 };
      if (opts.partition !== undefined) raw.partition = { kind: opts.partition, ...(opts.alpha !== undefined ? { alpha: opts.alpha } : {}) };
      else if (!/^(synthetic|leaf|text)(:|$)/.test(spec) && !opts.groupColumn) raw.partition = { kind: 'iid' };
      if (opts.labelColumn || opts.targetColumns || opts.groupColumn) {
        raw.dataset = { ...parseCsvSpec(spec), ...(opts.labelColumn ? { labelColumn: opts.labelColumn } : {}), ...(opts.targetColumns ? { targetColumns: opts.targetColumns } : {}), ...(opts.groupColumn ? { groupColumn: opts.groupColumn } : {}) };
        if (opts.targetColumns) raw.task = 'regression';
        if (opts.groupColumn && opts.partition === undefined) raw.partition = { kind: 'natural' };
      }
      const config = parseSimulationConfig(raw, 'export-data');
      const out = exportClientData(config, String(opts.out), { withTest: Boolean(opts.test) });
      const total = out.sizes.reduce((a, b) => a + b, 0);
      process.stdout.write(`wrote ${out.files.length} client file(s), ${total} examples (${out.sizes.join(', ')}), split with seed ${JSON.stringify(config.seed)}:\n`);
      for (const f of out.files) process.stdout.write(`  ${f}\n`);
      if (out.testFile) process.stdout.write(`  ${out.testFile} (test split)\n`);
      process.stdout.write(`each client: npx federa client --server <wss://host:port> --data ${out.files[0]} --token <token> [--ca certs/ca.pem]\n`);
    });
}

/** The `[dataset]` table of a CSV spec, so column options can go on it. */
function parseCsvSpec(spec: string): Record<string, unknown> {
  const path = spec.startsWith('csv:') ? spec.slice(4) : spec;
  return { name: 'csv', path };
}
