/** The `federa` command line. */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parse as parseToml } from 'smol-toml';
import { FederaError, describeError, isFederaError } from '../core/errors.js';
import { parseSimulationConfig, setPath } from './config.js';
import { simulate } from './simulate.js';
import { addPrivacyFlags, applyPrivacyFlags, registerPrivacyCommand } from './privacy.js';
import { registerServerCommand } from '../server/cli.js';
import { registerClientCommand } from '../node/client-cli.js';

function number(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} expects a number, got "${v}"`);
    return n;
  };
}

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

/** Flag name → config path. */
const FLAG_PATHS: Record<string, string> = {
  name: 'name',
  seed: 'seed',
  model: 'model',
  rounds: 'rounds',
  clients: 'clients',
  clientsPerRound: 'clientsPerRound',
  fraction: 'fraction',
  minClients: 'minClients',
  minResults: 'minResults',
  epochs: 'local.epochs',
  batchSize: 'local.batchSize',
  lr: 'local.learningRate',
  lrDecay: 'local.learningRateDecay',
  strategy: 'strategy.name',
  mu: 'strategy.mu',
  serverLr: 'strategy.serverLearningRate',
  momentum: 'strategy.momentum',
  beta1: 'strategy.beta1',
  beta2: 'strategy.beta2',
  tau: 'strategy.tau',
  validationFraction: 'validationFraction',
  centralEvery: 'evaluation.centralEvery',
  federatedEvery: 'evaluation.federatedEvery',
  roundTimeoutMs: 'roundTimeoutMs',
  uplink: 'compression.uplink',
  downlink: 'compression.downlink',
  robust: 'robust.aggregator',
  byzantine: 'robust.f',
  trimBeta: 'robust.beta',
  multiKrumM: 'robust.m',
  normBound: 'robust.normBound',
  attack: 'attack.kind',
  attackFraction: 'attack.fraction',
  attackScale: 'attack.scale',
  attackSigma: 'attack.sigma',
  secagg: 'secagg.mode',
  secaggThreshold: 'secagg.threshold',
  secaggNeighbours: 'secagg.neighbours',
  secaggClip: 'secagg.clippingRange',
  secaggBits: 'secagg.bits',
  out: 'output',
};

export function buildSimulationConfig(opts: Record<string, unknown>) {
  const raw: Record<string, unknown> = opts.config ? readConfigFile(String(opts.config)) : {};
  for (const [flag, path] of Object.entries(FLAG_PATHS)) if (opts[flag] !== undefined) setPath(raw, path, opts[flag]);
  // Dataset and partition flags fill in the discriminator they imply.
  if (opts.dataset !== undefined || opts.data !== undefined || opts.labelColumn !== undefined) {
    const current = (raw.dataset as Record<string, unknown> | undefined) ?? {};
    const name = opts.dataset ?? current.name ?? (opts.data !== undefined ? 'csv' : 'mnist');
    raw.dataset = { ...current, name };
    if (opts.data !== undefined) setPath(raw, 'dataset.path', opts.data);
    if (opts.labelColumn !== undefined) setPath(raw, 'dataset.labelColumn', opts.labelColumn);
    if (opts.groupColumn !== undefined) setPath(raw, 'dataset.groupColumn', opts.groupColumn);
  }
  if (opts.partition !== undefined || opts.alpha !== undefined || opts.shardsPerClient !== undefined) {
    const current = (raw.partition as Record<string, unknown> | undefined) ?? {};
    const kind = opts.partition ?? current.kind ?? (opts.shardsPerClient !== undefined ? 'shards' : 'dirichlet');
    raw.partition = current.kind === kind ? { ...current } : { kind };
    if (opts.alpha !== undefined) setPath(raw, 'partition.alpha', opts.alpha);
    if (opts.shardsPerClient !== undefined) setPath(raw, 'partition.shardsPerClient', opts.shardsPerClient);
  }
  // --reputation turns reputation on with its defaults (a config file may set its parameters).
  if (opts.reputation === true && (raw.robust as { reputation?: unknown } | undefined)?.reputation === undefined) setPath(raw, 'robust.reputation', {});
  applyPrivacyFlags(raw, opts);
  return parseSimulationConfig(raw, opts.config ? `config (${String(opts.config)} and flags)` : 'config (flags)');
}

export function createProgram(): Command {
  const program = new Command('federa').description('Federated learning in TypeScript').showHelpAfterError();
  program
    .command('simulate')
    .description('run a federated training on this machine (defaults: MNIST, 2NN, 100 clients, 10 per round, FedAvg, Dirichlet α=0.5, 30 rounds)')
    .option('-c, --config <file>', 'run config (.json or .toml); flags override it')
    .option('--name <name>', 'run name (used in the run folder name)')
    .option('--seed <seed>', 'seed for partitioning, sampling, initialisation and noise', (v) => (/^-?\d+$/.test(v) ? Number(v) : v))
    .addOption(new Option('--dataset <name>', 'dataset').choices(['mnist', 'csv']))
    .option('--data <file.csv>', 'CSV file (implies --dataset csv)')
    .option('--label-column <name>', 'CSV label column')
    .option('--group-column <name>', 'CSV column naming each row\'s client (for --partition natural)')
    .addOption(new Option('--partition <kind>', 'how the training set is split among clients').choices(['iid', 'dirichlet', 'shards', 'natural']))
    .option('--alpha <a>', 'Dirichlet concentration (smaller = more skewed)', number('--alpha'))
    .option('--shards-per-client <k>', 'shards per client for --partition shards', number('--shards-per-client'))
    .addOption(new Option('--model <name>', 'model').choices(['logreg', '2nn']))
    .addOption(new Option('--strategy <name>', 'aggregation strategy').choices(['fedavg', 'fedprox', 'fedavgm', 'fedadam', 'fedyogi', 'fedadagrad']))
    .option('--mu <mu>', 'FedProx proximal weight', number('--mu'))
    .option('--server-lr <eta>', 'server learning rate (FedAvgM, FedAdam, FedYogi, FedAdagrad)', number('--server-lr'))
    .option('--momentum <beta>', 'FedAvgM server momentum', number('--momentum'))
    .option('--beta1 <b1>', 'FedOpt β1', number('--beta1'))
    .option('--beta2 <b2>', 'FedOpt β2', number('--beta2'))
    .option('--tau <tau>', 'FedOpt τ', number('--tau'))
    .option('--rounds <n>', 'rounds', number('--rounds'))
    .option('--clients <n>', 'number of clients', number('--clients'))
    .option('--clients-per-round <k>', 'clients selected per round', number('--clients-per-round'))
    .option('--fraction <f>', 'fraction of clients per round (when --clients-per-round is not given)', number('--fraction'))
    .option('--min-clients <n>', 'select at least this many clients', number('--min-clients'))
    .option('--min-results <n>', 'fewest results for a round to count', number('--min-results'))
    .option('--epochs <e>', 'local epochs', number('--epochs'))
    .option('--batch-size <b>', 'local batch size', number('--batch-size'))
    .option('--lr <lr>', 'local learning rate', number('--lr'))
    .option('--lr-decay <factor>', 'multiply the local learning rate by this every round (default 1)', number('--lr-decay'))
    .option('--validation-fraction <f>', 'fraction of each client\'s data kept for federated evaluation', number('--validation-fraction'))
    .option('--central-every <n>', 'central evaluation every n rounds (0 = only the last)', number('--central-every'))
    .option('--federated-every <n>', 'federated evaluation every n rounds (0 = off)', number('--federated-every'))
    .option('--round-timeout-ms <ms>', 'deadline for client replies', number('--round-timeout-ms'))
    .option('--uplink <codecs>', 'compress client updates, e.g. "topk:0.01,quantize:8,lossless", "quantize:8", "rotate,quantize:2" (docs/compression.md)')
    .option('--downlink <codecs>', 'compress the model sent to clients, e.g. "fp16" or "quantize:8"')
    .addOption(new Option('--robust <rule>', 'robust aggregation before the strategy (docs/robustness.md)').choices(['mean', 'median', 'trimmed-mean', 'krum', 'multi-krum', 'bulyan']))
    .option('--byzantine <f>', 'Byzantine updates tolerated per round (krum, multi-krum, bulyan)', number('--byzantine'))
    .option('--trim-beta <beta>', 'trimmed mean: fraction trimmed from each end, < 0.5', number('--trim-beta'))
    .option('--multi-krum-m <m>', 'multi-krum: updates averaged (default n − f)', number('--multi-krum-m'))
    .option('--norm-bound <bound>', 'clip updates to this L2 norm, or "median" (the round\'s median norm)', (v) => (v === 'median' ? v : number('--norm-bound')(v)))
    .option('--reputation', 'penalise flagged clients: down-weight, exclude repeat offenders')
    .addOption(new Option('--attack <kind>', 'simulated attackers').choices(['sign-flip', 'scale', 'noise', 'label-flip', 'backdoor']))
    .option('--attack-fraction <f>', 'fraction of clients that are malicious (default 0.2)', number('--attack-fraction'))
    .option('--attack-scale <s>', 'sign-flip: update ← −s·update (default 1); scale: update ← s·update (default 10)', number('--attack-scale'))
    .option('--attack-sigma <sigma>', 'noise attack: standard deviation (default 1)', number('--attack-sigma'))
    .addOption(new Option('--secagg <mode>', 'secure aggregation: the server learns only the sum (docs/secagg.md)').choices(['secagg', 'secagg+']))
    .option('--secagg-threshold <t>', 'shares needed to reconstruct a client\'s secrets (default ⌈2m/3⌉)', number('--secagg-threshold'))
    .option('--secagg-neighbours <k>', 'SecAgg+ neighbours per client (default 2·⌈log2 n⌉)', number('--secagg-neighbours'))
    .option('--secagg-clip <c>', 'clip update coordinates to [−c, c] before encoding (default 8)', number('--secagg-clip'))
    .option('--secagg-bits <k>', 'sums in Z_2^k (default 32; below 32 each value travels in exactly k bits)', number('--secagg-bits'))
    .option('--out <dir>', 'folder for run folders (default runs)')
    .option('--no-progress', 'print one line per round instead of a progress bar')
    .action(async (opts: Record<string, unknown>) => {
      const config = buildSimulationConfig(opts);
      await simulate(config, { progress: opts.progress === false ? false : undefined });
    });
  registerServerCommand(program, readConfigFile);
  registerClientCommand(program);
  addPrivacyFlags(program.commands.find((c) => c.name() === 'simulate')!, number);
  registerPrivacyCommand(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await createProgram().parseAsync(argv);
  } catch (e) {
    process.stderr.write(`federa: ${isFederaError(e) ? e.message : describeError(e)}\n`);
    process.exitCode = isFederaError(e, 'invalid_config') ? 2 : 1;
  }
}
