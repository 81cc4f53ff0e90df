/**
 * The run config: one zod schema for the settings a simulation and a deployment share, plus each
 * one's extension (the simulation's data split and output; the server's `[server]` table). Every
 * field carries its documentation in `.meta()`: the help text, its topic, and the command-line
 * flag that sets it — the flags, `--help` and docs/config.md are all derived from here.
 */
import { z } from 'zod';
import { FederaError } from '../core/errors.js';
import { STRATEGY_NAMES } from '../strategy/registry.js';
import { AGGREGATOR_NAMES } from '../robust/settings.js';
import { ATTACK_KINDS } from '../robust/attacks.js';
import { parsePipeline, validatePipeline, type CodecSpec } from '../compress/spec.js';
import { parseDataSpec } from './data-spec.js';

/** Models of the zoo (models/zoo.ts); a path to a model.json is the other kind of `--model`. */
export const MODEL_NAMES = ['logreg', '2nn', 'cnn', 'cifar-cnn', 'lstm'] as const;
const DATA_SPEC_HELP = 'mnist | fashion-mnist | synthetic:α,β | idx:<path> | leaf:<path> | csv:<path> (or a .csv file) | images:<folder> | text:<file.jsonl>';

/** Topics of the reference and of `--help`, in the order they are shown. */
export const CONFIG_GROUPS = ['run', 'data', 'model', 'strategy', 'training', 'sampling', 'evaluation', 'privacy', 'secure aggregation', 'compression', 'robustness', 'attack', 'output', 'server'] as const;
export type ConfigGroup = (typeof CONFIG_GROUPS)[number];

/** What `.meta()` holds for a config field. */
export interface FieldMeta {
  /** One line for the reference and `--help`. */
  help: string;
  group: ConfigGroup;
  /** The flag that sets it (`--lr`), without its value. */
  flag?: string;
  /** Commands whose flags include it (default: simulate). */
  commands?: readonly ('simulate' | 'server')[];
  /** Placeholder of the flag's value in `--help` (`<n>`). */
  value?: string;
  /** The field is a union of tables told apart by this key: the flag sets it (`--partition shards` sets partition.kind). */
  discriminator?: string;
  /** What setting this field implies elsewhere (`--label-column` implies dataset.name = "csv"). */
  implies?: Record<string, string>;
  /** The flag takes the field's shorthand string (`--data synthetic:1,1`), parsed into its table. */
  shorthand?: boolean;
}

/** Documents a field: `doc(z.number(), { help, group, flag })`. */
function doc<T extends z.ZodType>(schema: T, meta: FieldMeta): T {
  return schema.meta(meta as unknown as Record<string, unknown>) as T;
}

const positiveInt = z.number().int().positive();
const runName = (fallback: string) => z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only').default(fallback);

/** A compression pipeline: the shorthand string (`topk:0.01,quantize:8,lossless`) or an array of stages (docs/compression.md). */
const codecPipeline = (direction: 'uplink' | 'downlink') =>
  z.union([z.string(), z.array(z.record(z.string(), z.unknown()))]).transform((v, ctx): CodecSpec[] => {
    try {
      const spec = typeof v === 'string' ? parsePipeline(v, direction) : validatePipeline(v, direction);
      if (direction === 'downlink' && spec.some((s) => s.codec === 'topk')) throw new FederaError('invalid_config', 'downlink: topk is for updates; on the downlink it would zero most of the model (use fp16 or quantize)');
      return spec;
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : String(e) });
      return z.NEVER;
    }
  });

const both = ['simulate', 'server'] as const;

/** DP-FedAvg settings (docs/privacy.md), shared by the simulation and server configs. */
export const PrivacySettingsSchema = z
  .object({
    mode: doc(z.enum(['central', 'distributed', 'local']).default('central'), { help: 'where the noise is added: by the server (central), by each client before secure aggregation (distributed), or fully by each client (local)', group: 'privacy', flag: '--dp-mode' }),
    clipNorm: doc(z.number().positive().finite().default(1), { help: 'clip norm C of client updates (the starting value with adaptive clipping); setting it turns DP on', group: 'privacy', flag: '--dp-clip', value: '<C>' }),
    noiseMultiplier: doc(z.number().nonnegative().finite().optional(), {
      help: 'noise multiplier z (noise std / C); 0 = clipping only (ε = ∞); calibrated to targetEpsilon when absent',
      group: 'privacy',
      flag: '--dp-noise',
      value: '<z>',
    }),
    targetEpsilon: doc(z.number().positive().finite().optional(), { help: 'privacy budget: a plan above it is refused, the run stops before a round that would exceed it', group: 'privacy', flag: '--target-epsilon', value: '<ε>' }),
    delta: doc(z.number().gt(0).lt(1).default(1e-5), { help: 'δ of the reported ε', group: 'privacy', flag: '--delta', value: '<δ>' }),
    accountant: doc(z.enum(['rdp', 'pld']).default('rdp'), { help: 'accountant for the per-round ε (RDP, or the tighter PLD)', group: 'privacy', flag: '--dp-accountant' }),
    sampling: doc(z.enum(['poisson', 'fixed']).optional(), {
      help: 'client sampling under DP: poisson (each client with probability q, as the accountant assumes; default) or fixed (exactly clientsPerRound, treated as Poisson)',
      group: 'privacy',
      flag: '--dp-sampling',
    }),
    adaptive: z
      .object({
        targetQuantile: doc(z.number().gt(0).lt(1).default(0.5), { help: 'adaptive clipping: quantile γ of update norms the clip norm tracks', group: 'privacy', flag: '--dp-target-quantile', value: '<γ>' }),
        clipLearningRate: doc(z.number().positive().finite().default(0.2), { help: 'adaptive clipping: geometric learning rate η_C of the clip norm', group: 'privacy', flag: '--dp-clip-lr', value: '<η>' }),
        countNoiseMultiplier: doc(z.number().positive().finite().optional(), { help: 'adaptive clipping: noise std σ_b of the unclipped count (default max(m/20, z))', group: 'privacy', flag: '--dp-count-noise', value: '<σb>' }),
      })
      .strict()
      .optional()
      .meta({ help: 'adaptive clipping (Andrew et al. 2021) toward a quantile of the update norms', group: 'privacy', flag: '--dp-adaptive' }),
  })
  .strict();

/** Either a noise multiplier or a budget to calibrate it to. */
function withPrivacyRefinement<T extends z.ZodType<{ noiseMultiplier?: number; targetEpsilon?: number }>>(schema: T): T {
  return schema.refine((p) => p.noiseMultiplier !== undefined || p.targetEpsilon !== undefined, 'give noiseMultiplier (--dp-noise) or targetEpsilon (--target-epsilon) to calibrate it to') as unknown as T;
}

const StrategySchema = z
  .object({
    name: doc(z.enum(STRATEGY_NAMES).default('fedavg'), { help: 'the server optimizer (docs/strategies.md compares the defaults with Flower)', group: 'strategy', flag: '--strategy', commands: both }),
    mu: doc(z.number().nonnegative().finite().optional(), { help: 'FedProx proximal weight μ (default 0.01)', group: 'strategy', flag: '--mu' }),
    serverLearningRate: doc(z.number().positive().finite().optional(), { help: 'server learning rate η (FedAvgM default 1, FedOpt default 0.1)', group: 'strategy', flag: '--server-lr', value: '<η>' }),
    momentum: doc(z.number().min(0).lt(1).optional(), { help: 'FedAvgM server momentum β (default 0.9; Flower 0)', group: 'strategy', flag: '--momentum', value: '<β>' }),
    beta1: doc(z.number().min(0).lt(1).optional(), { help: 'FedOpt β1 (default 0.9)', group: 'strategy', flag: '--beta1' }),
    beta2: doc(z.number().min(0).lt(1).optional(), { help: 'FedAdam/FedYogi β2 (default 0.99)', group: 'strategy', flag: '--beta2' }),
    tau: doc(z.number().positive().finite().optional(), { help: 'FedOpt adaptivity τ, added to √v (default 1e-9)', group: 'strategy', flag: '--tau' }),
    initialSecondMoment: doc(z.enum(['tau-squared', 'zero']).optional(), {
      help: "FedOpt v₀: the paper's τ² (default) or zero (Flower)",
      group: 'strategy',
      flag: '--v0',
    }),
    bufferSize: doc(positiveInt.max(1_000_000).optional(), { help: 'FedBuff: uploads per buffer K (default 10)', group: 'strategy', flag: '--buffer-size', value: '<K>' }),
    concurrency: doc(positiveInt.max(1_000_000).optional(), { help: 'FedBuff: clients training at once C (default 10·K)', group: 'strategy', flag: '--fedbuff-concurrency', value: '<C>' }),
    staleness: doc(z.enum(['constant', 'polynomial', 'hinge']).optional(), { help: 'FedBuff: staleness weight s(τ): constant, polynomial (1+τ)^−a (default) or hinge', group: 'strategy', flag: '--staleness' }),
    stalenessExponent: doc(z.number().min(0).max(100).optional(), { help: 'FedBuff: a of the staleness function (default 0.5 polynomial, 10 hinge)', group: 'strategy', flag: '--staleness-exponent', value: '<a>' }),
    hingeStaleness: doc(z.number().min(0).max(1e6).optional(), { help: 'FedBuff: b of the hinge (full weight up to τ = b; default 10)', group: 'strategy' }),
    maxStaleness: doc(z.number().int().min(0).max(1e6).optional(), { help: 'FedBuff: uploads staler than this are refused (default: none)', group: 'strategy' }),
    q: doc(z.number().min(0).max(100).optional(), { help: 'q-FedAvg: fairness q (0: FedAvg with equal weights; default 1)', group: 'strategy', flag: '--q', value: '<q>' }),
    lipschitz: doc(z.number().positive().finite().optional(), { help: 'q-FedAvg: Lipschitz estimate L (default 1 / local learning rate)', group: 'strategy' }),
    biasCorrection: doc(z.union([z.boolean(), z.literal('flower')]).optional(), {
      help: "FedAdam bias correction: false (Reddi et al., default), true (Adam's, step t), or \"flower\" (Flower's exponent t + 1)",
      group: 'strategy',
      flag: '--bias-correction',
      value: '<true|false|flower>',
    }),
  })
  .strict();

const LocalSchema = z
  .object({
    epochs: doc(positiveInt.max(1000).default(3), { help: 'local epochs E per round', group: 'training', flag: '--epochs', value: '<E>' }),
    batchSize: doc(positiveInt.default(10), { help: 'local batch size B', group: 'training', flag: '--batch-size', value: '<B>' }),
    learningRate: doc(z.number().positive().finite().default(0.2), { help: 'local learning rate', group: 'training', flag: '--lr' }),
    learningRateDecay: doc(z.number().gt(0).lte(1).default(1), { help: 'the learning rate of round r is lr · decay^(r−1)', group: 'training', flag: '--lr-decay', value: '<factor>' }),
  })
  .strict();

const EvaluationSchema = z
  .object({
    federatedEvery: doc(z.number().int().nonnegative().default(1), { help: 'federated evaluation on the clients every n rounds (0 = off)', group: 'evaluation', flag: '--federated-every', value: '<n>' }),
    federatedFraction: doc(z.number().gt(0).lte(1).optional(), { help: 'fraction of the clients that evaluate (default: as many as train)', group: 'evaluation' }),
    dittoEvaluate: doc(z.boolean().default(true), { help: 'with ditto: evaluated clients also score their personal model (personalized_accuracy)', group: 'evaluation' }),
    fineTuneEpochs: doc(z.number().int().min(0).max(100).default(0), { help: 'personalization evaluation: each evaluated client also fine-tunes the model this many epochs on its training data and reports personalized_accuracy (0 = off)', group: 'evaluation', flag: '--fine-tune-epochs', value: '<n>' }),
    centralEvery: doc(z.number().int().nonnegative().default(1), { help: "central evaluation on the server's test set every n rounds (0 = only the last)", group: 'evaluation', flag: '--central-every', value: '<n>' }),
  })
  .strict();

const RobustSchema = z
  .object({
    aggregator: doc(z.enum(AGGREGATOR_NAMES).default('mean'), { help: 'robust rule in front of the strategy (docs/robustness.md)', group: 'robustness', flag: '--robust' }),
    f: doc(z.number().int().nonnegative().optional(), { help: 'Byzantine updates tolerated per round (krum, multi-krum, bulyan)', group: 'robustness', flag: '--byzantine', value: '<f>' }),
    beta: doc(z.number().min(0).lt(0.5, 'β must be < 0.5 (β·n ≥ n/2 leaves nothing to average)').optional(), { help: 'trimmed mean: fraction trimmed from each end (< 0.5; default 0.1)', group: 'robustness', flag: '--trim-beta', value: '<β>' }),
    m: doc(positiveInt.optional(), { help: 'multi-krum: updates averaged (default n − f)', group: 'robustness', flag: '--multi-krum-m', value: '<m>' }),
    weighting: doc(z.enum(['examples', 'uniform']).optional(), { help: 'weights of the weighted rules (mean, multi-krum average): example counts (default; Flower) or 1 each', group: 'robustness', flag: '--robust-weighting' }),
    normBound: doc(z.union([z.literal('median'), z.number().positive().finite()]).optional(), { help: 'clip updates to this L2 norm first, or "median" (the round\'s median norm)', group: 'robustness', flag: '--norm-bound', value: '<bound|median>' }),
    anomaly: z.object({ minCosine: z.number().optional(), maxNormZ: z.number().positive().optional(), maxDistanceZ: z.number().positive().optional() }).strict().optional().meta({ help: 'anomaly thresholds (robust/anomaly.ts)', group: 'robustness' }),
    reputation: z
      .object({ decay: z.number().gt(0).lte(1).optional(), excludeAt: z.number().positive().optional(), downweight: z.boolean().optional() })
      .strict()
      .optional()
      .meta({ help: 'penalise flagged clients: down-weight, exclude repeat offenders', group: 'robustness', flag: '--reputation' }),
  })
  .strict();

const CompressionSchema = z
  .object({
    uplink: doc(codecPipeline('uplink').default([]), { help: 'compress client updates, e.g. "topk:0.01,quantize:8,lossless" or "rotate,quantize:8" (docs/compression.md)', group: 'compression', flag: '--uplink', value: '<codecs>' }),
    downlink: doc(codecPipeline('downlink').default([]), { help: 'compress the model sent to clients, e.g. "fp16" or "quantize:8"', group: 'compression', flag: '--downlink', value: '<codecs>' }),
  })
  .strict();

const SecAggSchema = z
  .object({
    enabled: z.boolean().default(true).meta({ help: 'secure aggregation on (the table turns it on)', group: 'secure aggregation' }),
    mode: doc(z.enum(['secagg', 'secagg+']).default('secagg'), { help: 'secure aggregation: every pair (secagg) or a sparse graph (secagg+); setting it turns it on', group: 'secure aggregation', flag: '--secagg' }),
    threshold: doc(z.number().int().min(2).optional(), { help: "shares needed to reconstruct a client's secrets (default: SecAgg ⌈2m/3⌉, SecAgg+ derived from the bounds)", group: 'secure aggregation', flag: '--secagg-threshold', value: '<t>' }),
    neighbours: doc(z.number().int().min(2).optional(), { help: 'SecAgg+: neighbours per client (default: derived from the four bounds below, docs/secagg.md)', group: 'secure aggregation', flag: '--secagg-neighbours', value: '<k>' }),
    corruptFraction: doc(z.number().min(0).lt(0.5).default(0.1), { help: 'SecAgg+ parameters: fraction of clients assumed to collude with the server', group: 'secure aggregation' }),
    dropoutFraction: doc(z.number().min(0).lt(0.5).default(0.1), { help: 'SecAgg+ parameters: fraction of clients assumed to drop out', group: 'secure aggregation' }),
    securityBits: doc(z.number().int().min(1).max(128).default(40), { help: 'SecAgg+ parameters: insecure with probability ≤ 2^−bits per round', group: 'secure aggregation' }),
    correctnessBits: doc(z.number().int().min(1).max(128).default(20), { help: 'SecAgg+ parameters: a round fails with probability ≤ 2^−bits', group: 'secure aggregation' }),
    clippingRange: doc(z.number().positive().finite().default(8), { help: 'coordinates are clipped to [−c, c] before encoding', group: 'secure aggregation', flag: '--secagg-clip', value: '<c>' }),
    bits: doc(z.number().int().min(2).max(32).default(32), { help: 'sums in Z_2^k; below 32 each value travels in exactly k bits', group: 'secure aggregation', flag: '--secagg-bits', value: '<k>' }),
    maxWeight: doc(z.number().positive().finite().default(1000), { help: "a client's weight is min(examples / maxWeight, 1) (Flower's max_weight)", group: 'secure aggregation' }),
    weighting: doc(z.enum(['examples', 'uniform']).optional(), { help: 'client weights in the sum (default examples; uniform with privacy)', group: 'secure aggregation' }),
    stageTimeoutMs: z
      .object({ setup: positiveInt.optional(), graph: positiveInt.optional(), share: positiveInt.optional(), verify: positiveInt.optional(), masked: positiveInt.optional(), unmask: positiveInt.optional() })
      .strict()
      .optional()
      .meta({ help: 'deadline of each secure-aggregation stage (default: the round deadline)', group: 'secure aggregation' }),
  })
  .strict();

const GuardSchema = z
  .object({
    normJumpFactor: doc(z.number().gt(1).finite().default(100), {
      help: 'a next global model that is not finite, or whose L2 norm exceeds this multiple of max(previous norm, √d), is rejected and the round skipped',
      group: 'robustness',
    }),
  })
  .strict();

const WeightCapSchema = z
  .object({
    medianFactor: doc(z.number().min(1).finite().default(10), {
      help: "a client's FedAvg weight is at most this multiple of the median example count claimed in the round",
      group: 'robustness',
      flag: '--max-weight-factor',
      value: '<k>',
      commands: both,
    }),
    max: doc(positiveInt.optional(), { help: 'and at most this many examples (default: no absolute cap)', group: 'robustness', flag: '--max-examples', value: '<n>', commands: both }),
  })
  .strict();

const testFraction = doc(z.number().gt(0).lt(1).default(0.2), { help: 'fraction held out as the central test set, when the source has no test split of its own', group: 'data' });
/** The data's file or folder; `what` says which, for the reader of the schema (the reference shows one line for every kind). */
const dataPath = (_what: string) => doc(z.string().min(1), { help: 'file or folder of the data: the part after "kind:" in --data', group: 'data' });

const DatasetUnion = z.discriminatedUnion('name', [
  z.object({ name: z.literal('mnist') }).strict(),
  z.object({ name: z.literal('fashion-mnist'), path: dataPath("folder of the IDX files (default: Debian's dataset-fashion-mnist)").optional() }).strict(),
  z
    .object({
      name: z.literal('synthetic'),
      alpha: doc(z.number().min(0).finite().default(1), { help: 'Synthetic(α, β): model heterogeneity α', group: 'data' }),
      beta: doc(z.number().min(0).finite().default(1), { help: 'Synthetic(α, β): data heterogeneity β', group: 'data' }),
      iid: doc(z.boolean().default(false), { help: 'Synthetic-IID instead of Synthetic(α, β)', group: 'data' }),
    })
    .strict(),
  z.object({ name: z.literal('idx'), path: dataPath('IDX folder (train-/t10k- files), an images file, or "images,labels"'), testFraction }).strict(),
  z.object({ name: z.literal('leaf'), path: dataPath('LEAF JSON file or folder (with train/ and test/ when present)'), testFraction }).strict(),
  z
    .object({
      name: z.literal('csv'),
      path: dataPath('CSV file with a header row'),
      labelColumn: doc(z.string().min(1).optional(), { help: 'CSV class column (default "label"; not with targetColumns)', group: 'data', flag: '--label-column', value: '<name>', implies: { 'dataset.name': 'csv' } }),
      targetColumns: doc(z.array(z.string().min(1)).min(1).optional(), { help: 'CSV float target column(s), comma-separated on the command line (regression)', group: 'data', flag: '--target-columns', value: '<a,b>', implies: { 'dataset.name': 'csv' } }),
      groupColumn: doc(z.string().min(1).optional(), { help: "CSV column naming each row's client (for partition natural)", group: 'data', flag: '--group-column', value: '<name>', implies: { 'dataset.name': 'csv' } }),
      featureColumns: z.array(z.string().min(1)).optional().meta({ help: 'CSV feature columns (default: every other numeric column)', group: 'data' }),
      testFraction,
    })
    .strict(),
  z.object({ name: z.literal('images'), path: dataPath('image folder, one subfolder per class (PNG/JPEG)'), testFraction }).strict(),
  z
    .object({
      name: z.literal('text'),
      path: dataPath('JSON Lines file of {user, text} records'),
      level: doc(z.enum(['char', 'word']).default('char'), { help: 'text: character- or word-level tokens', group: 'data', flag: '--text-level', implies: { 'dataset.name': 'text' } }),
      seqLength: doc(positiveInt.max(10_000).optional(), { help: 'text: tokens of context (default 80 characters, 20 words)', group: 'data', flag: '--seq-length', value: '<n>', implies: { 'dataset.name': 'text' } }),
      testFraction,
    })
    .strict(),
]);

/** The data: a `[dataset]` table, or the `--data` shorthand string (`"synthetic:1,1"`, `"clinic.csv"`; config/data-spec.ts). */
const DatasetSchema = z.union([
  z.string().transform((v, ctx) => {
    try {
      return DatasetUnion.parse(parseDataSpec(v));
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : String(e) });
      return z.NEVER;
    }
  }),
  DatasetUnion,
]);

/** A `--model` value: a zoo name or a TF.js model.json (its folder, or the file). */
const ModelSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine((v) => (MODEL_NAMES as readonly string[]).includes(v) || v.endsWith('.json') || v.includes('/') || v.includes('\\'), {
    message: `expected a zoo model (${MODEL_NAMES.join(', ')}) or the path of a TF.js model.json`,
  });

const PartitionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('iid') }).strict(),
  z
    .object({
      kind: z.literal('dirichlet'),
      alpha: doc(z.number().positive().finite().default(0.5), { help: 'Dirichlet concentration α (smaller = more label skew)', group: 'data', flag: '--alpha', value: '<α>', implies: { 'partition.kind': 'dirichlet' } }),
      minSize: doc(positiveInt.default(2), { help: 'fewest examples per client', group: 'data' }),
    })
    .strict(),
  z.object({ kind: z.literal('shards'), shardsPerClient: doc(positiveInt.default(2), { help: "shards per client (McMahan et al.'s pathological non-IID)", group: 'data', flag: '--shards-per-client', value: '<k>', implies: { 'partition.kind': 'shards' } }) }).strict(),
  z.object({ kind: z.literal('natural') }).strict(),
]);

/** Simulated devices and the simulated clock (sim/devices.ts). */
const DevicesSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('lognormal'),
      speed: doc(z.number().positive().finite().default(200), { help: 'median training speed of a device, examples per second', group: 'sampling' }),
      speedSigma: doc(z.number().min(0).max(5).default(0.7), { help: 'σ of log(speed)', group: 'sampling' }),
      stragglerFraction: doc(z.number().min(0).max(1).default(0.1), { help: 'fraction of devices that are stragglers', group: 'sampling', flag: '--straggler-fraction', value: '<f>', implies: { 'devices.kind': 'lognormal' } }),
      stragglerSlowdown: doc(z.number().min(1).max(1e6).default(10), { help: 'how many times slower a straggler trains', group: 'sampling' }),
      downlinkMbps: doc(z.number().positive().finite().default(20), { help: 'median downlink bandwidth, Mbit/s', group: 'sampling' }),
      uplinkMbps: doc(z.number().positive().finite().default(5), { help: 'median uplink bandwidth, Mbit/s', group: 'sampling' }),
      bandwidthSigma: doc(z.number().min(0).max(5).default(0.8), { help: 'σ of log(bandwidth)', group: 'sampling' }),
      latencyMs: doc(z.number().min(0).max(600_000).default(50), { help: 'one-way latency, ms', group: 'sampling' }),
      availability: doc(z.number().gt(0).lte(1).default(1), { help: 'long-run fraction of time a device is online (1: always)', group: 'sampling', flag: '--availability', value: '<a>', implies: { 'devices.kind': 'lognormal' } }),
      sessionMinutes: doc(z.number().positive().finite().default(30), { help: 'mean length of an online session, minutes', group: 'sampling' }),
    })
    .strict(),
  z
    .object({
      kind: z.literal('trace'),
      file: doc(z.string().min(1), { help: 'device trace (JSON, format federa-devices/1: docs/simulation.md)', group: 'sampling', flag: '--device-trace', value: '<file>', implies: { 'devices.kind': 'trace' } }),
    })
    .strict(),
]);

/** Client selection of synchronous rounds (engine/selection.ts). */
const SelectionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('uniform') }).strict(),
  z.object({ kind: z.literal('availability') }).strict(),
  z
    .object({
      kind: z.literal('oort'),
      exploration: doc(z.number().min(0).max(1).default(0.9), { help: 'Oort: initial exploration share', group: 'sampling' }),
      explorationDecay: doc(z.number().min(0).max(1).default(0.98), { help: 'Oort: exploration share decay per round', group: 'sampling' }),
      minExploration: doc(z.number().min(0).max(1).default(0.2), { help: 'Oort: exploration floor', group: 'sampling' }),
      stragglerPenalty: doc(z.number().min(0).max(100).default(2), { help: 'Oort: α of (T/t)^α for clients slower than the preferred duration T', group: 'sampling' }),
      cutoff: doc(z.number().min(0).max(1).default(0.95), { help: 'Oort: exploitation samples among utilities ≥ cutoff × the k-th highest', group: 'sampling' }),
      preferredDurationMs: doc(positiveInt.optional(), { help: 'Oort: preferred round duration T, ms (default: the 95th percentile of observed durations)', group: 'sampling' }),
    })
    .strict(),
]);

/** The settings every run has, simulated or deployed. */
const runShape = {
  selection: SelectionSchema.default({ kind: 'uniform' }).meta({ help: 'client selection: uniform, availability (clients that stay online for their work; simulation with devices) or oort (Lai et al. 2021)', group: 'sampling', flag: '--selection', value: '<kind>', discriminator: 'kind', commands: both }),
  seed: doc(z.union([z.number().int(), z.string().min(1)]).default(42), { help: 'seed of partitioning, sampling, initialisation and (in simulation) noise', group: 'run', flag: '--seed', value: '<seed>' }),
  model: doc(ModelSchema.default('2nn'), { help: `${MODEL_NAMES.join(' | ')} | <path>/model.json (your own TF.js layers model; docs/models.md)`, group: 'model', flag: '--model', value: '<model>', commands: both }),
  task: doc(z.enum(['classification', 'binary', 'regression']).default('classification'), { help: 'classification (softmax), binary (sigmoid, AUC) or regression (MSE; MAE and R²)', group: 'model', flag: '--task', commands: both }),
  strategy: StrategySchema.default({ name: 'fedavg' }).meta({ help: 'the server optimizer and its settings', group: 'strategy' }),
  rounds: doc(positiveInt.max(100_000).default(30), { help: 'rounds', group: 'run', flag: '--rounds', value: '<n>', commands: both }),
  clientsPerRound: doc(positiveInt.optional(), { help: 'clients selected per round k (takes precedence over fraction)', group: 'sampling', flag: '--clients-per-round', value: '<k>' }),
  fraction: doc(z.number().gt(0).lte(1).default(0.1), { help: 'fraction of the clients selected per round, when clientsPerRound is not given', group: 'sampling', flag: '--fraction', value: '<f>' }),
  minClients: doc(positiveInt.default(2), { help: 'select at least this many clients', group: 'sampling', flag: '--min-clients', value: '<n>' }),
  minResults: doc(positiveInt.default(1), { help: 'fewest usable results for a round to update the model', group: 'sampling', flag: '--min-results', value: '<n>' }),
  local: LocalSchema.default({ epochs: 3, batchSize: 10, learningRate: 0.2, learningRateDecay: 1 }).meta({ help: 'local training on each client', group: 'training' }),
  validationFraction: doc(z.number().min(0).lt(1).default(0.1), { help: "fraction of each client's data kept for federated evaluation", group: 'evaluation', flag: '--validation-fraction', value: '<f>' }),
  evaluation: EvaluationSchema.default({ federatedEvery: 1, centralEvery: 1, fineTuneEpochs: 0, dittoEvaluate: true }).meta({ help: 'federated and central evaluation', group: 'evaluation' }),
  robust: RobustSchema.optional().meta({ help: 'robust aggregation before the strategy (docs/robustness.md)', group: 'robustness' }),
  guard: GuardSchema.default({ normJumpFactor: 100 }).meta({ help: 'the check of every next global model (docs/robustness.md)', group: 'robustness' }),
  weightCap: WeightCapSchema.default({ medianFactor: 10 }).meta({ help: 'cap on the FedAvg weight a client may claim (docs/deployment.md, threat model)', group: 'robustness' }),
  ditto: z
    .object({
      lambda: doc(z.number().min(0).max(1e6).default(0.1), { help: 'Ditto: λ of the personal model\'s proximal term λ/2·‖v − w‖² toward the global model; setting it turns Ditto on', group: 'training', flag: '--ditto-lambda', value: '<λ>' }),
      epochs: doc(positiveInt.max(1000).optional(), { help: 'Ditto: local epochs of the personal model (default: local.epochs)', group: 'training' }),
    })
    .strict()
    .optional()
    .meta({ help: 'Ditto personalization (Li et al. 2021): each client also trains its own model toward the global one (docs/strategies.md)', group: 'training' }),
  compression: CompressionSchema.optional().meta({ help: 'compression of updates (uplink) and of the model (downlink) on the wire (docs/compression.md)', group: 'compression' }),
};

export const SimulationConfigSchema = z
  .object({
    name: doc(runName('sim'), { help: 'run name (in the run folder name and the run id)', group: 'run', flag: '--name', value: '<name>', commands: both }),
    ...runShape,
    dataset: DatasetSchema.default({ name: 'mnist' }).meta({ help: `the training data (default: mnist): ${DATA_SPEC_HELP}`, group: 'data', flag: '--data', value: '<spec>', discriminator: 'name', shorthand: true }),
    partition: PartitionSchema.default({ kind: 'dirichlet', alpha: 0.5, minSize: 2 }).meta({ help: 'how the training set is split among clients: iid, dirichlet, shards or natural (the default for synthetic, leaf and text data, whose examples belong to clients)', group: 'data', flag: '--partition', value: '<kind>', discriminator: 'kind' }),
    clients: doc(positiveInt.max(1_000_000).default(100), { help: 'number of simulated clients', group: 'sampling', flag: '--clients', value: '<n>' }),
    roundTimeoutMs: doc(positiveInt.optional(), { help: 'deadline for client replies (in simulated ms with devices)', group: 'sampling', flag: '--round-timeout-ms', value: '<ms>' }),
    overSelection: doc(z.number().min(0).max(10).default(0), { help: 'select ⌈k·(1+o)⌉ clients and close the round after the first k results (with devices: the k fastest)', group: 'sampling', flag: '--over-selection', value: '<o>' }),
    devices: DevicesSchema.optional().meta({ help: 'simulated devices (speed, bandwidth, availability) and a simulated clock: deadlines, stragglers and dropouts in simulated time (docs/simulation.md)', group: 'sampling', flag: '--devices', value: '<kind>', discriminator: 'kind' }),
    privacy: withPrivacyRefinement(PrivacySettingsSchema).optional().meta({ help: 'differential privacy: DP-FedAvg (docs/privacy.md)', group: 'privacy' }),
    attack: z
      .object({
        kind: doc(z.enum(ATTACK_KINDS), { help: 'simulated attackers (docs/robustness.md)', group: 'attack', flag: '--attack' }),
        fraction: doc(z.number().min(0).max(1).default(0.2), { help: 'fraction of clients that are malicious', group: 'attack', flag: '--attack-fraction', value: '<f>' }),
        scale: doc(z.number().positive().finite().optional(), { help: 'sign-flip: update ← −s·update (default 1); scale: update ← s·update (default 10)', group: 'attack', flag: '--attack-scale', value: '<s>' }),
        sigma: doc(z.number().positive().finite().optional(), { help: 'noise attack: standard deviation (default 1)', group: 'attack', flag: '--attack-sigma', value: '<σ>' }),
        target: z.number().int().nonnegative().optional().meta({ help: 'label-flip/backdoor target class', group: 'attack' }),
        poisonFraction: z.number().gt(0).lte(1).optional().meta({ help: "backdoor: fraction of an attacker's examples poisoned", group: 'attack' }),
        patchSize: positiveInt.optional().meta({ help: 'backdoor: trigger patch size in pixels', group: 'attack' }),
      })
      .strict()
      .optional()
      .meta({ help: 'simulated attackers', group: 'attack' }),
    secagg: SecAggSchema.extend({
      randomness: doc(z.enum(['secure', 'seeded']).default('secure'), { help: 'simulation only: "seeded" derives keys and seeds from the run seed (reproducible, not secure)', group: 'secure aggregation' }),
    })
      .strict()
      .optional()
      .meta({ help: 'secure aggregation: the server learns only the sum of the updates (docs/secagg.md)', group: 'secure aggregation' }),
    output: doc(z.string().min(1).default('runs'), { help: 'folder for run folders', group: 'output', flag: '--out', value: '<dir>' }),
  })
  .strict();

export const ServerSettingsSchema = z
  .object({
    host: doc(z.string().min(1).default('127.0.0.1'), { help: 'interface to listen on ("0.0.0.0" for other machines)', group: 'server', flag: '--host', commands: ['server'] }),
    port: doc(z.number().int().min(0).max(65535).default(8443), { help: 'TCP port (0 picks a free one)', group: 'server', flag: '--port', commands: ['server'] }),
    tls: z
      .object({
        cert: doc(z.string().min(1), { help: 'PEM certificate chain', group: 'server', flag: '--tls-cert', value: '<file>', commands: ['server'] }),
        key: doc(z.string().min(1), { help: 'PEM private key', group: 'server', flag: '--tls-key', value: '<file>', commands: ['server'] }),
      })
      .strict()
      .optional()
      .meta({ help: 'certificate and key for https/wss; without them the server speaks plain http/ws', group: 'server' }),
    insecureAllowWs: doc(z.boolean().default(false), { help: 'serve plain ws/http (no tls) on an interface other than loopback: tokens and updates travel in clear', group: 'server', flag: '--insecure-allow-ws', commands: ['server'] }),
    database: doc(z.string().min(1).default('federa.db'), { help: 'SQLite file holding runs, rounds, checkpoints and the client registry', group: 'server', flag: '--db', value: '<file>', commands: ['server'] }),
    minClients: doc(positiveInt.optional(), { help: 'connected clients needed before a round starts (default: clients per round, or minClients)', group: 'server', flag: '--min-clients', value: '<n>', commands: ['server'] }),
    overSelection: doc(z.number().min(0).max(10).default(0), { help: 'select ⌈k·(1+o)⌉ clients and close the round after the first k results', group: 'server' }),
    roundTimeoutMs: doc(positiveInt.default(600_000), { help: 'report deadline of every exchange; clients that miss it are dropped from the round', group: 'server' }),
    adminToken: doc(z.string().min(16, 'at least 16 characters').optional(), { help: 'bearer token of the admin API (or FEDERA_ADMIN_TOKEN)', group: 'server' }),
    enrollmentTokens: doc(z.array(z.string().min(1).max(512)).default([]), { help: 'one-time enrollment tokens accepted from clients (stored hashed)', group: 'server' }),
    heartbeatMs: doc(z.number().int().min(0).default(10_000), { help: 'WebSocket ping interval; a client silent for two is dropped (0 = off)', group: 'server' }),
    handshakeTimeoutMs: doc(positiveInt.default(10_000), { help: 'time a new TCP connection has to finish TLS and authenticate (or send an HTTP request); then it is closed', group: 'server' }),
    maxMessageBytes: doc(positiveInt.optional(), {
      help: 'largest WebSocket message accepted from an authenticated client (default: what the largest honest reply needs, 8 bytes per model parameter + 4 MiB)',
      group: 'server',
    }),
    maxConnections: doc(positiveInt.default(10_000), { help: 'simultaneous connections (authenticated or not)', group: 'server' }),
    maxConnectionsPerAddress: doc(positiveInt.default(100), { help: 'open TCP connections per remote address; more are closed at once', group: 'server' }),
    rateLimit: z
      .object({ framesPerSecond: z.number().positive().default(20), burst: positiveInt.default(40) })
      .strict()
      .default({ framesPerSecond: 20, burst: 40 })
      .meta({ help: 'token bucket of unsolicited frames per connection', group: 'server' }),
    maxViolations: doc(positiveInt.default(10), { help: 'rejected frames after which a connection is closed', group: 'server' }),
    keepCheckpoints: doc(positiveInt.default(3), { help: 'checkpoints kept per run (the newest)', group: 'server' }),
    durability: doc(z.enum(['normal', 'full']).default('normal'), { help: '"normal" survives a killed server; "full" also a power cut (fsync per round)', group: 'server' }),
    deterministic: doc(z.boolean().default(false), { help: 'aggregate replies in selection order and sample from the run seed (bitwise-reproducible runs, as in simulation; not for DP)', group: 'server' }),
  })
  .strict();

export const ServerConfigSchema = z
  .object({
    name: doc(runName('run'), { help: 'the run id: a server resumes the run of this name if the database holds it unfinished', group: 'run', flag: '--name', value: '<run>', commands: both }),
    ...runShape,
    dataset: DatasetSchema.optional().meta({ help: `data for central evaluation (the test split, as in simulation; ${DATA_SPEC_HELP}); optional`, group: 'data' }),
    input: z.object({ numFeatures: positiveInt, numClasses: positiveInt }).strict().optional().meta({ help: 'model input and output sizes, when no dataset says them', group: 'model' }),
    server: ServerSettingsSchema.default(ServerSettingsSchema.parse({})).meta({ help: 'network, TLS, database, quorum, deadlines, tokens and limits', group: 'server' }),
    privacy: withPrivacyRefinement(
      PrivacySettingsSchema.extend({
        populationSize: doc(positiveInt, { help: 'deployment: number of enrolled clients sampling draws from (the accountant\'s q = clientsPerRound / populationSize)', group: 'privacy' }),
      }),
    )
      .optional()
      .meta({ help: 'DP-FedAvg around the strategy; the server noise and the sampling come from the CSPRNG', group: 'privacy' }),
    compression: runShape.compression,
    secagg: SecAggSchema.optional().meta({ help: 'secure aggregation (docs/secagg.md); deployed clients always use the CSPRNG', group: 'secure aggregation' }),
  })
  .strict();

export type SimulationConfig = z.infer<typeof SimulationConfigSchema>;
export type ServerConfig = z.infer<typeof ServerConfigSchema>;
export type ServerSettings = z.infer<typeof ServerSettingsSchema>;
/** What simulation and deployment configs have in common: what a run plan reads. */
export type RunConfig = SimulationConfig | ServerConfig;
export type PrivacySettings = NonNullable<RunConfig['privacy']>;
export type SecAggConfig = NonNullable<RunConfig['secagg']>;
