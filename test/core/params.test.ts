// Tests for flat parameter layouts (src/core/params.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParamLayout, makeParams, cloneParams } from '../../src/core/params.js';
import { isFederaError, type FederaErrorCode } from '../../src/core/errors.js';

function throwsCode(fn: () => unknown, code: FederaErrorCode, messageIncludes?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isFederaError(e), `expected a FederaError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (messageIncludes !== undefined) assert.ok(e.message.includes(messageIncludes), `message "${e.message}" lacks "${messageIncludes}"`);
    return true;
  });
}

const SHAPES = [
  { name: 'dense/kernel', shape: [3, 4] }, // 12 elements at offset 0
  { name: 'dense/bias', shape: [4] }, //       4 elements at offset 12
  { name: 'scalar', shape: [] }, //            1 element  at offset 16 (empty product = 1)
  { name: 'empty', shape: [2, 0, 5] }, //      0 elements at offset 17
  { name: 'conv', shape: [2, 2, 1, 3] }, //   12 elements at offset 17
];

test('fromShapes lays tensors out one after the other', () => {
  const layout = ParamLayout.fromShapes(SHAPES);
  assert.equal(layout.size, 12 + 4 + 1 + 0 + 12); // 29
  assert.deepEqual(
    layout.tensors.map((t) => [t.name, t.offset, t.size, [...t.shape]]),
    [
      ['dense/kernel', 0, 12, [3, 4]],
      ['dense/bias', 12, 4, [4]],
      ['scalar', 16, 1, []],
      ['empty', 17, 0, [2, 0, 5]],
      ['conv', 17, 12, [2, 2, 1, 3]],
    ],
  );
  assert.equal(layout.tensor('dense/bias').offset, 12);
  throwsCode(() => layout.tensor('nope'), 'not_found', 'nope');
  assert.equal(ParamLayout.fromShapes([]).size, 0);
});

test('the layout does not alias its input shapes and its specs are frozen', () => {
  const shape = [2, 3];
  const layout = ParamLayout.fromShapes([{ name: 'w', shape }]);
  shape[0] = 100;
  assert.deepEqual([...layout.tensor('w').shape], [2, 3]);
  assert.equal(layout.tensor('w').size, 6);
  assert.ok(Object.isFrozen(layout.tensor('w')));
  assert.ok(Object.isFrozen(layout.tensor('w').shape));
});

test('duplicate names and bad dimensions are rejected with invalid_argument', () => {
  throwsCode(() => ParamLayout.fromShapes([{ name: 'a', shape: [1] }, { name: 'b', shape: [2] }, { name: 'a', shape: [3] }]), 'invalid_argument', '"a"');
  for (const dim of [-1, 1.5, NaN, Infinity]) {
    throwsCode(() => ParamLayout.fromShapes([{ name: 'w', shape: [2, dim] }]), 'invalid_argument', '"w"');
  }
});

test('check() accepts exactly `size` values and otherwise throws shape_mismatch with details', () => {
  const layout = ParamLayout.fromShapes([{ name: 'w', shape: [2, 3] }]);
  layout.check(new Float32Array(6));
  layout.check([1, 2, 3, 4, 5, 6]);
  for (const n of [0, 5, 7]) {
    assert.throws(() => layout.check(new Float32Array(n), 'global model'), (e: unknown) => {
      assert.ok(isFederaError(e, 'shape_mismatch'));
      assert.ok(e.message.startsWith('global model:'), e.message);
      assert.deepEqual(e.details, { expected: 6, actual: n });
      return true;
    });
  }
  throwsCode(() => makeParams(layout, new Float32Array(5)), 'shape_mismatch');
  const zeros = makeParams(layout);
  assert.deepEqual(zeros.data, new Float32Array(6));
  assert.equal(zeros.layout, layout);
});

test('view() is a zero-copy window onto the flat array', () => {
  const layout = ParamLayout.fromShapes([{ name: 'a', shape: [2] }, { name: 'b', shape: [3] }]);
  const flat = Float32Array.from([1, 2, 3, 4, 5]);
  const b = layout.view(flat, 'b');
  assert.deepEqual(b, Float32Array.from([3, 4, 5]));
  assert.equal(b.buffer, flat.buffer);
  assert.equal(b.byteOffset, 2 * 4);
  b[0] = 30; // write through the view ...
  assert.equal(flat[2], 30); // ... shows in the flat array
  flat[4] = 50; // and the other way round
  assert.equal(b[2], 50);
  throwsCode(() => layout.view(new Float32Array(4), 'b'), 'shape_mismatch');
  throwsCode(() => layout.view(flat, 'c'), 'not_found');
});

test('equals compares names and shapes in order', () => {
  const a = ParamLayout.fromShapes([{ name: 'w', shape: [2, 3] }, { name: 'b', shape: [3] }]);
  assert.ok(a.equals(ParamLayout.fromShapes([{ name: 'w', shape: [2, 3] }, { name: 'b', shape: [3] }])));
  assert.ok(a.equals(a));
  assert.ok(!a.equals(ParamLayout.fromShapes([{ name: 'w', shape: [3, 2] }, { name: 'b', shape: [3] }])), 'same size, different shape');
  assert.ok(!a.equals(ParamLayout.fromShapes([{ name: 'w', shape: [6] }, { name: 'b', shape: [3] }])), 'same size, different rank');
  assert.ok(!a.equals(ParamLayout.fromShapes([{ name: 'W', shape: [2, 3] }, { name: 'b', shape: [3] }])), 'different name');
  assert.ok(!a.equals(ParamLayout.fromShapes([{ name: 'b', shape: [3] }, { name: 'w', shape: [2, 3] }])), 'different order');
  assert.ok(!a.equals(ParamLayout.fromShapes([{ name: 'w', shape: [2, 3] }])), 'fewer tensors');
  assert.ok(!a.equals(ParamLayout.fromShapes([{ name: 'w', shape: [2, 3] }, { name: 'b', shape: [3] }, { name: 'e', shape: [0] }])), 'extra empty tensor');
});

test('JSON round trip', () => {
  const layout = ParamLayout.fromShapes(SHAPES);
  const json = layout.toJSON();
  assert.deepEqual(json, SHAPES.map((s) => ({ name: s.name, shape: s.shape })));
  const text = JSON.stringify(layout);
  const back = ParamLayout.fromJSON(JSON.parse(text));
  assert.ok(back.equals(layout));
  assert.equal(back.size, 29);
  assert.deepEqual(back.tensors.map((t) => t.offset), [0, 12, 16, 17, 17]);
  // toJSON hands out copies: mutating them does not change the layout.
  json[0].shape[0] = 99;
  assert.deepEqual([...layout.tensors[0].shape], [3, 4]);
});

test('fromJSON rejects malformed input', () => {
  for (const bad of [null, undefined, 42, 'w', { name: 'w', shape: [1] }]) throwsCode(() => ParamLayout.fromJSON(bad), 'malformed_message');
  for (const entry of [null, 3, { shape: [1] }, { name: 1, shape: [1] }, { name: 'w' }, { name: 'w', shape: 3 }]) {
    throwsCode(() => ParamLayout.fromJSON([{ name: 'ok', shape: [1] }, entry]), 'malformed_message', 'entry 1');
  }
  // Well-formed entries with bad content go through fromShapes' checks.
  throwsCode(() => ParamLayout.fromJSON([{ name: 'w', shape: [-2] }]), 'invalid_argument');
  throwsCode(() => ParamLayout.fromJSON([{ name: 'w', shape: ['2'] }]), 'invalid_argument');
  throwsCode(() => ParamLayout.fromJSON([{ name: 'w', shape: [1] }, { name: 'w', shape: [1] }]), 'invalid_argument');
});

test('cloneParams copies the data and keeps the layout', () => {
  const layout = ParamLayout.fromShapes([{ name: 'w', shape: [3] }]);
  const p = makeParams(layout, Float32Array.from([1, 2, 3]));
  assert.equal(p.data[0], 1);
  const q = cloneParams(p);
  assert.equal(q.layout, layout);
  assert.deepEqual(q.data, p.data);
  q.data[0] = 9;
  assert.equal(p.data[0], 1);
});
