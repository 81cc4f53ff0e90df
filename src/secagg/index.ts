/** Secure aggregation (Bonawitz et al. 2017; SecAgg+ of Bell et al. 2020): see docs/secagg.md. */
export { secAggClientLayer, SECAGG_STATE_KEY, type SecAggClientLayerOptions } from './client-layer.js';
export { SecAggWorkflow, type SecAggWorkflowOptions, type SecAggRoundResult, type SecAggQuantizedUplink } from './workflow.js';
export { SECAGG_MESSAGES, SECAGG_STAGES, checkSecAggSettings, resolveSecAgg, type SecAggSettings, type SecAggMode, type SecAggStage } from './protocol.js';
export { encodingFor, quantizedEncodingFor, sumErrorBound, type EncodingParams } from './encoding.js';
