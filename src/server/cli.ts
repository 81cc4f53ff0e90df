/** `federa server`: starts or resumes the run of a config file and serves it until it completes. */
import type { Command } from 'commander';
import pino from 'pino';
import { describeError } from '../core/errors.js';
import { addSchemaFlags } from '../config/flags.js';
import { ServerConfigSchema, type ServerConfig } from '../config/schema.js';
import { FederaServer } from './server.js';

export function registerServerCommand(program: Command, buildConfig: (opts: Record<string, unknown>) => ServerConfig): void {
  const cmd = program
    .command('server')
    .description('start (or resume) a federated run and serve it to clients over WebSocket (wss with TLS)')
    .requiredOption('-c, --config <file>', 'run config (.toml or .json): model, strategy, rounds, sampling, local training and a [server] table')
    .option('--keep-serving', 'keep the HTTP endpoints up after the run completes (until Ctrl-C)')
    .option('--log-level <level>', 'debug | info | warn | error', 'info');
  addSchemaFlags(cmd, ServerConfigSchema, 'server');
  cmd.action(async (opts: Record<string, unknown>) => {
      const config = buildConfig(opts);
      const logger = pino({ level: String(opts.logLevel), base: { role: 'server' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: true }));
      const server = new FederaServer(config, { logger });
      let signalled = false;
      const onSignal = (sig: string) => {
        if (signalled) process.exit(130);
        signalled = true;
        logger.info({ signal: sig }, server.describeStop());
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
