/**
 * The deployment config: the simulation's run settings (model, strategy, rounds, sampling, local
 * training, evaluation, seed) plus a `[server]` table (network, TLS, database, quorum,
 * over-selection, deadline, tokens, limits). Validated with the same zod conventions: an error
 * names the field, what is allowed and what arrived.
 */
import { z } from 'zod';
import { FederaError } from '../core/errors.js';
import { PrivacySettingsSchema, SimulationConfigSchema, withPrivacyRefinement } from '../cli/config.js';
import { createAggregator } from '../robust/settings.js';
import { resolveSecAgg } from '../secagg/protocol.js';
import { encodingFor } from '../secagg/encoding.js';

const positiveInt = z.number().int().positive();

export const ServerSettingsSchema = z
  .object({
    /** Interface to listen on; "0.0.0.0" to accept clients from other machines. */
    host: z.string().min(1).default('127.0.0.1'),
    /** TCP port (0 picks a free one). */
    port: z.number().int().min(0).max(65535).default(8443),
    /** PEM certificate chain and private key for https/wss. Without them the server speaks plain http/ws. */
    tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
    /** SQLite file holding runs, rounds, checkpoints and the client registry. */
    database: z.string().min(1).default('federa.db'),
    /** Connected clients needed before a round starts (default: clients per round, or minClients). */
    minClients: positiveInt.optional(),
    /** Over-selection o: select ⌈k·(1+o)⌉ clients and close the round after the first k results. */
    overSelection: z.number().min(0).max(10).default(0),
    /** Report deadline of every exchange; clients that miss it are dropped from the round. */
    roundTimeoutMs: positiveInt.default(600_000),
    /** Bearer token of the admin API (or the FEDERA_ADMIN_TOKEN environment variable). */
    adminToken: z.string().min(16, 'at least 16 characters').optional(),
    /** One-time enrollment tokens accepted from clients (stored hashed). */
    enrollmentTokens: z.array(z.string().min(1).max(512)).default([]),
    /** WebSocket ping interval; a client silent for two is dropped (0 = off). */
    heartbeatMs: z.number().int().min(0).default(10_000),
    /** Time a new connection has to authenticate. */
    handshakeTimeoutMs: positiveInt.default(10_000),
    /** Largest WebSocket message accepted from an authenticated client. */
    maxMessageBytes: positiveInt.default(64 * 1024 * 1024),
    /** Simultaneous connections (authenticated or not). */
    maxConnections: positiveInt.default(10_000),
    rateLimit: z
      .object({ framesPerSecond: z.number().positive().default(20), burst: positiveInt.default(40) })
      .strict()
      .default({ framesPerSecond: 20, burst: 40 }),
    /** Rejected frames after which a connection is closed. */
    maxViolations: positiveInt.default(10),
    /** Checkpoints kept per run (the newest). */
    keepCheckpoints: positiveInt.default(3),
    /** "normal": survives a killed server; "full": also a power cut (fsync per round). */
    durability: z.enum(['normal', 'full']).default('normal'),
    /** Aggregate replies in selection order (bitwise-reproducible runs, as in simulation). */
    deterministic: z.boolean().default(false),
  })
  .strict();

const datasetSchema = SimulationConfigSchema.shape.dataset.unwrap();

export const ServerConfigSchema = SimulationConfigSchema.pick({
  seed: true,
  model: true,
  strategy: true,
  rounds: true,
  clientsPerRound: true,
  fraction: true,
  minClients: true,
  minResults: true,
  local: true,
  validationFraction: true,
  evaluation: true,
})
  .extend({
    /** The run id: a server resumes the run of this name if the database holds it unfinished. */
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only').default('run'),
    /** Data for central evaluation (the test split, as in simulation); optional. */
    dataset: datasetSchema.optional(),
    /** Model input and output sizes, when no dataset says them. */
    input: z.object({ numFeatures: positiveInt, numClasses: positiveInt.min(2) }).strict().optional(),
    server: ServerSettingsSchema.default(ServerSettingsSchema.parse({})),
    /**
     * DP-FedAvg around the strategy (docs/privacy.md): the simulation's [privacy] table plus
     * `populationSize`, the number of clients that may be sampled (the accountant's
     * q = clientsPerRound / populationSize). The server's noise comes from the CSPRNG; ε is
     * recorded every round and checkpointed with the strategy, so a resumed run keeps counting.
     */
    privacy: withPrivacyRefinement(PrivacySettingsSchema.extend({ populationSize: positiveInt })).optional(),
    /** Robust aggregation before the strategy's update (docs/robustness.md). */
    robust: SimulationConfigSchema.shape.robust,
    /** Compression on the wire (docs/compression.md): the server encodes the model and announces the uplink pipeline to clients. */
    compression: SimulationConfigSchema.shape.compression,
    /** Secure aggregation (docs/secagg.md); deployed clients always use the CSPRNG. */
    secagg: SimulationConfigSchema.shape.secagg.unwrap().omit({ randomness: true }).optional(),
  })
  .strict();

export type ServerConfig = z.infer<typeof ServerConfigSchema>;
export type ServerSettings = z.infer<typeof ServerSettingsSchema>;

/** Validates a merged config object; throws `invalid_config` listing every problem. */
export function parseServerConfig(raw: unknown, source = 'config'): ServerConfig {
  const result = ServerConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    // Reuse the simulation parser's wording by formatting the same way.
    const lines = result.error.issues.map((issue) => {
      const i = issue as typeof issue & { values?: unknown[]; keys?: string[]; input?: unknown };
      const got = i.input !== undefined ? `; got ${JSON.stringify(i.input)}` : '';
      const what = i.code === 'invalid_value' ? `expected one of ${(i.values ?? []).map((v) => JSON.stringify(v)).join(' | ')}` : i.code === 'unrecognized_keys' ? `unknown field(s) ${(i.keys ?? []).map((k) => `"${k}"`).join(', ')}` : i.message;
      return `  ${issue.path.join('.') || '(root)'}: ${what}${i.code === 'unrecognized_keys' ? '' : got}`;
    });
    throw new FederaError('invalid_config', `${source} is invalid:\n${lines.join('\n')}`);
  }
  const c = result.data;
  if (!c.dataset && !c.input) throw new FederaError('invalid_config', `${source}: give either dataset (for central evaluation) or input = { numFeatures, numClasses }`);
  if (c.privacy) {
    if (c.robust) throw new FederaError('invalid_config', `${source}: privacy and robust aggregation cannot be combined: DP-FedAvg bounds sensitivity for the clipped mean of the updates, not for a robust rule`);
    if (c.clientsPerRound === undefined) throw new FederaError('invalid_config', `${source}: privacy needs clientsPerRound (the accountant's q = clientsPerRound / privacy.populationSize)`);
    if (c.clientsPerRound > c.privacy.populationSize) throw new FederaError('invalid_config', `${source}: clientsPerRound (${c.clientsPerRound}) must be ≤ privacy.populationSize (${c.privacy.populationSize})`);
    if (c.server.overSelection > 0) throw new FederaError('invalid_config', `${source}: privacy with server.overSelection > 0 would sample more clients than the accountant's q = clientsPerRound / populationSize counts; set overSelection = 0`);
  }
  if (c.robust && c.clientsPerRound !== undefined) {
    const need = createAggregator(c.robust).minUpdates();
    if (c.clientsPerRound < need) throw new FederaError('invalid_config', `${source}: robust.aggregator ${c.robust.aggregator} with f = ${c.robust.f} needs at least ${need} updates per round, but clientsPerRound is ${c.clientsPerRound}`);
  }
  if (c.secagg?.enabled && c.compression && c.compression.uplink.length > 0) throw new FederaError('invalid_config', `${source}: uplink compression encodes the update that secure aggregation must mask; remove compression.uplink (downlink compression is fine)`);
  if (c.secagg?.enabled && c.robust) throw new FederaError('invalid_config', `${source}: robust aggregation needs every client's update, which secure aggregation hides; use one or the other`);
  if (c.secagg?.enabled && c.privacy?.mode === 'central') throw new FederaError('invalid_config', `${source}: privacy.mode "central" has the server clip and noise each update, which secure aggregation hides; use privacy.mode "distributed"`);
  if (c.secagg?.enabled && c.clientsPerRound !== undefined) {
    try {
      resolveSecAgg(c.secagg, c.clientsPerRound);
      encodingFor(c.secagg.bits, c.secagg.clippingRange, c.clientsPerRound);
    } catch (e) {
      throw new FederaError('invalid_config', `${source}: with ${c.clientsPerRound} clients per round, ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return c;
}

/** Clients per round k: `clientsPerRound`, or undefined when sampling by fraction. */
export function clientsPerRound(c: ServerConfig): number | undefined {
  return c.clientsPerRound;
}

/** Connected clients needed before a round starts. */
export function startQuorum(c: ServerConfig): number {
  return c.server.minClients ?? c.clientsPerRound ?? c.minClients;
}

/** The settings that define a run: a resumed run must have the same (server settings may change). */
export function runDefinition(c: ServerConfig): Record<string, unknown> {
  const { server: _server, ...rest } = c;
  return JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
}

