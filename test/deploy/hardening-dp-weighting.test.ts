// Issue 13, finding 7: `federa server` accepted differential privacy with
// `secagg.weighting = "examples"`, which breaks DP-FedAvg's sensitivity bound (one client's
// contribution scaled by up to k: 5 clients, C = 1, the target moved the model by 0.996 where the
// accounting assumes C/m = 0.2). The server process now refuses the config, before anything is
// created, with the words the simulation config uses; uniform weighting starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { exitOf, federa, serverAddress } from './helpers/procs.js';
import { makeSelfSignedCertificate } from './helpers/tls.js';

test('federa server refuses DP with example-weighted secure aggregation, in the simulation config\'s words; uniform weighting starts', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-hardening-dp-weighting-'));
  const cert = makeSelfSignedCertificate(dir);
  const privacy = { mode: 'distributed', clipNorm: 1, noiseMultiplier: 1 };
  const write = (name: string, weighting: string) => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({
      name, model: 'logreg', rounds: 1, clientsPerRound: 5, input: { numFeatures: 4, numClasses: 2 },
      privacy: { ...privacy, populationSize: 5 },
      secagg: { mode: 'secagg', weighting },
      server: { port: 0, host: '127.0.0.1', database: join(dir, `${name}.db`), tls: { cert: cert.certFile, key: cert.keyFile }, enrollmentTokens: ['dp-weighting-token-0123456789'] },
    }));
    return file;
  };
  let simulationWords = '';
  try {
    parseSimulationConfig({ clients: 5, clientsPerRound: 5, privacy, secagg: { mode: 'secagg', weighting: 'examples' } });
  } catch (e) {
    simulationWords = (e as Error).message.replace(/^[^:]*: /, '');
  }
  assert.match(simulationWords, /DP-FedAvg weighs clients equally .* set secagg\.weighting = "uniform"/);

  const refused = federa('server-examples', ['server', '--config', write('examples', 'examples')]);
  assert.equal((await exitOf(refused, 60_000)).code, 2, refused.lines.join('\n'));
  assert.ok(refused.lines.join('\n').includes(simulationWords), refused.lines.join('\n'));
  assert.equal(existsSync(join(dir, 'examples.db')), false, 'no database was created');

  const started = federa('server-uniform', ['server', '--config', write('uniform', 'uniform')]);
  await serverAddress(started);
  started.child.kill('SIGTERM');
  await exitOf(started, 60_000);
});
