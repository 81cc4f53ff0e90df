/**
 * Parsing and every cross-field rule of the simulation and server configs. Both go through
 * {@link checkRun}: sampling, robust rules' minimum sizes, secure aggregation's threshold and
 * encoding, DP's budget and sampling assumptions, and the composition check of the aggregation
 * stages — so the two configs refuse the same things with the same words.
 */
import { FederaError } from '../core/errors.js';
import { planSampling } from '../engine/sampling.js';
import { createAggregator } from '../robust/settings.js';
import { resolveSecAgg } from '../secagg/protocol.js';
import { encodingFor, quantizedEncodingFor } from '../secagg/encoding.js';
import { secAggQuantizedUplink } from '../aggregate/compression.js';
import { checkStages } from '../aggregate/check.js';
import { parseWith } from './format.js';
import { ServerConfigSchema, SimulationConfigSchema, type RunConfig, type ServerConfig, type SimulationConfig } from './schema.js';
import { planStages } from './stages.js';
import { NATURALLY_PARTITIONED, dataKindOf } from './data-spec.js';

/**
 * Clients per round for a population of `population`: `clientsPerRound`, or ⌈fraction·N⌉ and at
 * least `minClients` — the engine's sampling rule, so the plan and the rounds agree.
 */
export function clientsPerRoundOf(c: Pick<RunConfig, 'clientsPerRound' | 'fraction' | 'minClients'>, population: number): number {
  if (c.clientsPerRound !== undefined) return Math.min(c.clientsPerRound, population);
  return planSampling(population, { fraction: c.fraction, minClients: Math.min(c.minClients, population), minAvailable: 1 }).count;
}

export interface RunCheckContext {
  /** Where the config came from, prefixed to every message. */
  source: string;
  /** Clients sampling draws from, when known (simulation: `clients`; server: `privacy.populationSize`). */
  population?: number;
  /** Clients per round, when known. */
  clientsPerRound?: number;
}

/** The rules both configs share; throws `invalid_config` naming the fields. */
export function checkRun(c: RunConfig, ctx: RunCheckContext): void {
  const { source } = ctx;
  const perRound = ctx.clientsPerRound;
  if (c.robust && perRound !== undefined) {
    // Refuses a missing f, and a rule that could never aggregate the clients of one round.
    const need = createAggregator(c.robust).minUpdates();
    if (perRound < need) throw new FederaError('invalid_config', `${source}: robust.aggregator ${c.robust.aggregator} with f = ${c.robust.f} needs at least ${need} updates per round, but only ${perRound} clients are selected`);
  } else if (c.robust) {
    createAggregator(c.robust);
  }
  if (c.secagg?.enabled && perRound !== undefined) {
    try {
      resolveSecAgg(c.secagg, perRound);
      const quantize = c.compression ? secAggQuantizedUplink(c.compression.uplink) : undefined;
      if (quantize) quantizedEncodingFor(quantize.bits, c.secagg.clippingRange, perRound, c.secagg.bits);
      else encodingFor(c.secagg.bits, c.secagg.clippingRange, perRound);
    } catch (e) {
      throw new FederaError('invalid_config', `${source}: with ${perRound} clients per round, ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (c.selection.kind !== 'uniform') {
    if (c.privacy && (c.privacy.sampling ?? 'poisson') === 'poisson') throw new FederaError('invalid_config', `${source}: selection "${c.selection.kind}" cannot be combined with DP's Poisson sampling (the accountant assumes each client is drawn independently with probability q); use selection "uniform" or privacy.sampling "fixed"`);
    if (c.privacy && c.selection.kind === 'oort') throw new FederaError('invalid_config', `${source}: selection "oort" picks clients by their training loss, which DP-FedAvg's accounting does not cover; use selection "uniform" with differential privacy`);
    if (c.strategy.name === 'fedbuff') throw new FederaError('invalid_config', `${source}: strategy "fedbuff" gives work to idle clients as they free up; selection "${c.selection.kind}" applies to synchronous rounds`);
  }
  if (c.ditto && c.evaluation.fineTuneEpochs > 0 && c.evaluation.dittoEvaluate) throw new FederaError('invalid_config', `${source}: evaluation.fineTuneEpochs and ditto both report personalized_accuracy; use one (or set evaluation.dittoEvaluate = false)`);
  if (c.strategy.name === 'qffl') {
    if (c.privacy) throw new FederaError('invalid_config', `${source}: strategy "qffl" weighs clients by their loss (h_k), so one client's influence is not bounded by the clip norm; use DP with FedAvg-style strategies`);
    if (c.robust) throw new FederaError('invalid_config', `${source}: strategy "qffl" reduces Σδ/Σh itself; robust.aggregator would need the updates unweighted`);
  } else if (c.strategy.q !== undefined || c.strategy.lipschitz !== undefined) {
    throw new FederaError('invalid_config', `${source}: strategy.${c.strategy.q !== undefined ? 'q' : 'lipschitz'} is a q-FedAvg setting, but strategy.name is "${c.strategy.name}"; set strategy.name = "qffl" (--strategy qffl)`);
  }
  if (c.strategy.name === 'fedbuff') {
    // Not built yet (issue: secure FedBuff cohorts, DP per buffer): refused rather than run wrongly.
    if (c.secagg?.enabled) throw new FederaError('invalid_config', `${source}: strategy "fedbuff" with secure aggregation is not available yet (each buffer would be a SecAgg+ cohort); use strategy "fedavg" with [secagg], or fedbuff without it`);
    // DP: each buffer is one Gaussian release over K clipped uploads, noised by the server. Client-side noise would be scaled down with the staleness weights.
    if (c.privacy && c.privacy.mode !== 'central') throw new FederaError('invalid_config', `${source}: strategy "fedbuff" with privacy.mode "${c.privacy.mode}": the staleness weights s(τ) ≤ 1 would scale each client's noise below what the accountant charges; use privacy.mode "central" (the server noises each buffer)`);
    if (c.robust) throw new FederaError('invalid_config', `${source}: strategy "fedbuff" applies staleness-weighted means; robust.aggregator would need the buffered updates unweighted: use robust aggregation with a synchronous strategy`);
  } else {
    const s = c.strategy;
    const given = (['bufferSize', 'concurrency', 'staleness', 'stalenessExponent', 'hingeStaleness', 'maxStaleness'] as const).filter((k) => s[k] !== undefined);
    if (given.length) throw new FederaError('invalid_config', `${source}: strategy.${given[0]} is a FedBuff setting, but strategy.name is "${s.name}"; set strategy.name = "fedbuff" (--strategy fedbuff)`);
  }
  // The stages as the config asks for them; their constructors check their own settings (and a
  // DP plan above its budget when the population is known), then the one composition check.
  const known = ctx.population !== undefined && perRound !== undefined;
  let planned;
  try {
    planned = planStages(c, { population: ctx.population ?? Math.max(perRound ?? c.minClients, 1), clientsPerRound: perRound ?? c.minClients, checkBudget: known });
  } catch (e) {
    if (e instanceof FederaError && e.code === 'invalid_config') throw new FederaError('invalid_config', `${source}: ${e.message}`);
    throw e;
  }
  checkStages(planned.stages, source);
}

/** The task and the data agree: float targets are a regression, class labels are not. */
function checkTask(c: RunConfig, source: string): void {
  const d = c.dataset;
  if (d?.name === 'csv' && d.targetColumns && d.labelColumn) throw new FederaError('invalid_config', `${source}: dataset.labelColumn and dataset.targetColumns both given; a CSV has class labels (classification, binary) or float targets (regression), not both`);
  if (d?.name === 'csv' && d.targetColumns && c.task !== 'regression') throw new FederaError('invalid_config', `${source}: dataset.targetColumns are float targets, but task is "${c.task}"; set task = "regression" (--task regression)`);
  if (d?.name === 'csv' && !d.targetColumns && c.task === 'regression') throw new FederaError('invalid_config', `${source}: task "regression" needs the CSV's float target column(s): dataset.targetColumns (--target-columns <a,b>)`);
  if (d && d.name !== 'csv' && c.task === 'regression') throw new FederaError('invalid_config', `${source}: task "regression" needs float targets, but ${d.name} data has class labels; use a CSV with dataset.targetColumns`);
}

/** Validates a merged simulation config (file and flags); throws `invalid_config` listing every problem. */
export function parseSimulationConfig(raw: unknown, source = 'config', flags?: ReadonlyMap<string, string>): SimulationConfig {
  // Data whose examples already belong to clients (synthetic devices, LEAF users, speakers) keep them unless a partition is asked for.
  if (typeof raw === 'object' && raw !== null && !('partition' in raw) && NATURALLY_PARTITIONED.has(dataKindOf((raw as { dataset?: unknown }).dataset) ?? '')) {
    raw = { ...raw, partition: { kind: 'natural' } };
  }
  const c = parseWith(SimulationConfigSchema, raw, source, flags);
  checkTask(c, source);
  if (c.clientsPerRound !== undefined && c.clientsPerRound > c.clients) {
    throw new FederaError('invalid_config', `${source}: clientsPerRound (${c.clientsPerRound}) must be ≤ clients (${c.clients})`);
  }
  if (c.minClients > c.clients) throw new FederaError('invalid_config', `${source}: minClients (${c.minClients}) must be ≤ clients (${c.clients})`);
  // A natural partition's clients come from the data: the population is known only once it is loaded.
  const natural = c.partition.kind === 'natural';
  checkRun(c, { source, population: natural ? undefined : c.clients, clientsPerRound: natural ? undefined : clientsPerRoundOf(c, c.clients) });
  return c;
}

/** Validates a merged server config; throws `invalid_config` listing every problem. */
export function parseServerConfig(raw: unknown, source = 'config', flags?: ReadonlyMap<string, string>): ServerConfig {
  const c = parseWith(ServerConfigSchema, raw, source, flags);
  checkTask(c, source);
  if (c.input && c.task !== 'regression' && c.input.numClasses < 2) throw new FederaError('invalid_config', `${source}: input.numClasses is ${c.input.numClasses}; a ${c.task} model needs at least 2 classes (numClasses counts the float targets only with task = "regression")`);
  if (!c.dataset && !c.input) throw new FederaError('invalid_config', `${source}: give either dataset (for central evaluation) or input = { numFeatures, numClasses }`);
  if (c.privacy) {
    if (c.clientsPerRound === undefined) throw new FederaError('invalid_config', `${source}: privacy needs clientsPerRound (the accountant's q = clientsPerRound / privacy.populationSize)`);
    if (c.clientsPerRound > c.privacy.populationSize) throw new FederaError('invalid_config', `${source}: clientsPerRound (${c.clientsPerRound}) must be ≤ privacy.populationSize (${c.privacy.populationSize})`);
    if (c.server.overSelection > 0) throw new FederaError('invalid_config', `${source}: privacy with server.overSelection > 0 would sample more clients than the accountant's q = clientsPerRound / populationSize counts; set overSelection = 0`);
    if (c.server.deterministic) throw new FederaError('invalid_config', `${source}: privacy with server.deterministic = true would draw the DP sample and noise from the run seed, which anyone who knows it can predict; set deterministic = false`);
  }
  checkRun(c, { source, population: c.privacy?.populationSize, clientsPerRound: c.clientsPerRound });
  return c;
}

/** Connected clients a server needs before a round starts. */
export function startQuorum(c: ServerConfig): number {
  return c.server.minClients ?? c.clientsPerRound ?? c.minClients;
}

/** The settings that define a run: a resumed run must have the same (server settings may change). */
export function runDefinition(c: ServerConfig): Record<string, unknown> {
  const { server: _server, ...rest } = c;
  return JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
}
