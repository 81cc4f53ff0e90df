// Issue 13, finding 12: compression's stochastic-rounding coins. A deployed client (and a
// deployment's server layer) draws them from the CSPRNG — before, every deployed client used the
// public seed "federa", so anyone could predict how an update was rounded. A simulation keeps
// drawing them from the run seed, so its runs stay reproducible.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientLayer } from '../../src/client/runtime.js';
import type { MessageBase, TrainInstruction, TrainReply } from '../../src/core/messages.js';
import { Rng } from '../../src/core/rng.js';
import { parseServerConfig, parseSimulationConfig } from '../../src/config/rules.js';
import { planRun } from '../../src/run/plan.js';
import { deployedClientLayers } from '../../src/run/client-layers.js';
import type { ServerLayer } from '../../src/engine/server-layer.js';

const D = 2000;
const update = (() => {
  const rng = new Rng('coins');
  return Float32Array.from({ length: D }, () => rng.next() * 2 - 1);
})();

/** The instruction as the plan's server layer sends it (it announces the uplink pipeline). */
function instruction(server: ServerLayer, round: number): TrainInstruction {
  const ins: TrainInstruction = { type: 'train', runId: 'r', round, params: new Float32Array(D), config: {} };
  return server.outgoing!(ins as never, { clientId: 'c1' } as never) as unknown as TrainInstruction;
}

/** The bytes a client stack sends for `update` in `round`. */
async function encodedBy(layers: readonly ClientLayer[], ins: TrainInstruction): Promise<Uint8Array> {
  const inner = async (m: MessageBase) => ({ type: 'train_result', runId: m.runId, round: m.round, update: update.slice(), numExamples: 10, metrics: {} }) as TrainReply;
  const info = { clientId: 'c1', state: new Map<string, unknown>() };
  const handler = layers.reduceRight<(m: MessageBase) => Promise<MessageBase>>((next, layer) => layer(next, info as never), inner);
  const reply = (await handler(ins)) as MessageBase & { encoded?: Uint8Array };
  assert.ok(reply.encoded instanceof Uint8Array, 'the reply is encoded');
  return reply.encoded;
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
const compression = { uplink: 'quantize:2' };

test('deployed clients draw stochastic-rounding coins from the CSPRNG: two clients, same update and round, differ', async () => {
  const plan = planRun(parseServerConfig({ name: 'coins', rounds: 1, clientsPerRound: 2, input: { numFeatures: 4, numClasses: 2 }, compression }), { population: 2, deployment: true });
  const ins = instruction(plan.serverLayers[0], 1);
  // The stack a FederaClient or BrowserClient builds, and the plan's deployed stack.
  const a = await encodedBy(deployedClientLayers(), ins);
  const b = await encodedBy(deployedClientLayers(), ins);
  assert.equal(same(a, b), false, 'two deployed clients rounded the same update identically: the coins are predictable');
  const c = await encodedBy(plan.clientLayers('c1', 0), ins);
  const d = await encodedBy(plan.clientLayers('c1', 0), ins);
  assert.equal(same(c, d), false, "the deployment plan's client layers use seeded coins");
});

test("a deployment's server layer encodes the downlink with CSPRNG coins", async () => {
  const config = parseServerConfig({ name: 'coins', rounds: 1, clientsPerRound: 2, input: { numFeatures: 4, numClasses: 2 }, compression: { downlink: 'quantize:2' } });
  const encode = (layer: ServerLayer) => {
    const ins: TrainInstruction = { type: 'train', runId: 'r', round: 1, params: update.slice(), config: {} };
    return (layer.outgoing!(ins as never, { clientId: 'c1', round: 1 } as never) as unknown as { encoded: Uint8Array }).encoded;
  };
  const a = encode(planRun(config, { population: 2, deployment: true }).serverLayers[0]);
  const b = encode(planRun(config, { population: 2, deployment: true }).serverLayers[0]);
  assert.equal(same(a, b), false);
});

test('a simulation keeps seeded coins: the same seed rounds the same update identically', async () => {
  const config = parseSimulationConfig({ clients: 2, clientsPerRound: 2, rounds: 1, seed: 7, compression });
  const p1 = planRun(config, { population: 2 });
  const p2 = planRun(config, { population: 2 });
  const ins = instruction(p1.serverLayers[0], 1);
  assert.ok(same(await encodedBy(p1.clientLayers('c1', 0), ins), await encodedBy(p2.clientLayers('c1', 0), ins)));
});
