// The body of the test client processes: a real FederaClient over wss for `client-<index>`, with
// the test's data and trainer; it runs to the end of the run and prints its outcome as JSON.
import { readFileSync } from 'node:fs';
import { FederaClient, type FederaClientOptions } from '../../../src/node/client.js';

export interface ClientProcessArgs {
  url: string;
  index: number;
  token: string;
  identity: string;
  caFile: string;
}

/** `<url> <index> <token> <identity file> <ca file> ...rest` from the command line. */
export function clientProcessArgs(): { args: ClientProcessArgs; rest: string[] } {
  const [url, index, token, identity, caFile, ...rest] = process.argv.slice(2);
  return { args: { url, index: Number(index), token, identity, caFile }, rest };
}

export async function runClientProcess(a: ClientProcessArgs, o: Pick<FederaClientOptions, 'data' | 'createTrainer'> & Partial<FederaClientOptions>): Promise<never> {
  const client = new FederaClient({ server: a.url, token: a.token, clientId: `client-${a.index}`, identity: a.identity, ca: readFileSync(a.caFile), reconnect: { maxAttempts: 20 }, ...o });
  const outcome = await client.start();
  process.stdout.write(JSON.stringify({ msg: 'done', ...outcome }) + '\n');
  process.exit(0);
}
