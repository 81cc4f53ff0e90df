// The README's deployment walk-through, followed literally: its `sh` block's commands run one by
// one through `sh -c` in an empty folder holding its run.toml, with `npx federa` resolving to this
// checkout's CLI (a node_modules/.bin shim running the sources). One change: the port 8443 becomes a
// free one, in the commands and the config alike, so the test cannot collide with anything on the
// machine. It checks what the README promises — the certificate, the two client files, the run
// completing its rounds with a useful model, the clients exiting, and the dashboard reachable with
// the admin token — and fails when the README drifts from what federa does.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'federa-readme-deploy-'));
const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.pid) killTree(p);
  rmSync(work, { recursive: true, force: true });
});

function killTree(p: ChildProcess): void {
  try {
    process.kill(-p.pid!, 'SIGKILL');
  } catch {
    p.kill('SIGKILL');
  }
}

/** The first ```lang block after `heading` (and before the next heading of the same level). */
function blockAfter(heading: string, lang: string): string {
  const start = README.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has no "${heading}" section`);
  const section = README.slice(start + heading.length + 2);
  const end = section.search(/\n## /);
  const body = end < 0 ? section : section.slice(0, end);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(body);
  assert.ok(m, `README's "${heading}" section has no ${lang} block`);
  return m[1];
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function run(command: string): Proc {
  const child = spawn('sh', ['-c', command], { cwd: work, detached: true, env: { ...process.env, FEDERA_HOME: join(work, 'home'), HOME: join(work, 'home') } });
  procs.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, output: () => out, exited };
}

async function within<T>(what: string, ms: number, p: Promise<T>, log: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, fail) => (timer = setTimeout(() => fail(new Error(`${what}: no result within ${ms} ms\n${log()}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what: string, ms: number, check: () => boolean, log: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${ms} ms\n${log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function httpsGet(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((done, fail) => {
    const req = get(url, { ca, headers, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => done({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', fail);
  });
}

test("the README's deployment walk-through, command by command: two clients train the run to its end", { timeout: 600_000 }, async () => {
  const port = await freePort();
  const withPort = (s: string) => s.replaceAll('8443', String(port));
  const commands = blockAfter('## Deployment', 'sh')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const config = blockAfter('## Deployment', 'toml');
  assert.match(config, /^# run\.toml\n/, 'the toml block is run.toml');
  writeFileSync(join(work, 'run.toml'), withPort(config));
  // `npx federa` in this folder: the checkout's CLI, from source.
  mkdirSync(join(work, 'node_modules', '.bin'), { recursive: true });
  const shim = join(work, 'node_modules', '.bin', 'federa');
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" --import "${import.meta.resolve('tsx')}" "${join(ROOT, 'test/deploy/helpers/cli.ts')}" "$@"\n`);
  chmodSync(shim, 0o755);

  const cert = commands.find((c) => c.startsWith('npx federa cert '));
  const exportData = commands.find((c) => c.startsWith('npx federa export-data '));
  const server = commands.find((c) => / npx federa server |^npx federa server /.test(c));
  const clients = commands.filter((c) => c.startsWith('npx federa client '));
  assert.ok(cert && exportData && server, `the walk-through has cert, export-data and server commands:\n${commands.join('\n')}`);
  assert.equal(clients.length, 2, 'two client commands');
  assert.equal(commands.length, 5, `every command of the block is run: ${commands.join(' | ')}`);

  for (const c of [cert, exportData]) {
    const p = run(withPort(c));
    const code = await within(c, 120_000, p.exited, p.output);
    assert.equal(code, 0, `${c}\n${p.output()}`);
  }
  for (const f of ['certs/ca.pem', 'certs/server.pem', 'certs/server-key.pem', 'data/client-0.csv', 'data/client-1.csv']) assert.ok(existsSync(join(work, f)), `${f} written`);

  const srv = run(withPort(server));
  await until('the server listening', 120_000, () => srv.output().includes('"msg":"listening"'), srv.output);
  const ca = readFileSync(join(work, 'certs/ca.pem'));
  // The dashboard, as step 5 says: the page, and its data with the admin token of step 3.
  const tokenInUrl = /#token=([^\s)]+)/.exec(commands.join('\n') + README.slice(README.indexOf('## Deployment')))?.[1];
  const adminToken = /FEDERA_ADMIN_TOKEN=(\S+)/.exec(server)?.[1];
  assert.ok(adminToken && tokenInUrl === adminToken, 'the dashboard URL carries the admin token the server was started with');
  const page = await httpsGet(`https://localhost:${port}/`, ca);
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  const refused = await httpsGet(`https://localhost:${port}/admin/dashboard`, ca);
  assert.equal(refused.status, 401);
  const snapshot = await httpsGet(`https://localhost:${port}/admin/dashboard`, ca, { authorization: `Bearer ${adminToken}` });
  assert.equal(snapshot.status, 200, snapshot.body);

  const clientProcs = clients.map((c) => run(withPort(c)));
  const log = () => [srv.output(), ...clientProcs.map((p) => p.output())].join('\n----\n').slice(-20_000);
  const serverCode = await within('the run', 540_000, srv.exited, log);
  assert.equal(serverCode, 0, log());
  const rounds = Number(/^rounds = (\d+)$/m.exec(config)?.[1]);
  const done = new RegExp(`run mnist-2nn completed after round ${rounds}; final central test accuracy: (0\\.\\d+)`).exec(srv.output());
  assert.ok(done, `the server says the run completed after round ${rounds}\n${log()}`);
  assert.ok(Number(done[1]) > 0.85, `final accuracy ${done[1]}`);
  for (const p of clientProcs) assert.equal(await within('a client exiting', 60_000, p.exited, log), 0, log());
});
