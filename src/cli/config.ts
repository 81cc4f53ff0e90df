/**
 * The simulation config: one validated object, from defaults, a JSON or TOML file, and flags (in
 * that order of precedence, flags last). An invalid value is reported with its path and what is
 * allowed, e.g. `strategy.name: expected one of "fedavg" | "fedprox" | ...; got "fedsgd"`.
 */
import { z } from 'zod';
import { FederaError } from '../core/errors.js';
import { STRATEGY_NAMES } from '../strategy/registry.js';

const positiveInt = z.number().int().positive();

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
    return c;
  }
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.') || '(root)'}: ${describeIssue(issue)}`);
  throw new FederaError('invalid_config', `${source} is invalid:\n${lines.join('\n')}`);
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
