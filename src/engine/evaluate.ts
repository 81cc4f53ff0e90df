/**
 * Federated evaluation as a workflow, like training: the engine runs one after each round's
 * training (every `evaluation.every` rounds) with a context whose `global` is the new model and
 * whose `selectClients` samples with the evaluation options. The default sends one evaluate
 * instruction to each selected client and aggregates the replies with the strategy's
 * `aggregateEvaluate` (example-weighted; a run plan caps the weight a client may claim).
 */
import type { EvaluateInstruction, EvaluateReply, MessageBase } from '../core/messages.js';
import { checkExampleCount, checkMetrics } from '../core/messages.js';
import { FederaError, describeError } from '../core/errors.js';
import type { FederatedEvaluationRecord } from '../core/records.js';
import type { EvaluateResult } from '../strategy/strategy.js';
import type { RoundContext } from './workflow.js';
import { describeDistribution } from '../core/distribution.js';

export interface EvaluationWorkflow {
  readonly name: string;
  /** The round's federated evaluation, or undefined when no client could be evaluated. */
  run(ctx: RoundContext): Promise<FederatedEvaluationRecord | undefined>;
}

/** Checks a reply to an evaluate instruction: type, run, round, a finite loss, the example count and metrics. */
export function checkEvaluateReply(reply: MessageBase, runId: string, round: number, clientId: string): EvaluateReply {
  const where = `evaluate reply from client ${clientId}`;
  if (reply.type !== 'evaluate_result') throw new FederaError('malformed_message', `${where}: expected type "evaluate_result", got "${reply.type}"`);
  if (reply.runId !== runId || reply.round !== round) throw new FederaError('malformed_message', `${where}: is for run ${reply.runId} round ${reply.round}`);
  const r = reply as EvaluateReply;
  if (typeof r.loss !== 'number' || !Number.isFinite(r.loss)) throw new FederaError('non_finite', `${where}: loss is not a finite number (${String(r.loss)})`);
  checkExampleCount(r.numExamples, where);
  checkMetrics(r.metrics, where);
  return r;
}

/** One evaluate exchange; replies aggregated by the strategy. */
export class FederatedEvaluationWorkflow implements EvaluationWorkflow {
  readonly name = 'federated-evaluation';

  async run(ctx: RoundContext): Promise<FederatedEvaluationRecord | undefined> {
    const { clients } = ctx.selectClients();
    if (clients.length === 0) return undefined;
    const { round, runId, global, strategy } = ctx;
    const config = strategy.configureEvaluate(round, global);
    const results: EvaluateResult[] = [];
    const requests = clients.map((clientId) => {
      const message: EvaluateInstruction = { type: 'evaluate', runId, round, params: global.data, config };
      return { clientId, message };
    });
    const outcome = await ctx.exchange(requests, (clientId, reply) => {
      const r = checkEvaluateReply(reply, runId, round, clientId);
      results.push({ clientId, loss: r.loss, numExamples: r.numExamples, metrics: r.metrics });
    });
    const usable = results.filter((r) => r.numExamples > 0);
    if (usable.length === 0) return undefined;
    try {
      const agg = strategy.aggregateEvaluate(round, usable);
      return { ...agg, clients: usable.length, failed: outcome.failures, ...clientDistribution(usable) };
    } catch (e) {
      ctx.logger.warn({ runId, round, error: describeError(e) }, 'federated evaluation could not be aggregated');
      return undefined;
    }
  }
}

/** Fairness: the spread of the evaluated clients' accuracy (when they report one) and loss. */
export function clientDistribution(results: readonly EvaluateResult[]): Pick<FederatedEvaluationRecord, 'distribution'> {
  const accuracy = describeDistribution(results.map((r) => r.metrics.accuracy ?? NaN), true);
  const loss = describeDistribution(results.map((r) => r.loss), false);
  // Personalization evaluation: the fine-tuned models' accuracy, client by client.
  const personalized = describeDistribution(results.map((r) => r.metrics.personalized_accuracy ?? NaN), true);
  if (!accuracy && !loss) return {};
  return { distribution: { ...(accuracy ? { accuracy } : {}), ...(loss ? { loss } : {}), ...(personalized ? { personalizedAccuracy: personalized } : {}) } };
}
