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

test('Ditto: each client keeps a personal model trained toward the global one; the global run is unchanged, the personal models score higher', async () => {
  const ditto = (lambda: number | undefined) =>
    parseSimulationConfig({
      name: 'ditto',
      seed: 12,
      model: 'logreg',
      clients: 20,
      clientsPerRound: 10,
      rounds: 6,
      partition: { kind: 'dirichlet', alpha: 0.1, minSize: 10 },
      validationFraction: 0.3,
      evaluation: { federatedEvery: 3, federatedFraction: 1, centralEvery: 6 },
      ...(lambda !== undefined ? { ditto: { lambda } } : {}),
      output: mkdtempSync(join(tmpdir(), 'federa-ditto-')),
    });
  const plain = await simulate(ditto(undefined), { out: sink, progress: false });
  const personal = await simulate(ditto(0.1), { out: sink, progress: false });
  // The global model and its scores do not depend on the personal models.
  assert.deepEqual(personal.params, plain.params);
  const last = personal.history.at(-1)!.federatedEvaluation!;
  assert.equal(last.metrics.accuracy, plain.history.at(-1)!.federatedEvaluation!.metrics.accuracy);
  const d = last.distribution!;
  // Only clients that trained at least once have a personal model (6 rounds of 10 out of 20: most).
  assert.ok(d.personalizedAccuracy!.clients <= last.clients && d.personalizedAccuracy!.clients >= 10, `${d.personalizedAccuracy!.clients} of ${last.clients}`);
  console.log(`# Ditto after 6 rounds: global ${d.accuracy!.mean.toFixed(4)} (worst 10 % ${d.accuracy!.worst10.toFixed(4)}), personal ${d.personalizedAccuracy!.mean.toFixed(4)} (worst 10 % ${d.personalizedAccuracy!.worst10.toFixed(4)})`);
  assert.ok(d.personalizedAccuracy!.mean > d.accuracy!.mean + 0.05, `personal ${d.personalizedAccuracy!.mean} vs global ${d.accuracy!.mean}`);
  assert.throws(() => parseSimulationConfig({ rounds: 1, ditto: { lambda: 0.1 }, evaluation: { fineTuneEpochs: 2 } }), /evaluation\.fineTuneEpochs and ditto both report personalized_accuracy/);
});
