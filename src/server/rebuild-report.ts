/**
 * Rebuilds `report.html` from what a run left behind: a simulation's run folder (`history.jsonl`,
 * `config.json`, `summary.json`) or a deployment's SQLite database (the runs table and the round
 * records). The report is the same page the run wrote (or would have written had it finished).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FederaError, describeError } from '../core/errors.js';
import type { ReportRound } from '../report/report.js';
import { writeReport } from '../node/report-file.js';

export interface RebuildReportOptions {
  /** Deployment databases: the run to report (default: the only run, or the most recently updated). */
  runId?: string;
  /** Output file (default: `<run folder>/report.html`; for a database, `<its folder>/<run id>-report.html`). */
  out?: string;
}

export interface RebuiltReport {
  file: string;
  runId: string;
  rounds: number;
  source: 'run-folder' | 'database';
  /** Lines of history.jsonl that could not be read (a final line cut short by a kill). */
  skippedLines: number;
}

function readJson(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new FederaError('data_error', `cannot read ${path}: ${describeError(e)}`);
  }
}

/** Reads a run folder's history.jsonl; a cut-short last line is skipped, a bad line elsewhere is an error. */
export function readHistoryFile(path: string): { rounds: ReportRound[]; skippedLines: number } {
  const lines = readFileSync(path, 'utf8').split('\n');
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  const rounds: ReportRound[] = [];
  let skippedLines = 0;
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    try {
      const r = JSON.parse(line) as ReportRound;
      if (typeof r !== 'object' || r === null || typeof r.round !== 'number') throw new Error('not a round record (no "round" number)');
      rounds.push(r);
    } catch (e) {
      if (i === lines.length - 1) {
        skippedLines++;
        continue;
      }
      throw new FederaError('data_error', `${path}, line ${i + 1}: ${describeError(e)}`);
    }
  }
  return { rounds, skippedLines };
}

async function fromRunFolder(dir: string, o: RebuildReportOptions): Promise<RebuiltReport> {
  const historyFile = join(dir, 'history.jsonl');
  if (!existsSync(historyFile)) throw new FederaError('not_found', `${dir} is not a run folder: it has no history.jsonl`);
  const { rounds, skippedLines } = readHistoryFile(historyFile);
  const config = readJson(join(dir, 'config.json')) ?? {};
  const summary = readJson(join(dir, 'summary.json'));
  const runId = basename(resolve(dir));
  const outFile = o.out ? resolve(o.out) : join(dir, 'report.html');
  const file = await writeReport(dirname(outFile), { runId, createdAt: new Date().toISOString(), config, ...(summary ? { summary } : {}) }, rounds, basename(outFile));
  return { file, runId, rounds: rounds.length, source: 'run-folder', skippedLines };
}

async function fromDatabase(dbFile: string, o: RebuildReportOptions): Promise<RebuiltReport> {
  // The SQLite store (a native module) loads only for this case.
  const { Store } = await import('./store.js');
  let store: InstanceType<typeof Store>;
  try {
    store = new Store(dbFile);
  } catch (e) {
    throw new FederaError('data_error', `${dbFile} is not a federa database: ${describeError(e)}`);
  }
  try {
    const runs = store.listRuns();
    if (runs.length === 0) throw new FederaError('not_found', `${dbFile} holds no runs`);
    const run = o.runId !== undefined ? runs.find((r) => r.id === o.runId) : [...runs].sort((a, b) => a.updatedAt.localeCompare(b.updatedAt)).at(-1);
    if (!run) throw new FederaError('not_found', `${dbFile} has no run "${o.runId}"; it has: ${runs.map((r) => r.id).join(', ')}`);
    const rounds = store.history(run.id) as unknown as ReportRound[];
    const outFile = o.out ? resolve(o.out) : join(dirname(resolve(dbFile)), `${run.id}-report.html`);
    const summary = { status: run.status, plannedRounds: run.rounds, lastRound: run.lastRound, ...(run.initialEvaluation ? { initialAccuracy: run.initialEvaluation.metrics?.accuracy ?? null } : {}) };
    const file = await writeReport(dirname(outFile), { runId: run.id, createdAt: run.createdAt, config: run.config, summary }, rounds, basename(outFile));
    return { file, runId: run.id, rounds: rounds.length, source: 'database', skippedLines: 0 };
  } finally {
    store.close();
  }
}

/** Rebuilds the report of a run folder or of a run in a deployment database. */
export async function rebuildReport(path: string, options: RebuildReportOptions = {}): Promise<RebuiltReport> {
  if (!existsSync(path)) throw new FederaError('not_found', `${path} does not exist (expected a run folder or a server database)`);
  return statSync(path).isDirectory() ? fromRunFolder(path, options) : fromDatabase(path, options);
}
