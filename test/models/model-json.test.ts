// Bring-your-own TF.js models (src/models/model-json.ts, src/node/model-json.ts): a model.json
// written as `model.save('file://…')` writes it trains in simulation and over wss with Node
// clients that build it from the spec; unsupported layers, shape mismatches, models without a
// trainable weight and wrong files are refused with messages naming the layer or file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/models/backend.js';
import { loadModelJson, modelJsonServerModel } from '../../src/node/model-json.js';
import { checkTopology, trainerFromSpec } from '../../src/models/model-json.js';
import { zooTrainer } from '../../src/run/zoo-trainer.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { FederaServer } from '../../src/server/server.js';
import { FederaClient } from '../../src/node/client.js';
import { createIdentity } from '../../src/node/identity.js';
import { welcomeBody, parseWelcome } from '../../src/wire/protocol.js';
import { partitionIid } from '../../src/data/partition.js';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';
import type { Dataset } from '../../src/data/dataset.js';
import { toyServerConfig } from '../deploy/helpers/scripted.js';
import { makeSelfSignedCertificate } from '../deploy/helpers/tls.js';

await initBackend('wasm');
const dir = mkdtempSync(join(tmpdir(), 'federa-byo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `model` as tfjs-node's file:// handler does: model.json + weights.bin. */
async function saveToFolder(model: tf.LayersModel, name: string, withWeights = true): Promise<string> {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const json: Record<string, unknown> = { format: 'layers-model', generatedBy: 'TensorFlow.js', convertedBy: null, modelTopology: a.modelTopology };
      if (withWeights) {
        json.weightsManifest = [{ paths: ['weights.bin'], weights: a.weightSpecs }];
        writeFileSync(join(folder, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
      }
      writeFileSync(join(folder, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return join(folder, 'model.json');
}

/** A user's own small conv net for 8×8 images, with layer names of their choosing. */
function userModel(): tf.Sequential {
  return tf.sequential({
    name: 'my_net',
    layers: [
      tf.layers.reshape({ inputShape: [64], targetShape: [8, 8, 1], name: 'to_image' }),
      tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'my_conv' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'my_out' }),
    ],
  });
}

function blobs(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 64);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.int(3);
    for (let j = 0; j < 64; j++) x[i * 64 + j] = (Math.floor(j / 22) === y[i] ? 1 : 0) + 0.3 * rng.normal();
  }
  return { x, y, numFeatures: 64, numClasses: 3 };
}

const built = userModel();
const modelPath = await saveToFolder(built, 'mine');
const savedWeights = built.getWeights().map((w) => w.dataSync().slice());
built.dispose();

test('model.json + weights.bin load with their weights; the spec carries the architecture', async () => {
  const loaded = await loadModelJson(modelPath);
  assert.equal(loaded.hasWeights, true);
  loaded.model.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), savedWeights[i]));
  loaded.model.dispose();
  const server = await modelJsonServerModel(modelPath, { numFeatures: 64, numClasses: 3, seed: 1 });
  try {
    assert.equal(server.spec.name, 'my_net');
    assert.deepEqual(server.spec.layout.map((t) => t.name), ['my_conv/kernel', 'my_conv/bias', 'my_out/kernel', 'my_out/bias']);
    assert.deepEqual(server.initialParams.data.subarray(0, 36), savedWeights[0], 'initial parameters are the file’s weights');
    // The spec survives the WELCOME frame; a client builds the same layout from it.
    const w = parseWelcome({ runId: 'r', round: 0, body: welcomeBody({ clientId: 'c', enrolled: true, heartbeatMs: 0, maxFrameBytes: 1 << 20, seed: 4, validationFraction: 0.1, model: server.spec }) } as never);
    assert.equal(w.model.architecture, server.spec.architecture);
    const t = await zooTrainer(w.model, { seed: 4 });
    assert.ok(t.layout.equals(server.initialParams.layout));
    t.dispose();
  } finally {
    server.dispose();
  }
});

test('a bring-your-own model trains in simulation, clients built from the spec', { timeout: 60_000 }, async () => {
  const server = await modelJsonServerModel(modelPath, { numFeatures: 64, numClasses: 3, seed: 2, evaluationData: blobs(150, 9) });
  try {
    const train = blobs(300, 3);
    const run = await runSimulation({
      train,
      partitions: partitionIid(train.y.length, 5, new Rng(1)),
      createTrainer: () => trainerFromSpec(server.spec, 2),
      initialParams: server.initialParams,
      strategy: new FedAvg({ trainConfig: { epochs: 1, batchSize: 10, learningRate: 0.1 }, evaluate: server.evaluate }),
      rounds: 3,
      seed: 2,
      sampling: { fraction: 1, minClients: 5 },
    });
    const acc = run.history.map((h) => h.centralEvaluation!.metrics.accuracy);
    assert.ok(acc[2] > 0.9 && acc[2] > run.initialEvaluation!.metrics.accuracy, `accuracy ${run.initialEvaluation!.metrics.accuracy} → ${acc}`);
  } finally {
    server.dispose();
  }
});

test('over wss: Node clients with no model code of their own build the server’s model.json and train it', { timeout: 120_000 }, async (t) => {
  const cert = makeSelfSignedCertificate(dir);
  const config = toyServerConfig(
    join(dir),
    { name: 'byo-run', rounds: 2, clientsPerRound: 2, local: { epochs: 1, batchSize: 10, learningRate: 0.1 }, input: { numFeatures: 64, numClasses: 3 }, evaluation: { federatedEvery: 0, centralEvery: 1 } },
    { host: '127.0.0.1', tls: { cert: cert.certFile, key: cert.keyFile } },
  );
  const model = await modelJsonServerModel(modelPath, { numFeatures: 64, numClasses: 3, seed: 3, evaluationData: blobs(150, 9) });
  const server = new FederaServer(config, { model, processMetrics: false });
  const { url } = await server.start();
  t.after(() => server.stop());
  assert.match(url, /^wss:/);
  const clients = [0, 1].map((i) => new FederaClient({ server: url, data: blobs(120, 20 + i), token: `token-${i}`, identity: createIdentity(`client-${i}`), ca: cert.certPem }));
  t.after(() => clients.forEach((c) => c.stop()));
  const outcomes = await Promise.all(clients.map((c) => c.start()));
  assert.deepEqual(outcomes.map((o) => o.reason), ['run_complete', 'run_complete']);
  const rounds = server.history().rounds;
  assert.deepEqual(rounds.map((r) => r.status), ['completed', 'completed']);
  assert.ok(rounds[1].centralEvaluation!.metrics.accuracy > 0.8, `accuracy ${rounds[1].centralEvaluation!.metrics.accuracy}`);
});

test('refusals name the layer: unsupported class, nested model, input and output shape, no trainable weight', async () => {
  const unsupported = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, name: 'd1' }), tf.layers.batchNormalization({ name: 'bn_here' }), tf.layers.activation({ activation: 'softmax', name: 'sm' })] });
  const p1 = await saveToFolder(unsupported, 'bn');
  unsupported.dispose();
  await assert.rejects(loadModelJson(p1), (e) => isFederaError(e, 'unsupported') && /bn\/model\.json: layer "bn_here" \(BatchNormalization\) is not supported; federa trains Dense/.test((e as Error).message));

  await assert.rejects(
    modelJsonServerModel(modelPath, { numFeatures: 784, numClasses: 3, seed: 1 }),
    (e) => isFederaError(e, 'unsupported') && /the first layer "to_image" takes \[64\] = 64 values per example but the data has 784 features/.test((e as Error).message),
  );
  await assert.rejects(
    modelJsonServerModel(modelPath, { numFeatures: 64, numClasses: 10, seed: 1 }),
    (e) => isFederaError(e, 'unsupported') && /output layer "my_out" gives \[3\] per example but the data needs 10 classes/.test((e as Error).message),
  );
  await assert.rejects(
    modelJsonServerModel(modelPath, { numFeatures: 64, numClasses: 2, task: 'regression', seed: 1 }),
    (e) => isFederaError(e, 'unsupported') && /needs 2 target\(s\)/.test((e as Error).message),
  );
  const frozen = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [2, 2], name: 'only_flatten' }), tf.layers.activation({ activation: 'softmax', name: 'sm' })] });
  const p2 = await saveToFolder(frozen, 'frozen', false);
  frozen.dispose();
  await assert.rejects(
    modelJsonServerModel(p2, { numFeatures: 4, numClasses: 4, seed: 1 }),
    (e) => isFederaError(e, 'unsupported') && /no trainable weight \(layers: only_flatten \(Flatten\), sm \(Activation\)\)/.test((e as Error).message),
  );
  assert.throws(
    () => checkTopology({ class_name: 'Sequential', config: { layers: [{ class_name: 'Sequential', config: { name: 'inner', layers: [] } }] } }, 'x.json'),
    (e) => isFederaError(e, 'unsupported') && /layer "inner" is a nested model/.test((e as Error).message),
  );
});

test('wrong files: graph models, a federa parameter file, missing weights, not JSON', async () => {
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const fails = async (p: string, re: RegExp) => assert.rejects(loadModelJson(p), (e) => isFederaError(e, 'data_error') && re.test((e as Error).message), `expected ${re}`);
  await fails(write('graph.json', JSON.stringify({ format: 'graph-model', modelTopology: undefined })), /graph\.json: has no "modelTopology" \(a graph model cannot be trained/);
  await fails(write('params.json', JSON.stringify({ format: 'float32-le', size: 3, layout: [] })), /params\.json: has no "modelTopology" \(this is the parameter file of a federa run/);
  await fails(write('broken.json', '{"modelTopology": '), /broken\.json: is not valid JSON/);
  await fails(join(dir, 'absent.json'), /absent\.json: does not exist/);
  const folder = join(dir, 'noweights');
  mkdirSync(folder);
  const m = userModel();
  const p = await saveToFolder(m, 'noweights');
  m.dispose();
  rmSync(join(folder, 'weights.bin'));
  await fails(p, /noweights\/weights\.bin: weight file listed in .*model\.json cannot be read/);
});
