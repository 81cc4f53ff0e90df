/** `federa/kernels`: the numeric kernels on flat Float32Arrays (WebAssembly SIMD, with plain-loop fallbacks) and the pooled buffers they use. */
export { WeightedSum, simdKernelsAvailable, assertFinite, findNonFinite, subtract, axpy, l2Norm } from './kernels.js';
export { BufferPool, sharedBuffers } from './buffers.js';
