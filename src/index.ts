/**
 * federa — the isomorphic core: runs in Node and in browsers (no `node:` imports here).
 * Node-only pieces live in `federa/node`; the TensorFlow.js trainer in `federa/tfjs`.
 */
export { FederaError, isFederaError, describeError, type FederaErrorCode } from './core/errors.js';
export { Rng } from './core/rng.js';
export { ParamLayout, makeParams, cloneParams, type Params, type TensorSpec } from './core/params.js';
export {
  PROTOCOL_VERSION,
  payloadBytes,
  type Config,
  type ConfigValue,
  type Metrics,
  type MessageBase,
  type FederaMessage,
  type TrainInstruction,
  type TrainReply,
  type EvaluateInstruction,
  type EvaluateReply,
  type ErrorReply,
} from './core/messages.js';
export { WeightedSum, simdKernelsAvailable, assertFinite, findNonFinite, subtract, axpy, l2Norm } from './core/kernels.js';
export { silentLogger, MemoryLogger, type Logger } from './core/log.js';

export type { Strategy, StrategyOptions, TrainResult, EvaluateResult, TrainAggregation, AggregatedTrain, AggregatedEvaluation, CentralEvaluate, StrategyState } from './strategy/strategy.js';
export { MetricsMean, weightedEvaluation } from './strategy/strategy.js';
export { FedAvg, type FedAvgOptions } from './strategy/fedavg.js';
export { FedProx, type FedProxOptions } from './strategy/fedprox.js';
export { FedOpt, type FedOptOptions } from './strategy/fedopt.js';
export { FedAdam, type FedAdamOptions } from './strategy/fedadam.js';
export { FedYogi } from './strategy/fedyogi.js';
export { FedAdagrad } from './strategy/fedadagrad.js';
export { FedAvgM, type FedAvgMOptions } from './strategy/fedavgm.js';
export { createStrategy, STRATEGY_NAMES, type StrategyName, type StrategySettings } from './strategy/registry.js';

export type { Grid, GridReply } from './engine/grid.js';
export { exchange, type ExchangeRequest, type ExchangeOptions, type ExchangeOutcome, type ClientFailure } from './engine/exchange.js';
export { RoundEngine, type EngineOptions, type EvaluationOptions, type RunResult } from './engine/engine.js';
export { FederatedTrainWorkflow, checkTrainReply, clientSeed, type RoundContext, type TrainWorkflow, type TrainRoundOutcome } from './engine/workflow.js';
export { applyIncoming, applyOutgoing, type ServerLayer, type ServerLayerContext } from './engine/server-layer.js';
export { BufferPool, sharedBuffers } from './core/buffers.js';
export { planSampling, sampleClients, type SamplingOptions } from './engine/sampling.js';
export { withoutTiming, type RoundRecord, type EvaluationRecord, type FederatedEvaluationRecord, type PrivacyRecord, type RoundEvent } from './core/records.js';

export { InMemoryGrid, type ClientHost, type LeasedClient } from './transport/memory.js';
export { ClientRuntime, trainSettings, type ClientLayer, type ClientData, type ClientInfo, type MessageHandler, type ClientRuntimeOptions } from './client/runtime.js';
export type { Trainer, FitOptions, FitOutcome, EvaluateOutcome } from './client/trainer.js';
export { VirtualClientHost, clientIds, type VirtualClientOptions } from './sim/virtual-clients.js';
export { runSimulation, type SimulationOptions, type SimulationResult } from './sim/simulation.js';

export { makeDataset, subset, labelCounts, datasetSize, type Dataset } from './data/dataset.js';
export { partitionIid, partitionDirichlet, partitionShards, partitionNatural, splitIndices } from './data/partition.js';
export { parseCsv, type CsvOptions, type CsvData } from './data/csv.js';
export { mnistFromRaw, splitStratified, standardMnistSplit, MNIST_TEST_FRACTION, MNIST_SPLIT_SEED } from './data/mnist.js';
export { renderReport, type ReportMeta, type ReportRound } from './report/report.js';

// Differential privacy (docs/privacy.md): accountants, clipping, noise, DP-FedAvg and its client layer.
export { RdpAccountant, DEFAULT_RDP_ORDERS, rdpEpsilon, rdpPoissonGaussian, rdpToEpsilon, type RdpEpsilon } from './privacy/accountant/rdp.js';
export { PldAccountant, pldEpsilon, gaussianEpsilon, type PldOptions } from './privacy/accountant/pld.js';
export { computeEpsilon, calibrateNoiseMultiplier, createAccountant, ACCOUNTANT_KINDS, type AccountantKind, type PrivacyAccountant, type EpsilonQuery, type SigmaQuery } from './privacy/accountant/calibrate.js';
export { clipByL2Norm, type ClipOutcome } from './privacy/clipping.js';
export { SecureGaussian, SeededGaussian, addGaussianNoise, type GaussianSource } from './privacy/noise.js';
export { DpFedAvg } from './aggregate/dp-fedavg.js';
export { DpNoiseStage, updateNoiseMultiplier, type DpFedAvgOptions, type AdaptiveClippingOptions } from './aggregate/dp-noise.js';
export { dpClientLayer, type DpClientLayerOptions } from './privacy/client-layer.js';
export { DP_CONFIG, DP_METRICS, DP_MODES, type DpMode } from './privacy/protocol.js';
export type { DpSgdOptions } from './client/trainer.js';
export {
  encodeFrame,
  decodeFrame,
  attachSignature,
  unsignedPart,
  encodeRecord,
  decodeRecord,
  messageBody,
  frameMessage,
  FrameKind,
  DEFAULT_MAX_FRAME_BYTES,
  type Frame,
  type FrameInit,
  type FrameKindName,
  type DecodedFrame,
  type DecodeLimits,
  type WireValue,
  type WireRecord,
} from './wire/codec.js';
export { signFrame, verifyFrame, signingMessage, webFrameCrypto, nobleSigner, webCryptoSigner, generateSecretKey, type FrameCrypto, type FrameSigner } from './wire/crypto.js';
export { CloseCode, backoffDelay, type BackoffOptions, type ModelSpec, type Welcome } from './wire/protocol.js';
export { WireClient, websocketUrl, type WireClientOptions, type WireClientOutcome, type WebSocketLike } from './wire/client.js';

export {
  CompressionPipeline,
  decodePayload,
  readHeader as readCompressedHeader,
  validatePipeline,
  parsePipeline,
  describePipeline,
  compressionClientLayer,
  compressionServerLayer,
  compressionLayers,
  CompressionServerLayer,
  RESIDUAL_STATE_KEY,
  FORMAT_VERSION as COMPRESSION_FORMAT_VERSION,
  type CodecSpec,
  type PipelineSpec,
  type PayloadHeader,
  type DecodeOptions,
  type CompressionOptions,
  type CompressionServerLayerOptions,
  type EncodedTrainReply,
  type EncodedInstruction,
} from './compress/index.js';

export { Mean, type Aggregator, type AggregateOptions, type AggregateResult } from './robust/aggregator.js';
export { CoordinateMedian } from './robust/median.js';
export { TrimmedMean, type TrimmedMeanOptions } from './robust/trimmed-mean.js';
export { Krum, MultiKrum, pairwiseSquaredDistances, type KrumOptions, type MultiKrumOptions } from './robust/krum.js';
export { Bulyan, type BulyanOptions } from './robust/bulyan.js';
export { NormBounding, normBoundLayer, type NormBoundingOptions } from './robust/norm-bound.js';
export { anomalyScores, anomalyReasons, robustZ, type AnomalyScore, type AnomalyThresholds } from './robust/anomaly.js';
export { Reputation, type ReputationOptions } from './robust/reputation.js';
export { RobustStrategy, createRobustStrategy } from './aggregate/robust-strategy.js';
export { RobustRuleStage, type RobustOptions, type RobustRoundReport } from './aggregate/robust-rule.js';
export { createAggregator, AGGREGATOR_NAMES, type AggregatorName, type RobustSettings } from './robust/settings.js';
export {
  ATTACK_KINDS,
  chooseMalicious,
  signFlipLayer,
  scaleLayer,
  gaussianNoiseLayer,
  flipLabels,
  applyTrigger,
  poisonBackdoor,
  triggeredTestSet,
  backdoorSuccessRate,
  planAttack,
  type AttackKind,
  type AttackSettings,
  type AttackPlan,
  type BackdoorTrigger,
} from './robust/attacks.js';

/** Secure aggregation (SecAgg / SecAgg+): the client layer every client adds, and the server workflow (docs/secagg.md). */
export {
  secAggClientLayer,
  SecAggWorkflow,
  SECAGG_MESSAGES,
  SECAGG_STAGES,
  checkSecAggSettings,
  resolveSecAgg,
  encodingFor,
  sumErrorBound,
  type SecAggClientLayerOptions,
  type SecAggWorkflowOptions,
  type SecAggRoundResult,
  type SecAggSettings,
  type SecAggMode,
  type SecAggStage,
  type EncodingParams,
} from './secagg/index.js';

/** A deployed client's session (shared by the Node and browser clients) and its layer stack. */
export { deployedClientLayers, createClientLayers, type ClientLayerOptions } from './run/client-layers.js';
export { planRun, type RunPlan, type RunPlanOptions } from './run/plan.js';
export { ClientSession, type ClientSessionOptions, type DataSource, type DataContext, type TrainerFactory } from './client/session.js';
