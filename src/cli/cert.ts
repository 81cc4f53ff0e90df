/** `federa cert`: a development CA and a server certificate for the names clients connect to. */
import { Command } from 'commander';
import { writeDevelopmentCertificates } from '../node/certificates.js';

function hosts(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((h) => h.trim()).filter(Boolean)];
}

export function registerCertCommand(program: Command): void {
  program
    .command('cert')
    .description('write a development CA (ca.pem) and a server certificate it signs (server.pem, server-key.pem) for wss://')
    .requiredOption('--host <names>', 'names and IP addresses clients connect to, comma-separated or repeated (e.g. --host fl.example.org,10.0.0.5)', hosts)
    .option('--out <dir>', 'folder for the files (an existing ca.pem there is reused)', 'certs')
    .option('--days <n>', 'validity of the server certificate in days', (v) => Number(v), 90)
    .option('--force', 'replace an existing server certificate')
    .action(async (opts: { host: string[]; out: string; days: number; force?: boolean }) => {
      const r = await writeDevelopmentCertificates({ hosts: opts.host, outDir: opts.out, days: opts.days, force: opts.force });
      const out = process.stdout;
      out.write(`${r.newCa ? 'new CA' : 'reused CA'}     ${r.caCert} (key ${r.caKey}, keep it private)\n`);
      out.write(`server cert ${r.serverCert} for ${r.altNames.join(', ')}, valid until ${r.notAfter.toISOString().slice(0, 10)}\n`);
      out.write(`server key  ${r.serverKey}\n\n`);
      out.write(`server config:  [server]  tls = { cert = "${r.serverCert}", key = "${r.serverKey}" }\n`);
      out.write(`clients:        federa client --ca ${r.caCert} --server wss://${opts.host[0].includes(':') ? `[${opts.host[0]}]` : opts.host[0]}:8443 …\n`);
      out.write('A development CA: for production, use certificates from your organisation\'s CA or a public one.\n');
    });
}
