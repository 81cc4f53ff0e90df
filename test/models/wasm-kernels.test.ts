// Tests for federa's wasm convolution gradients (src/models/wasm-kernels.ts): every kernel against
// the pure-JS cpu backend (relative L2 error ≤ 1e-4) over random shapes, strides, paddings and
// channel counts, for both filter-gradient routes, and a whole CNN's gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/models/backend.js';
import { useConvFilterRoute } from '../../src/models/wasm-kernels.js';
import { mnistCnn } from '../../src/models/zoo.js';
import { Rng } from '../../src/core/rng.js';

const backend = await initBackend('wasm');

function randomArray(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

function relativeError(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length);
  let d = 0;
  let n = 0;
  for (let i = 0; i < got.length; i++) {
    d += (got[i] - want[i]) ** 2;
    n += want[i] ** 2;
  }
  return Math.sqrt(d / Math.max(n, 1e-30));
}

/** Runs one kernel on a backend from plain arrays and returns its output values. */
function run(on: string, kernel: string, inputs: Record<string, { values: Float32Array; shape: number[] }>, attrs: Record<string, unknown>): Float32Array {
  tf.setBackend(on);
  return tf.tidy(() => {
    const ts: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.values, v.shape, 'float32');
    const out = tf.engine().runKernel(kernel, ts as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
    return out.dataSync() as Float32Array;
  });
}

interface Case {
  x: number[];
  filter: number[];
  strides: [number, number];
  pad: 'same' | 'valid' | number;
}

function randomCase(rng: Rng): Case {
  const fh = 1 + rng.int(5);
  const fw = 1 + rng.int(5);
  const strides: [number, number] = [1 + rng.int(3), 1 + rng.int(3)];
  const pad = (['same', 'valid', rng.int(3)] as const)[rng.int(3)];
  const h = fh + rng.int(12);
  const w = fw + rng.int(12);
  const ci = 1 + rng.int(9);
  const co = 1 + rng.int(9);
  return { x: [1 + rng.int(4), h, w, ci], filter: [fh, fw, ci, co], strides, pad };
}

function outShape(c: Case): number[] {
  const info = tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], c.filter as [number, number, number, number], c.strides, 1, c.pad);
  return info.outShape;
}

test('the wasm backend is active and has a Conv2DBackpropFilter kernel', () => {
  assert.equal(backend, 'wasm');
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), 'kernel registered by initBackend');
});

for (const route of ['im2col', 'conv3d'] as const) {
  test(`Conv2DBackpropFilter (${route}) matches the cpu backend on 40 random cases`, () => {
    useConvFilterRoute(route);
    const rng = new Rng(`filter-${route}`);
    for (let k = 0; k < 40; k++) {
      const c = randomCase(rng);
      const dyShape = outShape(c);
      const inputs = {
        x: { values: randomArray(rng, c.x.reduce((a, b) => a * b)), shape: c.x },
        dy: { values: randomArray(rng, dyShape.reduce((a, b) => a * b)), shape: dyShape },
      };
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter };
      const want = run('cpu', 'Conv2DBackpropFilter', inputs, attrs);
      const got = run('wasm', 'Conv2DBackpropFilter', inputs, attrs);
      const err = relativeError(got, want);
      assert.ok(err <= 1e-4, `case ${JSON.stringify(c)}: relative error ${err}`);
    }
    useConvFilterRoute('im2col');
  });
}

test('Conv2DBackpropInput matches the cpu backend on 40 random cases (stride 1 by matmul, others by the backend)', () => {
  const rng = new Rng('input');
  let strideOne = 0;
  for (let k = 0; k < 40; k++) {
    const c = randomCase(rng);
    if (k % 2 === 0) c.strides = [1, 1];
    if (c.strides[0] === 1 && c.strides[1] === 1) strideOne++;
    const dyShape = outShape(c);
    const inputs = {
      dy: { values: randomArray(rng, dyShape.reduce((a, b) => a * b)), shape: dyShape },
      filter: { values: randomArray(rng, c.filter.reduce((a, b) => a * b)), shape: c.filter },
    };
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x };
    const err = relativeError(run('wasm', 'Conv2DBackpropInput', inputs, attrs), run('cpu', 'Conv2DBackpropInput', inputs, attrs));
    assert.ok(err <= 1e-4, `case ${JSON.stringify(c)}: relative error ${err}`);
  }
  assert.ok(strideOne >= 20);
});

test('MaxPoolGrad matches the cpu backend on 30 random pools', () => {
  const rng = new Rng('pool');
  for (let k = 0; k < 30; k++) {
    const f: [number, number] = [1 + rng.int(3), 1 + rng.int(3)];
    const s: [number, number] = [1 + rng.int(3), 1 + rng.int(3)];
    const pad = rng.int(2) ? 'same' : 'valid';
    const shape = [1 + rng.int(3), f[0] + rng.int(9), f[1] + rng.int(9), 1 + rng.int(5)];
    const xv = randomArray(rng, shape.reduce((a, b) => a * b));
    tf.setBackend('cpu');
    const out = tf.tidy(() => tf.maxPool(tf.tensor4d(xv, shape as [number, number, number, number]), f, s, pad).dataSync() as Float32Array);
    const outShape4 = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], f, s, 1, pad).outShape;
    const inputs = {
      dy: { values: randomArray(rng, out.length), shape: outShape4 },
      input: { values: xv, shape },
      output: { values: out, shape: outShape4 },
    };
    const attrs = { filterSize: f, strides: s, pad };
    const err = relativeError(run('wasm', 'MaxPoolGrad', inputs, attrs), run('cpu', 'MaxPoolGrad', inputs, attrs));
    assert.ok(err <= 1e-4, `pool ${JSON.stringify({ shape, f, s, pad })}: relative error ${err}`);
  }
});

test("the MNIST CNN's loss gradients agree between wasm and cpu for every weight", () => {
  const rng = new Rng('cnn-grads');
  const x = new Float32Array(4 * 784).map(() => rng.next());
  const y = new Int32Array(4).map(() => rng.int(10));
  const grads = (on: string): Float32Array[] => {
    tf.setBackend(on);
    const z = mnistCnn();
    try {
      const ws = z.model.trainableWeights.map((w) => w.read() as tf.Variable);
      // Same weights on both backends.
      const wrng = new Rng('cnn-weights');
      ws.forEach((v) => v.assign(tf.tensor(randomArray(wrng, v.size).map((a) => a * 0.05), v.shape)));
      return tf.tidy(() => {
        const { grads: g } = tf.variableGrads(() => {
          const p = z.model.apply(tf.tensor2d(x, [4, 784]), { training: true }) as tf.Tensor2D;
          return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(y, 'int32'), 10), tf.log(p)) as tf.Scalar;
        }, ws);
        return ws.map((v) => g[v.name].dataSync() as Float32Array);
      });
    } finally {
      z.model.dispose();
    }
  };
  const want = grads('cpu');
  const got = grads('wasm');
  assert.equal(got.length, 8);
  got.forEach((g, i) => {
    const err = relativeError(g, want[i]);
    assert.ok(err <= 1e-4, `weight ${i}: relative error ${err}`);
    assert.ok(g.some((v) => v !== 0), `weight ${i} has a non-zero gradient`);
  });
  tf.setBackend('wasm');
});

test('UnsortedSegmentSum (the Embedding gradient) matches the cpu backend, out-of-range ids dropped', () => {
  const rng = new Rng('segments');
  for (let k = 0; k < 10; k++) {
    const rows = 1 + rng.int(30);
    const inner = 1 + rng.int(9);
    const numSegments = 1 + rng.int(12);
    const xv = randomArray(rng, rows * inner);
    const ids = Int32Array.from({ length: rows }, () => rng.int(numSegments + 2) - 1); // some −1 and numSegments
    const results = ['cpu', 'wasm'].map((on) => {
      tf.setBackend(on);
      return tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d(xv, [rows, inner]), tf.tensor1d(ids, 'int32'), numSegments).dataSync() as Float32Array);
    });
    assert.ok(relativeError(results[1], results[0]) <= 1e-6 || results[0].every((v) => v === 0), `case ${k}`);
    assert.equal(results[1].length, numSegments * inner);
  }
  tf.setBackend('wasm');
});

test('BatchMatMul with transposed operands (made explicit on wasm) matches the cpu backend', () => {
  const rng = new Rng('matmul');
  for (let k = 0; k < 16; k++) {
    const [m, kk, n] = [1 + rng.int(20), 1 + rng.int(20), 1 + rng.int(20)];
    const batch = k % 4 === 3 ? 1 + rng.int(3) : 0;
    const ta = k % 2 === 1;
    const tb = (k >> 1) % 2 === 1;
    const pre = batch ? [batch] : [];
    const aShape = [...pre, ...(ta ? [kk, m] : [m, kk])];
    const bShape = [...pre, ...(tb ? [n, kk] : [kk, n])];
    const av = randomArray(rng, aShape.reduce((x, y) => x * y));
    const bv = randomArray(rng, bShape.reduce((x, y) => x * y));
    const out = ['cpu', 'wasm'].map((on) => {
      tf.setBackend(on);
      return tf.tidy(() => tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), ta, tb).dataSync() as Float32Array);
    });
    assert.ok(relativeError(out[1], out[0]) <= 1e-5, `case ${JSON.stringify({ aShape, bShape, ta, tb })}`);
  }
  tf.setBackend('wasm');
});
