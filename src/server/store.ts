/**
 * The server's persistent state in one SQLite file (better-sqlite3): runs, rounds, per-client
 * participation, metrics, the client registry, enrollment tokens, client events (rejections),
 * and a checkpoint of the global model and strategy state after every round (the last K kept).
 *
 * A round is committed in one transaction — its record, participation, metrics and checkpoint —
 * so after a crash the database holds every completed round exactly once and the checkpoint to
 * resume from. WAL mode; `synchronous = NORMAL` survives a killed process (what `kill -9` does),
 * `durability: 'full'` also survives a power cut at the cost of an fsync per round.
 */
import Database from 'better-sqlite3';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { FederaError } from '../core/errors.js';
import { CommitMarker } from './commit-marker.js';
import type { RoundRecord, EvaluationRecord } from '../core/records.js';
import type { StrategyState } from '../strategy/strategy.js';
import { decodeRecord, encodeRecord, float32Bytes, float32FromBytes, type WireRecord } from '../wire/codec.js';

export type RunStatus = 'running' | 'completed' | 'stopped';

export interface RunRow {
  id: string;
  config: Record<string, unknown>;
  status: RunStatus;
  rounds: number;
  lastRound: number;
  createdAt: string;
  updatedAt: string;
  initialEvaluation?: EvaluationRecord;
}

export interface Checkpoint {
  round: number;
  params: Float32Array;
  layout: unknown;
  strategyState?: StrategyState;
  createdAt: string;
}

export interface ClientRow {
  id: string;
  publicKey: Uint8Array;
  tokenId: string | null;
  enrolledAt: string;
  revokedAt: string | null;
  lastSeenAt: string | null;
  violations: number;
  participations: number;
  failures: number;
}

export interface TokenRow {
  id: string;
  source: string;
  note: string | null;
  createdAt: string;
  usedAt: string | null;
  usedBy: string | null;
  revokedAt: string | null;
}

export interface ClientEvent {
  at: string;
  clientId: string;
  runId: string | null;
  round: number | null;
  code: string;
  reason: string;
}

/** The server's view of who may connect; the WebSocket grid asks it during the handshake. */
export interface ClientDirectory {
  lookup(clientId: string): { publicKey: Uint8Array; revoked: boolean } | undefined;
  /** Registers `clientId` with `publicKey` using a one-time token; throws `unauthorized` if refused. */
  enroll(clientId: string, publicKey: Uint8Array, token: string): void;
  seen?(clientId: string): void;
  /** Records a rejection of one of the client's frames. */
  mark?(clientId: string, code: string, reason: string, runId: string | null, round: number | null): void;
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  status TEXT NOT NULL,
  rounds INTEGER NOT NULL,
  last_round INTEGER NOT NULL DEFAULT 0,
  initial_evaluation TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
  run_id TEXT NOT NULL REFERENCES runs(id),
  round INTEGER NOT NULL,
  status TEXT NOT NULL,
  record TEXT NOT NULL,
  completed_at TEXT NOT NULL,
  PRIMARY KEY (run_id, round)
);
CREATE TABLE IF NOT EXISTS participation (
  run_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  outcome TEXT NOT NULL,
  code TEXT,
  reason TEXT,
  PRIMARY KEY (run_id, round, client_id)
);
CREATE INDEX IF NOT EXISTS participation_client ON participation (client_id);
CREATE TABLE IF NOT EXISTS metrics (
  run_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (run_id, round, name)
);
CREATE TABLE IF NOT EXISTS checkpoints (
  run_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  params BLOB NOT NULL,
  layout TEXT NOT NULL,
  strategy_state BLOB,
  created_at TEXT NOT NULL,
  PRIMARY KEY (run_id, round)
);
CREATE TABLE IF NOT EXISTS clients (
  id TEXT PRIMARY KEY,
  public_key BLOB NOT NULL,
  token_id TEXT,
  enrolled_at TEXT NOT NULL,
  revoked_at TEXT,
  last_seen_at TEXT,
  violations INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  hash BLOB NOT NULL UNIQUE,
  source TEXT NOT NULL,
  note TEXT,
  created_at TEXT NOT NULL,
  used_at TEXT,
  used_by TEXT,
  revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS client_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  client_id TEXT NOT NULL,
  run_id TEXT,
  round INTEGER,
  code TEXT NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS client_events_client ON client_events (client_id);
`;

function iso(): string {
  return new Date().toISOString();
}

function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function tokenId(hash: Buffer): string {
  return hash.toString('hex').slice(0, 12);
}

function refused(reason: string, message: string): FederaError {
  return new FederaError('unauthorized', message, { reason });
}

export interface StoreOptions {
  /** `normal` (default): survives process crashes; `full`: also power loss (fsync per commit). */
  durability?: 'normal' | 'full';
}

export class Store implements ClientDirectory {
  readonly path: string;
  private readonly db: Database.Database;
  /** Events recorded per client since start (a flood of rejections is summarised, not stored row by row). */
  private readonly eventBudget = new Map<string, number>();

  constructor(path: string, options: StoreOptions = {}) {
    this.path = path;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new FederaError('unsupported', `database ${path} has schema version ${version}; this federa knows up to ${SCHEMA_VERSION}`);
    this.db.exec(SCHEMA);
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }

  close(): void {
    if (this.db.open) {
      this.flushMarks();
      this.db.close();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Runs, rounds and checkpoints

  getRun(id: string): RunRow | undefined {
    const r = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? runRow(r) : undefined;
  }

  listRuns(): RunRow[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY created_at').all() as Record<string, unknown>[]).map(runRow);
  }

  createRun(id: string, config: Record<string, unknown>, rounds: number): RunRow {
    const t = iso();
    this.db.prepare('INSERT INTO runs (id, config, status, rounds, last_round, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)').run(id, JSON.stringify(config), 'running', rounds, t, t);
    return this.getRun(id)!;
  }

  /** Changes a run's round count (a finished run can be extended by resuming it with more rounds). */
  setRunRounds(id: string, rounds: number): void {
    this.db.prepare('UPDATE runs SET rounds = ?, updated_at = ? WHERE id = ?').run(rounds, iso(), id);
  }

  setRunStatus(id: string, status: RunStatus): void {
    this.db.prepare('UPDATE runs SET status = ?, updated_at = ? WHERE id = ?').run(status, iso(), id);
  }

  saveInitialEvaluation(id: string, evaluation: EvaluationRecord): void {
    this.db.prepare('UPDATE runs SET initial_evaluation = ?, updated_at = ? WHERE id = ?').run(JSON.stringify(evaluation), iso(), id);
  }

  /** Saves the checkpoint of round 0 (the initial model) of a new run. */
  saveInitialCheckpoint(runId: string, params: Float32Array, layout: unknown, state?: StrategyState): void {
    this.insertCheckpoint(runId, 0, params, layout, state);
  }

  /**
   * Commits a completed (or skipped) round: its record, participation, metrics and the checkpoint
   * after it, in one transaction; keeps the newest `keepCheckpoints` checkpoints.
   */
  commitRound(runId: string, record: RoundRecord, params: Float32Array, layout: unknown, state: StrategyState | undefined, keepCheckpoints: number): void {
    const tx = this.db.transaction(() => {
      const t = iso();
      this.db.prepare('INSERT INTO rounds (run_id, round, status, record, completed_at) VALUES (?, ?, ?, ?, ?)').run(runId, record.round, record.status, JSON.stringify(record), t);
      const part = this.db.prepare('INSERT OR REPLACE INTO participation (run_id, round, client_id, outcome, code, reason) VALUES (?, ?, ?, ?, ?, ?)');
      for (const c of record.selected) part.run(runId, record.round, c, 'selected', null, null);
      for (const c of record.succeeded) part.run(runId, record.round, c, 'succeeded', null, null);
      for (const c of record.dropped) part.run(runId, record.round, c, 'dropped', null, null);
      for (const f of record.failed) part.run(runId, record.round, f.clientId, 'failed', f.code, f.reason);
      const metric = this.db.prepare('INSERT OR REPLACE INTO metrics (run_id, round, name, value) VALUES (?, ?, ?, ?)');
      for (const [name, value] of flattenMetrics(record)) metric.run(runId, record.round, name, value);
      this.insertCheckpoint(runId, record.round, params, layout, state);
      this.db.prepare('DELETE FROM checkpoints WHERE run_id = ? AND round NOT IN (SELECT round FROM checkpoints WHERE run_id = ? ORDER BY round DESC LIMIT ?)').run(runId, runId, Math.max(1, keepCheckpoints));
      this.db.prepare('UPDATE runs SET last_round = ?, updated_at = ? WHERE id = ?').run(record.round, t, runId);
    });
    tx();
  }

  private insertCheckpoint(runId: string, round: number, params: Float32Array, layout: unknown, state?: StrategyState): void {
    const stateBlob = state && Object.keys(state).length ? Buffer.from(encodeRecord(state as WireRecord)) : null;
    this.db
      .prepare('INSERT OR REPLACE INTO checkpoints (run_id, round, params, layout, strategy_state, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(runId, round, Buffer.from(float32Bytes(params)), JSON.stringify(layout), stateBlob, iso());
  }

  latestCheckpoint(runId: string): Checkpoint | undefined {
    return this.checkpointRow(this.db.prepare('SELECT * FROM checkpoints WHERE run_id = ? ORDER BY round DESC LIMIT 1').get(runId) as Record<string, unknown> | undefined);
  }

  /** The checkpoint after `round` (0: the initial model), if it is still kept. */
  checkpointAt(runId: string, round: number): Checkpoint | undefined {
    return this.checkpointRow(this.db.prepare('SELECT * FROM checkpoints WHERE run_id = ? AND round = ?').get(runId, round) as Record<string, unknown> | undefined);
  }

  /**
   * Rolls run `runId` back to the end of round `round`: deletes the rounds after it (records,
   * participation, metrics, checkpoints), so a resumed run continues with round `round + 1` from
   * that round's checkpoint. Refused (FederaError `conflict`) when the checkpoint of `round` is no
   * longer kept, when there is nothing after it, or under differential privacy (the privacy ledger
   * counts the rounds that ran; forgetting them would understate ε).
   */
  rollback(runId: string, round: number): { round: number; removedRounds: number; previousLastRound: number } {
    if (!(Number.isInteger(round) && round >= 0)) throw new FederaError('invalid_argument', `rollback: round must be an integer ≥ 0, got ${round}`);
    const run = this.getRun(runId);
    if (!run) throw new FederaError('not_found', `no run "${runId}" in ${this.path}`);
    if (run.config.privacy) {
      throw new FederaError('conflict', `run "${runId}" uses differential privacy: rolling it back would forget the privacy already spent by rounds ${round + 1}–${run.lastRound} (their updates were released to the server); start a new run instead`);
    }
    const last = this.db.prepare('SELECT MAX(round) AS r FROM checkpoints WHERE run_id = ?').get(runId) as { r: number | null };
    const lastRound = Math.max(run.lastRound, last.r ?? 0);
    if (round >= lastRound) throw new FederaError('conflict', `run "${runId}" is at round ${lastRound}; there is nothing after round ${round} to roll back`);
    const kept = this.checkpointRounds(runId);
    if (!kept.includes(round)) {
      throw new FederaError('conflict', `run "${runId}" has no checkpoint of round ${round} any more (kept: ${kept.join(', ') || 'none'}; server.keepCheckpoints sets how many are kept)`);
    }
    const tx = this.db.transaction(() => {
      const removed = this.db.prepare('DELETE FROM rounds WHERE run_id = ? AND round > ?').run(runId, round).changes;
      this.db.prepare('DELETE FROM participation WHERE run_id = ? AND round > ?').run(runId, round);
      this.db.prepare('DELETE FROM metrics WHERE run_id = ? AND round > ?').run(runId, round);
      this.db.prepare('DELETE FROM checkpoints WHERE run_id = ? AND round > ?').run(runId, round);
      this.db.prepare("UPDATE runs SET last_round = ?, status = CASE WHEN status = 'completed' THEN 'stopped' ELSE status END, updated_at = ? WHERE id = ?").run(round, iso(), runId);
      return removed;
    });
    const removedRounds = tx.immediate();
    // The commit marker beside the database would otherwise take the rolled-back rounds for lost.
    if (this.path !== ':memory:' && existsSync(`${this.path}.commits.json`)) new CommitMarker(this.path).lower(runId, round);
    return { round, removedRounds, previousLastRound: lastRound };
  }

  private checkpointRow(r: Record<string, unknown> | undefined): Checkpoint | undefined {
    if (!r) return undefined;
    const state = r.strategy_state ? (decodeRecord(new Uint8Array(r.strategy_state as Buffer), { maxFrameBytes: 2 ** 31 }) as StrategyState) : undefined;
    return { round: r.round as number, params: float32FromBytes(new Uint8Array(r.params as Buffer), 'checkpoint'), layout: JSON.parse(r.layout as string), strategyState: state, createdAt: r.created_at as string };
  }

  checkpointRounds(runId: string): number[] {
    return (this.db.prepare('SELECT round FROM checkpoints WHERE run_id = ? ORDER BY round').all(runId) as Array<{ round: number }>).map((r) => r.round);
  }

  /** The run's round records in round order; `page` takes `limit` of them from `offset`. */
  history(runId: string, page?: { offset: number; limit: number }): RoundRecord[] {
    const sql = `SELECT record FROM rounds WHERE run_id = ? ORDER BY round${page ? ' LIMIT ? OFFSET ?' : ''}`;
    return (this.db.prepare(sql).all(...(page ? [runId, page.limit, page.offset] : [runId])) as Array<{ record: string }>).map((r) => JSON.parse(r.record) as RoundRecord);
  }

  /** How many rounds the run has recorded. */
  roundCount(runId: string): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM rounds WHERE run_id = ?').get(runId) as { n: number }).n;
  }

  /** Rows of `rounds` per round number (a test of "each round exactly once"). */
  roundCounts(runId: string): Array<{ round: number; count: number }> {
    return this.db.prepare('SELECT round, COUNT(*) AS count FROM rounds WHERE run_id = ? GROUP BY round ORDER BY round').all(runId) as Array<{ round: number; count: number }>;
  }

  participation(runId: string, clientId?: string): Array<{ round: number; clientId: string; outcome: string; code: string | null; reason: string | null }> {
    const sql = `SELECT round, client_id AS clientId, outcome, code, reason FROM participation WHERE run_id = ?${clientId ? ' AND client_id = ?' : ''} ORDER BY round, client_id`;
    return this.db.prepare(sql).all(...(clientId ? [runId, clientId] : [runId])) as Array<{ round: number; clientId: string; outcome: string; code: string | null; reason: string | null }>;
  }

  metrics(runId: string): Array<{ round: number; name: string; value: number }> {
    return this.db.prepare('SELECT round, name, value FROM metrics WHERE run_id = ? ORDER BY round, name').all(runId) as Array<{ round: number; name: string; value: number }>;
  }

  // -------------------------------------------------------------------------------------------
  // Clients and tokens

  lookup(clientId: string): { publicKey: Uint8Array; revoked: boolean } | undefined {
    const r = this.db.prepare('SELECT public_key, revoked_at FROM clients WHERE id = ?').get(clientId) as { public_key: Buffer; revoked_at: string | null } | undefined;
    return r ? { publicKey: new Uint8Array(r.public_key), revoked: r.revoked_at !== null } : undefined;
  }

  enroll(clientId: string, publicKey: Uint8Array, token: string): void {
    const hash = tokenHash(token);
    const tx = this.db.transaction(() => {
      const t = this.db.prepare('SELECT * FROM tokens WHERE id = ?').get(tokenId(hash)) as Record<string, unknown> | undefined;
      if (!t || !timingSafeEqual(t.hash as Buffer, hash)) throw refused('invalid_token', 'unknown enrollment token');
      if (t.revoked_at) throw refused('invalid_token', `enrollment token ${t.id as string} was revoked`);
      if (t.used_at) throw refused('invalid_token', `enrollment token ${t.id as string} was already used`);
      if (this.db.prepare('SELECT 1 FROM clients WHERE id = ?').get(clientId)) throw refused('identity_conflict', `client id ${clientId} is already enrolled`);
      const at = iso();
      this.db.prepare('INSERT INTO clients (id, public_key, token_id, enrolled_at) VALUES (?, ?, ?, ?)').run(clientId, Buffer.from(publicKey), t.id, at);
      this.db.prepare('UPDATE tokens SET used_at = ?, used_by = ? WHERE id = ?').run(at, clientId, t.id);
    });
    tx.immediate();
  }

  seen(clientId: string): void {
    this.db.prepare('UPDATE clients SET last_seen_at = ? WHERE id = ?').run(iso(), clientId);
  }

  /**
   * Records a rejected frame. Writes are batched (flushed within a second, and on close) so that a
   * flood of bad frames costs the server memory increments, not a transaction each; at most 100
   * events per client are stored per server start, the rest only counted.
   */
  mark(clientId: string, code: string, reason: string, runId: string | null, round: number | null): void {
    const used = this.eventBudget.get(clientId) ?? 0;
    this.eventBudget.set(clientId, used + 1);
    this.pendingViolations.set(clientId, (this.pendingViolations.get(clientId) ?? 0) + 1);
    if (used < 100) this.pendingEvents.push([iso(), clientId, runId, round, code, reason.slice(0, 500)]);
    this.flushTimer ??= setTimeout(() => this.flushMarks(), 1000);
    this.flushTimer.unref?.();
  }

  private readonly pendingViolations = new Map<string, number>();
  private pendingEvents: Array<[string, string, string | null, number | null, string, string]> = [];
  private flushTimer: ReturnType<typeof setTimeout> | undefined;

  /** Writes batched marks now. */
  flushMarks(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.db.open || (this.pendingViolations.size === 0 && this.pendingEvents.length === 0)) return;
    const counts = [...this.pendingViolations];
    const events = this.pendingEvents;
    this.pendingViolations.clear();
    this.pendingEvents = [];
    const up = this.db.prepare('UPDATE clients SET violations = violations + ? WHERE id = ?');
    const ins = this.db.prepare('INSERT INTO client_events (at, client_id, run_id, round, code, reason) VALUES (?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const [id, n] of counts) up.run(n, id);
      for (const e of events) ins.run(...e);
    })();
  }

  clientEvents(clientId?: string, limit = 200): ClientEvent[] {
    this.flushMarks();
    const sql = `SELECT at, client_id AS clientId, run_id AS runId, round, code, reason FROM client_events${clientId ? ' WHERE client_id = ?' : ''} ORDER BY seq DESC LIMIT ?`;
    return this.db.prepare(sql).all(...(clientId ? [clientId, limit] : [limit])) as ClientEvent[];
  }

  getClient(id: string): ClientRow | undefined {
    return this.listClients().find((c) => c.id === id);
  }

  listClients(): ClientRow[] {
    this.flushMarks();
    const rows = this.db
      .prepare(
        `SELECT c.*, (SELECT COUNT(*) FROM participation p WHERE p.client_id = c.id AND p.outcome = 'succeeded') AS participations,
                (SELECT COUNT(*) FROM participation p WHERE p.client_id = c.id AND p.outcome = 'failed') AS failures
         FROM clients c ORDER BY c.id`,
      )
      .all() as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r.id as string,
      publicKey: new Uint8Array(r.public_key as Buffer),
      tokenId: (r.token_id as string | null) ?? null,
      enrolledAt: r.enrolled_at as string,
      revokedAt: (r.revoked_at as string | null) ?? null,
      lastSeenAt: (r.last_seen_at as string | null) ?? null,
      violations: r.violations as number,
      participations: r.participations as number,
      failures: r.failures as number,
    }));
  }

  /** Revokes an identity; returns false when there is no such client. */
  revokeClient(id: string): boolean {
    return this.db.prepare('UPDATE clients SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(iso(), id).changes > 0;
  }

  /** Adds tokens (e.g. from the config file); ones already present are left as they are. Returns their ids. */
  addTokens(tokens: readonly string[], source: string, note?: string): string[] {
    const ins = this.db.prepare('INSERT OR IGNORE INTO tokens (id, hash, source, note, created_at) VALUES (?, ?, ?, ?, ?)');
    const tx = this.db.transaction(() =>
      tokens.map((tok) => {
        if (tok.length < 1 || tok.length > 512) throw new FederaError('invalid_config', 'an enrollment token must be 1–512 characters');
        const h = tokenHash(tok);
        ins.run(tokenId(h), h, source, note ?? null, iso());
        return tokenId(h);
      }),
    );
    return tx();
  }

  /** Makes `count` new random tokens; the secrets are returned once and stored only as hashes. */
  createTokens(count: number, note?: string): Array<{ id: string; token: string }> {
    const made = Array.from({ length: count }, () => `fdr_${randomBytes(24).toString('base64url')}`);
    const ids = this.addTokens(made, 'admin', note);
    return made.map((token, i) => ({ id: ids[i], token }));
  }

  listTokens(): TokenRow[] {
    return (this.db.prepare('SELECT id, source, note, created_at, used_at, used_by, revoked_at FROM tokens ORDER BY created_at, id').all() as Record<string, unknown>[]).map((r) => ({
      id: r.id as string,
      source: r.source as string,
      note: (r.note as string | null) ?? null,
      createdAt: r.created_at as string,
      usedAt: (r.used_at as string | null) ?? null,
      usedBy: (r.used_by as string | null) ?? null,
      revokedAt: (r.revoked_at as string | null) ?? null,
    }));
  }

  revokeToken(id: string): boolean {
    return this.db.prepare('UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(iso(), id).changes > 0;
  }
}

function runRow(r: Record<string, unknown>): RunRow {
  return {
    id: r.id as string,
    config: JSON.parse(r.config as string) as Record<string, unknown>,
    status: r.status as RunStatus,
    rounds: r.rounds as number,
    lastRound: r.last_round as number,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
    ...(r.initial_evaluation ? { initialEvaluation: JSON.parse(r.initial_evaluation as string) as EvaluationRecord } : {}),
  };
}

/** The numbers of a round record as (name, value) pairs for the metrics table. */
export function flattenMetrics(r: RoundRecord): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  const add = (prefix: string, m: Record<string, unknown> | undefined) => {
    if (!m) return;
    for (const [k, v] of Object.entries(m)) if (typeof v === 'number' && Number.isFinite(v)) out.push([`${prefix}.${k}`, v]);
  };
  add('train', r.train?.metrics);
  // Losses pass the same finiteness filter as metrics: a NaN loss is no value (the column is NOT NULL).
  if (r.centralEvaluation) {
    add('central', { loss: r.centralEvaluation.loss });
    add('central', r.centralEvaluation.metrics);
  }
  if (r.federatedEvaluation) {
    add('federated', { loss: r.federatedEvaluation.loss });
    add('federated', r.federatedEvaluation.metrics);
  }
  add('privacy', r.privacy as Record<string, unknown> | undefined);
  add('bytes', { down: r.bytes.down, up: r.bytes.up });
  out.push(['clients.selected', r.selected.length], ['clients.succeeded', r.succeeded.length], ['clients.failed', r.failed.length], ['clients.dropped', r.dropped.length]);
  add('timing', r.timing as unknown as Record<string, unknown>);
  // The same name may come from two places (train.loss in metrics and loss): keep the last.
  return [...new Map(out).entries()];
}
