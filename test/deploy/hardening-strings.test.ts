// Issue 13.4 over a real server process: an enrolled client written from the protocol answers
// with 20 MiB error messages, 1000-character error codes that would become Prometheus labels, and
// 50,000 metric names claiming 10¹² examples. The strings are cut to their caps with a marker, the
// metrics past 32 dropped, each such reply counted against the client (`oversized_string`); the
// database, the open /api/history (now paginated) and the log stay small; /metrics has a fixed
// label set and counts truncated strings, capped weights and rejected frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageBase, TrainInstruction } from '../../src/core/messages.js';
import { createIdentity } from '../../src/node/identity.js';
import { Store } from '../../src/server/store.js';
import { scriptedWireClient } from './helpers/scripted.js';
import { oversizedStringsReply as hostileReply, startRawTrainer } from './helpers/raw-trainer.js';
import { exitOf, federa, httpJson, serverAddress, type Proc } from './helpers/procs.js';

const ADMIN = 'admin-secret-0123456789abcdef';
const ROUNDS = 4;
const MiB = 1024 * 1024;

test('20 MiB error messages and 50,000 metric names are cut, counted against the client, and neither bloat storage, /api/history, the log nor /metrics', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-hardening-strings-'));
  const db = join(dir, 'server.db');
  const configFile = join(dir, 'run.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      name: 'strings',
      seed: 2,
      model: 'logreg',
      input: { numFeatures: 2, numClasses: 2 },
      rounds: ROUNDS,
      clientsPerRound: 3,
      evaluation: { federatedEvery: 0, centralEvery: 0 },
      server: { host: '127.0.0.1', port: 0, database: db, enrollmentTokens: ['token-0', 'token-1', 'token-2'], adminToken: ADMIN, minClients: 3, roundTimeoutMs: 60_000, heartbeatMs: 0, maxMessageBytes: 64 * MiB },
      // An operator's raised limit: by default (8 bytes per parameter + 4 MiB) the WebSocket layer
      // refuses these frames before they are buffered (hardening-preauth.test.ts); here they reach
      // the protocol, which must cut them.
    }),
  );
  const procs: Proc[] = [];
  const stops: Array<() => unknown> = [];
  t.after(async () => {
    procs.forEach((p) => p.kill());
    for (const s of stops) await s();
  });
  const server = federa('server', ['server', '--config', configFile, '--keep-serving']);
  procs.push(server);
  const { url, httpUrl } = await serverAddress(server);
  const honest = [0, 1].map((i) =>
    scriptedWireClient(url, {
      index: i,
      identity: createIdentity(`site-${i}`),
      train: (m: TrainInstruction) => ({ type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(m.params.length).fill(0.01), numExamples: 10, metrics: { loss: 1 } }) as unknown as MessageBase,
    }),
  );
  const runs = honest.map((c) => c.start());
  stops.push(() => honest.forEach((c) => c.stop()));
  const attacker = startRawTrainer(url, {
    identity: createIdentity('mallory'),
    token: 'token-2',
    answer: (ins) => hostileReply(ins.round, (ins.body.params as Float32Array).length),
  });
  stops.push(() => attacker.stop());

  // --keep-serving: the HTTP endpoints stay up after the run.
  for (const r of await Promise.all(runs)) assert.equal(r.reason, 'run_complete');
  await attacker.stop();
  assert.deepEqual(attacker.answered, Array.from({ length: ROUNDS }, (_, i) => `train@${i + 1}`));

  // The history: the attacker's failures and metrics within the caps.
  const page = await httpJson(`${httpUrl}/api/history`);
  assert.equal(page.status, 200);
  assert.equal(page.body.total, ROUNDS);
  assert.equal(page.body.limit, 100);
  const rounds = page.body.rounds as Array<{ round: number; status: string; failed: Array<{ clientId: string; code: string; reason: string }>; train?: { metrics: Record<string, number> }; events?: Array<{ kind: string }> }>;
  assert.deepEqual(rounds.map((r) => r.status), Array(ROUNDS).fill('completed'));
  for (const r of rounds.filter((x) => x.round % 2)) {
    const f = r.failed.find((x) => x.clientId === 'mallory')!;
    assert.ok(f, `round ${r.round}: mallory's error is recorded`);
    assert.match(f.code, /^client_error:Ex{63}…\[truncated: 956 characters\]$/);
    assert.match(f.reason, /^y{1024}…\[truncated: 20970496 characters\]$/);
  }
  for (const r of rounds.filter((x) => x.round % 2 === 0)) {
    const names = Object.keys(r.train!.metrics);
    assert.ok(names.length <= 32 + 2, `round ${r.round}: ${names.length} metric names`);
    assert.ok(names.every((n) => n.length <= 64 + 40), `round ${r.round}: metric names within the cap`);
    assert.ok(r.events?.some((e) => e.kind === 'weight-capped'), `round ${r.round}: the claim of 10¹² examples was capped`);
  }
  assert.ok(page.text.length < 200_000, `/api/history is ${page.text.length} bytes`);
  const second = await httpJson(`${httpUrl}/api/history?offset=1&limit=2`);
  assert.deepEqual(second.body.rounds.map((r: { round: number }) => r.round), [2, 3]);
  for (const bad of ['limit=0', 'limit=1001', 'offset=-1', 'limit=abc', 'offset=1.5']) {
    const r = await httpJson(`${httpUrl}/api/history?${bad}`);
    assert.equal(r.status, 400, bad);
    assert.match(r.body.error, /^(offset|limit) must be an integer in \d+\.\.\d+, got /, bad);
  }

  // Counted against the client: an oversized_string violation per hostile reply.
  const auth = { authorization: `Bearer ${ADMIN}` };
  const events = (await httpJson(`${httpUrl}/admin/clients/mallory/events`, { headers: auth })).body.events as Array<{ code: string; reason: string }>;
  const strikes = events.filter((e) => e.code === 'oversized_string');
  assert.equal(strikes.length, ROUNDS, JSON.stringify(events.map((e) => e.code)));
  assert.ok(strikes.some((e) => /metrics over 32 per reply dropped/.test(e.reason)));
  assert.ok(strikes.some((e) => /error message over 1024 characters/.test(e.reason)));
  const row = (await httpJson(`${httpUrl}/admin/clients`, { headers: auth })).body.clients.find((c: { id: string }) => c.id === 'mallory');
  assert.ok(row.violations >= ROUNDS, `violations ${row.violations}`);

  // /metrics: fixed label values, and the new counters.
  const metrics = (await httpJson(`${httpUrl}/metrics`)).text;
  assert.ok(!metrics.includes('xxxxxxxx') && !metrics.includes('fake_metric'), 'no client string on /metrics');
  assert.match(metrics, /federa_client_failures_total\{code="client_error:other"\} 2/);
  assert.match(metrics, /federa_truncated_strings_total\{field="message"\} 2/);
  assert.match(metrics, /federa_truncated_strings_total\{field="code"\} 2/);
  assert.match(metrics, /federa_truncated_strings_total\{field="metrics"\} 2/);
  assert.match(metrics, /federa_capped_weights_total\{reason="train"\} 2/);
  assert.match(metrics, /# TYPE federa_rejected_frames_total counter/);
  for (const line of metrics.split('\n').filter((l) => l.startsWith('federa_') && l.includes('{'))) {
    assert.match(line, /^[a-z_]+\{([a-z_]+="[a-z_:.+A-Za-z0-9]*",?)+\} [0-9.e+-]+$/, `label values from a fixed set: ${line.slice(0, 200)}`);
  }

  // Storage and log stay small.
  server.kill('SIGTERM');
  await exitOf(server, 60_000);
  const store = new Store(db);
  assert.ok(store.metrics('strings').length < ROUNDS * 60, `${store.metrics('strings').length} metric rows`);
  store.close();
  const dbBytes = statSync(db).size + (statSync(`${db}-wal`, { throwIfNoEntry: false })?.size ?? 0);
  assert.ok(dbBytes < 2 * MiB, `database ${dbBytes} bytes`);
  const logBytes = server.lines.reduce((n, l) => n + l.length + 1, 0);
  assert.ok(logBytes < 200_000, `log ${logBytes} bytes`);
});
