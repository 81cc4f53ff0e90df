/**
 * Convolution gradients for TensorFlow.js's wasm backend.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22 has `Conv2D` and `Conv2DBackpropInput` but no
 * `Conv2DBackpropFilter`, so a conv layer cannot be trained on it. federa registers one when it
 * initialises the backend ({@link registerWasmConvKernels}, called from backend.ts).
 *
 * Two routes were written and measured (bench/conv-kernels.ts):
 *  - `im2col`: the input's patches are laid out transposed, `colsᵀ [K = fh·fw·ci, M = n·oh·ow]`,
 *    straight into the wasm heap, and `dW = colsᵀ · dy` is one product on the backend's own
 *    XNNPACK matmul (small operand, `dy`, on the right: see tfjs-trainer.ts on packing).
 *  - `conv3d`: the 2-D problem as a 3-D one of depth 1, through the backend's
 *    `Conv3DBackpropFilterV2` (a plain C++ loop). Only for 'same'/'valid' padding and stride 1
 *    (that kernel is wrong for larger strides in 4.22).
 * The im2col route is the one registered (several times faster on the zoo's CNNs; figures in
 * docs/models.md); the conv3d route stays exported so the bench can keep measuring it.
 *
 * The backend's `Conv2DBackpropInput` is also a plain loop; for stride 1 (every conv in the zoo)
 * federa replaces it with the same trick in reverse: `dcols = dy · Wᵀ` on the matmul, then col2im
 * (scatter-add of the patches) in JavaScript. Other strides keep the backend's kernel.
 *
 * MaxPoolGrad is replaced too (a JavaScript scatter, several times faster than the backend's),
 * and UnsortedSegmentSum (the Embedding layer's gradient), which the backend lacks, is added.
 *
 * Browser safety: no `node:` imports; the wasm module is reached only through tfjs's registry.
 */
import * as tf from '@tensorflow/tfjs';

/** The bits of tfjs-backend-wasm's BackendWasm this module uses (its class is not exported typed). */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** A view of the tensor's memory, typed by its dtype (Int32Array for int32 at run time). */
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  disposeData(dataId: unknown): boolean;
}

type KernelArgs = { inputs: Record<string, tf.TensorInfo>; backend: WasmBackendLike; attrs: Record<string, unknown> };

export type ConvFilterRoute = 'im2col' | 'conv3d';

function convInfo(xShape: number[], filterShape: number[], attrs: Record<string, unknown>): tf.backend_util.Conv2DInfo {
  const dataFormat = tf.backend_util.convertConv2DDataFormat((attrs.dataFormat as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC');
  if (dataFormat !== 'channelsLast') throw new Error(`federa's wasm Conv2D gradients support dataFormat 'NHWC' only, got '${String(attrs.dataFormat)}'`);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'same' | 'valid' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    dataFormat,
  );
}

function kernelFunc(name: string): (args: KernelArgs) => tf.TensorInfo {
  const k = tf.getKernel(name, 'wasm');
  if (k === undefined) throw new Error(`the wasm backend has no ${name} kernel`);
  return k.kernelFunc as unknown as (args: KernelArgs) => tf.TensorInfo;
}

/** `a [m, k] · b [k, n]` on the wasm backend's BatchMatMul; returns a new [m, n] tensor info. */
function matMul(backend: WasmBackendLike, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  return (backendBatchMatMul ?? kernelFunc('BatchMatMul'))({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } });
}

/**
 * Writes `colsᵀ`: row k = (fh·FW + fw)·CI + ci, column m = (n·OH + oh)·OW + ow holds
 * x[n, oh·sh + fh − padTop, ow·sw + fw − padLeft, ci], or 0 outside the input.
 */
function im2colTransposed(x: Float32Array, info: tf.backend_util.Conv2DInfo, out: Float32Array): void {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW, filterHeight: FH, filterWidth: FW, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const M = N * OH * OW;
  for (let fh = 0; fh < FH; fh++) {
    for (let fw = 0; fw < FW; fw++) {
      for (let ci = 0; ci < CI; ci++) {
        const row = ((fh * FW + fw) * CI + ci) * M;
        let m = row;
        for (let n = 0; n < N; n++) {
          const xn = n * H;
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * sh + fh - pt;
            if (ih < 0 || ih >= H) {
              out.fill(0, m, m + OW);
              m += OW;
              continue;
            }
            const base = (xn + ih) * W;
            for (let ow = 0; ow < OW; ow++) {
              const iw = ow * sw + fw - pl;
              out[m++] = iw >= 0 && iw < W ? x[(base + iw) * CI + ci] : 0;
            }
          }
        }
      }
    }
  }
}

/** Conv2DBackpropFilter by im2col and one matmul on the backend. */
export function conv2DBackpropFilterIm2col(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x.shape, filterShape, attrs);
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const M = info.batchSize * info.outHeight * info.outWidth;
  const cols = backend.makeOutput([K, M], 'float32');
  try {
    // Views after the allocation: growing the heap detaches older views.
    im2colTransposed(backend.typedArrayFromHeap(x), info, backend.typedArrayFromHeap(cols));
    const dy2 = { dataId: dy.dataId, shape: [M, info.outChannels], dtype: dy.dtype } as tf.TensorInfo;
    const dw = matMul(backend, cols, dy2);
    return { dataId: dw.dataId, shape: [...filterShape], dtype: 'float32' } as tf.TensorInfo;
  } finally {
    backend.disposeData(cols.dataId);
  }
}

/** Conv2DBackpropFilter as a depth-1 Conv3DBackpropFilterV2 ('same'/'valid' padding only). */
export function conv2DBackpropFilterConv3d(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const pad = attrs.pad;
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x.shape, filterShape, attrs);
  if ((pad !== 'same' && pad !== 'valid') || info.strideHeight !== 1 || info.strideWidth !== 1) {
    // The 3-D kernel knows only the two named paddings, and tfjs-backend-wasm 4.22's
    // Conv3DBackpropFilterV2 disagrees with the cpu backend for strides > 1 (relative error
    // ~0.5, checked here); those cases go the im2col way.
    return conv2DBackpropFilterIm2col(args);
  }
  const x5 = { dataId: x.dataId, shape: [x.shape[0], 1, ...x.shape.slice(1)], dtype: x.dtype } as tf.TensorInfo;
  const dy5 = { dataId: dy.dataId, shape: [dy.shape[0], 1, ...dy.shape.slice(1)], dtype: dy.dtype } as tf.TensorInfo;
  const dw = kernelFunc('Conv3DBackpropFilterV2')({
    inputs: { x: x5, dy: dy5 },
    backend,
    attrs: { strides: [1, info.strideHeight, info.strideWidth], pad, filterShape: [1, ...filterShape] },
  });
  return { dataId: dw.dataId, shape: [...filterShape], dtype: 'float32' } as tf.TensorInfo;
}

/** Adds the patches `dcols [M, K]` back onto the input gradient (zeroed first). */
function col2im(dcols: Float32Array, info: tf.backend_util.Conv2DInfo, dx: Float32Array): void {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW, filterHeight: FH, filterWidth: FW, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const K = FH * FW * CI;
  dx.fill(0);
  let m = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, m++) {
        const src = m * K;
        for (let fh = 0; fh < FH; fh++) {
          const ih = oh * sh + fh - pt;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < FW; fw++) {
            const iw = ow * sw + fw - pl;
            if (iw < 0 || iw >= W) continue;
            const d = ((n * H + ih) * W + iw) * CI;
            const s = src + (fh * FW + fw) * CI;
            for (let ci = 0; ci < CI; ci++) dx[d + ci] += dcols[s + ci];
          }
        }
      }
    }
  }
}

let backendConv2DBackpropInput: ((args: KernelArgs) => tf.TensorInfo) | undefined;

/** Conv2DBackpropInput as `dy · Wᵀ` on the matmul plus col2im. */
export function conv2DBackpropInputMatmul(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const inputShape = attrs.inputShape as number[];
  const info = convInfo(inputShape, filter.shape, attrs);
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const M = info.batchSize * info.outHeight * info.outWidth;
  const CO = info.outChannels;
  // Wᵀ [CO, K]: the filter is [K, CO] in memory.
  const wT = kernelFunc('Transpose')({ inputs: { x: { dataId: filter.dataId, shape: [K, CO], dtype: 'float32' } as tf.TensorInfo }, backend, attrs: { perm: [1, 0] } });
  let dcols: tf.TensorInfo | undefined;
  try {
    dcols = matMul(backend, { dataId: dy.dataId, shape: [M, CO], dtype: 'float32' } as tf.TensorInfo, wT);
    const dx = backend.makeOutput([...inputShape], 'float32');
    col2im(backend.typedArrayFromHeap(dcols), info, backend.typedArrayFromHeap(dx));
    return dx;
  } finally {
    backend.disposeData(wT.dataId);
    if (dcols !== undefined) backend.disposeData(dcols.dataId);
  }
}

function conv2DBackpropInputDispatch(args: KernelArgs): tf.TensorInfo {
  const info = convInfo(args.attrs.inputShape as number[], args.inputs.filter.shape, args.attrs);
  if (info.strideHeight === 1 && info.strideWidth === 1) return conv2DBackpropInputMatmul(args);
  return backendConv2DBackpropInput!(args);
}

/**
 * MaxPoolGrad in JavaScript: each dy value goes to the first maximum of its window (the cpu
 * backend's rule). The backend's own kernel took 9 ms of a 60 ms CNN step at batch 10; this
 * one is a single pass over the outputs.
 */
export function maxPoolGradScatter(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'same' | 'valid' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, effectiveFilterHeight: FH, effectiveFilterWidth: FW } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const dxInfo = backend.makeOutput([...input.shape], 'float32');
  const dx = backend.typedArrayFromHeap(dxInfo);
  const x = backend.typedArrayFromHeap(input);
  const g = backend.typedArrayFromHeap(dy);
  dx.fill(0);
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * sh - pt;
      for (let ow = 0; ow < OW; ow++) {
        const w0 = ow * sw - pl;
        for (let c = 0; c < C; c++, o++) {
          let best = -Infinity;
          let at = -1;
          for (let fh = 0; fh < FH; fh++) {
            const ih = h0 + fh;
            if (ih < 0 || ih >= H) continue;
            for (let fw = 0; fw < FW; fw++) {
              const iw = w0 + fw;
              if (iw < 0 || iw >= W) continue;
              const idx = ((n * H + ih) * W + iw) * C + c;
              if (x[idx] > best) {
                best = x[idx];
                at = idx;
              }
            }
          }
          if (at >= 0) dx[at] += g[o];
        }
      }
    }
  }
  return dxInfo;
}

/**
 * UnsortedSegmentSum (the gradient of a gather, hence of every Embedding layer), missing from
 * tfjs-backend-wasm 4.22: out[segmentIds[i], …] += x[i, …]; ids outside [0, numSegments) are
 * dropped, as in TensorFlow.
 */
export function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, segmentIds } = inputs;
  const numSegments = attrs.numSegments as number;
  const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
  const size = x.shape.reduce((a, b) => a * b, 1);
  const inner = rows === 0 ? 0 : size / rows;
  const outInfo = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const out = backend.typedArrayFromHeap(outInfo);
  const xs = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  out.fill(0);
  for (let i = 0; i < rows; i++) {
    const s = ids[i];
    if (!(s >= 0 && s < numSegments)) continue;
    const o = s * inner;
    const from = i * inner;
    for (let j = 0; j < inner; j++) out[o + j] += xs[from + j];
  }
  return outInfo;
}

let backendBatchMatMul: ((args: KernelArgs) => tf.TensorInfo) | undefined;

/**
 * BatchMatMul with transposed operands made explicit: tfjs-backend-wasm runs `transposeA` /
 * `transposeB` products with a slow generic loop (measured 2.6 ms vs 0.2 ms for `xᵀ·dy` on the
 * 2NN, see tfjs-trainer.ts), and tfjs's own MatMul gradient asks for exactly those. A Transpose
 * kernel and a plain product are several times faster.
 */
export function batchMatMulExplicitTranspose(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  if (!transposeA && !transposeB) return backendBatchMatMul!(args);
  const temps: tf.TensorInfo[] = [];
  const explicit = (t: tf.TensorInfo): tf.TensorInfo => {
    const r = t.shape.length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    const out = kernelFunc('Transpose')({ inputs: { x: t }, backend, attrs: { perm } });
    temps.push(out);
    return out;
  };
  try {
    const a = transposeA ? explicit(inputs.a) : inputs.a;
    const b = transposeB ? explicit(inputs.b) : inputs.b;
    return backendBatchMatMul!({ inputs: { a, b }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

let registered = false;

/**
 * Registers federa's Conv2DBackpropFilter (and the faster stride-1 Conv2DBackpropInput) for the
 * wasm backend. Idempotent; call after the wasm backend module is loaded. `route` picks the
 * filter-gradient implementation (default: the faster, im2col).
 */
export function registerWasmConvKernels(route: ConvFilterRoute = 'im2col'): void {
  if (registered) return;
  registered = true;
  const filterFunc = route === 'im2col' ? conv2DBackpropFilterIm2col : conv2DBackpropFilterConv3d;
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') === undefined) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: filterFunc as unknown as tf.KernelFunc });
  }
  if (tf.getKernel('UnsortedSegmentSum', 'wasm') === undefined) {
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc });
  }
  const mm = tf.getKernel('BatchMatMul', 'wasm');
  if (mm !== undefined && backendBatchMatMul === undefined) {
    backendBatchMatMul = mm.kernelFunc as unknown as (args: KernelArgs) => tf.TensorInfo;
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel({ ...mm, kernelFunc: batchMatMulExplicitTranspose as unknown as tf.KernelFunc });
  }
  const pool = tf.getKernel('MaxPoolGrad', 'wasm');
  if (pool !== undefined) {
    tf.unregisterKernel('MaxPoolGrad', 'wasm');
    tf.registerKernel({ ...pool, kernelFunc: maxPoolGradScatter as unknown as tf.KernelFunc });
  }
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (original !== undefined && backendConv2DBackpropInput === undefined) {
    backendConv2DBackpropInput = original.kernelFunc as unknown as (args: KernelArgs) => tf.TensorInfo;
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel({ ...original, kernelFunc: conv2DBackpropInputDispatch as unknown as tf.KernelFunc });
  }
}

/**
 * Switches the registered Conv2DBackpropFilter route (for benchmarks and tests that compare
 * them). Registers the kernels first if needed.
 */
export function useConvFilterRoute(route: ConvFilterRoute): void {
  registerWasmConvKernels(route);
  tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: (route === 'im2col' ? conv2DBackpropFilterIm2col : conv2DBackpropFilterConv3d) as unknown as tf.KernelFunc,
  });
}

/** Restores the backend's own Conv2DBackpropInput (benchmarks compare against it). */
export function useBackendConv2DBackpropInput(own: boolean): void {
  registerWasmConvKernels();
  const current = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({ ...current, kernelFunc: (own ? backendConv2DBackpropInput! : conv2DBackpropInputDispatch) as unknown as tf.KernelFunc });
}

/** Switches BatchMatMul between federa's explicit-transpose wrapper and the backend's own kernel (benchmarks). */
export function useExplicitTransposeMatMul(on: boolean): void {
  registerWasmConvKernels();
  const current = tf.getKernel('BatchMatMul', 'wasm')!;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...current, kernelFunc: (on ? batchMatMulExplicitTranspose : backendBatchMatMul!) as unknown as tf.KernelFunc });
}
