/**
 * One run plan for simulation and deployment: from a validated config and the population sampling
 * draws from, everything a run needs — the strategy (the config's server optimizer behind the
 * aggregation stages), the round workflow, the server layers, the client layer stack, sampling,
 * evaluation and the privacy budget. `federa simulate` and `federa server` assemble their runs
 * with this and nothing else; they differ only in the transport and in where randomness comes
 * from (the run seed, or the CSPRNG).
 */
import { FederaError } from '../core/errors.js';
import { Rng, SecureRng } from '../core/rng.js';
import type { RoundRecord } from '../core/records.js';
import type { ClientLayer } from '../client/runtime.js';
import type { EngineGuardOptions, EvaluationOptions } from '../engine/engine.js';
import type { SamplingOptions } from '../engine/sampling.js';
import type { ServerLayer } from '../engine/server-layer.js';
import { FederatedTrainWorkflow, type TrainWorkflow } from '../engine/workflow.js';
import { FedBuffWorkflow } from '../engine/fedbuff.js';
import { createSelector, type ClientSelector } from '../engine/selection.js';
import type { CentralEvaluate, Strategy, StrategyOptions } from '../strategy/strategy.js';
import { createStrategy } from '../strategy/registry.js';
import { compressionServerLayer } from '../compress/layers.js';
import { describePipeline } from '../compress/spec.js';
import { secAggQuantizedUplink } from '../aggregate/compression.js';
import { quantizedEncodingFor } from '../secagg/encoding.js';
import { AggregationStrategy } from '../aggregate/pipeline.js';
import { checkRun, clientsPerRoundOf } from '../config/rules.js';
import { planStages, type DpPlan } from '../config/stages.js';
import type { RunConfig } from '../config/schema.js';
import { createClientLayers } from './client-layers.js';
import { assessDpNoise, distributedDpWarning } from '../privacy/utility.js';
import { DP_PREFIX } from '../privacy/protocol.js';
import { DITTO_CONFIG, FINE_TUNE_CONFIG_KEY } from '../strategy/strategy.js';

export interface RunPlanOptions {
  /** N: the clients sampling draws from (a simulation's clients; a server's `privacy.populationSize` or its quorum). */
  population: number;
  /** Deployment: server noise, DP sampling and client randomness from the CSPRNG. Default false (seeded). */
  deployment?: boolean;
  /** Central evaluation on the server's test set. */
  evaluate?: CentralEvaluate;
  /** Replaces the whole strategy the config describes (custom strategies, tests, benchmarks). */
  strategy?: (options: StrategyOptions) => Strategy;
  /** Replaces the round workflow the config implies. */
  workflow?: TrainWorkflow;
  /** Connected clients a round needs before it samples (a server's start quorum). */
  minAvailable?: number;
  /** Layers inside the standard client stack, per client (a simulation's attackers). */
  innerLayers?: (clientId: string, index: number) => readonly ClientLayer[];
  /** Prefix of error messages. */
  source?: string;
  /** d: the model's parameter count (the planned ε of distributed DP under quantized secure aggregation depends on it). */
  dimension?: number;
  /**
   * Run the config's cross-field rules again for this population (default true: a simulation whose
   * clients come from the data learns its population only now). A server's parse already checked
   * what it knows.
   */
  recheck?: boolean;
}

export interface RunPlan {
  readonly config: RunConfig;
  readonly strategy: Strategy;
  readonly workflow: TrainWorkflow;
  /** Server halves of the client layers (compression: encodes the model, announces the uplink, decodes updates). */
  readonly serverLayers: ServerLayer[];
  /** The client layer stack of a simulated client (deployed clients build the same one themselves). */
  clientLayers(clientId: string, index: number): ClientLayer[];
  readonly sampling: SamplingOptions;
  /** Who trains in a synchronous round (absent: uniform). */
  readonly selector?: ClientSelector;
  /** Deployment under DP: the CSPRNG sampling draws from. */
  readonly samplingRng?: Rng;
  /** The engine's check of every next global model; a rejected round keeps the privacy it spent. */
  readonly guard: EngineGuardOptions;
  /** k: clients per round (the expected number under Poisson sampling). */
  readonly clientsPerRound: number;
  readonly evaluation: EvaluationOptions | false;
  readonly dp?: DpPlan;
  /** Aborted once the privacy budget allows no further round. */
  readonly signal: AbortSignal;
  /** Call after every round: stops the run cleanly before a round that would exceed the budget. */
  afterRound(record: RoundRecord, say: (line: string) => void): void;
  /** Lines describing the defences, for a run's header. */
  headerLines(): string[];
  /** What the run's user should know before it starts (printed by simulate, logged by the server). */
  readonly warnings: readonly string[];
  /** Warnings that need the model size: DP noise that would swamp the averaged update (privacy/utility.ts). */
  noiseWarnings(dimension: number): string[];
  /** Summary rows of the defences. */
  summaryRows(history: readonly RoundRecord[]): [string, string][];
}

/** The train config of round r: the local settings with the learning-rate decay applied. */
export function trainConfigOf(c: RunConfig): (round: number) => Record<string, number> {
  return (round) => {
    const { learningRateDecay, ...local } = c.local;
    const ditto = c.ditto ? { [DITTO_CONFIG.lambda]: c.ditto.lambda, ...(c.ditto.epochs !== undefined ? { [DITTO_CONFIG.epochs]: c.ditto.epochs } : {}) } : {};
    return { ...local, learningRate: local.learningRate * learningRateDecay ** (round - 1), ...ditto };
  };
}

/** Plans a run of `config` over `population` clients (the config was validated by parseSimulationConfig / parseServerConfig). */
export function planRun(config: RunConfig, o: RunPlanOptions): RunPlan {
  const source = o.source ?? 'config';
  const deployment = o.deployment ?? false;
  const N = o.population;
  if (!(Number.isInteger(N) && N >= 1)) throw new FederaError('invalid_config', `${source}: the run needs at least one client, got a population of ${N}`);
  const k = clientsPerRoundOf(config, N);
  // The same cross-field rules as the config parsers, now that the population is known.
  if (o.recheck !== false) checkRun(config, { source, population: N, clientsPerRound: k });
  const planned = planStages(config, {
    population: N,
    clientsPerRound: k,
    noiseRng: deployment ? undefined : new Rng(config.seed).stream('dp-noise'),
    ...(o.dimension !== undefined ? { dimension: o.dimension } : {}),
  });
  const dp = planned.dp;
  const fineTune = config.evaluation.fineTuneEpochs;
  const strategyOptions: StrategyOptions = {
    trainConfig: trainConfigOf(config),
    evaluate: o.evaluate,
    // Personalization evaluation: clients fine-tune with the local settings of the run.
    ...(fineTune > 0 ? { evaluateConfig: { [FINE_TUNE_CONFIG_KEY]: fineTune, learningRate: config.local.learningRate, batchSize: config.local.batchSize } } : {}),
    ...(config.ditto && config.evaluation.dittoEvaluate ? { evaluateConfig: { [DITTO_CONFIG.evaluate]: true } } : {}),
  };
  const strategy = o.strategy ? o.strategy(strategyOptions) : new AggregationStrategy(createStrategy(config.strategy, strategyOptions), planned.stages, { where: source, evaluationCap: config.weightCap });
  const st = config.strategy;
  const workflow =
    o.workflow ??
    planned.secure?.createWorkflow() ??
    (st.name === 'fedbuff'
      ? new FedBuffWorkflow({ bufferSize: st.bufferSize, concurrency: st.concurrency, staleness: st.staleness, stalenessExponent: st.stalenessExponent, hingeStaleness: st.hingeStaleness, maxStaleness: st.maxStaleness })
      : new FederatedTrainWorkflow());

  // Sampling: k of the available clients, or (DP with Poisson sampling) each with q = k / N.
  const minAvailable = o.minAvailable;
  const poisson = dp !== undefined && (config.privacy?.sampling ?? 'poisson') === 'poisson';
  const sampling: SamplingOptions = poisson
    ? { poissonRate: k / N, ...(minAvailable !== undefined ? { minAvailable } : {}) }
    : config.clientsPerRound !== undefined
      ? { fraction: 1, minClients: k, maxClients: k, ...(minAvailable !== undefined ? { minAvailable } : {}) }
      : { fraction: config.fraction, minClients: Math.min(config.minClients, k), ...(minAvailable !== undefined ? { minAvailable } : {}) };
  const samplingRng = deployment && dp ? new SecureRng('dp-sampling') : undefined;

  const ev = config.evaluation;
  const evaluation: EvaluationOptions | false =
    ev.federatedEvery > 0 ? { every: ev.federatedEvery, ...(ev.federatedFraction !== undefined ? { fraction: ev.federatedFraction, minClients: 1, maxClients: N } : {}) } : false;

  // Compression: the server layer encodes the model and announces the uplink pipeline; clients follow it.
  // Under secure aggregation "rotate,quantize:b" is the secure sum's own encoding (announced at its setup), not the layers'.
  const k8n = config.compression;
  const quantizedUplink = config.secagg?.enabled && k8n ? secAggQuantizedUplink(k8n.uplink) : undefined;
  const announceUplink = quantizedUplink ? [] : (k8n?.uplink ?? []);
  const serverLayers: ServerLayer[] =
    k8n && (announceUplink.length > 0 || k8n.downlink.length > 0) ? [compressionServerLayer({ downlink: k8n.downlink, announceUplink, ...(deployment ? {} : { seed: config.seed }) })] : [];

  const secagg = config.secagg?.enabled ? config.secagg : undefined;
  const secaggRandomness = deployment ? 'secure' : ((secagg as { randomness?: 'secure' | 'seeded' } | undefined)?.randomness ?? 'secure');
  const clientLayers = (clientId: string, index: number): ClientLayer[] =>
    createClientLayers({ randomness: deployment ? 'secure' : 'seeded', seed: config.seed, secaggRandomness, inner: o.innerLayers?.(clientId, index) });

  const controller = new AbortController();
  const p = config.privacy;
  const afterRound = (record: RoundRecord, say: (line: string) => void): void => {
    if (!dp || controller.signal.aborted) return;
    if (record.status === 'skipped' && record.code === 'privacy_budget') {
      say(`  privacy budget: round ${record.round} was refused (nothing released); stopping`);
      controller.abort();
      return;
    }
    if (record.round >= config.rounds) return;
    if (!dp.stage.canRunRound()) {
      say(`  privacy budget: stopping after round ${record.round}; round ${record.round + 1} would take ε above the target ${p?.targetEpsilon} (spent ${dp.stage.epsilon.toPrecision(4)})`);
      controller.abort();
    }
  };

  const headerLines = (): string[] => {
    const lines: string[] = [];
    if (dp && p) {
      const q = dp.samplingRate;
      const clipOnly = dp.noiseMultiplier === 0;
      const skellam = quantizedUplink && p.mode === 'distributed' && !clipOnly ? ', Skellam noise on the secure sum\'s codes' : '';
      lines.push(
        `privacy   DP-FedAvg ${p.mode}${skellam}${p.adaptive ? ', adaptive clipping' : ''}, clip ${p.clipNorm}, ` +
          (clipOnly
            ? 'noise multiplier 0: clipping only, ε = ∞ (no privacy guarantee)'
            : `noise multiplier ${dp.noiseMultiplier.toPrecision(4)}${dp.calibrated ? ` (calibrated to ε ≤ ${p.targetEpsilon})` : ''}, q = ${q.toPrecision(4)}${config.strategy.name === 'fedbuff' ? ' (each FedBuff buffer is one release, without amplification by sampling)' : poisson ? ' (Poisson sampling)' : ''}, δ = ${p.delta}; planned ε = ${dp.plannedEpsilon.toPrecision(4)} (${p.accountant.toUpperCase()})`),
      );
    }
    if (secagg) {
      const skellam = quantizedUplink && p?.mode === 'distributed' && dp && dp.noiseMultiplier > 0;
      const sums = quantizedUplink
        ? `rotation (block ${quantizedUplink.block}) + ${quantizedUplink.bits}-bit stochastic quantization in the rotated basis, ${skellam ? 'sums in a ring widened each round for the Skellam noise' : `${quantizedEncodingFor(quantizedUplink.bits, secagg.clippingRange, k, secagg.bits).bits}-bit sums`}`
        : `${secagg.bits}-bit sums`;
      lines.push(
        `secagg    ${secagg.mode}${secagg.threshold ? `, threshold ${secagg.threshold}` : ''}${secagg.mode === 'secagg+' && secagg.neighbours ? `, ${secagg.neighbours} neighbours` : ''}, clip ±${secagg.clippingRange}, ${sums}, ${secaggRandomness} keys`,
      );
    }
    if (quantizedUplink && k8n) lines.push(`compress  uplink ${describePipeline(k8n.uplink)} (inside secure aggregation) · downlink ${describePipeline(k8n.downlink)}`);
    else if (serverLayers.length && k8n) lines.push(`compress  uplink ${describePipeline(k8n.uplink)} · downlink ${describePipeline(k8n.downlink)}`);
    return lines;
  };

  const summaryRows = (history: readonly RoundRecord[]): [string, string][] => {
    if (!dp || !p) return [];
    const last = [...history].reverse().find((r) => r.privacy)?.privacy;
    const epsilon = last ? (Number.isFinite(last.epsilon) ? last.epsilon.toPrecision(4) : '∞ (clipping only)') : undefined;
    return [
      ['privacy ε (δ)', last ? `${epsilon} (δ = ${last.delta}) after ${last.steps} round(s), ${p.accountant.toUpperCase()}, ${p.mode}` : 'no round released'],
      ...(last?.clipNorm !== undefined && p.adaptive ? ([['final clip norm', (last.nextClipNorm ?? last.clipNorm).toPrecision(4)]] as [string, string][]) : []),
    ];
  };

  const warnings: string[] = [];
  if (dp && dp.noiseMultiplier === 0) warnings.push('privacy.noiseMultiplier = 0: DP-FedAvg clips but adds no noise; ε = ∞, no privacy guarantee');
  const distributed = p ? distributedDpWarning(p.mode, secagg !== undefined) : undefined;
  if (distributed) warnings.push(distributed);
  const noiseWarnings = (dimension: number): string[] => {
    if (!dp || !p || dp.noiseMultiplier === 0) return [];
    const a = assessDpNoise({ noiseMultiplier: dp.noiseMultiplier, clipNorm: p.clipNorm, clientsPerRound: dp.clientsPerRound, dimension });
    const out = a.swamped && a.warning ? [a.warning] : [];
    const rounding = dp.stage.roundingInflation;
    if (rounding !== undefined && rounding > 1.1 && quantizedUplink && secagg) {
      out.push(
        `the rounding of the ${quantizedUplink.bits}-bit codes raises the sensitivity the accountant charges by ${rounding.toPrecision(3)}× (quantization step ${((2 * secagg.clippingRange) / (2 ** quantizedUplink.bits - 1)).toPrecision(3)} against a clip norm ${p.clipNorm} spread over ${dimension} coordinates): lower secagg.clippingRange toward a few times clipNorm/√d (${((4 * p.clipNorm) / Math.sqrt(dimension)).toPrecision(3)}) or raise the quantize bits`,
      );
    }
    return out;
  };

  return {
    config,
    warnings,
    noiseWarnings,
    strategy,
    workflow,
    serverLayers,
    clientLayers,
    sampling,
    ...(config.selection.kind !== 'uniform' ? { selector: createSelector(config.selection.kind, config.selection.kind === 'oort' ? config.selection : {}) } : {}),
    ...(samplingRng ? { samplingRng } : {}),
    guard: { normJumpFactor: config.guard.normJumpFactor, keepState: (key) => key.startsWith(DP_PREFIX) },
    clientsPerRound: k,
    evaluation,
    ...(dp ? { dp } : {}),
    signal: controller.signal,
    afterRound,
    headerLines,
    summaryRows,
  };
}
