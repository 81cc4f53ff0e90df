/**
 * Hardening soak (issue 13): a real `federa server` over wss with 3 honest `federa client`
 * processes (logistic regression on MNIST, the median aggregator) and one adversary cycling
 * through every attack of the issue for the whole run; then the same seed without the adversary.
 * Reports whether the attacked run completed, its final accuracy against the attack-free run, the
 * server's peak RSS and the database size on disk.
 *
 *   npm run bench:soak                    # 200 rounds each
 *   npm run bench:soak -- --rounds 50
 *
 * The adversary holds two enrolled identities: "mallory" answers instructions with poisoned or
 * malformed replies (float32-limit and NaN updates, wrong shapes, absurd example counts, 20 MiB
 * error strings, 50,000 metric names, faked evaluations, late answers after the round timeout); "eve" speaks the wire
 * protocol by hand (floods, replays on the same and on another connection, forged signatures,
 * garbage). Strangers open unauthenticated connections with 60 MiB frames and idle TCP sockets, and
 * call the HTTP API with malformed paths and huge pages. Goals: the run completes, the final
 * accuracy is within 2 points of the attack-free run, server RSS < 400 MB, database < 50 MB.
 * Prints one JSON line per run, then a table.
 */
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { parseSimulationConfig } from '../src/config/rules.js';
import type { MessageBase, TrainInstruction } from '../src/core/messages.js';
import { createIdentity, nodeFrameCrypto, nodeSigner } from '../src/node/identity.js';
import { exportClientData } from '../src/node/export-data.js';
import { Store } from '../src/server/store.js';
import { exitOf, federa, httpJson, serverAddress, type Proc } from '../test/deploy/helpers/procs.js';
import { RawConnection } from '../test/deploy/helpers/raw.js';
import { scriptedWireClient } from '../test/deploy/helpers/scripted.js';
import { makeSelfSignedCertificate } from '../test/deploy/helpers/tls.js';

const opts = new Command('bench-soak')
  .option('--rounds <n>', 'rounds per run', (v) => Number(v), 200)
  .option('--seed <n>', 'seed', (v) => Number(v), 5)
  .parse()
  .opts<{ rounds: number; seed: number }>();

const D = 784 * 10 + 10; // logreg on MNIST
const HONEST = ['hospital-a', 'hospital-b', 'hospital-c'];

interface Outcome {
  run: 'attacked' | 'clean';
  serverExit: number | null;
  completed: number;
  skipped: number;
  skipCodes: Record<string, number>;
  finalAccuracy: number | null;
  peakRssMb: number;
  databaseMb: number;
  attacksSent: Record<string, number>;
  seconds: number;
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function sizeMb(file: string): number {
  return ['', '-wal', '-shm'].reduce((s, suffix) => s + (existsSync(file + suffix) ? statSync(file + suffix).size : 0), 0) / 2 ** 20;
}

/** Mallory's reply to a train or evaluate instruction: the attack of this turn. */
const REPLY_ATTACKS: Array<[string, (m: TrainInstruction) => Record<string, unknown> | Promise<Record<string, unknown>>]> = [
  ['float32-limit update', (m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: Float32Array.from({ length: D }, (_, i) => (i % 2 ? 3e38 : -3e38)), numExamples: 1, metrics: { loss: 0.1 } })],
  ['1e12 examples', (m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(D).fill(-100), numExamples: 1e12, metrics: { loss: 0.1 } })],
  ['NaN update', (m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(D).fill(Number.NaN), numExamples: 100, metrics: { loss: 0.1 } })],
  ['wrong shape', (m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(D + 7), numExamples: 100, metrics: { loss: 0.1 } })],
  ['20 MiB error strings', (m) => ({ type: 'error', runId: m.runId, round: m.round, code: 'c'.repeat(10_000), message: 'm'.repeat(20 * 2 ** 20) })],
  ['50,000 metric names', (m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(D), numExamples: 100, metrics: Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`metric_${i}_${'x'.repeat(40)}`, i])) })],
  ['absurd example count', (m) => ({ type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(D).fill(1), numExamples: 2 ** 53, metrics: { loss: 0.1 } })],
  // Answers after the round's 5 s timeout: a late reply to a cancelled request (and the
  // instruction queue moves on, so the cycle continues).
  ['late answer (straggler)', (m) => new Promise((resolve) => setTimeout(() => resolve({ type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(D), numExamples: 100, metrics: { loss: 0.1 } }), 6_000))],
];
const EVAL_ATTACKS: Array<[string, (m: TrainInstruction) => Record<string, unknown>]> = [
  ['faked evaluation (loss 0, 1e15 examples)', (m) => ({ type: 'evaluate_result', runId: m.runId, round: m.round, loss: 0, numExamples: 1e15, metrics: { accuracy: 1 } })],
  ['evaluation at the float32 limit', (m) => ({ type: 'evaluate_result', runId: m.runId, round: m.round, loss: 3.4e38, numExamples: 1, metrics: { accuracy: -3e38 } })],
];

async function runOnce(kind: 'attacked' | 'clean', dir: string, files: string[]): Promise<Outcome> {
  const cert = makeSelfSignedCertificate(dir);
  const db = join(dir, `${kind}.db`);
  const tokens = [...HONEST.map((id) => `token-${id}-0123456789`), 'token-mallory-0123456789', 'token-eve-0123456789'];
  const config = join(dir, `${kind}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      name: `soak-${kind}`,
      seed: opts.seed,
      model: 'logreg',
      dataset: { name: 'mnist' },
      rounds: opts.rounds,
      clientsPerRound: kind === 'attacked' ? 4 : 3,
      local: { epochs: 1, batchSize: 20, learningRate: 0.1 },
      robust: { aggregator: 'median' },
      evaluation: { federatedEvery: 5, centralEvery: 5 },
      server: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile }, database: db, enrollmentTokens: tokens, minClients: 3, roundTimeoutMs: 5_000, adminToken: 'soak-admin-token' },
    }),
  );
  const t0 = performance.now();
  const procs: Proc[] = [];
  const sockets: Socket[] = [];
  const stop: Array<() => void> = [];
  const sent: Record<string, number> = {};
  const count = (k: string) => void (sent[k] = (sent[k] ?? 0) + 1);
  let peak = 0;
  try {
    const server = federa('server', ['server', '--config', config], { logFile: join(dir, `${kind}.log`) });
    procs.push(server);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(server.child.pid!))), 500);
    stop.push(() => clearInterval(sampler));
    const address = await serverAddress(server);
    const ca = cert.certPem;
    HONEST.forEach((id, i) => procs.push(federa(id, ['client', '--server', address.url, '--data', files[i], '--token', tokens[i], '--id', id, '--identity', join(dir, `${kind}-${id}.json`), '--ca', cert.certFile], { logFile: join(dir, `${kind}.log`) })));

    if (kind === 'attacked') {
      // Mallory: poisoned and malformed replies, one attack per instruction, in turn.
      let turn = 0;
      const mallory = scriptedWireClient(address.url, {
        index: 0,
        identity: createIdentity('mallory'),
        token: tokens[3],
        ca,
        train: (m) => {
          const isEval = (m as MessageBase).type === 'evaluate';
          const list = isEval ? EVAL_ATTACKS : REPLY_ATTACKS;
          const [name, make] = list[turn++ % list.length];
          count(name);
          return make(m) as unknown as MessageBase;
        },
      });
      void mallory.start().catch(() => {});
      stop.push(() => mallory.stop());

      // Eve and strangers: wire-level attacks on a timer until the run ends.
      const eve = nodeSigner(createIdentity('eve').privateKey);
      const stranger = nodeSigner(createIdentity('stranger').privateKey);
      let enrolled = false;
      let captured: Uint8Array | undefined;
      let round = 0;
      const raw = async (i: number) => {
        const open = () => RawConnection.open(address.url, { ca, timeoutMs: 5_000 });
        const authed = async () => {
          const c = await open();
          const h = await c.hello('eve', eve, enrolled ? {} : { token: tokens[4] });
          if (!h.welcome) {
            c.close();
            return undefined;
          }
          enrolled = true;
          return c;
        };
        const step = i % 8;
        if (step === 0) {
          count('flood of 300 pings');
          const c = await authed();
          if (c) {
            for (let k = 0; k < 300; k++) await c.sendFrame({ kind: 'ping', runId: `soak-${kind}`, round, clientId: 'eve' }, eve);
            c.close();
          }
        } else if (step === 1) {
          count('replay on the same connection');
          const c = await authed();
          if (c) {
            captured = await c.sendFrame({ kind: 'ping', runId: `soak-${kind}`, round, clientId: 'eve' }, eve);
            c.send(captured);
            c.close();
          }
        } else if (step === 2) {
          count('replay on another connection');
          const c = await authed();
          if (c && captured) c.send(captured);
          c?.close();
        } else if (step === 3) {
          count('forged signature and garbage');
          const c = await authed();
          if (c) {
            await c.sendFrame({ kind: 'ping', runId: `soak-${kind}`, round, clientId: 'eve' }, stranger);
            c.send(nodeFrameCrypto.randomBytes(4096));
            c.close();
          }
        } else if (step === 4) {
          count('4 × 60 MiB before authentication');
          const big = new Uint8Array(60 * 2 ** 20);
          const cs = await Promise.all(Array.from({ length: 4 }, () => open().catch(() => undefined)));
          for (const c of cs) c?.send(big);
          await new Promise((r) => setTimeout(r, 500));
          for (const c of cs) c?.close();
        } else if (step === 5) {
          count('40 idle TCP sockets');
          for (let k = 0; k < 40; k++) {
            const s = tcpConnect(address.port, '127.0.0.1');
            s.on('error', () => {});
            sockets.push(s);
          }
          while (sockets.length > 200) sockets.shift()!.destroy();
        } else if (step === 6) {
          count('malformed admin path and huge history page');
          await httpJson(`${address.httpUrl}/admin/clients/%ZZ`, { ca, headers: { authorization: 'Bearer soak-admin-token' } }).catch(() => {});
          await httpJson(`${address.httpUrl}/api/history?limit=100000000&offset=-5`, { ca }).catch(() => {});
        } else {
          count('stale-round signed frame');
          const c = await authed();
          if (c) {
            await c.sendFrame({ kind: 'ping', runId: `soak-${kind}`, round: Math.max(0, round - 2), clientId: 'eve' }, eve);
            c.close();
          }
        }
      };
      let i = 0;
      let running = true;
      stop.push(() => (running = false));
      void (async () => {
        while (running) {
          try {
            const h = await httpJson(`${address.httpUrl}/health`, { ca, timeoutMs: 5_000 });
            round = Number(h.body.round ?? round) || round;
            await raw(i++);
          } catch {
            /* the server refused or closed: that is the point */
          }
          await new Promise((r) => setTimeout(r, 700));
        }
      })();
    }

    const exit = await exitOf(server, opts.rounds * 30_000);
    for (const f of stop) f();
    for (const s of sockets) s.destroy();
    const store = new Store(db);
    const history = store.history(`soak-${kind}`);
    store.close();
    const skipCodes: Record<string, number> = {};
    for (const r of history) if (r.status === 'skipped') skipCodes[r.code ?? 'unknown'] = (skipCodes[r.code ?? 'unknown'] ?? 0) + 1;
    const last = [...history].reverse().find((r) => r.centralEvaluation);
    return {
      run: kind,
      serverExit: exit.code,
      completed: history.filter((r) => r.status === 'completed').length,
      skipped: history.filter((r) => r.status === 'skipped').length,
      skipCodes,
      finalAccuracy: last?.centralEvaluation?.metrics.accuracy ?? null,
      peakRssMb: Math.round(peak),
      databaseMb: Number(sizeMb(db).toFixed(2)),
      attacksSent: sent,
      seconds: Math.round((performance.now() - t0) / 1000),
    };
  } finally {
    for (const f of stop) f();
    for (const s of sockets) s.destroy();
    for (const p of procs) p.kill();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'federa-soak-'));
const simConfig = parseSimulationConfig({ name: 'soak', seed: opts.seed, model: 'logreg', clients: HONEST.length, output: join(dir, 'sim') });
const { files } = exportClientData(simConfig, dir);
const results: Outcome[] = [];
for (const kind of ['attacked', 'clean'] as const) {
  const r = await runOnce(kind, dir, files);
  console.log(JSON.stringify(r));
  results.push(r);
}
const [attacked, clean] = results;
const gap = attacked.finalAccuracy !== null && clean.finalAccuracy !== null ? (attacked.finalAccuracy - clean.finalAccuracy) * 100 : null;
console.log(`\nsoak: ${opts.rounds} rounds, logreg on MNIST, 3 honest clients, median aggregator, seed ${opts.seed}; logs in ${dir}`);
console.log('| run | server exit | completed | skipped (codes) | final accuracy | peak server RSS | database |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.run} | ${r.serverExit} | ${r.completed} | ${r.skipped} ${JSON.stringify(r.skipCodes)} | ${r.finalAccuracy?.toFixed(4) ?? 'none'} | ${r.peakRssMb} MB | ${r.databaseMb} MB |`);
}
console.log(`accuracy attacked − clean: ${gap === null ? 'n/a' : `${gap.toFixed(2)} points`}; goals: completes, |gap| ≤ 2 points, RSS < 400 MB, database < 50 MB`);
