// Child processes for deployment tests: the federa CLI from source, with captured output, JSON log
// lines, and helpers to wait for conditions with generous deadlines (CPU is shared in CI).
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { alive, killAllChildren, track } from '../../helpers/children.js';
import { within } from '../../helpers/deadline.js';

export { killAllChildren, track };

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: string[];
  /** JSON log lines parsed (non-JSON lines are skipped). */
  logs(): Array<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Starts `federa <args>` from source; output goes to `lines` (and to `logFile` if given). */
export function federa(name: string, args: string[], options: { logFile?: string; env?: Record<string, string> } = {}): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const lines: string[] = [];
  const take = (stream: NodeJS.ReadableStream | null, tag: string) => {
    let rest = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      rest += chunk;
      const parts = rest.split('\n');
      rest = parts.pop()!;
      for (const p of parts) {
        lines.push(p);
        if (options.logFile) appendFileSync(options.logFile, `[${name} ${tag}] ${p}\n`);
      }
    });
  };
  take(child.stdout, 'out');
  take(child.stderr, 'err');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    name,
    child,
    lines,
    logs: () =>
      lines.flatMap((l) => {
        if (!l.startsWith('{')) return [];
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    exited,
    kill: (signal = 'SIGKILL') => {
      if (alive(child)) child.kill(signal);
    },
  };
}

/** Polls `probe` until it gives a value; each probe and the whole wait are bounded by `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 120_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await within(Promise.resolve(probe()), Math.max(1, deadline - Date.now()) + everyMs, `${what} (a probe did not answer)`);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Resolves with the exit of `p`, or rejects after `timeoutMs` (the process is then killed). */
export async function exitOf(p: Proc, timeoutMs = 180_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          p.kill();
          reject(new Error(`${p.name} did not exit within ${timeoutMs} ms; last output:\n${p.lines.slice(-15).join('\n')}`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** The server's `listening` log line: its port and URLs. */
export async function serverAddress(p: Proc, timeoutMs = 60_000): Promise<{ url: string; httpUrl: string; port: number }> {
  return waitFor(`${p.name} to listen`, () => {
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited early:\n${p.lines.slice(-20).join('\n')}`);
    const l = p.logs().find((x) => x.msg === 'listening');
    return l ? { url: String(l.url), httpUrl: String(l.httpUrl), port: Number(l.port) } : undefined;
  }, timeoutMs);
}

/** GET/POST JSON over http(s), trusting `ca` when given; rejects after `timeoutMs` (default 30 s). */
export function httpJson(url: string, options: { ca?: string; method?: string; headers?: Record<string, string>; body?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: any; text: string }> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const u = new URL(url);
  const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // agent: false — a fresh connection per request: a reused keep-alive socket that the server
    // times out at the same moment fails with "socket hang up", which says nothing about the server.
    const r = req(u, { agent: false, method: options.method ?? 'GET', ca: options.ca, headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, text });
      });
    });
    r.setTimeout(timeoutMs, () => r.destroy(new Error(`timed out after ${timeoutMs} ms waiting for the answer to ${options.method ?? 'GET'} ${url}`)));
    r.on('error', reject);
    if (options.body !== undefined) r.write(JSON.stringify(options.body));
    r.end();
  });
}
