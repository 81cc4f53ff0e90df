// Client data files for deployment tests: each client's partition of the simulation's training
// set written as a CSV, in partition order, so a client process holds exactly what the same-seed
// simulation gives its virtual client (float32 values round-trip exactly through their decimal form).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareData } from '../../../src/cli/simulate.js';
import type { SimulationConfig } from '../../../src/config/schema.js';

export function writePartitionCsvs(config: SimulationConfig, dir: string): { files: string[]; ids: string[]; sizes: number[] } {
  const data = prepareData(config);
  const f = data.train.numFeatures;
  const header = [...Array.from({ length: f }, (_, j) => `f${j}`), 'label'].join(',');
  const files: string[] = [];
  const ids: string[] = [];
  const width = String(data.partitions.length - 1).length;
  data.partitions.forEach((indices, c) => {
    const rows: string[] = [header];
    for (const i of indices) {
      const row: string[] = [];
      for (let j = 0; j < f; j++) row.push(String(data.train.x[i * f + j]));
      row.push(String(data.train.y[i]));
      rows.push(row.join(','));
    }
    const file = join(dir, `client-${c}.csv`);
    writeFileSync(file, rows.join('\n') + '\n');
    files.push(file);
    ids.push(data.clientIds?.[c] ?? `client-${String(c).padStart(width, '0')}`);
  });
  return { files, ids, sizes: data.partitions.map((p) => p.length) };
}
