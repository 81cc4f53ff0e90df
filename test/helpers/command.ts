// Runs one subcommand registered by `register<Name>Command(program)` in a fresh `federa` program,
// as a child process: `node --import tsx test/helpers/command.ts <module> <export> <args...>`.
// For subcommands that are not wired into src/cli/main.ts yet (the lead adds that one line).
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { describeError, isFederaError } from '../../src/core/errors.js';

const [modulePath, exportName, ...args] = process.argv.slice(2);
const mod = (await import(pathToFileURL(resolve(modulePath)).href)) as Record<string, (p: Command) => void>;
const program = new Command('federa').exitOverride();
mod[exportName](program);
try {
  await program.parseAsync(['node', 'federa', ...args]);
} catch (e) {
  if ((e as { code?: string }).code?.startsWith('commander.')) process.exit((e as { exitCode?: number }).exitCode ?? 2);
  process.stderr.write(`federa: ${isFederaError(e) ? e.message : describeError(e)}\n`);
  process.exit(isFederaError(e, 'invalid_argument') || isFederaError(e, 'invalid_config') ? 2 : 1);
}
