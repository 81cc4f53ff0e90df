/** Builds robust aggregators and strategies from plain settings (config files, the CLI, benches). */
import { FederaError } from '../core/errors.js';
import { Mean, type Aggregator } from './aggregator.js';
import { CoordinateMedian } from './median.js';
import { TrimmedMean } from './trimmed-mean.js';
import { Krum, MultiKrum } from './krum.js';
import { Bulyan } from './bulyan.js';
import { NormBounding } from './norm-bound.js';
import type { AnomalyThresholds } from './anomaly.js';
import type { ReputationOptions } from './reputation.js';

export const AGGREGATOR_NAMES = ['mean', 'median', 'trimmed-mean', 'krum', 'multi-krum', 'bulyan'] as const;
export type AggregatorName = (typeof AGGREGATOR_NAMES)[number];

export interface RobustSettings {
  /** The aggregation rule (default `mean`). */
  aggregator?: AggregatorName;
  /** Byzantine updates tolerated per round (Krum, Multi-Krum, Bulyan). */
  f?: number;
  /** Trimmed mean: fraction trimmed from each end, in [0, 0.5) (default 0.1). */
  beta?: number;
  /** Multi-Krum: updates averaged (default n − f). */
  m?: number;
  /** Norm bounding before the rule: a fixed L2 bound, or `median` (the round's median norm). */
  normBound?: number | 'median';
  /** Flagging thresholds (see anomaly.ts), or false to turn scoring off. */
  anomaly?: AnomalyThresholds | false;
  /** Penalise flagged clients: down-weight and exclude repeat offenders. */
  reputation?: ReputationOptions;
  weighting?: 'examples' | 'uniform';
}

export function createAggregator(s: RobustSettings): Aggregator {
  const name = s.aggregator ?? 'mean';
  const needF = (): number => {
    if (s.f === undefined) throw new FederaError('invalid_config', `robust.f (Byzantine updates to tolerate) is required for ${name}`);
    return s.f;
  };
  let rule: Aggregator;
  switch (name) {
    case 'mean':
      rule = new Mean();
      break;
    case 'median':
      rule = new CoordinateMedian();
      break;
    case 'trimmed-mean':
      rule = new TrimmedMean({ beta: s.beta ?? 0.1 });
      break;
    case 'krum':
      rule = new Krum({ f: needF() });
      break;
    case 'multi-krum':
      rule = new MultiKrum({ f: needF(), m: s.m });
      break;
    case 'bulyan':
      rule = new Bulyan({ f: needF() });
      break;
    default:
      throw new FederaError('invalid_config', `robust.aggregator must be one of ${AGGREGATOR_NAMES.join(', ')}; got "${String(name)}"`);
  }
  if (s.normBound === undefined) return rule;
  return new NormBounding({ threshold: s.normBound, inner: name === 'mean' ? undefined : rule });
}
