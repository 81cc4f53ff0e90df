/**
 * Communication compression: codecs (float16, stochastic quantization, top-k, random Hadamard
 * rotation, lossless index packing) composed into pipelines that encode a Float32Array into one
 * self-describing Uint8Array, and the client/server layers that put them on the wire.
 * Isomorphic: no `node:` imports.
 */
export {
  validatePipeline,
  parsePipeline,
  describePipeline,
  usesErrorFeedback,
  QUANTIZE_BITS,
  DEFAULT_QUANTIZE_CHUNK,
  DEFAULT_ROTATE_BLOCK,
  type CodecSpec,
  type PipelineSpec,
  type TopKSpec,
  type RotateSpec,
  type Float16Spec,
  type QuantizeSpec,
  type LosslessSpec,
  type QuantizeBits,
} from './spec.js';
export { FORMAT_VERSION } from './format.js';
export { CompressionPipeline, decodePayload, readHeader, type PayloadHeader, type DecodeOptions } from './pipeline.js';
export { encodeFloat16, decodeFloat16, numberToHalfBits, halfBitsToNumber } from './float16.js';
export { quantize, dequantize, quantizedBytes } from './quantize.js';
export { selectTopK, topkCount } from './topk.js';
export { rotate, unrotate, rotatedLength, fwht } from './hadamard.js';
export { planPackedIndices, packIndices, unpackIndices } from './lossless.js';
export {
  compressionClientLayer,
  compressionServerLayer,
  compressionLayers,
  CompressionServerLayer,
  RESIDUAL_STATE_KEY,
  type CompressionOptions,
  type CompressionServerLayerOptions,
  type EncodedTrainReply,
  type EncodedInstruction,
} from './layers.js';
