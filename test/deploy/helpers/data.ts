// Client data files for deployment tests: each client's partition of the simulation's training
// set written as a CSV, in partition order, so a client process holds exactly what the same-seed
// simulation gives its virtual client (what `federa export-data` writes; src/node/export-data.ts).
import type { SimulationConfig } from '../../../src/config/schema.js';
import { exportClientData } from '../../../src/node/export-data.js';

export function writePartitionCsvs(config: SimulationConfig, dir: string): { files: string[]; ids: string[]; sizes: number[] } {
  const { files, ids, sizes } = exportClientData(config, dir);
  return { files, ids, sizes };
}
