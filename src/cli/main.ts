/** The `federa` command line. */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Command, CommanderError } from 'commander';
import { parse as parseToml } from 'smol-toml';
import { FederaError, describeError, isFederaError } from '../core/errors.js';
import { SimulationConfigSchema, ServerConfigSchema } from '../config/schema.js';
import { parseServerConfig, parseSimulationConfig } from '../config/rules.js';
import { addSchemaFlags, applyFlags, describeFields, type FieldInfo } from '../config/flags.js';
import { registerPrivacyCommand } from './privacy.js';
import { registerCertCommand } from './cert.js';
import { registerReportCommand } from './report.js';
import { registerExportDataCommand } from './export-data.js';
import { registerAdminCommand } from './admin.js';
import { registerAuditCommand } from './audit.js';
import { registerServerCommand } from '../server/cli.js';
import { registerClientCommand } from '../node/client-cli.js';

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FederaError('invalid_config', `cannot read config file ${path}: ${describeError(e)}`);
  }
  const ext = extname(path).toLowerCase();
  try {
    const value = ext === '.toml' ? parseToml(text) : ext === '.json' ? JSON.parse(text) : undefined;
    if (value === undefined) throw new FederaError('invalid_config', `config file ${path}: unknown extension "${ext}" (use .json or .toml)`);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FederaError('invalid_config', `config file ${path}: top level must be a table/object`);
    return value as Record<string, unknown>;
  } catch (e) {
    if (isFederaError(e)) throw e;
    throw new FederaError('invalid_config', `config file ${path} is not valid ${ext.slice(1).toUpperCase()}: ${describeError(e)}`);
  }
}

/** The flags of `command` derived from its schema (path, flag, help group, default). */
function fieldsOf(command: 'simulate' | 'server'): FieldInfo[] {
  const schema = command === 'simulate' ? SimulationConfigSchema : ServerConfigSchema;
  const seen = new Set<string>();
  return describeFields(schema).filter((f) => f.meta.flag && (f.meta.commands ?? ['simulate']).includes(command) && !seen.has(f.path) && seen.add(f.path));
}

/**
 * The config of `federa simulate` from its options: the config file (if any), then the flags over
 * it; errors name the flag the user typed next to the config key.
 */
export function buildSimulationConfig(opts: Record<string, unknown>) {
  const raw: Record<string, unknown> = opts.config ? readConfigFile(String(opts.config)) : {};
  const given = applyFlags(raw, opts, fieldsOf('simulate'));
  return parseSimulationConfig(raw, opts.config ? `config (${String(opts.config)} and flags)` : 'config (flags)', given);
}

/** The config of `federa server` from its options (a config file is required). */
export function buildServerConfig(opts: Record<string, unknown>) {
  const raw = readConfigFile(String(opts.config));
  const given = applyFlags(raw, opts, fieldsOf('server'));
  return parseServerConfig(raw, `config (${String(opts.config)} and flags)`, given);
}

export function createProgram(): Command {
  // Usage errors print one line and a hint (not the whole help) and exit with code 2 (see main).
  const program = new Command('federa')
    .description('Federated learning in TypeScript')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(see --help)')
    .exitOverride();
  const simulateCmd = program
    .command('simulate')
    .description('run a federated training on this machine (defaults: MNIST, 2NN, 100 clients, 10 per round, FedAvg, Dirichlet α=0.5, 30 rounds)')
    .option('-c, --config <file>', 'run config (.json or .toml); flags override it (every key: docs/config.md)')
    .option('--no-progress', 'print one line per round instead of a progress bar');
  addSchemaFlags(simulateCmd, SimulationConfigSchema, 'simulate');
  simulateCmd.action(async (opts: Record<string, unknown>) => {
    const config = buildSimulationConfig(opts);
    // Loaded on use: TensorFlow.js is imported only by the commands that train.
    const { simulate } = await import('./simulate.js');
    // Ctrl-C: finish the round in progress, then write the summary and report; twice: quit now.
    const stop = new AbortController();
    const onSigint = () => {
      if (stop.signal.aborted) process.exit(130);
      process.stderr.write('\nfedera: stopping after the current round (Ctrl-C again to quit now)\n');
      stop.abort();
    };
    process.on('SIGINT', onSigint);
    try {
      await simulate(config, { progress: opts.progress === false ? false : undefined, stop: stop.signal });
    } finally {
      process.off('SIGINT', onSigint);
    }
  });
  registerServerCommand(program, buildServerConfig);
  registerClientCommand(program);
  registerPrivacyCommand(program);
  registerCertCommand(program);
  registerReportCommand(program);
  registerExportDataCommand(program);
  registerAdminCommand(program);
  registerAuditCommand(program);
  return program;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Exit codes: 0 done (or help / version shown), 1 a failed run, 2 a usage or config error. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await createProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander printed the message (and the hint) already.
      process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
      return;
    }
    process.stderr.write(`federa: ${isFederaError(e) ? e.message : describeError(e)}\n`);
    process.exitCode = isFederaError(e, 'invalid_config') ? 2 : 1;
  }
}
