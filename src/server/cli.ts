/** `federa server`: starts or resumes the run of a config file and serves it until it completes. */
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { describeError } from '../core/errors.js';
import { setPath } from '../cli/config.js';
import { parseServerConfig } from './config.js';
import { FederaServer } from './server.js';

function int(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} expects a whole number, got "${v}"`);
    return n;
  };
}

const FLAG_PATHS: Record<string, string> = {
  name: 'name',
  rounds: 'rounds',
  host: 'server.host',
  port: 'server.port',
  db: 'server.database',
  tlsCert: 'server.tls.cert',
  tlsKey: 'server.tls.key',
  minClients: 'server.minClients',
};

export function registerServerCommand(program: Command, readConfigFile: (path: string) => Record<string, unknown>): void {
  program
    .command('server')
    .description('start (or resume) a federated run and serve it to clients over WebSocket (wss with TLS)')
    .requiredOption('-c, --config <file>', 'run config (.toml or .json): model, strategy, rounds, sampling, local training and a [server] table')
    .option('--name <run>', 'run id (a run of this name left unfinished in the database is resumed)')
    .option('--rounds <n>', 'rounds', int('--rounds'))
    .option('--host <host>', 'interface to listen on')
    .option('--port <port>', 'TCP port (0: any free port)', int('--port'))
    .option('--db <file>', 'SQLite database file')
    .option('--tls-cert <file>', 'PEM certificate chain')
    .option('--tls-key <file>', 'PEM private key')
    .option('--min-clients <n>', 'connected clients needed before a round starts', int('--min-clients'))
    .option('--keep-serving', 'keep the HTTP endpoints up after the run completes (until Ctrl-C)')
    .option('--log-level <level>', 'debug | info | warn | error', 'info')
    .action(async (opts: Record<string, unknown>) => {
      const raw = readConfigFile(String(opts.config));
      for (const [flag, path] of Object.entries(FLAG_PATHS)) if (opts[flag] !== undefined) setPath(raw, path, opts[flag]);
      const config = parseServerConfig(raw, `config (${String(opts.config)} and flags)`);
      const logger = pino({ level: String(opts.logLevel), base: { role: 'server' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: true }));
      const server = new FederaServer(config, { logger });
      let signalled = false;
      const onSignal = (sig: string) => {
        if (signalled) process.exit(130);
        signalled = true;
        logger.info({ signal: sig }, 'stopping; an unfinished round runs again when the server resumes');
        void server.stop().then(() => process.exit(0));
      };
      process.on('SIGINT', () => onSignal('SIGINT'));
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      await server.start();
      try {
        const outcome = await server.done;
        if (outcome.status === 'completed') {
          process.stderr.write(
            `federa server: run ${outcome.runId} completed after round ${outcome.lastRound}` +
              (outcome.finalAccuracy !== undefined ? `; final central test accuracy: ${outcome.finalAccuracy.toFixed(4)}` : '') +
              '\n',
          );
        }
      } catch (e) {
        logger.error({ error: describeError(e) }, 'run failed');
        await server.stop();
        throw e;
      }
      if (opts.keepServing) {
        logger.info({}, 'run finished; still serving HTTP (Ctrl-C to stop)');
        await new Promise(() => {});
      }
      await server.stop();
      process.exit(0);
    });
}
