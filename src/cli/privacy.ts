/** `federa privacy epsilon|sigma`: privacy accounting from the command line. */
import type { Command } from 'commander';
import { Option } from 'commander';
import { FederaError } from '../core/errors.js';
import { calibrateNoiseMultiplier, computeEpsilon, type AccountantKind } from '../privacy/accountant/calibrate.js';
import { rdpEpsilon } from '../privacy/accountant/rdp.js';
import { checkDelta, checkEpsilon, checkNoiseMultiplier, checkSamplingRate, checkSteps } from '../privacy/validate.js';

type Out = (text: string) => void;

/** Reads a required numeric flag; anything else is an `invalid_config` error (exit code 2). */
function numberFlag(opts: Record<string, unknown>, key: string, flag: string): number {
  const v = opts[key];
  if (v === undefined) throw new FederaError('invalid_config', `${flag} is required`);
  const text = String(v).trim();
  const n = Number(text);
  if (text === '' || Number.isNaN(n)) throw new FederaError('invalid_config', `${flag} expects a number, got "${String(v)}"`);
  return n;
}

function accountantFlag(opts: Record<string, unknown>): AccountantKind {
  const v = opts.accountant ?? 'rdp';
  if (v !== 'rdp' && v !== 'pld') throw new FederaError('invalid_config', `--accountant must be "rdp" or "pld", got "${String(v)}"`);
  return v;
}

function finite(value: number, what: string): number {
  if (!Number.isFinite(value)) throw new FederaError('invalid_config', `${what} is unbounded for these parameters (the privacy loss exceeds every bound with probability above δ)`);
  return value;
}

/** `privacy epsilon`: ε after T steps. Validates everything before computing anything. */
export function runPrivacyEpsilon(opts: Record<string, unknown>, out: Out): number {
  const q = checkSamplingRate(numberFlag(opts, 'q', '--q'), '--q (sampling rate)');
  const sigma = checkNoiseMultiplier(numberFlag(opts, 'sigma', '--sigma'), '--sigma (noise multiplier)');
  const steps = checkSteps(numberFlag(opts, 'steps', '--steps'), '--steps');
  const delta = checkDelta(numberFlag(opts, 'delta', '--delta'), '--delta');
  const accountant = accountantFlag(opts);
  const epsilon = finite(computeEpsilon({ q, sigma, steps, delta, accountant }), 'epsilon');
  if (opts.json) {
    out(`{"epsilon": ${JSON.stringify(epsilon)}}\n`);
  } else {
    const order = accountant === 'rdp' ? `, best order ${rdpEpsilon(q, sigma, steps, delta).order}` : '';
    out(`ε = ${epsilon.toPrecision(6)}  (δ = ${delta}; q = ${q}, σ = ${sigma}, ${steps} steps; ${accountant.toUpperCase()} accountant${order})\n`);
  }
  return epsilon;
}

/** `privacy sigma`: the smallest noise multiplier for a target ε. */
export function runPrivacySigma(opts: Record<string, unknown>, out: Out): number {
  const q = checkSamplingRate(numberFlag(opts, 'q', '--q'), '--q (sampling rate)');
  const steps = checkSteps(numberFlag(opts, 'steps', '--steps'), '--steps');
  const delta = checkDelta(numberFlag(opts, 'delta', '--delta'), '--delta');
  const epsilon = checkEpsilon(numberFlag(opts, 'epsilon', '--epsilon'), '--epsilon (target)');
  const accountant = accountantFlag(opts);
  const sigma = calibrateNoiseMultiplier({ q, steps, delta, epsilon, accountant });
  if (opts.json) out(`{"sigma": ${JSON.stringify(sigma)}}\n`);
  else out(`σ = ${sigma.toPrecision(6)}  (smallest noise multiplier with ε ≤ ${epsilon} at δ = ${delta}; q = ${q}, ${steps} steps; ${accountant.toUpperCase()} accountant)\n`);
  return sigma;
}

/** Registers `privacy epsilon` and `privacy sigma` on the program. */
export function registerPrivacyCommand(program: Command, out: Out = (t) => void process.stdout.write(t)): void {
  const privacy = program
    .command('privacy')
    .description('privacy accounting for the Poisson-subsampled Gaussian mechanism (DP-SGD, DP-FedAvg); add/remove adjacency');
  const common = (c: Command) =>
    c
      .option('--q <q>', 'sampling rate per step, in (0, 1] (DP-FedAvg: clients per round / population)')
      .option('--steps <T>', 'number of steps (rounds), an integer ≥ 1')
      .option('--delta <delta>', 'δ, in (0, 1)')
      .addOption(new Option('--accountant <kind>', 'rdp (exact RDP series, dp_accounting orders) or pld (privacy loss distribution)').default('rdp'))
      .option('--json', 'print exactly one JSON line');
  common(
    privacy
      .command('epsilon')
      .description('ε after T steps with noise multiplier σ')
      .option('--sigma <sigma>', 'noise multiplier (noise std / L2 sensitivity), > 0'),
  ).action((opts: Record<string, unknown>) => {
    runPrivacyEpsilon(opts, out);
  });
  common(
    privacy
      .command('sigma')
      .description('the smallest noise multiplier σ whose ε after T steps is at most the target')
      .option('--epsilon <epsilon>', 'target ε, > 0'),
  ).action((opts: Record<string, unknown>) => {
    runPrivacySigma(opts, out);
  });
}
