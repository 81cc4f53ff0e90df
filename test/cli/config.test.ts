import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { buildSimulationConfig } from '../../src/cli/main.js';

test('defaults are the documented main run: MNIST, 2NN, 100 clients, 10 per round, FedAvg, Dirichlet 0.5, 30 rounds', () => {
  const c = parseSimulationConfig({});
  assert.equal(c.dataset.name, 'mnist');
  assert.equal(c.model, '2nn');
  assert.equal(c.clients, 100);
  assert.equal(c.fraction, 0.1);
  assert.equal(c.strategy.name, 'fedavg');
  assert.deepEqual(c.partition, { kind: 'dirichlet', alpha: 0.5, minSize: 2 });
  assert.equal(c.rounds, 30);
});

test('a bad value is reported with its path and the allowed values', () => {
  assert.throws(() => parseSimulationConfig({ strategy: { name: 'fedsgd' } }), (e: Error) => {
    assert.match(e.message, /strategy\.name: expected one of "fedavg" \| "fedprox" \| "fedavgm" \| "fedadam" \| "fedyogi" \| "fedadagrad" \| "fedbuff" \| "qffl"; got "fedsgd"/);
    return true;
  });
  assert.throws(() => parseSimulationConfig({ model: 'resnet' }), /model: expected a zoo model \(logreg, 2nn, cnn, cifar-cnn, lstm\) or the path of a TF\.js model\.json; got "resnet"/);
  assert.throws(() => parseSimulationConfig({ rounds: 0 }), /rounds: .*got 0/);
  assert.throws(() => parseSimulationConfig({ local: { epochs: 1.5 } }), /local\.epochs: .*got 1\.5/);
  assert.throws(() => parseSimulationConfig({ partition: { kind: 'dirichlet', alpha: -1 } }), /partition\.alpha: .*got -1/);
  assert.throws(() => parseSimulationConfig({ partition: { kind: 'pathological' } }), /partition\.kind/);
  assert.throws(() => parseSimulationConfig({ roundz: 3 }), /unknown field\(s\) "roundz"/);
  assert.throws(() => parseSimulationConfig({ clients: 10, clientsPerRound: 11 }), /clientsPerRound \(11\) must be ≤ clients \(10\)/);
  // Several problems are all listed.
  assert.throws(() => parseSimulationConfig({ rounds: -1, model: 'x' }), (e: Error) => /rounds/.test(e.message) && /model/.test(e.message));
});

test('TOML and JSON config files are read, and flags override them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-config-'));
  const toml = join(dir, 'run.toml');
  writeFileSync(toml, 'rounds = 7\nmodel = "logreg"\n[strategy]\nname = "fedprox"\nmu = 0.1\n[partition]\nkind = "shards"\nshardsPerClient = 3\n');
  const c = buildSimulationConfig({ config: toml, rounds: 9 });
  assert.equal(c.rounds, 9);
  assert.equal(c.model, 'logreg');
  assert.deepEqual(c.strategy, { name: 'fedprox', mu: 0.1 });
  assert.deepEqual(c.partition, { kind: 'shards', shardsPerClient: 3 });
  const json = join(dir, 'run.json');
  writeFileSync(json, JSON.stringify({ clients: 20, local: { epochs: 2 } }));
  const j = buildSimulationConfig({ config: json, lr: 0.2, alpha: 0.3 });
  assert.equal(j.clients, 20);
  assert.deepEqual(j.local, { epochs: 2, batchSize: 10, learningRate: 0.2, learningRateDecay: 1 });
  assert.deepEqual(j.partition, { kind: 'dirichlet', alpha: 0.3, minSize: 2 });
  const bad = join(dir, 'bad.toml');
  writeFileSync(bad, 'rounds = = 3');
  assert.throws(() => buildSimulationConfig({ config: bad }), /bad\.toml is not valid TOML/);
  assert.throws(() => buildSimulationConfig({ config: join(dir, 'missing.json') }), /cannot read config file/);
  assert.throws(() => buildSimulationConfig({ config: join(dir, 'run.yaml') }), /cannot read config file|unknown extension/);
  assert.throws(() => buildSimulationConfig({ config: toml, strategy: 'nope' }), /strategy\.name \(--strategy\): expected one of/);
});
