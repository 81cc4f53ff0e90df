/**
 * A strategy that aggregates robustly and then hands the result to another strategy: the
 * robust-rule stage (robust-rule.ts) as the reducer in front of `base`. `base` then does what it
 * does with a mean update: FedAvg moves the model by Δ, FedAvgM and the FedOpt family use Δ as
 * their pseudo-gradient. Configs, central and federated evaluation come from `base` unchanged.
 */
import type { Strategy } from '../strategy/strategy.js';
import { createAggregator, type RobustSettings } from '../robust/settings.js';
import { AggregationStrategy } from './pipeline.js';
import type { WeightCapOptions } from './weight-cap.js';
import { RobustRuleStage, type RobustOptions, type RobustRoundReport } from './robust-rule.js';

export class RobustStrategy extends AggregationStrategy {
  readonly rule: RobustRuleStage;

  constructor(base: Strategy, options: RobustOptions) {
    const rule = new RobustRuleStage(options);
    super(base, [rule]);
    this.rule = rule;
  }

  get aggregator() {
    return this.rule.aggregator;
  }
  get reputation() {
    return this.rule.reputation;
  }
  get thresholds() {
    return this.rule.thresholds;
  }
  /** The last finished round. */
  get lastReport(): RobustRoundReport | undefined {
    return this.rule.lastReport;
  }
}

/** The robust-rule stage of plain settings (config files, the CLI, benches). */
export function createRobustStage(s: RobustSettings, weightCap?: WeightCapOptions): RobustRuleStage {
  return new RobustRuleStage({ aggregator: createAggregator(s), anomaly: s.anomaly, reputation: s.reputation ?? false, weighting: s.weighting, weightCap });
}

/** Wraps `base` (FedAvg, FedAdam, ...) so that it applies the robust aggregate of each round. */
export function createRobustStrategy(base: Strategy, s: RobustSettings): RobustStrategy {
  return new RobustStrategy(base, { aggregator: createAggregator(s), anomaly: s.anomaly, reputation: s.reputation ?? false, weighting: s.weighting });
}
