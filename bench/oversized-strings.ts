/**
 * Issue 13.4: what one client's oversized strings cost a server. A `federa server` process (from
 * this checkout, or another with --root, e.g. the commit before the caps) runs `--rounds` rounds
 * with two scripted honest clients and one attacker that answers odd rounds with an error reply of
 * a 20 MiB message and a 1 KiB code, even rounds with 50,000 metric names (and 10¹² examples).
 * Prints one JSON line: database bytes (with the WAL), /api/history bytes, server log bytes, the
 * run's report.html bytes, and the server's RSS at the end.
 *
 *   node --import tsx bench/oversized-strings.ts [--rounds 6] [--root <checkout>]
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import type { MessageBase, TrainInstruction } from '../src/core/messages.js';
import { createIdentity } from '../src/node/identity.js';
import { scriptedWireClient } from '../test/deploy/helpers/scripted.js';
import { oversizedStringsReply as hostileReply, startRawTrainer } from '../test/deploy/helpers/raw-trainer.js';
import { httpJson } from '../test/deploy/helpers/procs.js';

const opts = new Command()
  .option('--rounds <n>', 'rounds', '6')
  .option('--root <dir>', 'checkout whose server runs', fileURLToPath(new URL('..', import.meta.url)))
  .parse()
  .opts<{ rounds: string; root: string }>();
const rounds = Number(opts.rounds);
const root = resolve(opts.root);
const dir = mkdtempSync(join(tmpdir(), 'federa-bench-strings-'));
const db = join(dir, 'server.db');
const configFile = join(dir, 'run.json');
writeFileSync(
  configFile,
  JSON.stringify({
    name: 'strings',
    seed: 2,
    model: 'logreg',
    input: { numFeatures: 2, numClasses: 2 },
    rounds,
    clientsPerRound: 3,
    evaluation: { federatedEvery: 0, centralEvery: 0 },
    server: { host: '127.0.0.1', port: 0, database: db, enrollmentTokens: ['token-0', 'token-1', 'token-2'], minClients: 3, roundTimeoutMs: 120_000, heartbeatMs: 0 },
  }),
);
const logFile = join(dir, 'server.log');
const log = createWriteStream(logFile);
const server = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/deploy/helpers/cli.ts'), 'server', '--config', configFile, '--keep-serving'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
server.stdout.pipe(log);
server.stderr.pipe(log);
let seen = '';
const address = await new Promise<{ url: string; httpUrl: string }>((ok, fail) => {
  server.stdout.on('data', (c: Buffer) => {
    seen += c.toString();
    const m = /"url":"([^"]+)","httpUrl":"([^"]+)"/.exec(seen);
    if (m) ok({ url: m[1], httpUrl: m[2] });
  });
  server.on('exit', (code) => fail(new Error(`server exited (${code})`)));
});
const honest = [0, 1].map((i) =>
  scriptedWireClient(address.url, {
    index: i,
    identity: createIdentity(`site-${i}`),
    train: (m: TrainInstruction) => ({ type: 'train_result', runId: m.runId, round: m.round, update: new Float32Array(m.params.length).fill(0.01), numExamples: 10, metrics: { loss: 1 } }) as unknown as MessageBase,
  }),
);
const attacker = startRawTrainer(address.url, { identity: createIdentity('mallory'), token: 'token-2', answer: (ins) => hostileReply(ins.round, (ins.body.params as Float32Array).length) });
const t0 = Date.now();
const outcomes = await Promise.all(honest.map((c) => c.start()));
await attacker.stop();
const history = await httpJson(`${address.httpUrl}/api/history`, { timeoutMs: 300_000 });
const health = await httpJson(`${address.httpUrl}/health`);
server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));
if (!log.writableFinished) await new Promise<void>((r) => log.on('finish', () => r()));
const size = (f: string) => statSync(f, { throwIfNoEntry: false })?.size ?? 0;
console.log(
  JSON.stringify({
    root,
    rounds,
    honestOutcome: outcomes.map((o) => o.reason),
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    databaseBytes: size(db) + size(`${db}-wal`),
    historyBytes: history.text.length,
    historyRounds: history.body?.rounds?.length,
    logBytes: size(logFile),
    reportBytes: size(join(dir, 'strings-report.html')),
    serverRssBytes: health.body?.rssBytes,
  }),
);
process.exit(0);
