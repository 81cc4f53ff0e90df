// Issue 13.1 over wss with real server processes: an enrolled client written from the protocol
// sends finite updates at the float32 limit (±3e38, numExamples = 1). Before the guard the global
// model went to ~1e36, central evaluation turned NaN, the round commit failed and the server
// exited — and a restart resumed from the poisoned checkpoint. Now the rounds it attacks are
// skipped as `model_rejected` with the model unchanged, the run completes with the accuracy of an
// attack-free run, a server killed mid-run resumes, a non-finite checkpoint is refused with the
// rollback command to run, and an operator can roll a run back offline and over the admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Rng } from '../../src/core/rng.js';
import { makeDataset } from '../../src/data/dataset.js';
import type { MessageBase } from '../../src/core/messages.js';
import { FederaClient } from '../../src/node/client.js';
import { createIdentity } from '../../src/node/identity.js';
import { Store } from '../../src/server/store.js';
import type { RoundRecord } from '../../src/core/records.js';
import { l2Norm } from '../../src/engine/model-guard.js';
import { makeSelfSignedCertificate } from './helpers/tls.js';
import { startRawTrainer } from './helpers/raw-trainer.js';
import { exitOf, federa, httpJson, serverAddress, waitFor, type Proc } from './helpers/procs.js';

const ADMIN = 'admin-secret-0123456789abcdef';
const NUM_FEATURES = 4;

function examples(seed: number, n: number): { x: Float32Array; y: Int32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(n * NUM_FEATURES);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let j = 0; j < NUM_FEATURES; j++) x[i * NUM_FEATURES + j] = rng.next() - 0.5 + (y[i] ? 0.4 : -0.4);
  }
  return { x, y };
}

function writeTestCsv(path: string): void {
  const { x, y } = examples(99, 200);
  const rows = Array.from({ length: 200 }, (_, i) => [...x.subarray(i * NUM_FEATURES, (i + 1) * NUM_FEATURES)].map((v) => v.toFixed(5)).concat(String(y[i])).join(','));
  writeFileSync(path, ['f0,f1,f2,f3,label', ...rows].join('\n') + '\n');
}

interface Deployment {
  dir: string;
  db: string;
  configFile: (rounds: number) => string;
  ca: string;
  tokens: string[];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A server directory: certificate, central test set, database, tokens, and one fixed port (clients reconnect to it across restarts). */
async function deployment(tag: string): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), `federa-hardening-model-${tag}-`));
  const cert = makeSelfSignedCertificate(dir);
  const testCsv = join(dir, 'central-test.csv');
  writeTestCsv(testCsv);
  const db = join(dir, 'server.db');
  const tokens = [0, 1, 2, 3].map((i) => `tok-${tag}-${i}-abcdefgh`);
  const port = await freePort();
  const configFile = (rounds: number) => {
    const file = join(dir, `run-${rounds}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        name: 'guarded',
        seed: 4,
        model: 'logreg',
        dataset: { name: 'csv', path: testCsv, testFraction: 0.5 },
        rounds,
        clientsPerRound: 4,
        local: { epochs: 1, batchSize: 10, learningRate: 0.3 },
        evaluation: { federatedEvery: 0, centralEvery: 1 },
        server: { host: '127.0.0.1', port, tls: { cert: cert.certFile, key: cert.keyFile }, database: db, enrollmentTokens: tokens, adminToken: ADMIN, minClients: 4, roundTimeoutMs: 60_000, keepCheckpoints: 4 },
      }),
    );
    return file;
  };
  return { dir, db, configFile, ca: cert.certPem, tokens };
}

/** Three honest TF.js clients and the raw attacker; `attack(round)` says when it sends ±3e38. */
function startClients(d: Deployment, url: string, attack: (round: number) => boolean, delayMs: { value: number }) {
  const honest = [0, 1, 2].map((i) => {
    const { x, y } = examples(i + 1, 120);
    return new FederaClient({ server: url, data: makeDataset(x, y, NUM_FEATURES, 2), token: d.tokens[i], identity: identities[i], ca: d.ca, reconnect: { maxMs: 500 } });
  });
  const runs = honest.map((c) => c.start());
  const attacker = startRawTrainer(url, {
    identity: identities[3],
    token: d.tokens[3],
    ca: d.ca,
    answer: async (ins) => {
      if (delayMs.value) await new Promise((r) => setTimeout(r, delayMs.value));
      const params = ins.body.params as Float32Array;
      const hostile = attack(ins.round);
      const update = new Float32Array(params.length).map((_, j) => (hostile ? (j % 2 ? -3e38 : 3e38) : 0));
      return { type: 'train_result', update, numExamples: hostile ? 1 : 100, metrics: { loss: 0.5 } } as unknown as MessageBase;
    },
  });
  return {
    attacker,
    stop: async () => {
      honest.forEach((c) => c.stop());
      await Promise.allSettled(runs);
      await attacker.stop();
    },
  };
}

const identities = [0, 1, 2, 3].map((i) => createIdentity(i === 3 ? 'mallory' : `site-${i}`));

function history(db: string): RoundRecord[] {
  const store = new Store(db);
  try {
    return store.history('guarded');
  } finally {
    store.close();
  }
}

const accuracy = (r: RoundRecord[]) => r.at(-1)!.centralEvaluation!.metrics.accuracy;

test('±3e38 updates: attacked rounds are skipped as model_rejected, the run completes with attack-free accuracy; kill -9 resume, a non-finite checkpoint is refused, rollback offline and over the admin API', { timeout: 600_000 }, async (t) => {
  const procs: Proc[] = [];
  const stops: Array<() => Promise<void>> = [];
  t.after(async () => {
    procs.forEach((p) => p.kill());
    for (const s of stops) await s();
  });
  const server = (d: Deployment, name: string, rounds: number) => {
    const p = federa(name, ['server', '--config', d.configFile(rounds)], { logFile: join(d.dir, 'processes.log') });
    procs.push(p);
    return p;
  };

  // --- The attack-free run of the same seed: the attacker's slot sends zero updates. -------------
  const clean = await deployment('clean');
  {
    const s = server(clean, 'clean', 6);
    const { url } = await serverAddress(s);
    const c = startClients(clean, url, () => false, { value: 0 });
    stops.push(c.stop);
    assert.equal((await exitOf(s, 240_000)).code, 0, s.lines.slice(-20).join('\n'));
    await c.stop();
  }
  const baseline = history(clean.db);
  assert.deepEqual(baseline.map((r) => r.status), Array(6).fill('completed'));

  // --- Attacked: mallory sends ±3e38 in rounds 2 and 3; the server is SIGKILLed after round 3. --
  const d = await deployment('attacked');
  const delay = { value: 300 }; // rounds slow enough to kill the server between two of them
  const s1 = server(d, 'server-1', 6);
  const { url, httpUrl } = await serverAddress(s1);
  const clients = startClients(d, url, (round) => round === 2 || round === 3, delay);
  stops.push(clients.stop);
  await waitFor('round 3 to be committed', async () => ((await httpJson(`${httpUrl}/api/status`, { ca: d.ca })).body.completedRounds >= 3 ? true : undefined), 180_000);
  s1.kill('SIGKILL');
  await exitOf(s1);
  const s2 = server(d, 'server-2', 6);
  await serverAddress(s2);
  assert.equal((await exitOf(s2, 240_000)).code, 0, s2.lines.slice(-20).join('\n'));
  await clients.stop(); // the honest clients end with the run (run_complete); each phase starts its own
  assert.ok(s2.logs().some((l) => /^resuming run guarded after round [345]$/.test(String(l.msg))), 'the restarted server resumed');
  delay.value = 0;

  let rounds = history(d.db);
  assert.deepEqual(rounds.map((r) => r.round), [1, 2, 3, 4, 5, 6], 'each round recorded once');
  assert.deepEqual(rounds.map((r) => r.code ?? r.status), ['completed', 'model_rejected', 'model_rejected', 'completed', 'completed', 'completed']);
  for (const r of rounds.filter((x) => x.code)) {
    assert.equal(r.status, 'skipped');
    assert.match(r.reason!, /norm .* exceeds guard\.normJumpFactor 100/);
    assert.ok(Number.isFinite(r.centralEvaluation!.loss), `round ${r.round}: the unchanged model evaluates finitely`);
  }
  assert.ok(accuracy(rounds) >= accuracy(baseline) - 0.05, `accuracy ${accuracy(rounds)} vs attack-free ${accuracy(baseline)}`);
  assert.ok(accuracy(rounds) >= 0.8, `the honest clients learned: ${accuracy(rounds)}`);
  {
    const store = new Store(d.db);
    const cp = store.latestCheckpoint('guarded')!;
    store.close();
    assert.ok(l2Norm(cp.params) < 1e3, `the model stays small: ‖w‖ = ${l2Norm(cp.params)}`);
  }

  // --- A non-finite checkpoint (as written before the guard) is refused, naming the rollback. ---
  {
    const raw = new Database(d.db);
    raw.prepare('UPDATE checkpoints SET params = ? WHERE run_id = ? AND round = 6').run(Buffer.from(new Float32Array(10).fill(NaN).buffer), 'guarded');
    raw.close();
  }
  const s3 = server(d, 'server-3', 8);
  assert.equal((await exitOf(s3, 120_000)).code, 2);
  const refusal = s3.lines.join('\n');
  assert.match(refusal, /the checkpoint of run "guarded" after round 6 .* is not finite \(parameter 0 is NaN\); refusing to resume from it/);
  assert.ok(refusal.includes(`federa admin rollback --db ${d.db} --run guarded --round 5`), refusal);

  const rb = federa('rollback', ['admin', 'rollback', '--db', d.db, '--run', 'guarded', '--round', '5']);
  assert.equal((await exitOf(rb, 60_000)).code, 0, rb.lines.join('\n'));
  assert.match(rb.lines.join('\n'), /run guarded rolled back to round 5: 1 round\(s\) after it removed .* resume with round 6/);
  const again = federa('rollback-again', ['admin', 'rollback', '--db', d.db, '--run', 'guarded', '--round', '5']);
  assert.equal((await exitOf(again, 60_000)).code, 1);
  assert.match(again.lines.join('\n'), /run "guarded" is at round 5; there is nothing after round 5 to roll back/);

  const s4 = server(d, 'server-4', 8);
  await serverAddress(s4);
  const c4 = startClients(d, url, () => false, delay);
  stops.push(c4.stop);
  assert.equal((await exitOf(s4, 240_000)).code, 0, s4.lines.slice(-20).join('\n'));
  await c4.stop();
  rounds = history(d.db);
  assert.deepEqual(rounds.map((r) => r.round), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(rounds.slice(5).map((r) => r.status), ['completed', 'completed', 'completed']);

  // --- Rollback over the admin API while the run goes on. ----------------------------------------
  delay.value = 800; // slow rounds, so the run is still going when the requests arrive
  const s5 = server(d, 'server-5', 14);
  await serverAddress(s5);
  const c5 = startClients(d, url, () => false, delay);
  stops.push(c5.stop);
  const auth = { authorization: `Bearer ${ADMIN}` };
  const post = (path: string, body: unknown, headers: Record<string, string> = auth) => httpJson(`${httpUrl}${path}`, { ca: d.ca, method: 'POST', headers, body });
  await waitFor('round 10 to be committed', async () => ((await httpJson(`${httpUrl}/api/status`, { ca: d.ca })).body.completedRounds >= 10 ? true : undefined), 180_000);
  assert.equal((await post('/admin/runs/guarded/rollback', { round: 9 }, {})).status, 401);
  const bad = await post('/admin/runs/guarded/rollback', { round: 'nine' });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /\{"round": n\}/);
  assert.equal((await post('/admin/runs/other/rollback', { round: 9 })).status, 404);
  const gone = await post('/admin/runs/guarded/rollback', { round: 1 });
  assert.equal(gone.status, 409);
  assert.match(gone.body.error, /no checkpoint of round 1 any more/);
  assert.equal((await post('/admin/runs/guarded/rollback', { round: 99 })).status, 409);
  const ok = await post('/admin/runs/guarded/rollback', { round: 9 });
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  assert.equal(ok.body.round, 9);
  assert.equal((await exitOf(s5, 300_000)).code, 0, s5.lines.slice(-20).join('\n'));
  delay.value = 0;
  await c5.stop();
  const rolled = s5.logs().find((l) => /^run guarded rolled back to round 9: \d+ later rounds removed$/.test(String(l.msg)));
  assert.ok(rolled, 'the server logged the rollback');
  assert.ok(Number(rolled.removedRounds) >= 1);
  rounds = history(d.db);
  assert.deepEqual(rounds.map((r) => r.round), Array.from({ length: 14 }, (_, i) => i + 1), 'after the rollback each round is recorded once');
  const store = new Store(d.db);
  assert.deepEqual(store.roundCounts('guarded').filter((r) => r.count !== 1), []);
  store.close();
});

test('rollback is refused under differential privacy, with the reason', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-hardening-dp-'));
  const db = join(dir, 'dp.db');
  const store = new Store(db);
  store.createRun('private', { privacy: { noiseMultiplier: 1, clipNorm: 1 } }, 3);
  store.saveInitialCheckpoint('private', new Float32Array(2), {});
  for (const round of [1, 2]) {
    store.commitRound('private', { round, status: 'completed', selected: [], succeeded: [], failed: [], dropped: [], bytes: { down: 0, up: 0 }, timing: { totalMs: 0, trainMs: 0, evaluateMs: 0, centralEvaluateMs: 0 } }, new Float32Array(2), {}, undefined, 3);
  }
  store.close();
  const p = federa('rollback-dp', ['admin', 'rollback', '--db', db, '--run', 'private', '--round', '1']);
  assert.equal((await exitOf(p, 60_000)).code, 1);
  assert.match(p.lines.join('\n'), /run "private" uses differential privacy: rolling it back would forget the privacy already spent by rounds 2–2/);
  const check = new Store(db);
  assert.equal(check.history('private').length, 2, 'nothing was deleted');
  check.close();
});
