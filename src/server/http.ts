/**
 * HTTP endpoints of a federa server:
 *
 *   GET  /health                       liveness and a one-line state (open)
 *   GET  /api/status                   the run: round, phase, connected clients, pending requests (open)
 *   GET  /api/history?offset=&limit=   the run's round records as JSON, a page at a time (open; limit ≤ 1000, default 100)
 *   GET  /api/runs                     every run in the database (open)
 *   GET  /metrics                      Prometheus text format (open)
 *   GET  /client/…                     the browser client page, bundle and demo data (open; static.ts)
 *   GET  /, /dashboard/app.{js,css}    the dashboard page and its assets (open: no data in them)
 *   GET  /admin/dashboard              the dashboard's snapshot (runs, status, history, clients, events) ┐
 *   GET  /admin/events                 the dashboard's live stream (server-sent events)  │ admin token
 *   GET  /admin/clients                the client registry                       ┐
 *   GET  /admin/connections            open connections with their addresses     │
 *   GET  /admin/clients/:id/events     rejections recorded against a client       │ need
 *   POST /admin/clients/:id/revoke     revoke an identity (and disconnect it)     │ Authorization:
 *   GET  /admin/tokens                 enrollment tokens (ids and state, never secrets) │ Bearer <admin token>
 *   POST /admin/tokens                 make tokens: {"count": n, "note": "..."}   │
 *   POST /admin/tokens/:id/revoke      revoke a token                            │
 *   POST /admin/runs/:id/rollback      roll the run back: {"round": n}            ┘
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { describeError, isFederaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { toHex } from '../wire/crypto.js';
import type { ServerView } from './view.js';
import { serveBrowserClient } from './static.js';
import { dashboardSnapshot, dashboardStream, serveDashboardAsset } from './dashboard.js';

const MAX_BODY_BYTES = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error(`request body over ${MAX_BODY_BYTES} bytes`), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (!text) return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(Object.assign(new Error('request body is not JSON'), { status: 400 }));
      }
    });
    req.on('error', reject);
  });
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time check of `Authorization: Bearer <token>`. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  return timingSafeEqual(digest(m[1].trim()), digest(token));
}

/** A percent-decoded path segment; a malformed escape is the request's fault (400), not the server's. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw Object.assign(new Error(`path segment "${segment.slice(0, 80)}" has a malformed percent-encoding`), { status: 400 });
  }
}

export function createRequestHandler(server: ServerView, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  dashboardStream(server, logger);
  return (req, res) => {
    handle(server, req, res).catch((e: unknown) => {
      const status = (e as { status?: number }).status ?? (isFederaError(e, 'not_found') ? 404 : isFederaError(e) ? 400 : 500);
      if (status >= 500) logger.error({ url: req.url, error: describeError(e) }, 'http handler failed');
      if (!res.headersSent) send(res, status, { error: e instanceof Error ? e.message : String(e) });
      else res.end();
    });
  };
}

async function handle(server: ServerView, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') {
    switch (path) {
      case '/health':
        return send(res, 200, server.health());
      case '/api/status':
        return send(res, 200, server.status());
      case '/api/history': {
        const page = historyPage(url.searchParams);
        return typeof page === 'string' ? send(res, 400, { error: page }) : send(res, 200, server.history(page));
      }
      case '/api/runs':
        return send(res, 200, { runs: server.store.listRuns().map(({ config: _c, ...r }) => r) });
      case '/metrics':
        return send(res, 200, await server.metrics.text(), { 'content-type': server.metrics.contentType });
    }
    if (await serveDashboardAsset(path, method, res)) return;
  }
  if (path.startsWith('/admin/') || path === '/admin') return admin(server, req, res, path, method);
  if (serveBrowserClient(path, method, res)) return;
  send(res, 404, { error: `no route ${method} ${path}` });
}

async function admin(server: ServerView, req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<void> {
  const token = server.adminToken;
  if (!token) return send(res, 503, { error: 'the admin API is disabled: set server.adminToken (or FEDERA_ADMIN_TOKEN)' });
  if (!bearerMatches(req.headers.authorization, token)) {
    return send(res, 401, { error: 'admin endpoints need "Authorization: Bearer <admin token>"' }, { 'www-authenticate': 'Bearer realm="federa-admin"' });
  }
  const store = server.store;
  const parts = path.split('/').slice(2).map(decodePathSegment); // after "/admin"
  if (parts[0] === 'clients') {
    if (parts.length === 1 && method === 'GET') {
      const connected = new Set(server.grid?.availableClients() ?? []);
      return send(res, 200, {
        clients: store.listClients().map((c) => ({ ...c, publicKey: toHex(c.publicKey), connected: connected.has(c.id) })),
      });
    }
    if (parts.length === 3 && parts[2] === 'events' && method === 'GET') return send(res, 200, { events: store.clientEvents(parts[1]) });
    if (parts.length === 3 && parts[2] === 'revoke' && method === 'POST') {
      if (!server.revokeClient(parts[1])) return send(res, 404, { error: `no client ${parts[1]}` });
      return send(res, 200, { revoked: parts[1] });
    }
  }
  if (parts[0] === 'dashboard' && parts.length === 1 && method === 'GET') return send(res, 200, dashboardSnapshot(server));
  if (parts[0] === 'events' && parts.length === 1 && method === 'GET') return dashboardStream(server).subscribe(req, res);
  if (parts[0] === 'connections' && parts.length === 1 && method === 'GET') return send(res, 200, server.grid?.status() ?? { connections: 0, clients: [] });
  if (parts[0] === 'tokens') {
    if (parts.length === 1 && method === 'GET') return send(res, 200, { tokens: store.listTokens() });
    if (parts.length === 1 && method === 'POST') {
      const body = (await readBody(req)) as { count?: unknown; note?: unknown };
      const count = body.count === undefined ? 1 : body.count;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 10_000) return send(res, 400, { error: 'count must be an integer in 1..10000' });
      if (body.note !== undefined && (typeof body.note !== 'string' || body.note.length > 200)) return send(res, 400, { error: 'note must be a string of at most 200 characters' });
      return send(res, 201, { tokens: store.createTokens(count, body.note as string | undefined) });
    }
    if (parts.length === 3 && parts[2] === 'revoke' && method === 'POST') {
      if (!store.revokeToken(parts[1])) return send(res, 404, { error: `no token ${parts[1]}` });
      return send(res, 200, { revoked: parts[1] });
    }
  }
  if (parts[0] === 'runs' && parts.length === 3 && parts[2] === 'rollback' && method === 'POST') {
    const body = (await readBody(req)) as { round?: unknown };
    if (typeof body !== 'object' || body === null || typeof body.round !== 'number' || !Number.isInteger(body.round) || body.round < 0) {
      return send(res, 400, { error: 'the body must be {"round": n} with n an integer ≥ 0: the round whose checkpoint the run continues from' });
    }
    try {
      return send(res, 202, server.rollback(parts[1], body.round));
    } catch (e) {
      if (isFederaError(e, 'not_found')) return send(res, 404, { error: e.message });
      if (isFederaError(e, 'conflict')) return send(res, 409, { error: e.message });
      throw e;
    }
  }
  send(res, 404, { error: `no admin route ${method} ${path}` });
}

/** Pages of /api/history: `offset` ≥ 0 (default 0), `limit` 1–1000 (default 100); a message for bad values. */
export function historyPage(q: URLSearchParams): { offset: number; limit: number } | string {
  const int = (name: string, dflt: number, min: number, max: number): number | string => {
    const raw = q.get(name);
    if (raw === null || raw === '') return dflt;
    if (!/^\d+$/.test(raw)) return `${name} must be an integer in ${min}..${max}, got "${raw.slice(0, 40)}"`;
    const v = Number(raw);
    return v >= min && v <= max ? v : `${name} must be an integer in ${min}..${max}, got ${raw.slice(0, 40)}`;
  };
  const offset = int('offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = int('limit', 100, 1, 1000);
  if (typeof offset === 'string') return offset;
  if (typeof limit === 'string') return limit;
  return { offset, limit };
}
