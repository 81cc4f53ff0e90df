/** `federa client`: joins a federa server with a local CSV file (or data module) and trains until the run completes. */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { FederaError, describeError, isFederaError } from '../core/errors.js';
import { FederaClient } from './client.js';

function int(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${flag} expects a whole number, got "${v}"`);
    return n;
  };
}

export function registerClientCommand(program: Command): void {
  program
    .command('client')
    .description('join a federa server and train on local data (the data never leaves this machine)')
    .requiredOption('-s, --server <url>', 'server address, e.g. wss://fl.example.org:8443')
    .requiredOption('-d, --data <file>', 'a CSV file with a label column, or an ES module exporting a dataset')
    .option('-t, --token <token>', 'one-time enrollment token (needed the first time this identity meets the server)')
    .option('--id <name>', 'client name and id: one identity per name (default: an identity per --data file, id derived from its key)')
    .option('--identity <file>', 'identity file (default ~/.federa/identities/<host>/<name>.json; created if missing)')
    .option('--label-column <name>', 'CSV label column', 'label')
    .option('--target-column <name...>', 'CSV float target column(s), when the server trains a regression')
    .option('--ca <file>', 'PEM certificate to trust (e.g. a self-signed server certificate)')
    .option('--insecure-allow-ws', 'allow a plain ws:// server URL to a host that is not loopback (token and updates travel in clear)')
    .option('--stay', 'stay connected after the run completes, to join the next run')
    .option('--reconnect-max-ms <ms>', 'longest wait between reconnect attempts (default 30000)', int('--reconnect-max-ms'))
    .option('--max-attempts <n>', 'give up after this many failed reconnects in a row (default: never)', int('--max-attempts'))
    .option('--log-level <level>', 'debug | info | warn | error', 'info')
    .action(async (opts: Record<string, unknown>) => {
      const logger = pino({ level: String(opts.logLevel), base: { role: 'client' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: true }));
      let ca: Buffer | undefined;
      if (opts.ca !== undefined) {
        try {
          ca = readFileSync(String(opts.ca));
        } catch (e) {
          throw new FederaError('invalid_config', `cannot read --ca ${String(opts.ca)}: ${describeError(e)}`);
        }
      }
      const client = new FederaClient({
        server: String(opts.server),
        data: String(opts.data),
        token: opts.token as string | undefined,
        clientId: opts.id as string | undefined,
        identity: opts.identity as string | undefined,
        labelColumn: String(opts.labelColumn),
        ...(opts.targetColumn ? { targetColumns: (opts.targetColumn as string[]).map(String) } : {}),
        ca,
        stayAfterRun: Boolean(opts.stay),
        insecureAllowWs: Boolean(opts.insecureAllowWs),
        reconnect: { maxMs: opts.reconnectMaxMs as number | undefined, maxAttempts: opts.maxAttempts as number | undefined },
        logger,
      });
      const stop = () => client.stop();
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      let code = 0;
      try {
        const outcome = await client.start();
        logger.info({ clientId: client.clientId, ...outcome }, outcome.reason === 'run_complete' ? 'the run is complete' : 'stopped');
      } catch (e) {
        logger.error({ clientId: client.clientId, error: describeError(e) }, 'client stopped');
        process.stderr.write(`federa client: ${isFederaError(e) ? e.message : describeError(e)}\n`);
        code = isFederaError(e, 'unauthorized') ? 3 : 1;
      }
      // Nothing is left to do; do not wait for stray handles of the ML backend.
      process.exit(code);
    });
}
