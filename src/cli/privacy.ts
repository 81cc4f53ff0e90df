/**
 * `federa privacy epsilon|sigma`: privacy accounting from the command line, and the privacy half
 * of `federa simulate` (flags, the pre-flight budget check, the DP-FedAvg wrapper, the summary).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { FederaError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { Strategy } from '../strategy/strategy.js';
import type { ClientLayer } from '../client/runtime.js';
import type { RoundRecord } from '../core/records.js';
import { calibrateNoiseMultiplier, computeEpsilon, type AccountantKind } from '../privacy/accountant/calibrate.js';
import { rdpEpsilon } from '../privacy/accountant/rdp.js';
import { DpFedAvg } from '../privacy/dp-fedavg.js';
import { dpClientLayer } from '../privacy/client-layer.js';
import { checkDelta, checkEpsilon, checkNoiseMultiplier, checkSamplingRate, checkSteps } from '../privacy/validate.js';
import type { SimulationConfig } from './config.js';
import { setPath } from './config.js';

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

// ---------------------------------------------------------------------------------------------
// simulate

/** Adds the DP flags to `simulate`. */
export function addPrivacyFlags(cmd: Command, number: (flag: string) => (v: string) => number): Command {
  return cmd
    .option('--dp-clip <C>', 'DP-FedAvg: clip norm of client updates (enables DP; default 1)', number('--dp-clip'))
    .option('--dp-noise <z>', 'DP-FedAvg: noise multiplier (enables DP)', number('--dp-noise'))
    .addOption(new Option('--dp-mode <mode>', 'DP-FedAvg: where noise is added').choices(['central', 'distributed', 'local']))
    .option('--dp-adaptive', 'DP-FedAvg: adaptive clipping (Andrew et al. 2021) toward the median update norm')
    .option('--dp-target-quantile <gamma>', 'adaptive clipping: target quantile γ (default 0.5)', number('--dp-target-quantile'))
    .option('--dp-clip-lr <eta>', 'adaptive clipping: clip-norm learning rate η_C (default 0.2)', number('--dp-clip-lr'))
    .option('--dp-count-noise <sigma_b>', 'adaptive clipping: noise std of the unclipped count (default max(m/20, noise multiplier))', number('--dp-count-noise'))
    .addOption(new Option('--dp-accountant <kind>', 'accountant for the per-round ε').choices(['rdp', 'pld']))
    .option('--target-epsilon <eps>', 'privacy budget: refuse a plan above it, stop before a round that would exceed it; without --dp-noise, calibrate the noise to it', number('--target-epsilon'))
    .option('--delta <delta>', 'δ for the reported ε (default 1e-5)', number('--delta'));
}

/** Copies the DP flags into the raw config (before validation). */
export function applyPrivacyFlags(raw: Record<string, unknown>, opts: Record<string, unknown>): void {
  const paths: Record<string, string> = {
    dpClip: 'privacy.clipNorm',
    dpNoise: 'privacy.noiseMultiplier',
    dpMode: 'privacy.mode',
    dpAccountant: 'privacy.accountant',
    targetEpsilon: 'privacy.targetEpsilon',
    delta: 'privacy.delta',
    dpTargetQuantile: 'privacy.adaptive.targetQuantile',
    dpClipLr: 'privacy.adaptive.clipLearningRate',
    dpCountNoise: 'privacy.adaptive.countNoiseMultiplier',
  };
  for (const [flag, path] of Object.entries(paths)) if (opts[flag] !== undefined) setPath(raw, path, opts[flag]);
  if (opts.dpAdaptive) {
    const p = (raw.privacy ??= {}) as Record<string, unknown>;
    p.adaptive ??= {};
  }
}

export interface PrivacyPlan {
  /** The noise multiplier in use (given, or calibrated to the target). */
  noiseMultiplier: number;
  calibrated: boolean;
  /** ε the planned rounds would spend at full participation. */
  plannedEpsilon: number;
  samplingRate: number;
  clientsPerRound: number;
  /** The DP-FedAvg wrapper around the run's strategy. */
  wrap(inner: Strategy): DpFedAvg;
  /** The client layer (clip; noise in distributed/local modes). */
  layers: readonly ClientLayer[];
  /** Aborted once the next round would exceed the budget. */
  signal: AbortSignal;
  /** Call after every round: stops the run cleanly before a round that would exceed the budget. */
  afterRound(record: RoundRecord, say: (line: string) => void): void;
  /** One line for the run header. */
  header(): string;
  /** Summary rows. */
  summaryRows(history: readonly RoundRecord[]): [string, string][];
}

type Layers = readonly ClientLayer[] | ((clientId: string, index: number) => readonly ClientLayer[]);

/**
 * The DP layer outermost (it clips and noises whatever the other layers produced, last on the way
 * out), then the other layers (e.g. simulated attackers).
 */
export function combineLayers(dp: readonly ClientLayer[] | undefined, other: Layers | undefined): Layers | undefined {
  if (!dp?.length) return other;
  if (!other) return dp;
  if (typeof other === 'function') return (id, i) => [...dp, ...other(id, i)];
  return [...dp, ...other];
}

/** Clients per round, as `simulate` computes it. */
/** The run settings DP planning reads (a simulation config, or a server config). */
export type PrivacyRunSettings = Pick<SimulationConfig, 'privacy' | 'clientsPerRound' | 'minClients' | 'fraction' | 'rounds' | 'seed'> & { robust?: unknown };

export function clientsPerRoundOf(config: Pick<SimulationConfig, 'clientsPerRound' | 'minClients' | 'fraction'>, numClients: number): number {
  return config.clientsPerRound ?? Math.max(config.minClients, Math.ceil(config.fraction * numClients - 1e-9));
}

/**
 * Checks and plans DP for a simulation before anything runs: validates the section, derives
 * q = clients per round / clients, calibrates the noise to `targetEpsilon` when no multiplier is
 * given, and refuses (invalid_config) a plan whose rounds would exceed the target.
 */
export function planPrivacy(config: PrivacyRunSettings, numClients: number, options: { noise?: 'seeded' | 'secure' } = {}): PrivacyPlan | undefined {
  const p = config.privacy;
  if (!p) return undefined;
  if ((config as { robust?: unknown }).robust !== undefined) {
    throw new FederaError('invalid_config', 'privacy and robust aggregation cannot be combined: DP-FedAvg bounds sensitivity for the clipped mean of the updates, not for a robust rule');
  }
  const m = Math.min(numClients, clientsPerRoundOf(config, numClients));
  const q = m / numClients;
  if (p.noiseMultiplier === undefined && p.targetEpsilon === undefined) {
    throw new FederaError('invalid_config', 'privacy: give a noise multiplier (privacy.noiseMultiplier, --dp-noise) or a budget to calibrate it to (privacy.targetEpsilon, --target-epsilon)');
  }
  let sigma = p.noiseMultiplier;
  let calibrated = false;
  if (sigma === undefined) {
    const target = p.targetEpsilon!;
    // Local mode: a client may take part in every round, each a Gaussian with sensitivity 2C.
    sigma =
      p.mode === 'local'
        ? 2 * calibrateNoiseMultiplier({ q: 1, steps: config.rounds, delta: p.delta, epsilon: target, accountant: p.accountant })
        : calibrateNoiseMultiplier({ q, steps: config.rounds, delta: p.delta, epsilon: target, accountant: p.accountant });
    calibrated = true;
  }
  const adaptive = p.adaptive
    ? {
        targetQuantile: p.adaptive.targetQuantile,
        clipLearningRate: p.adaptive.clipLearningRate,
        countNoiseMultiplier: p.adaptive.countNoiseMultiplier ?? Math.max(m / 20, sigma),
      }
    : undefined;
  const secureNoise = options.noise === 'secure';
  const dpOptions = {
    clipNorm: p.clipNorm,
    noiseMultiplier: sigma,
    mode: p.mode,
    adaptive,
    delta: p.delta,
    populationSize: numClients,
    clientsPerRound: m,
    accountant: p.accountant,
    targetEpsilon: p.targetEpsilon,
    plannedRounds: config.rounds,
  };
  // Constructing one validates every option and refuses a plan above the budget.
  const probe = new DpFedAvg({ name: 'probe' } as Strategy, dpOptions);
  const plannedEpsilon = probe.plannedEpsilon(config.rounds);
  const controller = new AbortController();
  let dp: DpFedAvg | undefined;
  const seed = config.seed;
  return {
    noiseMultiplier: sigma,
    calibrated,
    plannedEpsilon,
    samplingRate: q,
    clientsPerRound: m,
    // Simulations draw the server's noise from the run seed (reproducible); a deployed server from the CSPRNG.
    wrap: (inner) => (dp = new DpFedAvg(inner, secureNoise ? dpOptions : { ...dpOptions, noiseRng: new Rng(seed).stream('dp-noise') })),
    layers: [dpClientLayer({ noise: secureNoise ? 'secure' : 'seeded' })],
    signal: controller.signal,
    afterRound: (record, say) => {
      if (!dp || controller.signal.aborted) return;
      if (record.status === 'skipped' && /privacy budget/.test(record.reason ?? '')) {
        say(`  privacy budget: round ${record.round} was refused (nothing released); stopping`);
        controller.abort();
        return;
      }
      if (record.round >= config.rounds) return;
      if (!dp.canRunRound()) {
        say(`  privacy budget: stopping after round ${record.round}; round ${record.round + 1} would take ε above the target ${p.targetEpsilon} (spent ${dp.epsilon.toPrecision(4)})`);
        controller.abort();
      }
    },
    header: () =>
      `  privacy   DP-FedAvg ${p.mode}${adaptive ? ', adaptive clipping' : ''}, clip ${p.clipNorm}, noise multiplier ${sigma.toPrecision(4)}${calibrated ? ` (calibrated to ε ≤ ${p.targetEpsilon})` : ''}, q = ${q.toPrecision(4)}, δ = ${p.delta}; planned ε = ${plannedEpsilon.toPrecision(4)} (${p.accountant.toUpperCase()})\n`,
    summaryRows: (history) => {
      const last = [...history].reverse().find((r) => r.privacy)?.privacy;
      return [
        ['privacy ε (δ)', last ? `${last.epsilon.toPrecision(4)} (δ = ${last.delta}) after ${last.steps} round(s), ${p.accountant.toUpperCase()}, ${p.mode}` : 'no round released'],
        ...(last?.clipNorm !== undefined && adaptive ? ([['final clip norm', (last.nextClipNorm ?? last.clipNorm).toPrecision(4)]] as [string, string][]) : []),
      ];
    },
  };
}
