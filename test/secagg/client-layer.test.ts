// The client layer on its own: it passes other messages through, answers the stages in order
// only, complains about ciphertexts that do not open, and refuses to mask without enough live peers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientRuntime } from '../../src/client/runtime.js';
import type { MessageBase } from '../../src/core/messages.js';
import { Rng } from '../../src/core/rng.js';
import { secAggClientLayer } from '../../src/secagg/client-layer.js';
import { generateKeyPair, seededRandom } from '../../src/secagg/primitives.js';
import { SHARE_CIPHERTEXT_BYTES } from '../../src/secagg/protocol.js';
import { encodingFor } from '../../src/secagg/encoding.js';
import { KnownUpdateTrainer, indexedData, knownUpdates } from './helpers/clients.js';

const D = 16;
const updates = knownUpdates(1, D, 1);

function client() {
  const { train } = indexedData([4]);
  return new ClientRuntime({ clientId: 'b', trainer: new KnownUpdateTrainer(updates), data: { train }, layers: [secAggClientLayer({ randomness: 'seeded', seed: 1 })] });
}
const head = { runId: 'run', round: 1 };
const enc = encodingFor(32, 1, 3);
const setup = { ...head, type: 'secagg_setup', index: 2, threshold: 2, vectorLength: D + 1, bits: 32, clipRange: 1, scale: enc.scale, weightScale: enc.weightScale, metricScale: enc.metricScale, secureMetrics: [], maxWeight: 10, weighting: 'examples' };
const send = (c: ClientRuntime, m: Record<string, unknown>) => c.handle(m as unknown as MessageBase) as Promise<MessageBase & Record<string, any>>;

test('stages in order; garbage ciphertexts become complaints; no masking without t − 1 live peers', async () => {
  const c = client();
  // Other messages pass through to the runtime.
  const ev = await send(c, { ...head, type: 'evaluate', params: new Float32Array(D), config: {} });
  assert.equal(ev.type, 'evaluate_result');
  // Out of order.
  const early = await send(c, { ...head, type: 'secagg_masked', peers: [], ciphertexts: new Uint8Array(0), params: new Float32Array(D), config: {} });
  assert.equal(early.type, 'error');
  assert.match(early.message, /no secure-aggregation setup/);
  // Bad setup field.
  const badSetup = await send(c, { ...setup, threshold: 'two' });
  assert.equal(badSetup.type, 'error');
  assert.match(badSetup.message, /threshold must be/);

  const keys = await send(c, setup);
  assert.equal(keys.type, 'secagg_keys');
  assert.equal(keys.encryptionKey.length, 32);
  const random = seededRandom(new Rng('peers'));
  const peers = ['a', 'c'].map(() => [generateKeyPair(random), generateKeyPair(random)]);
  const shareMsg = { ...head, type: 'secagg_share', peers: ['a', 'c'], indices: Int32Array.from([1, 3]), encryptionKeys: new Uint8Array([...peers[0][0].publicKey, ...peers[1][0].publicKey]), maskKeys: new Uint8Array([...peers[0][1].publicKey, ...peers[1][1].publicKey]) };
  const shares = await send(c, shareMsg);
  assert.equal(shares.type, 'secagg_shares');
  assert.deepEqual(shares.recipients, ['a', 'c']);
  assert.equal(shares.ciphertexts.length, 2 * SHARE_CIPHERTEXT_BYTES);
  // A repeated stage is refused.
  assert.equal((await send(c, shareMsg)).type, 'error');

  const verified = await send(c, { ...head, type: 'secagg_verify', senders: ['a', 'c'], ciphertexts: new Uint8Array(2 * SHARE_CIPHERTEXT_BYTES).fill(7) });
  assert.equal(verified.type, 'secagg_verify_result');
  assert.deepEqual(verified.complaints, ['a', 'c']);
  // Masking with a peer whose share did not verify is refused (the server should have excluded it).
  const withBad = await send(c, { ...head, type: 'secagg_masked', peers: ['a'], params: new Float32Array(D), config: { seed: 3 } });
  assert.equal(withBad.type, 'error');
  assert.match(withBad.message, /holds no valid share/);

  // With both peers excluded, threshold 2 needs one live peer: the client refuses to mask alone.
  const alone = await send(c, { ...head, type: 'secagg_masked', peers: [], params: new Float32Array(D), config: { seed: 3 } });
  assert.equal(alone.type, 'error');
  assert.match(alone.message, /refused: masked input asked with 0 live peer\(s\); threshold t = 2 needs at least 1/);
  // The unmasking checks (never both secrets, too few survivors) are in client-refusals.test.ts, with real peers.
});
