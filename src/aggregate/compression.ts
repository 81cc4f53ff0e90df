/**
 * The uplink-compression stage: each client encodes its update with the pipeline the server
 * announces (compress/layers.ts), and the server's compression layer decodes every reply before
 * the other stages see it. The stage's part in the chain is its declaration: whether the clients'
 * encodings could be summed under secure aggregation.
 *
 * One pipeline can: `rotate,quantize:b`. Under secure aggregation it is not run by the
 * compression layers but by secure aggregation itself (docs/secagg.md): one rotation per round for
 * every client (linear, so the sum of rotated updates is the rotated sum) and the b-bit quantizer
 * with the fixed range secagg.clippingRange as the secure sum's encoding. Top-k (a different set of
 * coordinates per client) and every other value codec (per-client scales, float16) stay refused.
 */
import type { CodecSpec } from '../compress/spec.js';
import { describePipeline } from '../compress/spec.js';
import type { SecAggQuantizedUplink } from '../secagg/workflow.js';
import type { AggregationStage } from './stage.js';

/** The rotation + quantization secure aggregation runs for `uplink`, when the pipeline is exactly `rotate,quantize:b`. */
export function secAggQuantizedUplink(uplink: readonly CodecSpec[]): SecAggQuantizedUplink | undefined {
  if (uplink.length !== 2 || uplink[0].codec !== 'rotate' || uplink[1].codec !== 'quantize') return undefined;
  return { block: uplink[0].block ?? 1024, bits: uplink[1].bits };
}

export function createCompressionStage(uplink: readonly CodecSpec[]): AggregationStage {
  const spec = describePipeline(uplink);
  const topk = uplink.some((s) => s.codec === 'topk');
  return {
    name: 'compression',
    field: 'compression.uplink',
    title: `uplink compression (compression.uplink "${spec}")`,
    encoding: {
      summable: secAggQuantizedUplink(uplink) !== undefined,
      describe: topk
        ? `uplink compression "${spec}" keeps a different set of coordinates on every client`
        : `uplink compression "${spec}" encodes each client's update on its own scale and grid`,
    },
  };
}
