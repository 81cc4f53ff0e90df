// Personalization evaluation (evaluation.fineTuneEpochs, as TensorFlow Federated's): each
// evaluated client scores the global model, fine-tunes it on its own training split and scores it
// again. The global model's training and its scores are unchanged by it; on non-IID clients the
// fine-tuned models score higher, and their spread across clients is recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { simulate } from '../../src/cli/simulate.js';

const sink = { write: () => true };
const config = (fineTuneEpochs: number) =>
  parseSimulationConfig({
    name: 'personal',
    seed: 12,
    model: 'logreg',
    clients: 40,
    clientsPerRound: 8,
    rounds: 4,
    partition: { kind: 'dirichlet', alpha: 0.1, minSize: 10 },
    validationFraction: 0.3,
    evaluation: { federatedEvery: 2, centralEvery: 4, fineTuneEpochs },
    output: mkdtempSync(join(tmpdir(), 'federa-personal-')),
  });

test('fine-tuning evaluation: the global run is unchanged, the fine-tuned models score higher on non-IID clients', async () => {
  const plain = await simulate(config(0), { out: sink, progress: false });
  const tuned = await simulate(config(2), { out: sink, progress: false });
  // Training, central evaluation and the global model's federated scores are the same.
  assert.deepEqual(tuned.params, plain.params);
  for (const [i, h] of tuned.history.entries()) {
    const p = plain.history[i];
    assert.deepEqual(h.train, p.train);
    assert.deepEqual(h.centralEvaluation, p.centralEvaluation);
    if (!h.federatedEvaluation) continue;
    assert.equal(h.federatedEvaluation.metrics.accuracy, p.federatedEvaluation!.metrics.accuracy);
    assert.equal(p.federatedEvaluation!.metrics.personalized_accuracy, undefined);
    const g = h.federatedEvaluation.metrics.accuracy!;
    const f = h.federatedEvaluation.metrics.personalized_accuracy!;
    const dist = h.federatedEvaluation.distribution!;
    console.log(`# round ${h.round}: global ${g.toFixed(4)} (worst 10 % ${dist.accuracy!.worst10.toFixed(4)}), fine-tuned ${f.toFixed(4)} (worst 10 % ${dist.personalizedAccuracy!.worst10.toFixed(4)})`);
    assert.ok(f > g + 0.05, `round ${h.round}: fine-tuned ${f} vs global ${g}`);
    assert.ok(dist.personalizedAccuracy!.worst10 >= dist.accuracy!.worst10);
    assert.ok(Number.isFinite(h.federatedEvaluation.metrics.personalized_loss));
  }
  assert.throws(() => parseSimulationConfig({ rounds: 1, evaluation: { fineTuneEpochs: -1 } }), /evaluation\.fineTuneEpochs/);
});
