/**
 * `federa`: what a user composes — strategies and aggregation stages, the round engine and its
 * workflows, the run plan, simulation, client layers, robust rules, privacy accounting, data
 * partitioning. Isomorphic (Node and browsers). Lower-level pieces live on subpaths:
 * `federa/wire` (the deployment protocol and frame codec), `federa/kernels` (the numeric kernels),
 * `federa/node`, `federa/browser`, `federa/tfjs`. test/core/api.test.ts keeps a snapshot of every
 * entry point's names, so a change to the public API is deliberate.
 */
// Core values
export { FederaError, isFederaError, describeError, type FederaErrorCode } from './core/errors.js';
export { Rng } from './core/rng.js';
export { ParamLayout, makeParams as createParams, type Params, type TensorSpec } from './core/params.js';
export type { Config, ConfigValue, Metrics, MessageBase, TrainInstruction, TrainReply, EvaluateInstruction, EvaluateReply } from './core/messages.js';
export { silentLogger, MemoryLogger, type Logger } from './core/log.js';
export { withoutTiming, type RoundRecord, type EvaluationRecord, type FederatedEvaluationRecord, type PrivacyRecord, type RoundEvent, type ClientFailure } from './core/records.js';

// Strategies (server optimizers)
export type { Strategy, StrategyOptions, TrainResult, EvaluateResult, TrainAggregation, AggregatedTrain, AggregatedEvaluation, CentralEvaluate, StrategyState } from './strategy/strategy.js';
export { FedAvg, type FedAvgOptions } from './strategy/fedavg.js';
export { FedProx, type FedProxOptions } from './strategy/fedprox.js';
export { FedAvgM, type FedAvgMOptions } from './strategy/fedavgm.js';
export { FedAdam, type FedAdamOptions } from './strategy/fedadam.js';
export { FedYogi } from './strategy/fedyogi.js';
export { FedAdagrad } from './strategy/fedadagrad.js';
export type { FedOptOptions } from './strategy/fedopt.js';
export { createStrategy, type StrategyName, type StrategySettings } from './strategy/registry.js';

// Aggregation stages
export { createAggregationStrategy, type AggregationStrategy, type AggregationStrategyOptions } from './aggregate/pipeline.js';
export type { AggregationStage, StageDeclaration, StageUpdate, RoundAggregate, Reduction } from './aggregate/stage.js';
export { createMeanStage, type MeanOptions } from './aggregate/mean.js';
export { createClipStage, type ClipStageOptions } from './aggregate/clip.js';
export { createSecureSumStage } from './aggregate/secure-sum.js';
export type { WeightCapOptions } from './aggregate/weight-cap.js';
export { DpFedAvg } from './aggregate/dp-fedavg.js';
export type { DpFedAvgOptions, AdaptiveClippingOptions } from './aggregate/dp-noise.js';
export { RobustStrategy, createRobustStage, createRobustStrategy } from './aggregate/robust-strategy.js';

// The engine, workflows, transports and simulation
export type { Grid, GridReply } from './engine/grid.js';
export { RoundEngine, type EngineOptions, type EvaluationOptions, type RunResult } from './engine/engine.js';
export { FederatedTrainWorkflow, type RoundContext, type TrainWorkflow, type TrainRoundOutcome } from './engine/workflow.js';
export { FederatedEvaluationWorkflow, type EvaluationWorkflow } from './engine/evaluate.js';
export type { ServerLayer, ServerLayerContext } from './engine/server-layer.js';
export type { SamplingOptions } from './engine/sampling.js';
export { InMemoryGrid, type ClientHost, type LeasedClient } from './transport/memory.js';
export { VirtualClientHost, type VirtualClientOptions } from './sim/virtual-clients.js';
export { runSimulation, type SimulationOptions, type SimulationResult } from './sim/simulation.js';

// One run plan, from a config
export { planRun, type RunPlan, type RunPlanOptions } from './run/plan.js';
export { createClientLayers, deployedClientLayers, type ClientLayerOptions } from './run/client-layers.js';
export { parseSimulationConfig, parseServerConfig } from './config/rules.js';
export type { SimulationConfig, ServerConfig } from './config/schema.js';

// Clients and their layers
export { ClientRuntime, type ClientLayer, type ClientData, type ClientInfo, type MessageHandler, type ClientRuntimeOptions } from './client/runtime.js';
export type { Trainer, FitOptions, FitOutcome, EvaluateOutcome } from './client/trainer.js';
export { ClientSession, type ClientSessionOptions, type DataSource, type DataContext, type TrainerFactory } from './client/session.js';
export { dpClientLayer, type DpClientLayerOptions } from './privacy/client-layer.js';
export { compressionClientLayer, compressionServerLayer, compressionLayers, parsePipeline, describePipeline, type CodecSpec, type PipelineSpec, type CompressionOptions } from './compress/index.js';
export { secAggClientLayer, SecAggWorkflow, type SecAggClientLayerOptions, type SecAggWorkflowOptions, type SecAggRoundResult, type SecAggMode } from './secagg/index.js';

// Robust rules and attacks
export { Mean, type Aggregator, type AggregateOptions, type AggregateResult } from './robust/aggregator.js';
export { CoordinateMedian } from './robust/median.js';
export { TrimmedMean, type TrimmedMeanOptions } from './robust/trimmed-mean.js';
export { Krum, MultiKrum, type KrumOptions, type MultiKrumOptions } from './robust/krum.js';
export { Bulyan, type BulyanOptions } from './robust/bulyan.js';
export { NormBounding, normBoundLayer, type NormBoundingOptions } from './robust/norm-bound.js';
export { Reputation, type ReputationOptions } from './robust/reputation.js';
export { createAggregator, type AggregatorName, type RobustSettings } from './robust/settings.js';
export { planAttack, type AttackKind, type AttackSettings, type AttackPlan } from './robust/attacks.js';

// Privacy accounting and mechanisms
export { computeEpsilon, calibrateNoiseMultiplier, createAccountant, type AccountantKind, type PrivacyAccountant } from './privacy/accountant/calibrate.js';
export { clipByL2Norm, type ClipOutcome } from './privacy/clipping.js';
export { addGaussianNoise, SecureGaussian, SeededGaussian, type GaussianSource } from './privacy/noise.js';

// Data
export { makeDataset as createDataset, subset, type Dataset } from './data/dataset.js';
export { partitionIid, partitionDirichlet, partitionShards, partitionNatural } from './data/partition.js';
export { parseCsv, type CsvOptions, type CsvData } from './data/csv.js';
export { mnistFromRaw, splitStratified } from './data/mnist.js';
export { renderReport, type ReportMeta, type ReportRound } from './report/report.js';
