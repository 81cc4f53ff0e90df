/**
 * FedAvg (McMahan et al. 2017): the next global model is the example-weighted mean of the clients'
 * trained models, computed as global + weighted mean of their updates with a streaming sum.
 */
import type { Config } from '../core/messages.js';
import type { Params } from '../core/params.js';
import { FederaError } from '../core/errors.js';
import { WeightedSum } from '../core/kernels.js';
import {
  MetricsMean,
  RoundScratch,
  resolveConfig,
  weightedEvaluation,
  type AggregatedEvaluation,
  type AggregatedTrain,
  type CentralEvaluate,
  type EvaluateResult,
  type Strategy,
  type StrategyOptions,
  type TrainAggregation,
  type TrainResult,
} from './strategy.js';

export type FedAvgOptions = StrategyOptions;

export class FedAvg implements Strategy {
  readonly name: string = 'fedavg';
  readonly evaluate: CentralEvaluate | undefined;
  protected readonly options: FedAvgOptions;
  private readonly sums = new RoundScratch<WeightedSum>();

  constructor(options: FedAvgOptions = {}) {
    if (options.weighting !== undefined && options.weighting !== 'examples' && options.weighting !== 'uniform') {
      throw new FederaError('invalid_config', `weighting must be "examples" or "uniform", got "${String(options.weighting)}"`);
    }
    this.options = options;
    this.evaluate = options.evaluate;
  }

  configureTrain(round: number, _global: Params): Config {
    return { ...resolveConfig(this.options.trainConfig, round) };
  }

  configureEvaluate(round: number, _global: Params): Config {
    return { ...resolveConfig(this.options.evaluateConfig, round) };
  }

  aggregateTrain(round: number, global: Params): TrainAggregation {
    const { value: sum, release: releaseSum } = this.sums.acquire((kept) => kept.size === global.layout.size, () => new WeightedSum(global.layout.size));
    const metrics = new MetricsMean();
    const uniform = this.options.weighting === 'uniform';
    return {
      add: (r: TrainResult) => {
        if (r.numExamples <= 0 && !uniform) {
          throw new FederaError('invalid_argument', `client ${r.clientId} reported ${r.numExamples} examples; FedAvg weights by examples and needs > 0`);
        }
        const weight = uniform ? 1 : r.numExamples;
        sum.add(r.update, weight, `update from client ${r.clientId}`);
        metrics.add(r.metrics, weight);
      },
      get accepted() {
        return sum.count;
      },
      finish: (): AggregatedTrain => {
        try {
          if (sum.count === 0) throw new FederaError('insufficient_results', `round ${round}: no training result to aggregate`);
          return { params: this.applyUpdate(global, sum), metrics: metrics.result() };
        } finally {
          releaseSum();
        }
      },
      discard: releaseSum,
    };
  }

  aggregateEvaluate(_round: number, results: readonly EvaluateResult[]): AggregatedEvaluation {
    return weightedEvaluation(results);
  }

  /** FedAvg moves the model by the mean update; server optimizers override this. */
  protected applyUpdate(global: Params, sum: WeightedSum): Float32Array {
    return sum.meanPlus(global.data);
  }
}
