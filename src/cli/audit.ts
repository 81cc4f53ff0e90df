/** `federa audit <run folder>`: membership inference against a finished simulated run's model (node/audit.ts). */
import { Command } from 'commander';
import { auditRun } from '../node/audit.js';
import { formatTable } from './format.js';

export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description('membership inference against a finished simulated run: loss-threshold attack, example and client level (ROC AUC, TPR at 1 % FPR)')
    .argument('<run>', 'a run folder written by federa simulate (config.json, history.jsonl, model.json)')
    .option('--max-examples <n>', 'members and non-members attacked, each (default 2000)', (v) => Number(v))
    .option('--json', 'print the report as JSON')
    .action(async (run: string, opts: { maxExamples?: number; json?: boolean }) => {
      const r = await auditRun(run, opts.maxExamples !== undefined ? { maxExamples: opts.maxExamples } : {});
      if (opts.json) {
        process.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      const rows: [string, string][] = [
        ['model', r.model],
        ['privacy ε', r.epsilon === undefined ? 'no DP' : r.epsilon.toPrecision(4)],
        ['examples: AUC', `${r.examples.auc.toFixed(4)} (${r.examples.members} members, ${r.examples.nonMembers} non-members; 0.5 = nothing learned)`],
        ['examples: TPR at 1 % FPR', r.examples.tprAt1PctFpr.toFixed(4)],
        ['examples: mean loss', `members ${r.examples.memberLoss.toFixed(4)}, non-members ${r.examples.nonMemberLoss.toFixed(4)}`],
        ...(r.clients
          ? ([
              ['clients: AUC', `${r.clients.auc.toFixed(4)} (${r.clients.members} trained, ${r.clients.nonMembers} never selected)`],
              ['clients: TPR at 1 % FPR', r.clients.tprAt1PctFpr.toFixed(4)],
            ] as [string, string][])
          : ([['clients', 'every client trained: no client-level non-members']] as [string, string][])),
        ['written', `${run}/audit.json`],
      ];
      process.stdout.write(formatTable(['audit', ''], rows, 'left') + '\n');
    });
}
