// Browser-client tests: build the federa-browser bundle, start an in-process federa server on
// 127.0.0.1 (plain http/ws: loopback is a secure context, so WebCrypto and IndexedDB work), open
// headless Chromium pages of /client/ as clients, and record everything the pages send.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { silentLogger, type Logger } from '../../src/core/log.js';
import { parseServerConfig } from '../../src/config/rules.js';
import { FederaServer } from '../../src/server/server.js';
import { ROOT } from '../deploy/helpers/procs.js';
import { within } from '../helpers/deadline.js';

let built = false;

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Builds dist/browser/federa-browser.js and the example page, unless they are newer than every
 * source file. Test files run in parallel processes: a lock directory makes one build at a time
 * (a page must never load a bundle that another process is half-way through writing).
 */
export async function buildBrowserClient(): Promise<void> {
  if (built) return;
  const lock = join(ROOT, 'dist', '.browser-client-build.lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  for (const deadline = Date.now() + 120_000; ; ) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true }); // left by a killed process
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    const bundle = join(ROOT, 'dist/browser/federa-browser.js');
    const page = join(ROOT, 'dist/browser/client/app.js');
    const sources = Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'examples/browser-client')), statSync(join(ROOT, 'scripts/build-browser.mjs')).mtimeMs);
    const fresh = existsSync(bundle) && existsSync(page) && Math.min(statSync(bundle).mtimeMs, statSync(page).mtimeMs) > sources;
    if (!fresh) {
      const r = spawnSync(process.execPath, ['scripts/build-browser.mjs', 'federa-browser'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000, killSignal: 'SIGKILL' });
      if (r.status !== 0) throw new Error(`browser build failed${r.signal ? ` (killed by ${r.signal}: over 180 s)` : ''}:\n${r.stdout}\n${r.stderr}`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  built = true;
}

export interface BrowserRunOptions {
  name?: string;
  rounds?: number;
  model?: 'logreg' | '2nn';
  tokens?: string[];
  clientsPerRound?: number;
  minClients?: number;
  local?: { epochs?: number; batchSize?: number; learningRate?: number };
  roundTimeoutMs?: number;
  logger?: Logger;
  /** More run settings (e.g. `secagg`, `strategy`), merged into the config. */
  run?: Record<string, unknown>;
}

/** A federa server training on MNIST (central evaluation on the standard test split). */
export async function startMnistServer(o: BrowserRunOptions = {}): Promise<{ server: FederaServer; url: string; httpUrl: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'federa-web-'));
  const k = o.clientsPerRound ?? 3;
  const config = parseServerConfig({
    name: o.name ?? 'browser-mnist',
    seed: 11,
    model: o.model ?? 'logreg',
    rounds: o.rounds ?? 3,
    clientsPerRound: k,
    minResults: 1,
    dataset: { name: 'mnist' },
    local: { epochs: 1, batchSize: 16, learningRate: 0.1, ...o.local },
    evaluation: { federatedEvery: 1, centralEvery: 1 },
    ...o.run,
    server: {
      host: '127.0.0.1',
      port: 0,
      database: join(dir, 'server.db'),
      minClients: o.minClients ?? k,
      enrollmentTokens: o.tokens ?? ['web-token-0', 'web-token-1', 'web-token-2', 'web-token-spare'],
      adminToken: 'web-admin-token-0123456789',
      roundTimeoutMs: o.roundTimeoutMs ?? 120_000,
      heartbeatMs: 5_000,
    },
  });
  const server = new FederaServer(config, { logger: o.logger ?? silentLogger, processMetrics: false });
  const { url, httpUrl } = await server.start();
  return { server, url, httpUrl, dir };
}

/** Everything a page sent: WebSocket frames (binary payloads) and HTTP request bodies. */
export interface Outbound {
  frames: Buffer[];
  requestBodies: Buffer[];
  requests: string[];
}

export interface ClientPage {
  context: BrowserContext;
  page: Page;
  sent: Outbound;
  /** Console errors and page errors (a crash of the page shows here). */
  problems: string[];
}

/**
 * A page of /client/ in its own browser context (own IndexedDB: its own identity), with every
 * outgoing WebSocket frame and request body recorded, also across reloads.
 */
export async function openClientPage(browser: Browser, httpUrl: string, query: Record<string, string | number>, options: { reloadAfterFirstUpdate?: boolean } = {}): Promise<ClientPage> {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (options.reloadAfterFirstUpdate) await page.addInitScript(RELOAD_AFTER_FIRST_UPDATE);
  const sent: Outbound = { frames: [], requestBodies: [], requests: [] };
  const problems: string[] = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => sent.frames.push(typeof f.payload === 'string' ? Buffer.from(f.payload, 'utf8') : Buffer.from(f.payload)));
  });
  page.on('request', (r) => {
    sent.requests.push(`${r.method()} ${r.url()}`);
    const body = r.postDataBuffer();
    if (body) sent.requestBodies.push(body);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  await page.goto(`${httpUrl}/client/?${qs}`);
  return { context, page, sent, problems };
}

/**
 * Test instrumentation: the page reloads itself right after its first model update has gone out
 * on the WebSocket (once per tab: sessionStorage survives the reload). Done in the page, because a
 * reload ordered from the test would arrive a few rounds late on a fast run.
 */
const RELOAD_AFTER_FIRST_UPDATE = `
if (!sessionStorage.getItem('federa-test-reloaded')) {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    send.call(this, data);
    if ((data.byteLength ?? 0) > 30000 && !sessionStorage.getItem('federa-test-reloaded')) {
      sessionStorage.setItem('federa-test-reloaded', '1');
      setTimeout(() => location.reload(), 0);
    }
  };
}`;

export interface PageState {
  status: string;
  clientId?: string;
  error?: string;
  welcomes: number;
  rounds: Array<{ round: number; loss?: number; accuracy?: number; sent?: number }>;
  events: Array<{ type: string; [k: string]: unknown }>;
}

export function pageState(page: Page, timeoutMs = 15_000): Promise<PageState> {
  return within(page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as { federaPage: unknown }).federaPage ?? {}))), timeoutMs, `the state of page ${page.url()}`);
}

/** All windows of `needle` in `hay` (Buffer.indexOf, so a match at any byte offset counts). */
export function contains(hay: Buffer, needle: Buffer): boolean {
  return hay.indexOf(needle) >= 0;
}

/** A grayscale 8-bit PNG (no filter), for image-folder tests. */
export function grayPng(width: number, height: number, pixel: (x: number, y: number) => number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw[y * (width + 1) + 1 + x] = pixel(x, y);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Writes `<dir>/<class>/<name>.png` files; returns `dir`. */
export function writeImageFolder(dir: string, images: Array<{ cls: string; name: string; png: Buffer }>): string {
  for (const im of images) {
    mkdirSync(join(dir, im.cls), { recursive: true });
    writeFileSync(join(dir, im.cls, `${im.name}.png`), im.png);
  }
  return dir;
}
