/** `federa report <run folder | database>`: rebuilds report.html from a run's recorded history. */
import { Command } from 'commander';
import { rebuildReport } from '../server/rebuild-report.js';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description('rebuild report.html from a run folder (simulation) or a server database (deployment)')
    .argument('<path>', 'a run folder (holding history.jsonl) or a server database file')
    .option('--run <id>', 'database: the run to report (default: the most recently updated)')
    .option('--out <file>', 'where to write the page (default: <run folder>/report.html, or <run id>-report.html beside the database)')
    .action(async (path: string, opts: { run?: string; out?: string }) => {
      const r = await rebuildReport(path, { runId: opts.run, out: opts.out });
      if (r.skippedLines > 0) process.stderr.write(`federa report: skipped a cut-short last line of ${path}/history.jsonl\n`);
      process.stdout.write(`report ${r.file} (run ${r.runId}, ${r.rounds} round(s), from the ${r.source === 'database' ? 'database' : 'run folder'})\n`);
    });
}
