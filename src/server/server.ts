/**
 * `FederaServer`: a deployment's coordinator. It opens (or resumes) a run in the SQLite store,
 * serves WebSocket clients through a `WebSocketGrid` and HTTP endpoints, and drives the SAME
 * `RoundEngine`, strategies and workflows as a simulation — only the transport differs.
 *
 * Before each round it waits for the start quorum of connected clients; every finished round is
 * committed (record, participation, metrics, checkpoint) in one transaction, so a server killed
 * mid-round and restarted resumes from the last completed round and the history holds each round
 * exactly once.
 */
import { EventEmitter } from 'node:events';
import type { FederaServerEvents, Phase, ServerView } from './view.js';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { FederaError, describeError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { ParamLayout, makeParams, type Params } from '../core/params.js';
import { Rng } from '../core/rng.js';
import type { Dataset } from '../data/dataset.js';
import { RoundEngine } from '../engine/engine.js';
import { findNonFiniteState } from '../engine/model-guard.js';
import type { RoundRecord, EvaluationRecord } from '../core/records.js';
import type { TrainWorkflow } from '../engine/workflow.js';
import type { ServerLayer } from '../engine/server-layer.js';
import type { CentralEvaluate, Strategy, StrategyOptions } from '../strategy/strategy.js';
import { planRun, type RunPlan } from '../run/plan.js';
import { dataShapeOf, loadConfiguredData, resolveModel } from '../node/workloads.js';
import { rebuildReport } from './rebuild-report.js';
import { CloseCode, PREAUTH_MAX_FRAME_BYTES, type ModelSpec } from '../wire/protocol.js';
import { isLoopbackHost } from '../wire/client.js';
import { CommitMarker } from './commit-marker.js';
import { ConnectionAdmission, checkReceiverLimit, defaultMaxMessageBytes, raiseMaxPayload } from './admission.js';
import { runDefinition, startQuorum } from '../config/rules.js';
import type { ServerConfig } from '../config/schema.js';
import { Store, type ClientDirectory, type RunRow } from './store.js';
import { ServerMetrics } from './metrics.js';
import { WebSocketGrid } from './grid.js';
import { createRequestHandler } from './http.js';

/** The model a server coordinates: what clients build, where training starts, how to evaluate centrally. */
export interface ServerModel {
  spec: ModelSpec;
  initialParams: Params;
  evaluate?: CentralEvaluate;
  dispose?(): void;
}

export interface FederaServerOptions {
  logger?: Logger;
  /** Replaces the zoo model named by the config (custom models, tests, benchmarks). */
  model?: ServerModel | (() => ServerModel | Promise<ServerModel>);
  /** Replaces the strategy built from `config.strategy`; receives the train config and central evaluation. */
  strategy?: (options: StrategyOptions) => Strategy;
  workflow?: TrainWorkflow;
  serverLayers?: readonly ServerLayer[];
  /** Admin token (overrides `server.adminToken` and FEDERA_ADMIN_TOKEN). */
  adminToken?: string;
  /** Also export process metrics (CPU, memory, event loop) at /metrics (default true). */
  processMetrics?: boolean;
}

export interface ServerAddress {
  /** Where clients connect: `wss://host:port` (or `ws://` without TLS). */
  url: string;
  /** Where the HTTP endpoints are: `https://host:port`. */
  httpUrl: string;
  host: string;
  port: number;
}

export interface RunOutcome {
  runId: string;
  status: 'completed' | 'stopped';
  /** Last completed round. */
  lastRound: number;
  /** Round the run resumed from (the first round this process ran), when it resumed. */
  resumedAt?: number;
  finalAccuracy?: number;
  finalLoss?: number;
}

export type { Phase, ClientActivity, FederaServerEvents } from './view.js';

/** Loads the central test set of a config's dataset: the same split a simulation uses. */
export function loadEvaluationData(config: ServerConfig): Dataset | undefined {
  const d = config.dataset;
  if (!d) return undefined;
  return (loadConfiguredData(d, { task: config.task, seed: config.seed, model: config.model })).test;
}

/**
 * The config's model — a zoo model or a model.json (its architecture travels in the spec) —
 * initialised from the run seed as in simulation, with the central evaluation on the dataset's test split.
 */
export async function zooServerModel(config: ServerConfig): Promise<ServerModel> {
  const test = loadEvaluationData(config);
  const numFeatures = config.input?.numFeatures ?? test!.numFeatures;
  if (test && test.numFeatures !== numFeatures) throw new FederaError('invalid_config', `input.numFeatures is ${numFeatures} but the dataset has ${test.numFeatures} features`);
  const shape = test ? dataShapeOf(test, config.task) : { numFeatures, numClasses: config.input!.numClasses, task: config.task };
  if (config.input?.numClasses !== undefined) shape.numClasses = config.input.numClasses;
  const model = await resolveModel(config.model, shape, { seed: config.seed });
  const trainer = test ? await model.createTrainer() : undefined;
  return {
    spec: model.spec,
    initialParams: model.initialParams,
    evaluate:
      test && trainer
        ? async (_round, params) => {
            trainer.setParameters(params.data);
            const r = await trainer.evaluate(test);
            return { loss: r.loss, metrics: r.metrics };
          }
        : undefined,
    dispose: () => trainer?.dispose(),
  };
}

/** The certificate and key can be read and belong together; otherwise an error naming the files. */
function checkTlsFiles(tls: { cert: string; key: string }): void {
  let cert: Buffer, key: Buffer;
  try {
    cert = readFileSync(tls.cert);
    key = readFileSync(tls.key);
  } catch (e) {
    throw new FederaError('invalid_config', `server.tls: cannot read the certificate ${tls.cert} or key ${tls.key}: ${describeError(e)} (make them with: npx federa cert --host <name> --out certs)`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw new FederaError('invalid_config', `server.tls: ${tls.cert} and ${tls.key} are not a certificate and its private key: ${describeError(e)}`);
  }
}

function sameDefinition(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => k !== 'rounds' && JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

export class FederaServer implements ServerView {
  readonly config: ServerConfig;
  readonly metrics: ServerMetrics;
  readonly adminToken: string | undefined;
  /** Round commits, phase changes and client activity (see {@link FederaServerEvents}). */
  readonly events = new EventEmitter<FederaServerEvents>();
  store!: Store;
  grid: WebSocketGrid | undefined;
  /** Settles when the run completes (or the server is stopped). */
  done!: Promise<RunOutcome>;
  private readonly o: FederaServerOptions;
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private http: HttpServer | undefined;
  private wss: WebSocketServer | undefined;
  private admission: ConnectionAdmission | undefined;
  private marker: CommitMarker | undefined;
  private model: ServerModel | undefined;
  private run: RunRow | undefined;
  private phase: Phase = 'starting';
  private currentRound = 0;
  private lastRecord: RoundRecord | undefined;
  private resumedAt: number | undefined;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | undefined;
  private address: ServerAddress | undefined;
  private engine: RoundEngine | undefined;
  private pendingRollback: number | undefined;

  constructor(config: ServerConfig, options: FederaServerOptions = {}) {
    this.config = config;
    this.o = options;
    this.logger = options.logger ?? silentLogger;
    this.metrics = new ServerMetrics({ processMetrics: options.processMetrics });
    this.adminToken = options.adminToken ?? config.server.adminToken ?? process.env.FEDERA_ADMIN_TOKEN ?? undefined;
  }

  get runId(): string {
    return this.config.name;
  }

  /** Opens the store, prepares (or resumes) the run, listens, and starts the rounds. */
  async start(): Promise<ServerAddress> {
    const c = this.config;
    const s = c.server;
    // Files a deployment needs are checked before the database or the run is created.
    if (s.tls) checkTlsFiles(s.tls);
    else if (!isLoopback(s.host) && !s.insecureAllowWs) {
      throw new FederaError(
        'invalid_config',
        `server.host is "${s.host}" but server.tls is not set: over plain ws/http on a network interface the enrollment tokens, the model and every update travel in clear and clients cannot authenticate the server. Set server.tls (npx federa cert --host <name> --out certs), listen on 127.0.0.1, or accept the risk with --insecure-allow-ws (server.insecureAllowWs = true)`,
      );
    }
    const m = this.o.model;
    this.model = m === undefined ? await zooServerModel(c) : typeof m === 'function' ? await m() : m;
    try {
      this.store = new Store(s.database, { durability: s.durability });
    } catch (e) {
      this.model.dispose?.();
      this.model = undefined;
      throw e;
    }
    try {
      if (s.enrollmentTokens.length) this.store.addTokens(s.enrollmentTokens, 'config');
      const layout = ParamLayout.fromJSON(this.model.spec.layout);
      if (!layout.equals(this.model.initialParams.layout)) throw new FederaError('invalid_config', 'model spec layout does not match the initial parameters');

      // Start or resume the run.
      const definition = runDefinition(c);
      let run = this.store.getRun(this.runId);
      // A database that lost committed rounds (its -wal file) is refused, not resumed or restarted.
      this.marker = s.database === ':memory:' ? undefined : new CommitMarker(s.database);
      this.marker?.check(this.runId, run ? (this.store.latestCheckpoint(this.runId)?.round ?? 0) : undefined);
      if (run) {
        const differs = sameDefinition(run.config, definition);
        if (differs.length) {
          throw new FederaError('invalid_config', `run "${this.runId}" in ${s.database} was started with a different config (${differs.join(', ')} ${differs.length === 1 ? 'differs' : 'differ'}); use the same config to resume it, or start a new run under another name (--name <run>, or name = "…" in the config)`);
        }
      } else {
        run = this.store.createRun(this.runId, definition, c.rounds);
        this.store.saveInitialCheckpoint(this.runId, this.model.initialParams.data, layout.toJSON());
        this.logger.info({ runId: this.runId, rounds: c.rounds, model: this.model.spec.name }, 'new run');
      }
      this.run = run;
      const checkpoint = this.store.latestCheckpoint(this.runId);
      if (!checkpoint) throw new FederaError('internal', `run "${this.runId}" has no checkpoint`);
      if (!ParamLayout.fromJSON(checkpoint.layout).equals(layout)) throw new FederaError('invalid_config', `the checkpoint of run "${this.runId}" has a different model layout`);
      const poisoned = findNonFiniteState(checkpoint.params, checkpoint.strategyState);
      if (poisoned) {
        const earlier = this.store.checkpointRounds(this.runId).filter((r) => r < checkpoint.round).reverse().find((r) => {
          const cp = this.store.checkpointAt(this.runId, r);
          return cp !== undefined && findNonFiniteState(cp.params, cp.strategyState) === undefined;
        });
        throw new FederaError(
          'invalid_config',
          `the checkpoint of run "${this.runId}" after round ${checkpoint.round} in ${s.database} is not finite (${poisoned}); refusing to resume from it. ` +
            (earlier !== undefined
              ? `Roll the run back to the last finite checkpoint with: federa admin rollback --db ${s.database} --run ${this.runId} --round ${earlier}`
              : `No earlier finite checkpoint is kept; start a new run under another name (--name <run>)`),
        );
      }
      const startRound = checkpoint.round + 1;
      this.currentRound = checkpoint.round;
      if (run.rounds !== c.rounds) this.store.setRunRounds(this.runId, c.rounds);
      if (run.status !== 'running' && startRound <= c.rounds) this.store.setRunStatus(this.runId, 'running');
      if (checkpoint.round > 0) {
        this.resumedAt = startRound;
        this.lastRecord = this.store.history(this.runId).at(-1);
        this.metrics.resumedAt(checkpoint.round);
        this.logger.info({ runId: this.runId, fromRound: startRound, rounds: c.rounds }, `resuming run ${this.runId} after round ${checkpoint.round}`);
      }

      const evaluate = this.model.evaluate;
      const centralEvaluate: CentralEvaluate | undefined = evaluate
        ? async (round, params) => {
            const r = await evaluate(round, params);
            if (round === 0) this.store.saveInitialEvaluation(this.runId, r as EvaluationRecord);
            return r;
          }
        : undefined;
      const quorum = startQuorum(c);
      const plan = planRun(c, {
        population: c.privacy?.populationSize ?? c.clientsPerRound ?? quorum,
        deployment: true,
        evaluate: centralEvaluate,
        strategy: this.o.strategy,
        workflow: this.o.workflow,
        minAvailable: quorum,
        recheck: false,
        source: `run "${this.runId}"`,
        dimension: layout.size,
      });
      const strategy = plan.strategy;
      for (const w of [...plan.warnings, ...plan.noiseWarnings(layout.size)]) this.logger.warn({ runId: this.runId }, w);
      if (checkpoint.strategyState) {
        if (!strategy.setState) throw new FederaError('invalid_config', `the checkpoint holds strategy state but strategy ${strategy.name} cannot restore it`);
        strategy.setState(checkpoint.strategyState);
      }

      const maxMessageBytes = s.maxMessageBytes ?? defaultMaxMessageBytes(layout.size);
      const grid = new WebSocketGrid({
        runId: this.runId,
        directory: this.observedDirectory(),
        welcome: { model: this.model.spec, seed: c.seed, validationFraction: c.validationFraction },
        logger: this.logger,
        metrics: this.metrics,
        heartbeatMs: s.heartbeatMs,
        handshakeTimeoutMs: s.handshakeTimeoutMs,
        maxFrameBytes: maxMessageBytes,
        rateLimit: s.rateLimit,
        maxViolations: s.maxViolations,
        orderedReplies: s.deterministic,
        onAuthenticated: (ws, req) => {
          raiseMaxPayload(ws, maxMessageBytes);
          if (req) this.admission?.settle(req.socket);
        },
      });
      this.grid = grid;
      grid.setRound(startRound);

      const address = await this.listen();
      this.address = address;
      const engine = this.makeEngine(plan, layout, startRound);
      this.engine = engine;
      this.done = this.runLoop(engine, startRound);
      this.done.catch(() => {});
      return address;
    } catch (e) {
      await this.closeResources();
      throw e;
    }
  }

  private makeEngine(plan: RunPlan, layout: ParamLayout, startRound: number): RoundEngine {
    const c = this.config;
    const checkpoint = this.store.latestCheckpoint(this.runId)!;
    const strategy = plan.strategy;
    return new RoundEngine({
      grid: this.grid!,
      strategy,
      initialParams: makeParams(layout, checkpoint.params),
      rounds: c.rounds,
      seed: c.seed,
      runId: this.runId,
      sampling: plan.sampling,
      ...(plan.selector ? { selector: plan.selector } : {}),
      ...(plan.samplingRng ? { samplingRng: plan.samplingRng } : {}),
      guard: plan.guard,
      overSelection: c.server.overSelection,
      evaluation: plan.evaluation,
      centralEvaluationEvery: c.evaluation.centralEvery,
      minResults: c.minResults,
      roundTimeoutMs: c.server.roundTimeoutMs,
      workflow: this.waitingWorkflow(plan.workflow, startQuorum(c)),
      // The plan's compression layer last, as in simulation: it sees the wire form of every message.
      serverLayers: [...(this.o.serverLayers ?? []), ...plan.serverLayers],
      logger: this.logger,
      startRound,
      signal: AbortSignal.any([this.abort.signal, plan.signal]),
      onRound: (record, params) => {
        this.commit(record, params, layout, strategy);
        plan.afterRound(record, (line) => this.logger.warn({ runId: this.runId, round: record.round }, line.trim()));
      },
    });
  }

  /** Waits for the start quorum before every round, then runs `inner`. */
  private waitingWorkflow(inner: TrainWorkflow, quorum: number): TrainWorkflow {
    return {
      name: inner.name,
      run: async (ctx) => {
        const grid = this.grid!;
        this.currentRound = ctx.round;
        if (grid.availableClients().length < quorum) {
          this.setPhase('waiting');
          this.logger.info({ runId: this.runId, round: ctx.round, connected: grid.availableClients().length, needed: quorum }, `round ${ctx.round} waits for ${quorum} clients`);
          await grid.waitForClients(quorum, this.abort.signal);
        }
        grid.setRound(ctx.round);
        this.setPhase('training');
        this.logger.info({ runId: this.runId, round: ctx.round, available: grid.availableClients().length }, `round ${ctx.round} started`);
        return inner.run(ctx);
      },
    };
  }

  private commit(record: RoundRecord, params: Params, layout: ParamLayout, strategy: Strategy): void {
    if (this.abort.signal.aborted) {
      this.logger.info({ runId: this.runId, round: record.round }, `round ${record.round} was interrupted; it runs again when the server resumes`);
      return;
    }
    this.store.commitRound(this.runId, record, params.data, layout.toJSON(), strategy.getState?.(), this.config.server.keepCheckpoints);
    try {
      this.marker?.record(this.runId, record.round);
    } catch (e) {
      this.logger.warn({ runId: this.runId, round: record.round, file: this.marker?.file, error: describeError(e) }, 'cannot write the commit marker; a lost -wal file would go unnoticed');
    }
    this.metrics.round(record);
    this.lastRecord = record;
    this.emit('round', record);
    if (this.pendingRollback !== undefined) this.applyRollback(this.pendingRollback);
  }

  rollback(runId: string, round: number): { round: number; appliesAfterRound: number } {
    if (runId !== this.runId) throw new FederaError('not_found', `this server runs "${this.runId}", not "${runId}"`);
    if (!(Number.isInteger(round) && round >= 0)) throw new FederaError('invalid_argument', `round must be an integer ≥ 0, got ${String(round)}`);
    if (this.phase === 'completed' || !this.engine) throw new FederaError('conflict', `run "${this.runId}" is ${this.phase}; stop the server and use: federa admin rollback --db ${this.config.server.database} --run ${this.runId} --round ${round}`);
    if (this.config.privacy) throw new FederaError('conflict', `run "${this.runId}" uses differential privacy: rolling it back would forget the privacy already spent by the rounds after ${round}; start a new run instead`);
    const last = this.lastRecord?.round ?? 0;
    if (round >= Math.max(last, this.currentRound)) throw new FederaError('conflict', `run "${this.runId}" is at round ${Math.max(last, this.currentRound)}; there is nothing after round ${round} to roll back`);
    const kept = this.store.checkpointRounds(this.runId);
    if (!kept.includes(round)) throw new FederaError('conflict', `run "${this.runId}" has no checkpoint of round ${round} any more (kept: ${kept.join(', ')}; server.keepCheckpoints sets how many are kept)`);
    this.pendingRollback = round;
    this.logger.warn({ runId: this.runId, round }, `rollback to round ${round} requested; it applies when round ${this.currentRound} ends`);
    return { round, appliesAfterRound: this.currentRound };
  }

  /** Deletes the rounds after `round` and makes the engine continue from its checkpoint. */
  private applyRollback(round: number): void {
    this.pendingRollback = undefined;
    try {
      const r = this.store.rollback(this.runId, round);
      const cp = this.store.checkpointAt(this.runId, round)!;
      this.engine!.rewind(round, cp.params, cp.strategyState);
      this.lastRecord = this.store.history(this.runId).at(-1);
      this.metrics.resumedAt(round);
      this.logger.warn({ runId: this.runId, round, removedRounds: r.removedRounds }, `run ${this.runId} rolled back to round ${round}: ${r.removedRounds} later rounds removed`);
    } catch (e) {
      this.logger.error({ runId: this.runId, round, error: describeError(e) }, `rollback to round ${round} failed; the run goes on`);
    }
  }

  private setPhase(phase: Phase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.emit('phase', phase, this.currentRound);
  }

  private emit<K extends keyof FederaServerEvents>(name: K, ...args: FederaServerEvents[K]): void {
    try {
      (this.events.emit as (n: K, ...a: FederaServerEvents[K]) => boolean)(name, ...args);
    } catch (e) {
      this.logger.error({ event: name, error: describeError(e) }, 'a server event listener failed');
    }
  }

  /** The store as the grid's client directory, reporting joins and rejections as `client` events. */
  private observedDirectory(): ClientDirectory {
    const store = this.store;
    return {
      lookup: (clientId) => store.lookup(clientId),
      enroll: (clientId, publicKey, token) => store.enroll(clientId, publicKey, token),
      seen: (clientId) => {
        store.seen(clientId);
        this.emit('client', { kind: 'joined', clientId, at: new Date().toISOString(), round: this.currentRound });
      },
      mark: (clientId, code, reason, runId, round) => {
        store.mark(clientId, code, reason, runId, round);
        this.emit('client', { kind: 'rejected', clientId, at: new Date().toISOString(), round, code, reason: reason.slice(0, 500) });
      },
    };
  }

  private async runLoop(engine: RoundEngine, startRound: number): Promise<RunOutcome> {
    try {
      if (startRound <= this.config.rounds) await engine.run();
      if (this.abort.signal.aborted) {
        this.setPhase('stopped');
        await this.writeReport();
        return this.outcome('stopped');
      }
      this.store.setRunStatus(this.runId, 'completed');
      await this.writeReport();
      this.setPhase('completed');
      this.logger.info({ runId: this.runId, rounds: this.config.rounds, accuracy: this.lastRecord?.centralEvaluation?.metrics.accuracy }, `run ${this.runId} completed`);
      this.grid?.close('run_complete');
      return this.outcome('completed');
    } catch (e) {
      this.setPhase(this.abort.signal.aborted ? 'stopped' : 'failed');
      if (this.abort.signal.aborted) return this.outcome('stopped');
      this.logger.error({ runId: this.runId, error: describeError(e) }, 'the run failed');
      throw e;
    }
  }

  /** report.html of the rounds done, next to the database (`federa report <db>` rebuilds it any time). */
  private async writeReport(): Promise<void> {
    const db = this.config.server.database;
    if (db === ':memory:') return;
    try {
      const r = await rebuildReport(db, { runId: this.runId });
      this.logger.info({ runId: this.runId, file: r.file, rounds: r.rounds }, `report of run ${this.runId} written to ${r.file}`);
    } catch (e) {
      this.logger.warn({ runId: this.runId, error: describeError(e) }, 'the run report could not be written');
    }
  }

  private outcome(status: 'completed' | 'stopped'): RunOutcome {
    const last = this.store.history(this.runId).at(-1);
    const central = [...this.store.history(this.runId)].reverse().find((r) => r.centralEvaluation)?.centralEvaluation;
    return {
      runId: this.runId,
      status,
      lastRound: last?.round ?? 0,
      ...(this.resumedAt !== undefined ? { resumedAt: this.resumedAt } : {}),
      ...(central ? { finalAccuracy: central.metrics.accuracy, finalLoss: central.loss } : {}),
    };
  }

  private async listen(): Promise<ServerAddress> {
    const s = this.config.server;
    const handler = createRequestHandler(this, this.logger);
    let server: HttpServer;
    if (s.tls) {
      let cert: Buffer, key: Buffer;
      try {
        cert = readFileSync(s.tls.cert);
        key = readFileSync(s.tls.key);
      } catch (e) {
        throw new FederaError('invalid_config', `cannot read the TLS certificate or key: ${describeError(e)}`);
      }
      server = createHttpsServer({ cert, key, minVersion: 'TLSv1.2', handshakeTimeout: s.handshakeTimeoutMs }, handler);
    } else {
      server = createHttpServer(handler);
      if (!isLoopback(s.host)) this.logger.warn({ host: s.host }, 'serving without TLS on a non-loopback interface (server.insecureAllowWs): tokens and updates travel in clear');
    }
    // Every TCP connection is admitted (per-address limit, handshake deadline) before TLS or HTTP
    // look at it; a WebSocket accepts only pre-auth-sized messages until its hello verified.
    const admission = new ConnectionAdmission({ maxPerAddress: s.maxConnectionsPerAddress, deadlineMs: s.handshakeTimeoutMs, logger: this.logger });
    admission.attach(server);
    server.on('request', (req) => admission.settle(req.socket));
    this.admission = admission;
    const wss = new WebSocketServer({ noServer: true, maxPayload: PREAUTH_MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: false });
    wss.on('error', (e) => this.logger.warn({ error: describeError(e) }, 'websocket server error'));
    server.on('upgrade', (req, socket: Socket, head) => {
      socket.on('error', () => socket.destroy());
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const refuse = (status: string) => {
        socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        socket.destroy();
      };
      if (path !== '/ws') return refuse('404 Not Found');
      if (!this.grid || this.grid.status().connections >= s.maxConnections) return refuse('503 Service Unavailable');
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => {});
        try {
          checkReceiverLimit(ws, PREAUTH_MAX_FRAME_BYTES);
        } catch (e) {
          this.logger.error({ error: describeError(e) }, 'refusing WebSocket connections');
          ws.close(1011, 'server error');
          return;
        }
        if (this.phase === 'completed') {
          ws.close(CloseCode.runComplete, 'run complete');
          return;
        }
        this.grid!.accept(ws, req);
      });
    });
    server.on('clientError', (_e, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(s.port, s.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.http = server;
    this.wss = wss;
    const port = (server.address() as AddressInfo).port;
    const host = s.host.includes(':') ? `[${s.host}]` : s.host === '0.0.0.0' ? '127.0.0.1' : s.host;
    const address = { url: `${s.tls ? 'wss' : 'ws'}://${host}:${port}`, httpUrl: `${s.tls ? 'https' : 'http'}://${host}:${port}`, host: s.host, port };
    this.logger.info({ ...address, runId: this.runId, tls: Boolean(s.tls), database: s.database }, 'listening');
    return address;
  }

  /** Revokes a client identity and closes its connection; false when it is unknown. */
  revokeClient(clientId: string): boolean {
    if (!this.store.revokeClient(clientId)) return false;
    this.grid?.disconnect(clientId, CloseCode.unauthorized, 'identity revoked');
    this.logger.warn({ clientId }, 'client identity revoked');
    return true;
  }

  health(): Record<string, unknown> {
    const g = this.grid?.status();
    return {
      status: this.phase === 'failed' ? 'failed' : 'ok',
      runId: this.runId,
      phase: this.phase,
      round: this.currentRound,
      completedRounds: this.lastRecord?.round ?? 0,
      connections: g?.connections ?? 0,
      clients: g?.authenticated ?? 0,
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      rssBytes: process.memoryUsage().rss,
    };
  }

  status(): Record<string, unknown> {
    const g = this.grid?.status();
    const last = this.lastRecord;
    return {
      runId: this.runId,
      status: this.store.getRun(this.runId)?.status,
      phase: this.phase,
      rounds: this.config.rounds,
      round: this.currentRound,
      completedRounds: last?.round ?? 0,
      resumedAt: this.resumedAt,
      quorum: startQuorum(this.config),
      address: this.address,
      lastRound: last ? { round: last.round, status: last.status, accuracy: last.centralEvaluation?.metrics.accuracy, loss: last.centralEvaluation?.loss, succeeded: last.succeeded.length, failed: last.failed.length, dropped: last.dropped.length } : undefined,
      connections: g?.connections ?? 0,
      // Authenticated clients only, without network addresses (those are in /admin/connections).
      clients: (g?.clients ?? []).filter((c) => c.clientId).map(({ remote: _remote, ...c }) => c),
    };
  }

  history(page?: { offset: number; limit: number }): { runId: string; initialEvaluation?: EvaluationRecord; rounds: RoundRecord[]; total?: number; offset?: number; limit?: number } {
    const run = this.store.getRun(this.runId);
    const initial = run?.initialEvaluation ? { initialEvaluation: run.initialEvaluation } : {};
    if (!page) return { runId: this.runId, ...initial, rounds: this.store.history(this.runId) };
    return { runId: this.runId, ...initial, total: this.store.roundCount(this.runId), offset: page.offset, limit: page.limit, rounds: this.store.history(this.runId, page) };
  }

  /** What stopping now means for the run, for the log line a signal writes. */
  describeStop(): string {
    if (this.phase === 'completed') return 'stopping; the run is complete';
    if (this.phase === 'starting') return 'stopping before the run started';
    const committed = this.lastRecord?.round ?? 0;
    if (this.phase === 'waiting' || committed >= this.currentRound) {
      return committed === 0 ? 'stopping before the first round; the run starts when the server starts again' : `stopping; the run resumes after round ${committed} when the server starts again`;
    }
    return `stopping; round ${this.currentRound} is interrupted and runs again when the server resumes`;
  }

  /** Stops the run (an unfinished round is re-run on resume), closes connections, the HTTP server and the store. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort(new FederaError('aborted', 'server stopping'));
      if (this.phase !== 'completed') this.setPhase('stopped');
      this.grid?.close('server_shutdown');
      if (this.done) await this.done.catch(() => {});
      await this.closeResources();
    })();
    return this.stopping;
  }

  private async closeResources(): Promise<void> {
    this.grid?.close('server_shutdown');
    this.wss?.close();
    if (this.http) {
      const http = this.http;
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections?.();
      });
    }
    this.model?.dispose?.();
    this.model = undefined;
    this.store?.close();
  }
}

function isLoopback(host: string): boolean {
  return isLoopbackHost(host);
}
