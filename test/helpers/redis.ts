/**
 * A throw-away Redis for tests: `startRedis()` runs `redis-server` on a random 127.0.0.1 port in a
 * temporary directory (no persistence) and resolves with its URL once it answers; `stop()` kills
 * it (and the process registry kills it anyway when the test file ends, failed or not).
 *
 * On a machine without redis-server the tests that need it are skipped (`REDIS_SKIP` is the reason
 * to pass as a test's `skip` option), unless `FEDERA_REQUIRE_REDIS=1` (set by `.ci/run`): then a
 * missing redis-server is a failure. `$FEDERA_REDIS_SERVER` names another executable.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, track } from './children.js';
import { within } from './deadline.js';

export const REDIS_SERVER = process.env.FEDERA_REDIS_SERVER ?? 'redis-server';

/** True when Redis tests must run (CI): a missing redis-server then fails them instead of skipping. */
export const REDIS_REQUIRED = process.env.FEDERA_REQUIRE_REDIS === '1';

function redisAvailable(): boolean {
  const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 && /Redis server/i.test(r.stdout);
}

/** The one-line reason Redis tests are skipped, or `false` when they run. */
export const REDIS_SKIP: string | false =
  !REDIS_REQUIRED && !redisAvailable()
    ? `${REDIS_SERVER} not found: install it (apt-get install redis-server) or set FEDERA_REDIS_SERVER=/path/to/redis-server to run the Redis tests`
    : false;

export interface TestRedis {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Kills the server and removes its directory; resolves when it has exited. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the kernel's choice; released just before redis takes it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts redis-server; rejects with its output when it does not come up within `timeoutMs`. */
export async function startRedis(options: { timeoutMs?: number } = {}): Promise<TestRedis> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  let lastError: Error | undefined;
  // A port taken between freePort() and redis's bind is retried with another one.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'federa-redis-'));
    const child = track(
      spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'notice'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let output = '';
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve()); // never started: nothing to wait for
    });
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (/Ready to accept connections/i.test(output)) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (e) => reject(new Error(`could not start ${REDIS_SERVER}: ${e.message}`)));
      child.once('exit', (code, signal) => reject(new Error(`${REDIS_SERVER} exited (${signal ?? `code ${code}`}) before it was ready:\n${output.trim().split('\n').slice(-10).join('\n')}`)));
    });
    const stop = async () => {
      if (alive(child)) child.kill('SIGKILL');
      await within(exited, 10_000, `${REDIS_SERVER} (pid ${child.pid}) to exit`).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      await within(ready, timeoutMs, `${REDIS_SERVER} on 127.0.0.1:${port} to accept connections`);
      return { url: `redis://127.0.0.1:${port}`, port, stop };
    } catch (e) {
      lastError = e as Error;
      await stop();
      if (!/Address already in use/i.test(output)) break;
    }
  }
  throw lastError ?? new Error(`${REDIS_SERVER} did not start`);
}
