// Issue 13.2 over wss: a client that claims 10¹² examples is weighted as 10× the round's median
// claim, in training and in federated evaluation, so it cannot replace the global model or fake
// the evaluated loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageBase, TrainInstruction } from '../../src/core/messages.js';
import { createIdentity } from '../../src/node/identity.js';
import { FederaServer } from '../../src/server/server.js';
import { runWithClients, scriptedWireClient, toyModel, toyServerConfig } from './helpers/scripted.js';

const D = 6;

test('a claim of 10¹² examples is capped on the plain path and in federated evaluation', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-cap-'));
  const rounds = 3;
  const server = new FederaServer(
    toyServerConfig(dir, { name: 'cap-run', rounds, clientsPerRound: 4, evaluation: { federatedEvery: 1, centralEvery: 0 } }),
    { model: toyModel(D), processMetrics: false },
  );
  let clients: ReturnType<typeof scriptedWireClient>[] = [];
  try {
    const { url } = await server.start();
    clients = [0, 1, 2, 3].map((i) => {
      const liar = i === 3;
      return scriptedWireClient(url, {
        index: i,
        identity: createIdentity(`cap-${i}`),
        train: (m: TrainInstruction) =>
          ((m as MessageBase).type === 'evaluate'
            ? { type: 'evaluate_result', runId: m.runId, round: m.round, loss: liar ? 0 : 2, numExamples: liar ? 1e15 : 10, metrics: {} }
            : { type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(D).fill(liar ? -100 : 0.1), numExamples: liar ? 1e12 : 5, metrics: { loss: 1 } }) as unknown as MessageBase,
      });
    });
    const outcome = await runWithClients(server, clients);
    assert.equal(outcome.status, 'completed');
    const history = server.history().rounds;
    // Median claim 5 → cap 50: each round moves every coordinate by (3·5·0.1 + 50·(−100)) / 65.
    const step = (3 * 5 * 0.1 + 50 * -100) / 65;
    const params = server.store.latestCheckpoint(server.runId)!.params;
    for (const v of params) assert.ok(Math.abs(v - rounds * step) < 1e-3, `parameter ${v}, expected ${rounds * step} (uncapped: ≈ ${rounds * -100})`);
    for (const r of history) {
      assert.equal(r.train?.metrics.weight_capped ?? r.events?.filter((e) => e.kind === 'weight-capped').length, 1, `round ${r.round}`);
      assert.ok(r.events?.some((e) => e.kind === 'weight-capped' && e.clientId === 'cap-3'), `round ${r.round} records the capped claim`);
      // Evaluation: median claim 10 → cap 100: (3·10·2 + 100·0) / 130, not ≈ 0.
      assert.ok(Math.abs(r.federatedEvaluation!.loss - 60 / 130) < 1e-9, `round ${r.round}: evaluated loss ${r.federatedEvaluation!.loss}`);
    }
  } finally {
    clients.forEach((c) => c.stop());
    await server.stop();
  }
});
