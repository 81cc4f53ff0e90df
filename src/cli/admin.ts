/**
 * `federa admin`: offline operations on a server database (run them with the server stopped).
 * `federa admin rollback --db <file> --run <id> --round N` deletes the rounds after N and their
 * checkpoints, so the next `federa server` on that database resumes with round N + 1 from the
 * checkpoint of round N (e.g. after a poisoned model was committed). Refused under differential
 * privacy: the ledger counts the rounds that ran.
 */
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { FederaError } from '../core/errors.js';
import { Store } from '../server/store.js';

export function registerAdminCommand(program: Command): void {
  const admin = program.command('admin').description('offline operations on a server database (with the server stopped)');
  admin
    .command('rollback')
    .description('roll a run back to the end of round N: later rounds and checkpoints are deleted; the server resumes with round N + 1')
    .requiredOption('--db <file>', 'the server database')
    .requiredOption('--run <id>', 'the run to roll back')
    .requiredOption('--round <n>', 'the round whose checkpoint the run continues from (0: the initial model)')
    .action((opts: { db: string; run: string; round: string }) => {
      if (!/^\d+$/.test(opts.round)) throw new FederaError('invalid_config', `--round must be an integer ≥ 0, got "${opts.round}"`);
      if (!existsSync(opts.db)) throw new FederaError('invalid_config', `--db ${opts.db}: no such database file`);
      const store = new Store(opts.db);
      try {
        const r = store.rollback(opts.run, Number(opts.round));
        process.stdout.write(`run ${opts.run} rolled back to round ${r.round}: ${r.removedRounds} round(s) after it removed (it was at round ${r.previousLastRound}); start the server with the same config to resume with round ${r.round + 1}\n`);
      } finally {
        store.close();
      }
    });
}
