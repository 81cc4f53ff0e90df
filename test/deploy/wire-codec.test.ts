// The wire codec and frame signatures: round trips of every message shape (including the typed
// arrays, lists and records secure aggregation will send), raw little-endian parameters, strict
// validation with clear reasons, cross-implementation signatures (node:crypto, @noble, WebCrypto),
// and an in-process fuzzer: 20,000 random and mutated frames, each either decoded or refused with
// a FederaError — never another exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FederaError, isFederaError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { MessageBase } from '../../src/core/messages.js';
import {
  SIGNATURE_FIELD_BYTES,
  decodeFrame,
  decodeRecord,
  encodeFrame,
  encodeRecord,
  frameMessage,
  messageBody,
  type FrameInit,
  type WireRecord,
  type WireValue,
} from '../../src/wire/codec.js';
import { CHALLENGE_BYTES, generateSecretKey, nobleSigner, signFrame, signingMessage, verifyFrame, webCryptoSigner, webFrameCrypto } from '../../src/wire/crypto.js';
import { backoffDelay, nonceIncreases, sequenceNonce } from '../../src/wire/protocol.js';
import { createIdentity, nodeFrameCrypto, nodeSigner, verifyFrameSync, ed25519PublicKey } from '../../src/node/identity.js';

function roundTrip(message: MessageBase, extra: Partial<FrameInit> = {}): MessageBase {
  const bytes = encodeFrame({ kind: 'reply', runId: message.runId, round: message.round, clientId: 'c-1', requestId: 9, type: message.type, nonce: new Uint8Array(16).fill(7), body: messageBody(message), ...extra });
  return frameMessage(decodeFrame(bytes));
}

function randomFloats(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.next() - 0.5) * 10;
  return a;
}

test('every message shape round-trips: train, train_result, evaluate, evaluate_result, error, secure-aggregation-like', () => {
  const rng = new Rng('codec');
  const messages: MessageBase[] = [
    { type: 'train', runId: 'run-1', round: 3, params: randomFloats(1000, rng), config: { epochs: 2, learningRate: 0.05, seed: 4294967295, optimizer: 'sgd', nesterov: false } } as MessageBase,
    { type: 'train_result', runId: 'run-1', round: 3, update: randomFloats(1000, rng), numExamples: 1234, metrics: { loss: 0.25, accuracy: 0.9 } } as MessageBase,
    { type: 'evaluate', runId: 'run-1', round: 3, params: randomFloats(10, rng), config: {} } as MessageBase,
    { type: 'evaluate_result', runId: 'run-1', round: 3, loss: 1.5e-9, numExamples: 0, metrics: {} } as MessageBase,
    { type: 'error', runId: '', round: 0, code: 'client_exception', message: 'données invalides — ✗ 💥' } as MessageBase,
    {
      type: 'secagg_share_keys',
      runId: 'run-1',
      round: 7,
      publicKeys: { c1: new Uint8Array([1, 2, 3]), c2: new Uint8Array(32).fill(255) },
      shares: [{ to: 'c2', ciphertext: new Uint8Array(80).fill(9), index: 2 }, { to: 'c3', ciphertext: new Uint8Array(0), index: 3 }],
      masked: new Uint32Array([0, 1, 4294967295]),
      offsets: new Int32Array([-2147483648, 0, 2147483647]),
      scale: new Float64Array([Math.PI, -0, 1e308]),
      nested: { a: { b: { c: [true, false, 'x', -1.5, []] } } },
      empty: '',
    } as MessageBase,
  ];
  for (const m of messages) assert.deepEqual(roundTrip(m), m);
});

test('parameters travel as raw little-endian float32 bytes; the frame overhead is tiny', () => {
  const rng = new Rng('overhead');
  for (const d of [10_857, 199_210, 1_000_000]) {
    const update = randomFloats(d, rng);
    const bytes = encodeFrame(
      { kind: 'reply', runId: 'mnist-2nn', round: 12, clientId: 'client-0042', requestId: 77, type: 'train_result', nonce: new Uint8Array(16), body: { update, numExamples: 600, metrics: { loss: 0.31, accuracy: 0.91 } } },
      { reserveSignature: true },
    );
    const raw = new Uint8Array(update.buffer);
    const at = Buffer.from(bytes).indexOf(Buffer.from(raw.subarray(0, 64)));
    assert.ok(at > 0 && Buffer.from(bytes.subarray(at, at + raw.length)).equals(Buffer.from(raw)), 'the update bytes appear verbatim');
    const view = new DataView(bytes.buffer, bytes.byteOffset + at, 8);
    assert.equal(view.getFloat32(4, true), update[1], 'little-endian');
    assert.ok(bytes.length / (4 * d) <= 1.01, `overhead ${bytes.length / (4 * d)}`);
    assert.ok(bytes.length - 4 * d < 250, `overhead ${bytes.length - 4 * d} bytes`);
  }
});

test('decoding refuses bad frames with a clear reason', () => {
  const good: FrameInit = { kind: 'reply', runId: 'r', round: 1, clientId: 'c', requestId: 1, type: 'train_result', nonce: new Uint8Array(16), body: { update: new Float32Array([1, 2]), numExamples: 3 } };
  const expect = (bytes: Uint8Array, code: string, pattern: RegExp, limits = {}) =>
    assert.throws(() => decodeFrame(bytes, limits), (e: unknown) => isFederaError(e) && e.code === code && pattern.test(e.message), `expected ${code} ${pattern}`);

  const ok = encodeFrame(good);
  const wrongVersion = ok.slice();
  wrongVersion[1] = 1; // a peer of protocol 1 (frames signed without the connection's challenge)
  expect(wrongVersion, 'malformed_message', /protocol version 1 is not supported \(this side speaks version 2\)/);
  expect(new Uint8Array(0), 'malformed_message', /empty frame/);
  expect(ok, 'payload_too_large', /exceeds the limit of 16 bytes/, { maxFrameBytes: 16 });
  expect(encodeFrame({ ...good, body: { update: new Float32Array([1, Number.NaN]) } }), 'non_finite', /update\[1\] is NaN/);
  expect(encodeFrame({ ...good, body: { metrics: { loss: Number.POSITIVE_INFINITY } } }), 'non_finite', /metrics\.loss is Infinity/);
  expect(encodeFrame({ ...good, body: { s: new Float64Array([0, -Infinity]) } }), 'non_finite', /s\[1\] is -Infinity/);
  expect(encodeFrame({ ...good, nonce: new Uint8Array(5) }), 'malformed_message', /nonce is 5 bytes, expected 16/);
  expect(encodeFrame({ ...good, body: { round: 3 } }), 'malformed_message', /duplicates a header field/);
  expect(encodeFrame({ ...good, type: '' }), 'malformed_message', /reply frame without a message type/);
  let deep: WireValue = 1;
  for (let i = 0; i < 20; i++) deep = { d: deep };
  expect(encodeFrame({ ...good, body: { deep } }), 'malformed_message', /nests deeper than 16 levels/);
  expect(encodeFrame({ ...good, body: { l: Array.from({ length: 50 }, () => 1) } }), 'malformed_message', /more than 10 values/, { maxEntries: 10 });
  // Hand-made violations of the schema.
  const withTail = (tail: number[]) => new Uint8Array([...ok, ...tail]);
  expect(withTail([0x10, 0x04]), 'malformed_message', /header field 2 appears twice/); // kind again
  expect(withTail([0xa0, 0x01, 0x01]), 'malformed_message', /unknown frame field 20/);
  expect(new Uint8Array([...encodeFrame({ kind: 'ping' }), 0x1d, 1, 2, 3, 4]), 'malformed_message', /field run_id has wire type fixed32, expected length-delimited/);
  expect(withTail([0x7a, 0x40, ...new Array(64).fill(0), 0x08, 0x01]), 'malformed_message', /signature must be the last field|appears twice/);
  expect(withTail([0x7a, 0x03, 1, 2, 3]), 'malformed_message', /signature is 3 bytes, expected 64/);
  expect(ok.subarray(0, ok.length - 3), 'malformed_message', /claims \d+ bytes but only \d+ remain|premature EOF/);
  // A body field whose f32 payload is not a whole number of floats, and invalid UTF-8 in a name.
  const f32Odd = new Uint8Array([0x08, 0x02, 0x10, 0x05, 0x3a, 0x01, 0x74, 0x4a, 0x0a, 0x0a, 0x01, 0x61, 0x12, 0x05, 0x2a, 0x03, 1, 2, 3]);
  expect(f32Odd, 'malformed_message', /a: float32 array of 3 bytes is not a whole number of 4-byte values/);
  const badName = new Uint8Array([0x08, 0x02, 0x10, 0x08, 0x4a, 0x07, 0x0a, 0x01, 0xff, 0x12, 0x02, 0x18, 0x01]);
  expect(badName, 'malformed_message', /not valid UTF-8/);
  const proto = new Uint8Array([0x08, 0x02, 0x10, 0x08, 0x4a, 0x0f, 0x0a, 0x09, ...Buffer.from('__proto__'), 0x12, 0x02, 0x18, 0x01]);
  expect(proto, 'malformed_message', /"__proto__" is reserved/);
  const twoMembers = new Uint8Array([0x08, 0x02, 0x10, 0x08, 0x4a, 0x09, 0x0a, 0x01, 0x61, 0x12, 0x04, 0x18, 0x01, 0x18, 0x00]);
  expect(twoMembers, 'malformed_message', /more than one member of Value/);
  const dupBody = encodeFrame({ kind: 'ping', body: { a: 1 } });
  expect(new Uint8Array([...dupBody, ...dupBody.subarray(4)]), 'malformed_message', /body field "a" appears twice/);
});

test('encoding refuses values the wire cannot carry', () => {
  const bad = (v: unknown) => assert.throws(() => encodeFrame({ kind: 'ping', body: { v } as unknown as WireRecord }), (e: unknown) => isFederaError(e, 'invalid_argument'));
  bad(null);
  bad(new Map());
  bad(new Int16Array(2));
  bad(() => 1);
  bad(10n);
});

test('records round-trip on their own (strategy state in checkpoints)', () => {
  const state = { m: new Float32Array([1, -2, 3.5]), v: new Float32Array(0), step: 12 };
  assert.deepEqual(decodeRecord(encodeRecord(state)), state);
});

test('frames signed with node:crypto, @noble and WebCrypto verify everywhere for their connection only; any change breaks the signature', async () => {
  const identity = createIdentity('alice');
  const web = webFrameCrypto();
  const noble = nobleSigner(generateSecretKey());
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const webSigner = await webCryptoSigner(pair);
  const challenge = nodeFrameCrypto.randomBytes(CHALLENGE_BYTES);
  const another = nodeFrameCrypto.randomBytes(CHALLENGE_BYTES);
  for (const [name, signer] of [['node', nodeSigner(identity.privateKey)], ['noble', noble], ['webcrypto', webSigner]] as const) {
    const bytes = encodeFrame({ kind: 'reply', runId: 'r', round: 2, clientId: 'alice', requestId: 5, type: 'train_result', nonce: sequenceNonce(7), body: { update: new Float32Array(100).fill(0.5), numExamples: 10 } }, { reserveSignature: true });
    await signFrame(bytes, signer, name === 'node' ? nodeFrameCrypto : web, challenge);
    const frame = decodeFrame(bytes);
    assert.equal(frame.signedPart.length, bytes.length - SIGNATURE_FIELD_BYTES);
    const key = ed25519PublicKey(signer.publicKey);
    assert.ok(verifyFrameSync(frame, key, challenge), `${name}-signed frame verifies with node:crypto`);
    assert.ok(await verifyFrame(frame, signer.publicKey, web, challenge), `${name}-signed frame verifies with @noble`);
    assert.ok(await verifyFrame(frame, signer.publicKey, nodeFrameCrypto, challenge), `${name}-signed frame verifies via nodeFrameCrypto`);
    // Bound to its connection: the same bytes do not verify for any other challenge.
    assert.equal(verifyFrameSync(frame, key, another), false, `${name}: a frame signed for one connection must not verify on another`);
    assert.equal(await verifyFrame(frame, signer.publicKey, web, another), false);
    assert.equal(verifyFrameSync(frame, key, new Uint8Array(16)), false, 'a challenge of the wrong size verifies nothing');
    for (const at of [3, 20, Math.floor(bytes.length / 2), bytes.length - SIGNATURE_FIELD_BYTES - 1, bytes.length - 1]) {
      const tampered = bytes.slice();
      tampered[at] ^= 0x01;
      let f;
      try {
        f = decodeFrame(tampered);
      } catch {
        continue; // no longer a frame at all
      }
      assert.equal(verifyFrameSync(f, key, challenge), false, `${name}: flipping byte ${at} must break the signature`);
    }
    assert.equal(verifyFrameSync(frame, ed25519PublicKey(createIdentity().publicKey), challenge), false, 'another key does not verify');
  }
});

test('the signing message is "federa/frame/v2" || 0x00 || challenge || SHA-256(frame before the signature)', () => {
  const challenge = Uint8Array.from({ length: 32 }, (_, i) => i);
  const digest = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
  const m = signingMessage(challenge, digest);
  assert.equal(m.length, 80);
  assert.equal(new TextDecoder().decode(m.subarray(0, 16)), 'federa/frame/v2\u0000');
  assert.deepEqual(m.subarray(16, 48), challenge);
  assert.deepEqual(m.subarray(48), digest);
  assert.throws(() => signingMessage(new Uint8Array(31), digest), /challenge must be 32 bytes/);
});

test('sequence nonces increase as big-endian numbers; a repeated or smaller one does not', () => {
  assert.deepEqual(sequenceNonce(1), Uint8Array.from([...new Array(15).fill(0), 1]));
  assert.deepEqual(sequenceNonce(2 ** 32 + 2).subarray(8), Uint8Array.from([0, 0, 0, 1, 0, 0, 0, 2]));
  for (const [a, b] of [[1, 2], [255, 256], [2 ** 32 - 1, 2 ** 32], [7, 2 ** 52]]) {
    assert.equal(nonceIncreases(sequenceNonce(a), sequenceNonce(b)), true, `${a} < ${b}`);
    assert.equal(nonceIncreases(sequenceNonce(b), sequenceNonce(a)), false, `${b} > ${a}`);
  }
  assert.equal(nonceIncreases(sequenceNonce(5), sequenceNonce(5)), false, 'the same nonce twice is a replay');
  assert.equal(nonceIncreases(sequenceNonce(5), new Uint8Array(8).fill(0xff)), false, 'another length never increases');
  assert.throws(() => sequenceNonce(0), /positive safe integer/);
});

test('fuzz: 20,000 random and mutated frames are decoded or refused with a FederaError, never anything else', () => {
  const rng = new Rng('codec-fuzz');
  const int = (n: number) => Math.floor(rng.next() * n);
  const seeds: Uint8Array[] = [
    encodeFrame({ kind: 'reply', runId: 'run', round: 4, clientId: 'client-1', requestId: 3, type: 'train_result', nonce: new Uint8Array(16).fill(1), body: { update: randomFloats(64, rng), numExamples: 10, metrics: { loss: 1 } } }, { reserveSignature: true }),
    encodeFrame({ kind: 'hello', runId: 'run', clientId: 'client-1', nonce: new Uint8Array(16), body: { challenge: new Uint8Array(32), publicKey: new Uint8Array(32), enrollmentToken: 'tok' } }),
    encodeFrame({ kind: 'instruction', runId: 'run', round: 1, requestId: 1, type: 'secagg', body: { shares: [{ to: 'a', c: new Uint8Array(20) }], m: new Uint32Array(8), n: { x: [1, 'two', false] } } }),
    encodeFrame({ kind: 'ping', nonce: new Uint8Array(16) }),
  ];
  const counts = { decoded: 0, malformed_message: 0, payload_too_large: 0, non_finite: 0 };
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    const mode = int(7);
    if (mode === 0) {
      bytes = new Uint8Array(int(300));
      for (let j = 0; j < bytes.length; j++) bytes[j] = int(256);
    } else {
      const seed = seeds[int(seeds.length)];
      const b = Array.from(seed);
      const edits = 1 + int(4);
      for (let e = 0; e < edits; e++) {
        const at = int(b.length + 1);
        switch (mode) {
          case 1: b[Math.min(at, b.length - 1)] ^= 1 << int(8); break; // bit flip
          case 2: b[Math.min(at, b.length - 1)] = int(256); break; // byte overwrite
          case 3: b.splice(at, 1 + int(8)); break; // deletion
          case 4: b.splice(at, 0, ...Array.from({ length: 1 + int(8) }, () => int(256))); break; // insertion
          case 5: b.splice(at, 0, ...b.slice(int(b.length), int(b.length) + int(40))); break; // duplication
          default: b.splice(at, 0, 0xff, 0xff, 0xff, 0xff, 0x0f); break; // huge varint
        }
      }
      bytes = new Uint8Array(b);
    }
    try {
      const f = decodeFrame(bytes, { maxFrameBytes: 4096 });
      assert.ok(typeof f.kind === 'string' && f.version === 2);
      counts.decoded++;
    } catch (e) {
      if (!(e instanceof FederaError) || !(e.code in counts)) assert.fail(`frame ${i} (mode ${mode}) threw ${String(e)}: ${Buffer.from(bytes).toString('hex')}`);
      counts[e.code as keyof typeof counts]++;
    }
  }
  assert.ok(counts.decoded > 100 && counts.malformed_message > 10_000, JSON.stringify(counts));
});

test('fuzz: random well-formed values round-trip exactly', () => {
  const rng = new Rng('codec-values');
  const int = (n: number) => Math.floor(rng.next() * n);
  const value = (depth: number): WireValue => {
    switch (int(depth > 3 ? 8 : 10)) {
      case 0: return (rng.next() - 0.5) * 10 ** int(30);
      case 1: return String.fromCodePoint(...Array.from({ length: int(12) }, () => 32 + int(0x2000)));
      case 2: return rng.next() < 0.5;
      case 3: return Uint8Array.from({ length: int(40) }, () => int(256));
      case 4: return Float32Array.from({ length: int(40) }, () => rng.next() - 0.5);
      case 5: return Float64Array.from({ length: int(10) }, () => rng.next() * 1e300);
      case 6: return Int32Array.from({ length: int(10) }, () => int(2 ** 32) - 2 ** 31);
      case 7: return Uint32Array.from({ length: int(10) }, () => int(2 ** 32));
      case 8: return Object.fromEntries(Array.from({ length: int(5) }, (_, i) => [`k${i}_${int(99)}`, value(depth + 1)]));
      default: return Array.from({ length: int(5) }, () => value(depth + 1));
    }
  };
  for (let i = 0; i < 2000; i++) {
    const body = Object.fromEntries(Array.from({ length: 1 + int(6) }, (_, j) => [`f${j}`, value(0)])) as WireRecord;
    const decoded = decodeFrame(encodeFrame({ kind: 'instruction', runId: 'r', round: int(1000), requestId: int(2 ** 32), type: 'x', body }));
    assert.deepEqual(decoded.body, body);
  }
});

test('reconnect backoff grows exponentially, is capped, and is jittered', () => {
  const o = { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5 };
  assert.equal(backoffDelay(0, o, () => 1), 100);
  assert.equal(backoffDelay(0, o, () => 0), 50);
  assert.equal(backoffDelay(3, o, () => 1), 800);
  assert.equal(backoffDelay(30, o, () => 1), 5000);
  assert.equal(backoffDelay(1000, o, () => 0), 2500);
  const spread = new Set(Array.from({ length: 50 }, () => Math.round(backoffDelay(4, o))));
  assert.ok(spread.size > 10, 'jitter spreads the delays');
  for (const d of spread) assert.ok(d >= 800 && d <= 1600);
});
