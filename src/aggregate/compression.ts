/**
 * The uplink-compression stage: each client encodes its update with the pipeline the server
 * announces (compress/layers.ts), and the server's compression layer decodes every reply before
 * the other stages see it. The stage's part in the chain is its declaration: whether the clients'
 * encodings could be summed under secure aggregation.
 */
import type { CodecSpec } from '../compress/spec.js';
import { describePipeline } from '../compress/spec.js';
import type { AggregationStage } from './stage.js';

export function createCompressionStage(uplink: readonly CodecSpec[]): AggregationStage {
  const spec = describePipeline(uplink);
  const topk = uplink.some((s) => s.codec === 'topk');
  return {
    name: 'compression',
    field: 'compression.uplink',
    title: `uplink compression (compression.uplink "${spec}")`,
    encoding: {
      summable: false,
      describe: topk
        ? `uplink compression "${spec}" keeps a different set of coordinates on every client`
        : `uplink compression "${spec}" encodes each client's update on its own scale and grid`,
    },
  };
}
