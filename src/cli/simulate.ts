/**
 * `federa simulate`: a whole federated training on one machine, from a validated config, with a
 * progress bar, a summary table, and a run folder holding history.jsonl, the final model,
 * report.html and the log.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import pino from 'pino';
import { Rng } from '../core/rng.js';
import { makeParams } from '../core/params.js';
import { FederaError, describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Dataset } from '../data/dataset.js';
import { runSimulation } from '../sim/simulation.js';
import type { RoundRecord } from '../core/records.js';
import { dataShapeOf, resolveModel, type ResolvedModel } from '../node/workloads.js';
import { prepareData } from '../node/prepare-data.js';
import { writeReport } from '../node/report-file.js';
import { writeModel } from '../node/model-file.js';
import type { Trainer } from '../client/trainer.js';
import type { SimulationConfig } from '../config/schema.js';
import { planRun } from '../run/plan.js';
import { formatTable, formatBytes } from './format.js';
import { backdoorSuccessRate, planAttack, triggeredTestSet } from '../robust/attacks.js';
import { clientIds as defaultClientIds } from '../sim/virtual-clients.js';
import { parseDeviceTrace, type DeviceSpec } from '../sim/devices.js';
import { estimatedUplinkRatio } from '../compress/spec.js';

export { prepareData, type PreparedData } from '../node/prepare-data.js';

export interface SimulateOutcome {
  runDir: string;
  history: RoundRecord[];
  finalAccuracy: number | undefined;
  finalLoss: number | undefined;
  params: Float32Array;
}

export interface SimulateIo {
  /** Progress and summary go here (default process.stdout). */
  out?: Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean };
  /** Bars only on a TTY; otherwise one line per round. */
  progress?: boolean;
  /**
   * Stops the run after the round in progress (what Ctrl-C does: `federa simulate` aborts it on
   * SIGINT); the summary, history and report of the rounds done are still written.
   */
  stop?: AbortSignal;
}

export async function simulate(config: SimulationConfig, io: SimulateIo = {}): Promise<SimulateOutcome> {
  const out = io.out ?? process.stdout;
  const t0 = performance.now();
  const data = prepareData(config);
  const headline = headlineOf(config.task);
  const numClients = data.partitions.length;
  let attack: ReturnType<typeof planAttack> | undefined;
  let triggered: Dataset | undefined;
  // TensorFlow.js loads only here, for commands that train.
  const model: ResolvedModel = await resolveModel(config.model, dataShapeOf(data.train, config.task), { seed: config.seed });
  const { activeBackend } = await import('../models/backend.js');
  const serverTrainer: Trainer = await model.createTrainer();
  const initial = model.initialParams;
  const backend = await activeBackend();
  // The run plan (strategy, stages, workflow, layers, sampling, DP budget) is checked before anything is written or run.
  const plan = planRun(config, {
    dimension: initial.layout.size,
    population: numClients,
    source: 'config',
    evaluate: async (_round, params) => {
      serverTrainer.setParameters(params.data);
      const r = await serverTrainer.evaluate(data.test);
      const metrics = { ...r.metrics };
      if (triggered) metrics.backdoor_success = await backdoorSuccessRate(serverTrainer!, triggered);
      return { loss: r.loss, metrics };
    },
    innerLayers: (id, i) => attack?.layers(id, i) ?? [],
  });
  const runDir = makeRunDir(config);
  writeFileSync(join(runDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const historyFile = join(runDir, 'history.jsonl');
  writeFileSync(historyFile, '');
  const fileLog = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: join(runDir, 'log.jsonl'), sync: true }));


  // Simulated attackers (config.attack): chosen by the seed; the backdoor is measured centrally.
  attack = config.attack ? planAttack(config.attack, data.clientIds ?? defaultClientIds(numClients), config.seed) : undefined;
  triggered = attack?.trigger ? triggeredTestSet(data.test, attack.trigger) : undefined;
  const clientsPerRound = plan.clientsPerRound;
  // Simulated devices: a trace file is read relative to the working directory.
  const devices: DeviceSpec | undefined =
    config.devices?.kind === 'trace' ? parseDeviceTrace(readJson(config.devices.file, 'devices.file (--device-trace)'), config.devices.file) : config.devices;
  const strategy = plan.strategy;

  out.write(
    `federa simulate · run ${runDir}\n` +
      `  data      ${data.description}\n` +
      `  clients   ${numClients} (${config.partition.kind}${config.partition.kind === 'dirichlet' ? ` α=${config.partition.alpha}` : ''}${config.partition.kind === 'shards' ? `, ${config.partition.shardsPerClient} shards each` : ''}), ${clientsPerRound} per round\n` +
      `  model     ${config.model}: ${model.description}${config.task !== 'classification' ? `, task ${config.task}` : ''}, tfjs backend ${backend}\n` +
      `  strategy  ${strategy.name}, ${config.rounds} rounds, local E=${config.local.epochs} B=${config.local.batchSize} lr=${config.local.learningRate}, seed ${JSON.stringify(config.seed)}\n` +
      (attack ? `  attack    ${attack.description}\n` : '') +
      (devices ? `  devices   ${describeDevices(devices)}; simulated time${config.roundTimeoutMs ? `, deadline ${config.roundTimeoutMs / 1000} s` : ''}${config.overSelection > 0 ? `, over-selection ${config.overSelection}` : ''}\n` : '') +
      (config.strategy.name === 'fedbuff' ? `  fedbuff   buffer K = ${(plan.workflow as { bufferSize?: number }).bufferSize}, concurrency ${config.strategy.concurrency ?? `10·K`}, staleness ${config.strategy.staleness ?? 'polynomial'}\n` : '') +
      plan.headerLines().map((l) => `  ${l}\n`).join('') +
      [...plan.warnings, ...plan.noiseWarnings(initial.layout.size)].map((w) => `  ! ${w}\n`).join(''),
  );

  // The run stops before its next round when the budget is spent or the caller asks it to.
  const stopped = new AbortController();
  plan.signal.addEventListener('abort', () => stopped.abort(), { once: true });
  const useBars = io.progress ?? Boolean(out.isTTY);
  const bars = useBars
    ? new cliProgress.MultiBar(
        { format: ` round {value}/{total} |{bar}| ${headline.short} {acc} · loss {loss} · {status} · ETA {eta_formatted}`, hideCursor: true, clearOnComplete: false, stream: out as NodeJS.WriteStream },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const bar = bars?.create(config.rounds, 0, { acc: '  -   ', loss: '  -   ', status: 'starting' });
  const say = (line: string) => (bars ? bars.log(line + '\n') : out.write(line + '\n'));
  const logger: Logger = {
    debug: (f, m) => fileLog.debug(f, m),
    info: (f, m) => fileLog.info(f, m),
    warn: (f, m) => {
      fileLog.warn(f, m);
      say(`  ! ${m ?? ''}${'clientId' in f ? ` ${String((f as { clientId: string }).clientId)}: ${String((f as { reason?: string }).reason ?? '')}` : ''}`);
    },
    error: (f, m) => {
      fileLog.error(f, m);
      say(`  ✗ ${m ?? ''}`);
    },
  };

  let result;
  try {
    result = await runSimulation({
      train: data.train,
      partitions: data.partitions,
      clientIds: data.clientIds,
      validationFraction: config.validationFraction,
      createTrainer: model.createTrainer,
      initialParams: initial,
      strategy,
      layers: plan.clientLayers,
      workflow: plan.workflow,
      serverLayers: plan.serverLayers,
      signal: stopped.signal,
      clientData: attack?.poisonData,
      rounds: config.rounds,
      seed: config.seed,
      // Fixed by the config, not the run folder: payload sizes (and so the history) must not depend on the folder name.
      runId: `${config.name}-${String(config.seed)}`,
      sampling: plan.sampling,
      ...(plan.selector ? { selector: plan.selector } : {}),
      guard: plan.guard,
      evaluation: plan.evaluation,
      centralEvaluationEvery: config.evaluation.centralEvery,
      minResults: config.minResults,
      roundTimeoutMs: config.roundTimeoutMs,
      ...(config.overSelection > 0 ? { overSelection: config.overSelection } : {}),
      ...(devices ? { devices, uplinkRatio: config.compression ? estimatedUplinkRatio(config.compression.uplink) : 1 } : {}),
      logger,
      onRound: (record) => {
        appendFileSync(historyFile, JSON.stringify(record) + '\n');
        const acc = record.centralEvaluation?.metrics[headline.key] ?? record.federatedEvaluation?.metrics[headline.key];
        const loss = record.centralEvaluation?.loss ?? record.train?.loss;
        const status = record.status === 'completed' ? `${record.succeeded.length}/${record.selected.length} clients` : 'skipped';
        if (bar) bar.increment(1, { acc: acc?.toFixed(4) ?? '  -   ', loss: loss?.toFixed(4) ?? '  -   ', status });
        else out.write(`round ${record.round}/${config.rounds}  ${headline.short} ${acc?.toFixed(4) ?? '-'}  loss ${loss?.toFixed(4) ?? '-'}  ${status}  ${(record.timing.totalMs / 1000).toFixed(1)}s\n`);
        plan.afterRound(record, say);
        if (io.stop?.aborted && !stopped.signal.aborted) {
          say(`  interrupted after round ${record.round}: writing the summary and report of the rounds done`);
          stopped.abort();
        }
      },
    });
  } finally {
    bars?.stop();
  }

  const modelFiles = writeModel(runDir, result.params);
  const seconds = (performance.now() - t0) / 1000;
  const last = [...result.history].reverse().find((r) => r.centralEvaluation)?.centralEvaluation;
  const summary = {
    rounds: result.history.length,
    completed: result.history.filter((r) => r.status === 'completed').length,
    skipped: result.history.filter((r) => r.status === 'skipped').length,
    clientFailures: result.history.reduce((s, r) => s + r.failed.length, 0),
    initialAccuracy: result.initialEvaluation?.metrics.accuracy,
    finalAccuracy: last?.metrics.accuracy,
    ...(headline.key !== 'accuracy' ? { initialR2: result.initialEvaluation?.metrics.r2, finalR2: last?.metrics.r2, finalMae: last?.metrics.mae } : {}),
    finalLoss: last?.loss,
    bytesDown: result.history.reduce((s, r) => s + r.bytes.down, 0),
    bytesUp: result.history.reduce((s, r) => s + r.bytes.up, 0),
    bytesDownFloat32: result.history.reduce((s, r) => s + (r.bytes.downFloat32 ?? r.bytes.down), 0),
    bytesUpFloat32: result.history.reduce((s, r) => s + (r.bytes.upFloat32 ?? r.bytes.up), 0),
    seconds,
    backend,
    model: modelFiles,
    ...(plan.dp ? { privacy: [...result.history].reverse().find((r) => r.privacy)?.privacy ?? null } : {}),
  };
  writeFileSync(join(runDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  const reportPath = await writeReport(runDir, { runId: runDirName(runDir), createdAt: new Date().toISOString(), config: config as unknown as Record<string, unknown>, summary }, result.history);
  serverTrainer.dispose();

  out.write('\n' + roundsTable(result.history, headline) + '\n\n');
  out.write(
    formatTable(
      ['summary', ''],
      [
        ['rounds completed', `${summary.completed} of ${summary.rounds}${summary.skipped ? ` (${summary.skipped} skipped)` : ''}`],
        ['client failures', String(summary.clientFailures)],
        [`initial test ${headline.long}`, result.initialEvaluation?.metrics[headline.key]?.toFixed(4) ?? '-'],
        [`final test ${headline.long}`, last?.metrics[headline.key]?.toFixed(4) ?? '-'],
        ['final test loss', summary.finalLoss?.toFixed(4) ?? '-'],
        ['bytes down / up', `${formatBytes(summary.bytesDown)} / ${formatBytes(summary.bytesUp)}`],
        ...(plan.serverLayers.length
          ? [
              ['as float32 down / up', `${formatBytes(summary.bytesDownFloat32)} / ${formatBytes(summary.bytesUpFloat32)}`],
              ['compression down / up', `${(summary.bytesDownFloat32 / Math.max(1, summary.bytesDown)).toFixed(2)}× / ${(summary.bytesUpFloat32 / Math.max(1, summary.bytesUp)).toFixed(2)}× fewer bytes`],
            ]
          : []),
        ...plan.summaryRows(result.history),
        ...(devices && result.history.length ? ([['simulated time', `${result.history.at(-1)!.simulatedTime!.toFixed(1)} s`]] as [string, string][]) : []),
        ['wall time', `${seconds.toFixed(1)} s`],
        ['history', historyFile],
        ['report', reportPath],
      ],
      'left',
    ) + '\n',
  );
  const finalHeadline = last?.metrics[headline.key];
  if (finalHeadline !== undefined) out.write(`final central test ${headline.long}: ${finalHeadline.toFixed(4)}\n`);
  const backdoorSuccess = last?.metrics.backdoor_success;
  if (backdoorSuccess !== undefined) out.write(`final backdoor success rate: ${backdoorSuccess.toFixed(4)}\n`);
  fileLog.flush?.();
  return { runDir, history: result.history, finalAccuracy: summary.finalAccuracy, finalLoss: summary.finalLoss, params: result.params.data };
}

/** The metric a run is followed by: accuracy, or R² for a regression. */
interface Headline {
  key: string;
  short: string;
  long: string;
}

function headlineOf(task: SimulationConfig['task']): Headline {
  return task === 'regression' ? { key: 'r2', short: 'R²', long: 'R²' } : { key: 'accuracy', short: 'acc', long: 'accuracy' };
}

function roundsTable(history: readonly RoundRecord[], headline: Headline): string {
  // Every round for short runs; otherwise about 15 evenly spaced rounds plus the last.
  const step = history.length <= 20 ? 1 : Math.ceil(history.length / 15);
  const shown = history.filter((r, i) => i % step === 0 || i === history.length - 1);
  return formatTable(
    ['round', 'status', 'ok/selected', 'train loss', `fed. ${headline.short}`, `test ${headline.short}`, 'test loss', 'up', 'time'],
    shown.map((r) => [
      String(r.round),
      r.status,
      `${r.succeeded.length}/${r.selected.length}`,
      r.train?.loss?.toFixed(4) ?? '-',
      r.federatedEvaluation?.metrics[headline.key]?.toFixed(4) ?? '-',
      r.centralEvaluation?.metrics[headline.key]?.toFixed(4) ?? '-',
      r.centralEvaluation?.loss.toFixed(4) ?? '-',
      formatBytes(r.bytes.up),
      `${(r.timing.totalMs / 1000).toFixed(1)}s`,
    ]),
  );
}

function makeRunDir(config: SimulationConfig): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const base = resolve(config.output, `${stamp}-${config.name}`);
  let dir = base;
  for (let i = 2; existsSync(dir); i++) dir = `${base}-${i}`;
  mkdirSync(dir, { recursive: true });
  return dir;
}

function runDirName(dir: string): string {
  return dir.split(/[\\/]/).pop()!;
}

export { describeError };

/** A JSON file's contents, or an invalid_config error naming the file and the field that named it. */
function readJson(file: string, field: string): unknown {
  let text: string;
  try {
    text = readFileSync(resolve(file), 'utf8');
  } catch (e) {
    throw new FederaError('invalid_config', `${field}: cannot read ${file}: ${describeError(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FederaError('invalid_config', `${field}: ${file} is not JSON: ${describeError(e)}`);
  }
}

/** One line on a run's devices. */
function describeDevices(d: DeviceSpec): string {
  if (d.kind === 'trace') return `${d.devices.length} from a trace${d.period ? `, period ${d.period} s` : ''}`;
  return `log-normal, median ${d.speed ?? 200} examples/s, ${Math.round((d.stragglerFraction ?? 0.1) * 100)}% stragglers ${d.stragglerSlowdown ?? 10}× slower, ${d.downlinkMbps ?? 20}/${d.uplinkMbps ?? 5} Mbit/s, online ${Math.round((d.availability ?? 1) * 100)}% of the time`;
}
