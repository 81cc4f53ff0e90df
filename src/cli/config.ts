/**
 * The simulation config: one validated object, from defaults, a JSON or TOML file, and flags (in
 * that order of precedence, flags last). An invalid value is reported with its path and what is
 * allowed, e.g. `strategy.name: expected one of "fedavg" | "fedprox" | ...; got "fedsgd"`.
 */
import { z } from 'zod';
import { FederaError } from '../core/errors.js';
import { STRATEGY_NAMES } from '../strategy/registry.js';
import { AGGREGATOR_NAMES, createAggregator } from '../robust/settings.js';
import { ATTACK_KINDS } from '../robust/attacks.js';
import { parsePipeline, validatePipeline, type CodecSpec } from '../compress/spec.js';
import { resolveSecAgg } from '../secagg/protocol.js';
import { encodingFor } from '../secagg/encoding.js';

const positiveInt = z.number().int().positive();

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

/** DP-FedAvg settings (docs/privacy.md), shared by the simulation and server configs. */
export const PrivacySettingsSchema = z
  .object({
    mode: z.enum(['central', 'distributed', 'local']).default('central'),
    /** Clip norm C of client updates (the starting value with adaptive clipping). */
    clipNorm: z.number().positive().finite().default(1),
    /** Noise multiplier z; calibrated to targetEpsilon when absent. */
    noiseMultiplier: z.number().positive().finite().optional(),
    /** Budget: a plan above it is refused; the run stops before a round that would exceed it. */
    targetEpsilon: z.number().positive().finite().optional(),
    delta: z.number().gt(0).lt(1).default(1e-5),
    accountant: z.enum(['rdp', 'pld']).default('rdp'),
    adaptive: z
      .object({
        targetQuantile: z.number().gt(0).lt(1).default(0.5),
        clipLearningRate: z.number().positive().finite().default(0.2),
        countNoiseMultiplier: z.number().positive().finite().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Either a noise multiplier or a budget to calibrate it to. */
export function withPrivacyRefinement<T extends z.ZodType<{ noiseMultiplier?: number; targetEpsilon?: number }>>(schema: T): T {
  return schema.refine((p) => p.noiseMultiplier !== undefined || p.targetEpsilon !== undefined, 'give noiseMultiplier (--dp-noise) or targetEpsilon (--target-epsilon) to calibrate it to') as unknown as T;
}

export const SimulationConfigSchema = z
  .object({
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only').default('sim'),
    seed: z.union([z.number().int(), z.string().min(1)]).default(42),
    dataset: z
      .discriminatedUnion('name', [
        z.object({ name: z.literal('mnist') }).strict(),
        z
          .object({
            name: z.literal('csv'),
            path: z.string().min(1),
            labelColumn: z.string().min(1),
            groupColumn: z.string().min(1).optional(),
            featureColumns: z.array(z.string().min(1)).optional(),
            testFraction: z.number().gt(0).lt(1).default(0.2),
          })
          .strict(),
      ])
      .default({ name: 'mnist' }),
    partition: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('iid') }).strict(),
        z.object({ kind: z.literal('dirichlet'), alpha: z.number().positive().finite().default(0.5), minSize: positiveInt.default(2) }).strict(),
        z.object({ kind: z.literal('shards'), shardsPerClient: positiveInt.default(2) }).strict(),
        z.object({ kind: z.literal('natural') }).strict(),
      ])
      .default({ kind: 'dirichlet', alpha: 0.5, minSize: 2 }),
    model: z.enum(['logreg', '2nn']).default('2nn'),
    strategy: z
      .object({
        name: z.enum(STRATEGY_NAMES).default('fedavg'),
        mu: z.number().nonnegative().finite().optional(),
        serverLearningRate: z.number().positive().finite().optional(),
        momentum: z.number().min(0).lt(1).optional(),
        beta1: z.number().min(0).lt(1).optional(),
        beta2: z.number().min(0).lt(1).optional(),
        tau: z.number().positive().finite().optional(),
        biasCorrection: z.boolean().optional(),
      })
      .strict()
      .default({ name: 'fedavg' }),
    rounds: positiveInt.max(100_000).default(30),
    clients: positiveInt.max(1_000_000).default(100),
    /** Clients per round; takes precedence over `fraction` when given. */
    clientsPerRound: positiveInt.optional(),
    fraction: z.number().gt(0).lte(1).default(0.1),
    minClients: positiveInt.default(2),
    minResults: positiveInt.default(1),
    local: z
      .object({
        epochs: positiveInt.max(1000).default(3),
        batchSize: positiveInt.default(10),
        learningRate: z.number().positive().finite().default(0.2),
        /** The client learning rate of round r is learningRate · learningRateDecay^(r−1). */
        learningRateDecay: z.number().gt(0).lte(1).default(1),
      })
      .strict()
      .default({ epochs: 3, batchSize: 10, learningRate: 0.2, learningRateDecay: 1 }),
    validationFraction: z.number().min(0).lt(1).default(0.1),
    evaluation: z
      .object({
        /** Federated evaluation every N rounds (0 = off). */
        federatedEvery: z.number().int().nonnegative().default(1),
        federatedFraction: z.number().gt(0).lte(1).optional(),
        /** Central evaluation on the server's test set every N rounds (0 = off; the last round is always evaluated). */
        centralEvery: z.number().int().nonnegative().default(1),
      })
      .strict()
      .default({ federatedEvery: 1, centralEvery: 1 }),
    roundTimeoutMs: positiveInt.optional(),
    /** Differential privacy: DP-FedAvg around the strategy (docs/privacy.md). */
    privacy: withPrivacyRefinement(PrivacySettingsSchema).optional(),
    /** Robust aggregation before the strategy's update (docs/robustness.md). */
    robust: z
      .object({
        aggregator: z.enum(AGGREGATOR_NAMES).default('mean'),
        /** Byzantine updates tolerated per round (krum, multi-krum, bulyan). */
        f: z.number().int().nonnegative().optional(),
        /** Trimmed mean: fraction trimmed from each end; β·n ≥ n/2 would leave nothing to average. */
        beta: z.number().min(0).lt(0.5, 'β must be < 0.5 (β·n ≥ n/2 leaves nothing to average)').optional(),
        m: positiveInt.optional(),
        normBound: z.union([z.literal('median'), z.number().positive().finite()]).optional(),
        anomaly: z.object({ minCosine: z.number().optional(), maxNormZ: z.number().positive().optional(), maxDistanceZ: z.number().positive().optional() }).strict().optional(),
        reputation: z.object({ decay: z.number().gt(0).lte(1).optional(), excludeAt: z.number().positive().optional(), downweight: z.boolean().optional() }).strict().optional(),
      })
      .strict()
      .optional(),
    /** Simulated attackers (docs/robustness.md). */
    attack: z
      .object({
        kind: z.enum(ATTACK_KINDS),
        fraction: z.number().min(0).max(1).default(0.2),
        scale: z.number().positive().finite().optional(),
        sigma: z.number().positive().finite().optional(),
        target: z.number().int().nonnegative().optional(),
        poisonFraction: z.number().gt(0).lte(1).optional(),
        patchSize: positiveInt.optional(),
      })
      .strict()
      .optional(),
    /** Compression of updates (uplink) and of the model (downlink) on the wire (docs/compression.md). */
    compression: z
      .object({ uplink: codecPipeline('uplink').default([]), downlink: codecPipeline('downlink').default([]) })
      .strict()
      .optional(),
    /** Secure aggregation: the server learns only the sum of the updates (docs/secagg.md). */
    secagg: z
      .object({
        enabled: z.boolean().default(true),
        mode: z.enum(['secagg', 'secagg+']).default('secagg'),
        /** Shares needed to reconstruct a client's secrets (default ⌈2m/3⌉, m = neighbourhood incl. itself). */
        threshold: z.number().int().min(2).optional(),
        /** SecAgg+: neighbours per client (default 2·⌈log2 n⌉, at least 4). */
        neighbours: z.number().int().min(2).optional(),
        clippingRange: z.number().positive().finite().default(8),
        bits: z.number().int().min(2).max(32).default(32),
        maxWeight: z.number().positive().finite().default(1000),
        /** Default: "examples" (FedAvg), "uniform" with privacy (DP-FedAvg weighs clients equally). */
        weighting: z.enum(['examples', 'uniform']).optional(),
        stageTimeoutMs: z.object({ setup: positiveInt.optional(), share: positiveInt.optional(), masked: positiveInt.optional(), unmask: positiveInt.optional() }).strict().optional(),
        /** Simulation only: "seeded" derives keys and seeds from the run seed (not secure; reproducible). */
        randomness: z.enum(['secure', 'seeded']).default('secure'),
      })
      .strict()
      .optional(),
    output: z.string().min(1).default('runs'),
  })
  .strict();

export type SimulationConfig = z.infer<typeof SimulationConfigSchema>;

/** Validates `raw` (already merged from file and flags); throws `invalid_config` listing every problem. */
export function parseSimulationConfig(raw: unknown, source = 'config'): SimulationConfig {
  const result = SimulationConfigSchema.safeParse(raw, { reportInput: true });
  if (result.success) {
    const c = result.data;
    if (c.clientsPerRound !== undefined && c.clientsPerRound > c.clients) {
      throw new FederaError('invalid_config', `${source}: clientsPerRound (${c.clientsPerRound}) must be ≤ clients (${c.clients})`);
    }
    if (c.minClients > c.clients) throw new FederaError('invalid_config', `${source}: minClients (${c.minClients}) must be ≤ clients (${c.clients})`);
    if (c.secagg?.enabled) checkSecAggConfig(c, source);
    if (c.robust) {
      // Refuses a missing f, and a rule that could never aggregate the clients of one round.
      const need = createAggregator(c.robust).minUpdates();
      const perRound = c.clientsPerRound ?? Math.max(c.minClients, Math.ceil(c.fraction * c.clients - 1e-9));
      if (c.partition.kind !== 'natural' && perRound < need) {
        throw new FederaError('invalid_config', `${source}: robust.aggregator ${c.robust.aggregator} with f = ${c.robust.f} needs at least ${need} updates per round, but only ${perRound} clients are selected`);
      }
    }
    return c;
  }
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.') || '(root)'}: ${describeIssue(issue)}`);
  throw new FederaError('invalid_config', `${source} is invalid:\n${lines.join('\n')}`);
}

/** Refuses secure-aggregation settings that cannot work for this run, naming the conflict. */
function checkSecAggConfig(c: SimulationConfig, source: string): void {
  const sa = c.secagg!;
  if (c.robust) throw new FederaError('invalid_config', `${source}: robust aggregation (robust.aggregator ${c.robust.aggregator}) needs every client's update, which secure aggregation hides; use one or the other`);
  if (c.compression && c.compression.uplink.length > 0) {
    throw new FederaError('invalid_config', `${source}: uplink compression encodes the update that secure aggregation must mask; remove compression.uplink (downlink compression is fine)`);
  }
  if (c.privacy) {
    if (c.privacy.mode === 'central') throw new FederaError('invalid_config', `${source}: privacy.mode "central" has the server clip and noise each update, which secure aggregation hides; use privacy.mode "distributed" (noise added by each client before masking)`);
    if (sa.weighting === 'examples') throw new FederaError('invalid_config', `${source}: DP-FedAvg weighs clients equally; set secagg.weighting = "uniform" (or leave it unset)`);
  }
  const perRound = c.clientsPerRound ?? Math.max(c.minClients, Math.ceil(c.fraction * c.clients - 1e-9));
  if (c.partition.kind === 'natural') return;
  try {
    resolveSecAgg(sa, Math.min(perRound, c.clients));
    encodingFor(sa.bits, sa.clippingRange, Math.min(perRound, c.clients));
  } catch (e) {
    throw new FederaError('invalid_config', `${source}: with ${perRound} clients per round, ${e instanceof Error ? e.message : String(e)}`);
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const i = issue as z.core.$ZodIssue & { values?: unknown[]; keys?: string[]; input?: unknown; options?: unknown[] };
  const got = 'input' in i && i.input !== undefined ? `; got ${JSON.stringify(i.input)}` : '';
  switch (i.code) {
    case 'invalid_value':
      return `expected one of ${(i.values ?? []).map((v) => JSON.stringify(v)).join(' | ')}${got}`;
    case 'unrecognized_keys':
      return `unknown field(s) ${(i.keys ?? []).map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_union':
      return `${i.message}${got}`;
    default:
      return `${i.message}${got}`;
  }
}

/** Sets `value` at a dotted path inside `target`, creating objects on the way (for flags). */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}
