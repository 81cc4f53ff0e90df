/**
 * The commit marker: a small file beside the database (`<database>.commits.json`) that records,
 * per run, the last round the server committed. It is written (atomically: a temporary file, then
 * a rename) after every round commit, and compared when the server opens the run.
 *
 * SQLite in WAL mode keeps recent transactions in `<database>-wal` until a checkpoint folds them
 * into the main file. A server killed while the WAL held rounds, whose `-wal` file is then lost
 * (copied without it, cleaned up, restored from a backup of the main file only), opens a database
 * that silently lacks those rounds — or the whole run, which would then start afresh under the
 * same name. The marker says the database holds fewer rounds than were committed, and the server
 * refuses to start instead (issue 13, finding 12).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { FederaError, describeError } from '../core/errors.js';

interface MarkerFile {
  format: 1;
  runs: Record<string, { round: number; at: string }>;
}

export class CommitMarker {
  readonly file: string;
  private runs: MarkerFile['runs'];

  constructor(readonly database: string) {
    this.file = `${database}.commits.json`;
    this.runs = this.read();
  }

  private read(): MarkerFile['runs'] {
    if (!existsSync(this.file)) return {};
    let parsed: Partial<MarkerFile>;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<MarkerFile>;
    } catch (e) {
      throw new FederaError('data_error', `the commit marker ${this.file} is not readable JSON (${describeError(e)}); it records the rounds committed to ${this.database}. Delete it only if the database is known to be complete`);
    }
    if (parsed.format !== 1 || typeof parsed.runs !== 'object' || parsed.runs === null) {
      throw new FederaError('data_error', `the commit marker ${this.file} is not a federa commit marker (format 1)`);
    }
    return parsed.runs;
  }

  /** The last round recorded as committed for `runId`, if any. */
  committedRound(runId: string): number | undefined {
    const r = this.runs[runId]?.round;
    return typeof r === 'number' && Number.isInteger(r) && r >= 0 ? r : undefined;
  }

  /**
   * Refuses to open `runId` when the database holds fewer rounds than were committed:
   * `databaseRound` is the run's last checkpointed round in the database, undefined when the
   * database does not hold the run at all.
   */
  check(runId: string, databaseRound: number | undefined): void {
    const committed = this.committedRound(runId);
    if (committed === undefined || (databaseRound !== undefined && databaseRound >= committed)) return;
    const holds = databaseRound === undefined ? 'does not hold the run at all' : `holds only ${databaseRound} round${databaseRound === 1 ? '' : 's'}`;
    throw new FederaError(
      'data_error',
      `run "${runId}" committed round ${committed} to ${this.database}, but the database ${holds}: committed rounds are lost (was ${this.database}-wal deleted or not copied with the database?). Put the -wal file back next to the database and start again; if those rounds are gone for good, delete ${this.file} to ${databaseRound === undefined ? 'start the run afresh' : `resume after round ${databaseRound}`}`,
      { committed, databaseRound: databaseRound ?? null },
    );
  }

  /**
   * After a rollback to `round`: the database now rightly holds fewer rounds than were committed,
   * so the record of `runId` comes down to `round` (a marker that records less is left as it is).
   */
  lower(runId: string, round: number): void {
    const committed = this.committedRound(runId);
    if (committed !== undefined && committed > round) this.record(runId, round);
  }

  /** Records that `round` of `runId` is committed (after the database transaction). */
  record(runId: string, round: number): void {
    this.runs[runId] = { round, at: new Date().toISOString() };
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ format: 1, runs: this.runs } satisfies MarkerFile, null, 1) + '\n');
    renameSync(tmp, this.file);
  }
}
