/**
 * The secure-sum stage: secure aggregation (SecAgg / SecAgg+, docs/secagg.md) as the round's
 * reducer. The sum itself is computed by the secure-aggregation workflow, which hands the decoded
 * Σ wᵢ·xᵢ and Σ wᵢ to the chain (`addSecureSum`); the server never holds an individual update, so
 * no later stage may need one (the composition check refuses robust rules, central DP and
 * encodings that cannot be summed). The metrics other stages ask to sum (their
 * `MASKED_METRICS_CONFIG_KEY` entries, e.g. DP's clipping indicator) travel inside the masks.
 */
import { FederaError } from '../core/errors.js';
import type { Params } from '../core/params.js';
import { SecAggWorkflow, type SecAggWorkflowOptions } from '../secagg/workflow.js';
import { secureAggregate } from './mean.js';
import type { AggregationStage, Reduction, RoundAggregate, SecureSumResult } from './stage.js';

export interface SecureSumStage extends AggregationStage {
  /** The round workflow that computes the sum (five exchanges a round). */
  createWorkflow(): SecAggWorkflow;
}

export function createSecureSumStage(options: SecAggWorkflowOptions = {}): SecureSumStage {
  const weighting = options.weighting ?? 'examples';
  return {
    name: 'secure-sum',
    field: 'secagg.weighting',
    title: `secure aggregation (secagg.mode ${options.mode ?? 'secagg'})`,
    hidesUpdates: true,
    reducer: 'linear',
    weighting,
    clipsCoordinates: { range: options.clippingRange ?? 8, field: 'secagg.clippingRange' },
    ...(options.quantize
      ? {
          roundsCoordinates: {
            step: (2 * (options.clippingRange ?? 8)) / (2 ** options.quantize.bits - 1),
            field: 'compression.uplink',
            describe: `compression.uplink "rotate,quantize:${options.quantize.bits}" rounds each client's rotated share to ${options.quantize.bits}-bit codes`,
          },
        }
      : {}),
    createWorkflow: () => new SecAggWorkflow(options),
    reduce(round: number, global: Params): Reduction {
      const d = global.layout.size;
      let secure: SecureSumResult | undefined;
      return {
        add(u) {
          throw new FederaError('invalid_argument', `round ${round}: client ${u.clientId}'s update arrived in the clear, but this round aggregates under secure aggregation`);
        },
        addSecureSum(s) {
          if (secure) throw new FederaError('invalid_argument', `round ${round}: a second secure sum`);
          if (s.sum.length !== d) throw new FederaError('shape_mismatch', `secure sum: ${s.sum.length} values, expected ${d}`);
          if (s.weighting !== weighting) throw new FederaError('invalid_argument', `secure sum weighted by ${s.weighting}, expected ${weighting}`);
          secure = s;
        },
        get accepted() {
          return secure?.contributors.length ?? 0;
        },
        finish(): RoundAggregate {
          if (!secure) throw new FederaError('insufficient_results', `round ${round}: no secure sum to aggregate`);
          return secureAggregate(round, secure);
        },
        discard() {},
      };
    },
  };
}
