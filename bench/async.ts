/**
 * Asynchronous against synchronous federated training in simulated time (docs/simulation.md):
 * MNIST 2NN, 1,000 virtual clients (IID: 8 examples each) on seeded heavy-tailed devices
 * (log-normal speeds, 10% stragglers 10× slower, log-normal bandwidths, online half of the time in
 * 30-minute sessions), the same seed for every variant:
 *   - synchronous FedAvg, 100 clients a round, waiting for all of them;
 *   - synchronous FedAvg with 30% over-selection (130 selected, closed at the first 100);
 *   - FedBuff, K = 10, concurrency 100, staleness (1 + τ)^−0.5, η_g = 1.
 * Each variant trains about the same number of clients in total (sync: rounds × 100; FedBuff:
 * versions × 10). Printed per variant: simulated time (s) to reach each target central test
 * accuracy ("-" when not reached), the best accuracy, and uplink bytes until then and in total.
 *
 * One JSON line per variant, then a table.
 *   npx tsx bench/async.ts                       120 synchronous rounds, 1,200 FedBuff versions
 *   npx tsx bench/async.ts --rounds 60 --targets 0.85,0.9
 *   npx tsx bench/async.ts --only 1,4            some variants (1 FedAvg, 2 over-selection, 3 FedBuff, 4 Oort, 5 availability)
 * Also: synchronous FedAvg with Oort (Lai et al. 2021) and with availability-aware selection.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../src/config/rules.js';
import { simulate } from '../src/cli/simulate.js';
import type { RoundRecord } from '../src/core/records.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '120' },
    clients: { type: 'string', default: '1000' },
    targets: { type: 'string', default: '0.9,0.95' },
    seed: { type: 'string', default: '7' },
    lr: { type: 'string', default: '0.1' },
    only: { type: 'string' },
  },
});
const rounds = Number(flags.rounds);
const targets = flags.targets.split(',').map(Number);
const perRound = 100;
const K = 10;

const devices = { kind: 'lognormal', speed: 20, speedSigma: 0.7, stragglerFraction: 0.1, stragglerSlowdown: 10, availability: 0.5, sessionMinutes: 30 };
const variants = [
  { name: 'FedAvg, 100 a round', rounds, extra: { clientsPerRound: perRound } },
  { name: 'FedAvg, 100 of 130 (over-selection)', rounds, extra: { clientsPerRound: perRound, overSelection: 0.3 } },
  { name: `FedBuff, K = ${K}, C = 100`, rounds: (rounds * perRound) / K, extra: { strategy: { name: 'fedbuff', bufferSize: K, concurrency: 100 } } },
  { name: 'FedAvg, 100 a round, Oort selection', rounds, extra: { clientsPerRound: perRound, selection: { kind: 'oort' } } },
  { name: 'FedAvg, 100 a round, availability-aware', rounds, extra: { clientsPerRound: perRound, selection: { kind: 'availability' } } },
].filter((v, i) => !flags.only || flags.only.split(',').map(Number).includes(i + 1));

const sink = { write: () => true };
const rows: Record<string, unknown>[] = [];
for (const v of variants) {
  const out = mkdtempSync(join(tmpdir(), 'federa-bench-async-'));
  const config = parseSimulationConfig({
    name: 'bench-async',
    seed: Number(flags.seed),
    model: '2nn',
    clients: Number(flags.clients),
    rounds: v.rounds,
    partition: { kind: 'iid' },
    local: { epochs: 5, batchSize: 8, learningRate: Number(flags.lr) },
    evaluation: { federatedEvery: 0, centralEvery: 1 },
    devices,
    output: out,
    ...v.extra,
  });
  const t0 = performance.now();
  const r = await simulate(config, { out: sink, progress: false });
  const seconds = (performance.now() - t0) / 1000;
  rmSync(out, { recursive: true, force: true });
  const reach = (target: number) => {
    let up = 0;
    for (const h of r.history as RoundRecord[]) {
      up += h.bytes.up;
      const acc = h.centralEvaluation?.metrics.accuracy;
      if (acc !== undefined && acc >= target) return { time: h.simulatedTime!, version: h.round, up };
    }
    return undefined;
  };
  const best = Math.max(...r.history.map((h) => h.centralEvaluation?.metrics.accuracy ?? 0));
  const row: Record<string, unknown> = {
    bench: 'async',
    variant: v.name,
    versions: r.history.length,
    simulated_s: +r.history.at(-1)!.simulatedTime!.toFixed(1),
    best_accuracy: best,
    up_bytes: r.history.reduce((a, h) => a + h.bytes.up, 0),
    wall_s: +seconds.toFixed(1),
  };
  for (const t of targets) {
    const hit = reach(t);
    row[`time_to_${t}`] = hit ? +hit.time.toFixed(1) : null;
    row[`version_at_${t}`] = hit?.version ?? null;
    row[`up_bytes_to_${t}`] = hit?.up ?? null;
  }
  rows.push(row);
  console.log(JSON.stringify(row));
}

const head = ['variant'.padEnd(38), ...targets.map((t) => `s to ${t}`.padStart(10)), 'best acc'.padStart(9), 'sim. s'.padStart(8), ...targets.map((t) => `MB up to ${t}`.padStart(13))];
console.log('\n' + head.join('  '));
for (const r of rows) {
  const cells = [
    String(r.variant).padEnd(38),
    ...targets.map((t) => String(r[`time_to_${t}`] ?? '-').padStart(10)),
    Number(r.best_accuracy).toFixed(4).padStart(9),
    String(r.simulated_s).padStart(8),
    ...targets.map((t) => (r[`up_bytes_to_${t}`] === null ? '-' : (Number(r[`up_bytes_to_${t}`]) / 1e6).toFixed(1)).padStart(13)),
  ];
  console.log(cells.join('  '));
}
const sync = rows.find((r) => r.variant === 'FedAvg, 100 a round');
for (const other of rows.filter((r) => r !== sync)) {
  for (const t of targets) {
    const a = sync?.[`time_to_${t}`] as number | null | undefined;
    const b = other[`time_to_${t}`] as number | null;
    console.log(`${other.variant} vs synchronous FedAvg (uniform), simulated time to ${t}: ${a != null && b !== null ? `${(a / b).toFixed(2)}× sooner` : 'not reached by both (or not run)'}`);
  }
}
