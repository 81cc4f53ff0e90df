// The dashboard in the browser: takes the admin token (from `#token=…` or the form) into session
// storage, opens the live stream `GET /admin/events` with it in an Authorization header, and keeps
// the page up to date from the stream's snapshot and events. Charts are the report's chart code
// (src/report/charts.ts) with uPlot, bundled by esbuild into dist/browser/dashboard.js.
import uPlot from 'uplot';
import { formatBytes, mountCharts, qualityMetric, seriesFromHistory, type MountedCharts, type ReportRound } from '../report/charts.js';
import type { RoundRecord } from '../core/records.js';
import type { DashboardActivity, DashboardEvents, DashboardSnapshot } from './protocol.js';
import { SseParser } from './sse.js';

const TOKEN_KEY = 'federa-admin-token';
const MAX_ACTIVITY = 200;
/** Rows of the rounds table (newest first); the charts always hold every round. */
const MAX_ROUND_ROWS = 500;

/** Parts of the page to redraw: each event touches only some. */
type Part = 'title' | 'stats' | 'charts' | 'rounds' | 'clients' | 'events' | 'runs';
const ALL_PARTS: readonly Part[] = ['title', 'stats', 'charts', 'rounds', 'clients', 'events', 'runs'];
const PARTS_OF: Record<string, readonly Part[]> = {
  snapshot: ALL_PARTS,
  round: ['stats', 'charts', 'rounds', 'events', 'runs'],
  status: ['title', 'stats', 'runs'],
  clients: ['stats', 'clients'],
  activity: ['events'],
  // Once a second: the "last seen" and "updated" ages.
  tick: ['clients', 'runs'],
};

type ConnState = 'idle' | 'connecting' | 'live' | 'refused' | 'error';

/** What tests (and curious people) can read from the console: `window.__federaDashboard`. */
interface DebugView {
  /** Set once when the script starts: a reload would replace it. */
  loadedAt: number;
  connection: ConnState;
  /** Every event received, in order: its name and (round events) the round. */
  received: Array<{ event: string; round?: number }>;
  snapshot: DashboardSnapshot | null;
  /** The data the uPlot charts hold, by chart id. */
  chartData(): Record<string, unknown>;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function h(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string | null | undefined>): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function fmt(v: number | null | undefined, digits = 4): string {
  return v == null || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

function duration(ms: number | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)}m ${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

class Dashboard {
  private token: string | null = null;
  private state: DashboardSnapshot | null = null;
  /** serverTime − local time, from the last message that carried the server clock. */
  private clockOffset = 0;
  private charts: MountedCharts | null = null;
  private abort: AbortController | null = null;
  private retryMs = 1000;
  private readonly dirty = new Set<Part>();
  /** When each round that arrived live came (orders round events among client activity). */
  private readonly arrivedAt = new Map<number, number>();
  readonly debug: DebugView;

  constructor() {
    this.debug = { loadedAt: Date.now() + Math.random(), connection: 'idle', received: [], snapshot: null, chartData: () => this.charts?.data() ?? {} };
    (window as unknown as { __federaDashboard: DebugView }).__federaDashboard = this.debug;
  }

  start(): void {
    this.takeTokenFromFragment();
    window.addEventListener('hashchange', () => {
      if (this.takeTokenFromFragment()) this.connect();
    });
    $('login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = $<HTMLInputElement>('token');
      const t = input.value.trim();
      input.value = '';
      if (!t) return;
      sessionStorage.setItem(TOKEN_KEY, t);
      this.connect();
    });
    $('logout').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      this.abort?.abort();
      this.showLogin('');
    });
    setInterval(() => this.queueRender('tick'), 1000);
    this.connect();
  }

  /** A token in the fragment (never sent to the server) moves to session storage and out of the URL. */
  private takeTokenFromFragment(): boolean {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (!m) return false;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
    return true;
  }

  private setConn(s: ConnState, text: string): void {
    this.debug.connection = s;
    $('conn').dataset.state = s;
    $('conn-text').textContent = text;
  }

  private showLogin(message: string, refused = false): void {
    $('app').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    $('login').classList.toggle('refused', refused);
    $('login-message').textContent = message || "This dashboard shows the server's runs and clients to its administrators.";
    $('run-title').textContent = '';
    if (!refused) this.setConn('idle', 'not connected');
    $<HTMLInputElement>('token').focus();
  }

  private connect(): void {
    this.token = sessionStorage.getItem(TOKEN_KEY);
    this.abort?.abort();
    if (!this.token) return this.showLogin('');
    const abort = new AbortController();
    this.abort = abort;
    this.setConn('connecting', 'connecting…');
    void this.stream(this.token, abort.signal).catch((e: unknown) => {
      if (abort.signal.aborted) return;
      this.setConn('error', `disconnected (${e instanceof Error ? e.message : String(e)}); retrying`);
      setTimeout(() => {
        if (!abort.signal.aborted) this.connect();
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 15_000);
    });
  }

  private async stream(token: string, signal: AbortSignal): Promise<void> {
    const res = await fetch('/admin/events', { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, cache: 'no-store', signal });
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      this.setConn('refused', 'refused');
      this.showLogin('Access refused: the server did not accept this admin token.', true);
      return;
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      let message = `HTTP ${res.status}`;
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? message;
      } catch {
        // not JSON
      }
      if (res.status === 503 && /admin API is disabled/.test(message)) {
        this.setConn('refused', 'refused');
        this.showLogin(`Refused: ${message}`, true);
        return;
      }
      throw new Error(message);
    }
    const parser = new SseParser((m) => this.onMessage(m.event, m.data));
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(value);
    }
    throw new Error('the stream ended');
  }

  private onMessage(event: string, data: string): void {
    let body: unknown;
    try {
      body = JSON.parse(data);
    } catch {
      return;
    }
    if (event === 'snapshot') {
      const s = body as DashboardEvents['snapshot'];
      this.state = s;
      this.debug.snapshot = s;
      this.clock(s.serverTime);
      this.retryMs = 1000;
      this.setConn('live', 'live');
      $('login').hidden = true;
      $('app').hidden = false;
      $('logout').hidden = false;
      this.debug.received.push({ event });
    } else if (!this.state) {
      return;
    } else if (event === 'round') {
      const r = body as DashboardEvents['round'];
      const rounds = this.state.history.rounds;
      const at = rounds.findIndex((x) => x.round >= r.round);
      if (at < 0) rounds.push(r);
      else if (rounds[at].round === r.round) rounds[at] = r;
      else rounds.splice(at, 0, r);
      this.arrivedAt.set(r.round, Date.now());
      // The status line and the runs list refresh every few seconds; the round counts now.
      const st = this.state.status;
      st.completedRounds = Math.max(st.completedRounds, r.round);
      const current = this.state.runs.find((x) => x.id === st.runId);
      if (current) current.lastRound = Math.max(current.lastRound, r.round);
      this.debug.received.push({ event, round: r.round });
    } else if (event === 'status') {
      const s = body as DashboardEvents['status'];
      this.state.status = s.status;
      this.state.runs = s.runs;
      this.clock(s.serverTime);
      this.debug.received.push({ event });
    } else if (event === 'clients') {
      const c = body as DashboardEvents['clients'];
      this.state.clients = c.clients;
      this.clock(c.serverTime);
      this.debug.received.push({ event });
    } else if (event === 'activity') {
      this.state.activity.unshift(body as DashboardActivity);
      this.state.activity.length = Math.min(this.state.activity.length, MAX_ACTIVITY);
      this.debug.received.push({ event });
    } else {
      return;
    }
    this.queueRender(event);
  }

  private clock(serverTime: string): void {
    const t = Date.parse(serverTime);
    if (Number.isFinite(t)) this.clockOffset = t - Date.now();
  }

  private queueRender(cause: string): void {
    if (!this.state) return;
    const first = this.dirty.size === 0;
    for (const p of PARTS_OF[cause] ?? ALL_PARTS) this.dirty.add(p);
    if (first) requestAnimationFrame(() => this.render());
  }

  private ago(iso: string | null): string {
    if (!iso) return 'never';
    const s = Math.max(0, Math.round((Date.now() + this.clockOffset - Date.parse(iso)) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return new Date(iso).toLocaleString();
  }

  private render(): void {
    const s = this.state;
    const parts = new Set(this.dirty);
    this.dirty.clear();
    if (!s) return;
    const rounds = s.history.rounds;
    const st = s.status;
    if (parts.has('title')) $('run-title').replaceChildren('run ', h('b', {}, st.runId), ' ', h('span', { class: `badge ${st.phase}` }, st.phase));
    if (parts.has('stats')) this.renderStats(s);
    if (parts.has('charts')) {
      const series = seriesFromHistory(rounds as unknown as ReportRound[]);
      if (!this.charts) this.charts = mountCharts($('charts'), uPlot, series, { height: 220 });
      else this.charts.update(series);
    }
    if (parts.has('rounds')) this.renderRounds(rounds);
    if (parts.has('clients')) this.renderClients(s);
    if (parts.has('events')) this.renderEvents(s);
    if (parts.has('runs')) this.renderRuns(s);
  }

  private renderStats(s: DashboardSnapshot): void {
    const st = s.status;
    const rounds = s.history.rounds;
    const last = rounds.at(-1);
    const lastEval = [...rounds].reverse().find((r) => r.centralEvaluation || r.federatedEvaluation);
    const ev = lastEval?.centralEvaluation ?? lastEval?.federatedEvaluation;
    const initial = s.history.initialEvaluation;
    // Accuracy for classifiers, R² for a regression run.
    const quality = qualityMetric(rounds);
    const privacy = [...rounds].reverse().find((r) => r.privacy)?.privacy;
    const connected = s.clients.filter((c) => c.connected).length;
    let up = 0;
    let down = 0;
    for (const r of rounds) {
      up += r.bytes?.up ?? 0;
      down += r.bytes?.down ?? 0;
    }
    const stat = (id: string, label: string, value: string, note: string, attrs: Record<string, string> = {}) =>
      h('div', { class: 'stat', id, ...attrs }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), h('div', { class: 'note' }, note));
    const inProgress = st.phase === 'training' && st.completedRounds < st.rounds ? `round ${st.completedRounds + 1} in progress` : st.phase === 'waiting' ? `waiting for ${st.quorum} clients` : st.phase;
    $('stats').replaceChildren(
      stat('round-counter', 'Rounds completed', `${st.completedRounds} / ${st.rounds}`, inProgress, { 'data-completed': String(st.completedRounds), 'data-rounds': String(st.rounds) }),
      stat('stat-accuracy', lastEval?.centralEvaluation ? `${quality.label} (central)` : quality.label, fmt(quality.of(ev?.metrics)), lastEval ? `round ${lastEval.round}${initial ? ` · initial ${fmt(quality.of(initial.metrics))}` : ''}` : 'no evaluation yet'),
      stat('stat-loss', 'Loss', fmt(ev?.loss), lastEval ? `round ${lastEval.round}${initial ? ` · initial ${fmt(initial.loss)}` : ''}` : ''),
      stat('stat-clients', 'Clients connected', `${connected} / ${s.clients.length}`, `quorum ${st.quorum}`),
      stat('stat-last', 'Reported / selected', last ? `${last.succeeded.length} / ${last.selected.length}` : '—', last ? `round ${last.round} · ${last.failed.length} failed · ${(last.dropped ?? []).length} dropped` : 'no round yet'),
      stat('stat-bytes', 'Bytes', `↓ ${formatBytes(down)}`, `↑ ${formatBytes(up)} in ${rounds.length} rounds`),
      stat('stat-privacy', 'Privacy spent', privacy ? `ε ${fmt(privacy.epsilon, 3)}` : 'no DP', privacy ? `δ ${privacy.delta.toExponential(0)} · after round ${[...rounds].reverse().find((r) => r.privacy)!.round}` : 'differential privacy is off'),
    );
  }

  private renderRounds(rounds: RoundRecord[]): void {
    const quality = qualityMetric(rounds);
    const heading = document.getElementById('quality-heading');
    if (heading) heading.textContent = quality.label;
    const rows = rounds.slice(-MAX_ROUND_ROWS).reverse().map((r) => {
      const ev = r.centralEvaluation ?? r.federatedEvaluation;
      const failed = h('td', { class: r.failed.length ? 'num bad' : 'num', title: r.failed.map((f) => `${f.clientId}: ${f.code} — ${f.reason}`).join('\n') }, String(r.failed.length));
      return h(
        'tr',
        { 'data-round': String(r.round) },
        h('td', { class: 'num' }, String(r.round)),
        h('td', {}, h('span', { class: `badge ${r.status === 'completed' ? 'ok' : 'skipped'}`, title: r.reason ?? '' }, r.status)),
        h('td', { class: 'num', title: r.selected.join(', ') }, String(r.selected.length)),
        h('td', { class: 'num', title: r.succeeded.join(', ') }, String(r.succeeded.length)),
        failed,
        h('td', { class: 'num', title: (r.dropped ?? []).join(', ') }, String((r.dropped ?? []).length)),
        h('td', { class: 'num' }, fmt(quality.of(ev?.metrics))),
        h('td', { class: 'num' }, fmt(ev?.loss ?? r.train?.loss)),
        h('td', { class: 'num' }, formatBytes(r.bytes?.down)),
        h('td', { class: 'num' }, formatBytes(r.bytes?.up)),
        h('td', { class: 'num' }, r.privacy ? fmt(r.privacy.epsilon, 3) : '—'),
        h('td', { class: 'num' }, duration(r.timing?.totalMs)),
      );
    });
    $('rounds').querySelector('tbody')!.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: '12', class: 'muted' }, 'No round has completed yet.'))]));
  }

  private renderClients(s: DashboardSnapshot): void {
    const rows = s.clients.map((c) => {
      const status = c.revoked ? 'revoked' : c.connected ? 'connected' : 'offline';
      return h(
        'tr',
        { 'data-client': c.id, 'data-status': status, 'data-participations': String(c.participations), 'data-failures': String(c.failures) },
        h('td', {}, c.id),
        h('td', {}, h('span', { class: `badge ${status}` }, status)),
        h('td', { title: c.lastSeenAt ?? '' }, this.ago(c.lastSeenAt)),
        h('td', { class: 'num' }, String(c.participations)),
        h('td', { class: c.failures ? 'num bad' : 'num' }, String(c.failures)),
        h('td', { class: c.violations ? 'num bad' : 'num' }, String(c.violations)),
      );
    });
    $('clients').querySelector('tbody')!.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: '6', class: 'muted' }, 'No client has enrolled yet.'))]));
    $('clients-summary').textContent = `${s.clients.filter((c) => c.connected).length} connected of ${s.clients.length} enrolled`;
  }

  private renderEvents(s: DashboardSnapshot): void {
    type Item = { when: string; badge: string; kind: string; text: string; reason?: string; sort: number };
    const items: Item[] = [];
    const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour12: false });
    for (const a of s.activity) {
      items.push({
        when: time(a.at),
        badge: a.kind,
        kind: a.kind === 'joined' ? 'joined' : 'rejected',
        text: a.kind === 'joined' ? `${a.clientId} connected` : `${a.clientId}: frame rejected (${a.code})`,
        reason: a.reason,
        sort: Date.parse(a.at),
      });
    }
    const rounds = s.history.rounds;
    for (const r of rounds) {
      // Round events carry no clock time: they sort after client activity of the same moment by round.
      const at = this.arrivedAt.get(r.round) ?? 0;
      const base = { when: `round ${r.round}`, sort: at || r.round };
      if (r.status === 'skipped') items.push({ ...base, badge: 'warn', kind: 'skipped', text: `round ${r.round} skipped`, reason: r.reason });
      for (const f of r.failed) items.push({ ...base, badge: 'failed', kind: 'failed', text: `${f.clientId} failed in round ${r.round} (${f.code})`, reason: f.reason });
      for (const e of r.events ?? []) items.push({ ...base, badge: 'warn', kind: e.kind, text: `${e.clientId ? `${e.clientId}: ` : ''}${e.message}` });
    }
    items.sort((a, b) => b.sort - a.sort);
    const list = items.slice(0, MAX_ACTIVITY).map((i) =>
      h('li', { 'data-kind': i.kind }, h('time', {}, i.when), h('span', {}, h('span', { class: `badge ${i.badge}` }, i.kind)), h('span', { class: 'msg' }, i.text, i.reason ? h('span', { class: 'reason' }, ` — ${i.reason}`) : null)),
    );
    $('events').replaceChildren(...(list.length ? list : [h('li', { class: 'muted' }, 'No events yet.')]));
  }

  private renderRuns(s: DashboardSnapshot): void {
    const rows = [...s.runs].reverse().map((r) =>
      h(
        'tr',
        { 'data-run': r.id },
        h('td', {}, r.id === s.status.runId ? h('b', {}, r.id) : r.id),
        h('td', {}, h('span', { class: `badge ${r.status}` }, r.status)),
        h('td', { class: 'num' }, `${r.lastRound} / ${r.rounds}`),
        h('td', { title: r.createdAt }, new Date(r.createdAt).toLocaleString()),
        h('td', { title: r.updatedAt }, this.ago(r.updatedAt)),
      ),
    );
    $('runs').querySelector('tbody')!.replaceChildren(...rows);
  }
}

new Dashboard().start();
