// The limit on an authenticated client's messages, seen from an honest client: the WELCOME
// announces it (by default 8 bytes per parameter + 4 MiB), and a reply over it is not sent (the
// server would close the connection at the WebSocket layer) but replaced by a small error reply,
// so the round records why and the client stays connected for the next round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageBase, TrainInstruction } from '../../src/core/messages.js';
import { createIdentity } from '../../src/node/identity.js';
import { FederaServer } from '../../src/server/server.js';
import { defaultMaxMessageBytes } from '../../src/server/admission.js';
import { runWithClients, scriptedWireClient, toyModel, toyServerConfig } from './helpers/scripted.js';

const D = 6;

test('a reply over the announced limit becomes an error reply naming the limit; the client stays', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-limit-'));
  const rounds = 2;
  const server = new FederaServer(toyServerConfig(dir, { name: 'limit-run', rounds, clientsPerRound: 4, minResults: 3 }), { model: toyModel(D), processMetrics: false });
  const limit = defaultMaxMessageBytes(D);
  assert.equal(limit, 8 * D + 4 * 1024 * 1024);
  let clients: ReturnType<typeof scriptedWireClient>[] = [];
  try {
    const { url } = await server.start();
    clients = [0, 1, 2, 3].map((i) =>
      scriptedWireClient(url, {
        index: i,
        identity: createIdentity(`limit-${i}`),
        ignoreServerLimit: false,
        train: (m: TrainInstruction) =>
          (i === 3
            ? { type: 'error', runId: m.runId, round: m.round, code: 'trainer_failed', message: 'x'.repeat(limit) } // e.g. a huge stack dump
            : { type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(D).fill(0.1), numExamples: 5, metrics: {} }) as unknown as MessageBase,
      }),
    );
    const outcome = await runWithClients(server, clients);
    assert.equal(outcome.status, 'completed');
    const history = server.history().rounds;
    assert.equal(history.length, rounds);
    for (const r of history) {
      assert.equal(r.status, 'completed', `round ${r.round}`);
      const f = r.failed.find((x) => x.clientId === 'limit-3');
      assert.ok(f, `round ${r.round}: the client's failure is recorded`);
      assert.match(f.reason, new RegExp(`over the server's limit of ${limit} bytes \\(server\\.maxMessageBytes\\)`), `round ${r.round}: ${f.reason}`);
      assert.ok(!r.failed.some((x) => x.code === 'disconnected'), `round ${r.round}: nobody was disconnected`);
    }
  } finally {
    clients.forEach((c) => c.stop());
    await server.stop();
  }
});
