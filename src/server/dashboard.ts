/**
 * The dashboard's server side: the page shell and its assets (open: they hold no data), the
 * snapshot `GET /admin/dashboard` and the live stream `GET /admin/events` (server-sent events),
 * both behind the admin token like every `/admin/` route.
 *
 * The stream never slows the run: events are serialised once and written to every subscriber; a
 * subscriber whose unsent output passes `maxBufferedBytes` (a stalled or slow viewer) is cut off,
 * and at most `maxSubscribers` streams are open at a time.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { RoundRecord } from '../core/records.js';
import { DASHBOARD_CSS } from '../dashboard/style.js';
import { dashboardPage } from '../dashboard/page.js';
import type { DashboardActivity, DashboardClient, DashboardEvents, DashboardRun, DashboardSnapshot, DashboardStatus } from '../dashboard/protocol.js';
import type { ClientActivity, Phase, ServerView } from './view.js';
import type { ClientRow } from './store.js';

const require = createRequire(import.meta.url);

export interface DashboardStreamOptions {
  /** Open streams allowed at once (default 16); more are refused with 503. */
  maxSubscribers?: number;
  /** Unsent bytes after which a subscriber is dropped (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Interval of the `status` and `clients` events (default 2 s). */
  refreshMs?: number;
  /** Interval of the keep-alive comment line (default 15 s). */
  keepAliveMs?: number;
}

interface Subscriber {
  readonly res: ServerResponse;
  readonly id: number;
  /** Unsent bytes allowed: maxBufferedBytes, or more while a large snapshot drains. */
  readonly limit: number;
}

function nowIso(): string {
  return new Date().toISOString();
}

/** The dashboard's view of the registry (`rows`, read now if not given) and the open connections. */
export function dashboardClients(server: ServerView, rows: readonly ClientRow[] = server.store.listClients()): DashboardClient[] {
  const now = Date.now();
  const live = new Map<string, number>();
  for (const c of server.grid?.status().clients ?? []) if (c.clientId && c.state === 'ready') live.set(c.clientId, c.lastSeenMs);
  return rows.map((c) => {
    const ms = live.get(c.id);
    return {
      id: c.id,
      connected: ms !== undefined,
      revoked: c.revokedAt !== null,
      lastSeenAt: ms !== undefined ? new Date(now - ms).toISOString() : c.lastSeenAt,
      participations: c.participations,
      failures: c.failures,
      violations: c.violations,
      enrolledAt: c.enrolledAt,
    };
  });
}

/** `/api/status` without its list of connections (the `clients` event has the client list). */
function status(server: ServerView): DashboardStatus {
  const { clients: _clients, ...rest } = server.status();
  return rest as DashboardStatus;
}

function runs(server: ServerView): DashboardRun[] {
  return server.store.listRuns().map(({ config: _config, initialEvaluation: _e, ...r }) => r);
}

/** Everything the dashboard shows, as of now. */
export function dashboardSnapshot(server: ServerView): DashboardSnapshot {
  return {
    serverTime: nowIso(),
    status: status(server),
    runs: runs(server),
    history: server.history(),
    clients: dashboardClients(server),
    activity: recentActivity(server),
  };
}

/**
 * Recent client activity for a page that opens now: rejections from the store, and a `joined`
 * item for every client connected now (at the time it connected) — joins before the page was
 * opened are not in any event the page could have seen. Newest first, at most `limit`.
 */
function recentActivity(server: ServerView, limit = 100): DashboardActivity[] {
  const now = Date.now();
  const joined: DashboardActivity[] = (server.grid?.status().clients ?? [])
    .filter((c) => c.clientId && c.state === 'ready')
    .map((c) => ({ kind: 'joined' as const, clientId: c.clientId!, at: new Date(now - c.connectedMs).toISOString(), round: null }));
  const rejected: DashboardActivity[] = server.store.clientEvents(undefined, limit).map((e) => ({ kind: 'rejected' as const, clientId: e.clientId, at: e.at, round: e.round, code: e.code, reason: e.reason }));
  return [...joined, ...rejected].sort((a, b) => Date.parse(b.at) - Date.parse(a.at)).slice(0, limit);
}

/** One SSE message; JSON has no raw newlines, so `data` is one line. */
export function sseMessage<K extends keyof DashboardEvents>(event: K, data: DashboardEvents[K], id?: number): string {
  return `event: ${event}\n${id !== undefined ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
}

/** The live stream of one server: subscribers, the server's events, the periodic refresh. */
export class DashboardStream {
  private readonly subs = new Set<Subscriber>();
  private readonly o: Required<DashboardStreamOptions>;
  private seq = 0;
  private nextSubscriber = 0;
  private refreshTimer: ReturnType<typeof setInterval> | undefined;
  private keepAliveTimer: ReturnType<typeof setInterval> | undefined;
  private clientsQueued = false;
  /**
   * The registry as last read. Its counts change only when a round is committed or a client
   * joins or is rejected, so the periodic refresh reuses it (reading 1,000 clients' participation
   * takes ~30 ms of the server's event loop) and only the live connection facts are new. It is
   * read again at least every 10 s (revocations come through no event).
   */
  private registry: ClientRow[] | undefined;
  private registryAt = 0;
  /** Subscribers dropped for being too slow (for tests and logs). */
  dropped = 0;

  private readonly onRound = (record: RoundRecord) => {
    this.registry = undefined;
    this.broadcast('round', record);
    this.queueClients(); // participation counts changed
  };
  private readonly onPhase = (_phase: Phase) => {
    try {
      this.broadcast('status', this.statusEvent());
    } catch (e) {
      this.logger.debug({ error: describeError(e) }, 'dashboard status skipped');
    }
  };
  private readonly onClient = (a: ClientActivity) => {
    this.registry = undefined;
    const activity: DashboardActivity = { kind: a.kind, clientId: a.clientId, at: a.at, round: a.round, ...(a.code !== undefined ? { code: a.code, reason: a.reason } : {}) };
    this.broadcast('activity', activity);
    if (a.kind === 'joined') this.queueClients();
  };

  constructor(
    private readonly server: ServerView,
    private readonly logger: Logger,
    options: DashboardStreamOptions = {},
  ) {
    this.o = { maxSubscribers: 16, maxBufferedBytes: 1 << 20, refreshMs: 2000, keepAliveMs: 15_000, ...options };
  }

  get subscribers(): number {
    return this.subs.size;
  }

  /** Answers `GET /admin/events` (the caller has checked the admin token). */
  subscribe(req: IncomingMessage, res: ServerResponse): void {
    if (this.subs.size >= this.o.maxSubscribers) {
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '10', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ error: `too many dashboard streams open (limit ${this.o.maxSubscribers})` }) + '\n');
      return;
    }
    const snapshot = sseMessage('snapshot', dashboardSnapshot(this.server), ++this.seq);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // Proxies (nginx) must pass events through as they come.
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.socket?.setNoDelay(true);
    // A long run's snapshot may exceed the limit by itself: it gets room to drain.
    const sub: Subscriber = { res, id: ++this.nextSubscriber, limit: Math.max(this.o.maxBufferedBytes, 2 * Buffer.byteLength(snapshot)) };
    if (this.subs.size === 0) this.attach();
    this.subs.add(sub);
    const leave = () => this.remove(sub);
    req.on('close', leave);
    res.on('close', leave);
    res.on('error', leave);
    res.write(`retry: 3000\n`);
    this.write(sub, snapshot);
  }

  private attach(): void {
    const ev = this.server.events;
    ev.on('round', this.onRound);
    ev.on('phase', this.onPhase);
    ev.on('client', this.onClient);
    this.refreshTimer = setInterval(() => {
      try {
        this.broadcast('status', this.statusEvent());
        this.broadcast('clients', this.clientsEvent());
      } catch (e) {
        // The store closes while a stopping server's streams wind down.
        this.logger.debug({ error: describeError(e) }, 'dashboard refresh skipped');
      }
    }, this.o.refreshMs);
    this.refreshTimer.unref();
    this.keepAliveTimer = setInterval(() => {
      for (const s of [...this.subs]) this.write(s, ': keep-alive\n\n');
    }, this.o.keepAliveMs);
    this.keepAliveTimer.unref();
  }

  private detach(): void {
    const ev = this.server.events;
    ev.off('round', this.onRound);
    ev.off('phase', this.onPhase);
    ev.off('client', this.onClient);
    clearInterval(this.refreshTimer);
    clearInterval(this.keepAliveTimer);
    this.refreshTimer = this.keepAliveTimer = undefined;
    this.registry = undefined;
  }

  private remove(sub: Subscriber): void {
    if (!this.subs.delete(sub)) return;
    if (this.subs.size === 0) this.detach();
  }

  private statusEvent(): DashboardEvents['status'] {
    return { serverTime: nowIso(), status: status(this.server), runs: runs(this.server) };
  }

  private clientsEvent(): DashboardEvents['clients'] {
    if (!this.registry || Date.now() - this.registryAt > 10_000) {
      this.registry = this.server.store.listClients();
      this.registryAt = Date.now();
    }
    return { serverTime: nowIso(), clients: dashboardClients(this.server, this.registry) };
  }

  /** Coalesces client-list refreshes (a burst of joins makes one event). */
  private queueClients(): void {
    if (this.clientsQueued) return;
    this.clientsQueued = true;
    setTimeout(() => {
      this.clientsQueued = false;
      try {
        if (this.subs.size) this.broadcast('clients', this.clientsEvent());
      } catch (e) {
        this.logger.debug({ error: describeError(e) }, 'dashboard client refresh skipped');
      }
    }, 50).unref();
  }

  private broadcast<K extends keyof DashboardEvents>(event: K, data: DashboardEvents[K]): void {
    if (this.subs.size === 0) return;
    let text: string;
    try {
      text = sseMessage(event, data, ++this.seq);
    } catch (e) {
      this.logger.error({ event, error: describeError(e) }, 'cannot serialise a dashboard event');
      return;
    }
    for (const s of [...this.subs]) this.write(s, text);
  }

  private write(sub: Subscriber, text: string): void {
    const res = sub.res;
    if (res.destroyed || res.writableEnded) return this.remove(sub);
    if (res.writableLength > sub.limit) {
      // The viewer reads slower than the run produces: cut it off rather than buffer without bound.
      this.dropped++;
      this.remove(sub);
      this.logger.info({ subscriber: sub.id, bufferedBytes: res.writableLength }, 'dropped a slow dashboard stream');
      res.destroy();
      return;
    }
    res.write(text);
  }
}

// ---------------------------------------------------------------------------------------------
// Page and assets

interface Asset {
  body: string;
  type: string;
}

let bundle: Promise<{ js: string; css: string }> | undefined;

/**
 * The browser bundle: `dist/browser/dashboard.js` next to the compiled server (npm run build), or,
 * when the server runs from its TypeScript source (tests, tsx), built now with esbuild.
 */
function loadBundle(): Promise<{ js: string; css: string }> {
  bundle ??= (async () => {
    const uplotCss = await readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    const css = `${uplotCss}\n${DASHBOARD_CSS}`;
    if (import.meta.url.endsWith('.ts')) {
      const { build } = await import('esbuild');
      const out = await build({
        entryPoints: [fileURLToPath(new URL('../dashboard/app.ts', import.meta.url))],
        bundle: true,
        format: 'esm',
        platform: 'browser',
        target: ['es2022'],
        write: false,
        minify: true,
        logLevel: 'silent',
      });
      return { js: out.outputFiles[0].text, css };
    }
    const file = fileURLToPath(new URL('../browser/dashboard.js', import.meta.url));
    try {
      return { js: await readFile(file, 'utf8'), css };
    } catch (e) {
      throw new Error(`the dashboard bundle ${file} is missing (run npm run build): ${describeError(e)}`);
    }
  })();
  bundle.catch(() => (bundle = undefined));
  return bundle;
}

/** Security headers of the page and its assets: only same-origin scripts, styles and requests. */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

/** The page (`/`) or one of its assets (`/dashboard/…`), or undefined for other paths. */
export async function dashboardAsset(path: string): Promise<Asset | undefined> {
  switch (path) {
    case '/':
    case '/dashboard':
      return { body: dashboardPage(), type: 'text/html; charset=utf-8' };
    case '/dashboard/app.js':
      return { body: (await loadBundle()).js, type: 'text/javascript; charset=utf-8' };
    case '/dashboard/app.css':
      return { body: (await loadBundle()).css, type: 'text/css; charset=utf-8' };
  }
  return undefined;
}

/** Serves the page or an asset; false when `path` is neither. */
export async function serveDashboardAsset(path: string, method: string, res: ServerResponse): Promise<boolean> {
  const asset = await dashboardAsset(path);
  if (!asset) return false;
  res.writeHead(200, { ...PAGE_HEADERS, 'content-type': asset.type, 'content-length': String(Buffer.byteLength(asset.body)) });
  res.end(method === 'HEAD' ? undefined : asset.body);
  return true;
}

const streams = new WeakMap<ServerView, DashboardStream>();

/** The live stream of `server` (one per server, made on first use). */
export function dashboardStream(server: ServerView, logger: Logger = silentLogger): DashboardStream {
  let s = streams.get(server);
  if (!s) {
    s = new DashboardStream(server, logger);
    streams.set(server, s);
  }
  return s;
}
