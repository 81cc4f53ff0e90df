import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompressionPipeline, decodePayload, readHeader } from '../../src/compress/pipeline.js';
import { parsePipeline, validatePipeline, describePipeline } from '../../src/compress/spec.js';
import { isFederaError, type FederaErrorCode } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';

const throwsCode = (fn: () => unknown, code: FederaErrorCode, pattern: RegExp) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(isFederaError(e, code), `expected ${code}, got ${String(e)}`);
    assert.match((e as Error).message, pattern);
    return true;
  });

test('the shorthand parses into validated stages with defaults, and back', () => {
  assert.deepEqual(parsePipeline('topk:0.01,quantize:8,lossless'), [
    { codec: 'topk', fraction: 0.01, errorFeedback: true },
    { codec: 'quantize', bits: 8, chunk: 1024 },
    { codec: 'lossless' },
  ]);
  assert.deepEqual(parsePipeline('q4'), [{ codec: 'quantize', bits: 4, chunk: 1024 }]);
  assert.deepEqual(parsePipeline('topk:1%'), [{ codec: 'topk', fraction: 0.01, errorFeedback: true }]);
  assert.deepEqual(parsePipeline('topk:1000:ef=false'), [{ codec: 'topk', k: 1000, errorFeedback: false }]);
  assert.deepEqual(parsePipeline('topk:k=5'), [{ codec: 'topk', k: 5, errorFeedback: true }]);
  assert.deepEqual(parsePipeline('rotate:256,quantize:2:chunk=512'), [{ codec: 'rotate', block: 256 }, { codec: 'quantize', bits: 2, chunk: 512 }]);
  assert.deepEqual(parsePipeline('float16'), [{ codec: 'fp16' }]);
  assert.deepEqual(parsePipeline(''), []);
  assert.deepEqual(parsePipeline('none'), []);
  for (const s of ['topk:0.01,quantize:8,lossless', 'rotate,quantize:2', 'fp16', 'topk:k=7:ef=false', 'float32', 'rotate:256,quantize:4:chunk=64']) {
    assert.equal(describePipeline(parsePipeline(s)), s);
  }
});

test('invalid specs are refused with invalid_config naming the stage and the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [[{ codec: 'zip' }], /uplink\[0\]: codec must be one of .*got "zip"/],
    [[{ codec: 'quantize', bits: 3 }], /uplink\[0\] \(quantize\): bits must be one of 1, 2, 4, 8; got 3/],
    [[{ codec: 'quantize', bits: 16 }], /bits must be one of 1, 2, 4, 8; got 16/],
    [[{ codec: 'quantize' }], /bits must be one of/],
    [[{ codec: 'topk', k: 0 }], /uplink\[0\] \(topk\): k must be an integer ≥ 1; got 0/],
    [[{ codec: 'topk', k: 2.5 }], /k must be an integer/],
    [[{ codec: 'topk', fraction: 0 }], /fraction must be a number in \(0, 1\]; got 0/],
    [[{ codec: 'topk', fraction: 1.5 }], /fraction must be a number in \(0, 1\]/],
    [[{ codec: 'topk', fraction: 0.1, k: 3 }], /give exactly one of fraction or k/],
    [[{ codec: 'topk' }], /give exactly one of fraction or k/],
    [[{ codec: 'quantize', bits: 8 }, { codec: 'topk', k: 3 }], /uplink\[1\] \(topk\): is out of order/],
    [[{ codec: 'fp16' }, { codec: 'fp16' }], /uplink\[1\] \(fp16\): appears twice/],
    [[{ codec: 'fp16' }, { codec: 'quantize', bits: 8 }], /uplink\[1\] \(quantize\): is out of order/],
    [[{ codec: 'rotate' }, { codec: 'fp16' }], /uplink\[0\] \(rotate\): must be followed directly by quantize/],
    [[{ codec: 'rotate', block: 1000 }, { codec: 'quantize', bits: 2 }], /block must be a power of two/],
    [[{ codec: 'quantize', bits: 8, chunk: 0 }], /chunk must be an integer ≥ 1; got 0/],
    [[{ codec: 'fp16', level: 3 }], /unknown field "level"/],
    ['fp16', /expected an array/],
  ];
  for (const [spec, pattern] of cases) throwsCode(() => validatePipeline(spec, 'uplink'), 'invalid_config', pattern);
  throwsCode(() => parsePipeline('quantize:x', 'uplink'), 'invalid_config', /bits must be a number; got "x"/);
  throwsCode(() => parsePipeline('topk:0.1:ef=maybe', 'uplink'), 'invalid_config', /ef must be true or false/);
  throwsCode(() => parsePipeline('lossless:3', 'uplink'), 'invalid_config', /"lossless" takes no value/);
  throwsCode(() => new CompressionPipeline('quantize:5', 'downlink'), 'invalid_config', /downlink\[0\] \(quantize\): bits must be one of 1, 2, 4, 8; got 5/);
});

const PIPELINES = [
  '',
  'fp16',
  'quantize:8',
  'quantize:4',
  'quantize:2',
  'quantize:1',
  'rotate,quantize:2',
  'rotate:64,quantize:4:chunk=100',
  'topk:0.05',
  'topk:0.05,lossless',
  'topk:0.05,fp16,lossless',
  'topk:0.05,quantize:8,lossless',
  'topk:0.05,rotate:128,quantize:4,lossless',
  'topk:k=1,quantize:1',
  'lossless',
];

test('every pipeline round-trips: the header describes it, the length is right, the error is bounded', () => {
  const rng = new Rng('pipelines');
  for (const n of [1, 5, 1000, 4099]) {
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = rng.normal() * 0.01;
    let norm = 0;
    for (const v of x) norm = Math.max(norm, Math.abs(v));
    for (const spec of PIPELINES) {
      const p = new CompressionPipeline(spec);
      const bytes = p.encode(x, rng.stream(spec));
      const h = readHeader(bytes);
      assert.equal(h.length, n);
      assert.equal(h.version, 1);
      const y = decodePayload(bytes, { expectedLength: n });
      assert.equal(y.length, n);
      const sparse = spec.includes('topk');
      for (let i = 0; i < n; i++) {
        // Lossy stages stay within the vector's range; without top-k every value is near its input.
        assert.ok(Number.isFinite(y[i]) && Math.abs(y[i]) <= 4 * norm + 1e-6, `${spec} n ${n} i ${i}: ${y[i]}`);
        if (!sparse && !spec.includes('quantize:1') && !spec.includes('quantize:2')) assert.ok(Math.abs(y[i] - x[i]) <= norm, `${spec}: ${y[i]} vs ${x[i]}`);
      }
      if (spec === '' || spec === 'lossless') assert.deepEqual(y, x);
      // The same Rng stream gives the same bytes.
      assert.deepEqual(p.encode(x, rng.stream(spec).stream('x')), p.encode(x, rng.stream(spec).stream('x')));
    }
  }
});

test('a payload at an unaligned offset decodes the same; decoding into a given array', () => {
  const x = Float32Array.from({ length: 333 }, (_, i) => Math.cos(i));
  const bytes = new CompressionPipeline('fp16').encode(x);
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  assert.deepEqual(decodePayload(shifted.subarray(1)), decodePayload(bytes));
  const out = new Float32Array(333);
  assert.equal(decodePayload(bytes, { out }), out);
  throwsCode(() => decodePayload(bytes, { out: new Float32Array(3), where: 'w' }), 'malformed_message', /w: decodes to 333 values, but the output array holds 3/);
});

test('encoding refuses non-finite input, float16 overflow and a stochastic pipeline without an Rng', () => {
  throwsCode(() => new CompressionPipeline('quantize:8').encode(Float32Array.from([1, NaN]), new Rng(1), 'client c2 update'), 'non_finite', /client c2 update: value NaN at index 1/);
  throwsCode(() => new CompressionPipeline('').encode(Float32Array.from([Infinity])), 'non_finite', /index 0/);
  throwsCode(() => new CompressionPipeline('rotate,quantize:2').encode(Float32Array.from([0, 0, NaN]), new Rng(1)), 'non_finite', /index 2/);
  throwsCode(() => new CompressionPipeline('fp16').encode(Float32Array.from([1, 1e6])), 'non_finite', /value 1000000 at index 1 has no finite float16/);
  throwsCode(() => new CompressionPipeline('quantize:8').encode(new Float32Array(4)), 'invalid_argument', /needs an Rng/);
});

// ---- bad input: every way a payload can be wrong ----

const sample = () => {
  const x = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i) * (i % 7));
  return {
    x,
    q8: new CompressionPipeline('quantize:8').encode(x, new Rng(3)),
    sparse: new CompressionPipeline('topk:0.1,quantize:4,lossless').encode(x, new Rng(3)),
    raw: new CompressionPipeline('topk:k=10').encode(x),
    fp16: new CompressionPipeline('fp16').encode(x),
  };
};
const mutate = (b: Uint8Array, f: (c: Uint8Array, dv: DataView) => void) => {
  const c = b.slice();
  f(c, new DataView(c.buffer));
  return c;
};
const bad = (bytes: unknown, pattern: RegExp, options = {}) =>
  throwsCode(() => decodePayload(bytes as Uint8Array, { where: 'train reply from client c7: encoded update', ...options }), 'malformed_message', new RegExp(`train reply from client c7: encoded update.*${pattern.source}`));

test('bad payloads are refused with malformed_message naming the payload and the problem', () => {
  const s = sample();
  bad(new Float32Array(4), /expected a Uint8Array, got Float32Array/);
  bad('hello', /expected a Uint8Array, got string/);
  bad(new Uint8Array(3), /truncated: 3 bytes, a header needs at least 8/);
  bad(mutate(s.q8, (c) => (c[0] = 0x50)), /not a federa compressed payload/);
  bad(mutate(s.q8, (c) => (c[2] = 2)), /unknown format version 2 \(this build reads version 1\)/);
  bad(mutate(s.q8, (c) => (c[2] = 0)), /unknown format version 0/);
  bad(mutate(s.q8, (c) => (c[3] = 9)), /9 stages \(at most 4\)/);
  bad(mutate(s.q8, (c) => (c[8] = 42)), /stage 0: unknown codec id 42/);
  bad(mutate(s.q8, (c) => (c[9] = 3)), /stage 0: \(quantize\) bits = 3; must be 1, 2, 4 or 8/);
  bad(mutate(s.q8, (c) => (c[9] = 16)), /bits = 16/);
  bad(mutate(s.q8, (c, dv) => dv.setUint32(12, 0, true)), /\(quantize\) chunk = 0/);
  bad(mutate(s.q8, (c) => (c[10] = 1)), /reserved bytes are not zero/);
  bad(mutate(s.sparse, (c, dv) => dv.setUint32(12, 301, true)), /\(topk\) keeps k = 301 of 300 values; k must be ≤ the length/);
  // Stage descriptors swapped: quantize before topk.
  bad(mutate(s.sparse, (c) => { const first = c.slice(8, 16); c.copyWithin(8, 16, 24); c.set(first, 16); }), /invalid stage list quantize,topk,lossless: .*out of order/);
  bad(s.q8, /decodes to 300 values, expected 299/, { expectedLength: 299 });
  bad(mutate(s.q8, (c, dv) => dv.setUint32(4, 1_000_000_000, true)), /decodes to 1000000000 values, expected 300/, { expectedLength: 300 });
  // Section sizes must match the header exactly.
  bad(mutate(s.q8, (c, dv) => dv.setUint32(16, dv.getUint32(16, true) - 4, true)), /values section has \d+ bytes; 300 quantize values need \d+/);
  bad(mutate(s.q8, (c, dv) => dv.setUint32(16, 1 << 30, true)), /truncated: the values section needs/);
  bad(mutate(s.q8, (c, dv) => dv.setUint32(4, 301, true)), /values section has \d+ bytes; 301 quantize values need/);
  const longer = new Uint8Array(s.q8.length + 8);
  longer.set(s.q8);
  bad(longer, /8 unexpected bytes after the last section/);
  // Contents.
  bad(mutate(s.q8, (c) => new Float32Array(c.buffer, 20, 1).set([NaN])), /chunk 0 has an invalid scale \(min NaN/);
  bad(mutate(s.q8, (c) => new Float32Array(c.buffer, 24, 1).set([-1])), /chunk 0 has an invalid scale .*step -1/);
  bad(mutate(s.fp16, (c) => new Uint16Array(c.buffer, 20, 2).set([0x3c00, 0x7c00])), /value 1 is a float16 infinity or NaN/);
  bad(mutate(s.raw, (c) => new Uint32Array(c.buffer, 20, 2).set([5, 5])), /index 1 is 5: indices must ascend strictly and stay below 300/);
  bad(mutate(s.raw, (c) => new Uint32Array(c.buffer, 20 + 36, 1).set([300])), /index 9 is 300/);
});

test('a header claiming a huge length is refused before anything that size is allocated', () => {
  const s = sample();
  const huge = mutate(s.raw, (c, dv) => dv.setUint32(4, 2 ** 31, true)); // 10 sparse values "of" 2^31
  throwsCode(() => decodePayload(huge, { where: 'p' }), 'payload_too_large', /p: decodes to 2147483648 values, more than the 268435456 allowed/);
  throwsCode(() => decodePayload(s.q8, { where: 'p', maxLength: 100 }), 'payload_too_large', /more than the 100 allowed/);
  // A dense header claiming more values than the payload holds fails on the section size first.
  bad(mutate(s.q8, (c, dv) => dv.setUint32(4, 2 ** 31, true)), /values section has \d+ bytes; 2147483648 quantize values need/);
});

test('every truncation of a valid payload is refused (never a crash, never garbage)', () => {
  const s = sample();
  for (const bytes of [s.q8, s.sparse, s.raw, s.fp16]) {
    for (let len = 0; len < bytes.length; len++) {
      assert.throws(
        () => decodePayload(bytes.slice(0, len), { where: 'p' }),
        (e) => isFederaError(e, 'malformed_message') && /^p: /.test((e as Error).message),
        `length ${len} of ${bytes.length}`,
      );
    }
    assert.equal(decodePayload(bytes).length, 300);
  }
});
