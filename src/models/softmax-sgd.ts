/**
 * SGD for multinomial logistic regression (one dense layer, softmax cross-entropy) on flat
 * Float32Arrays, without TF.js.
 *
 * Why: TF.js costs ~0.8 ms per training step whatever the model, so a 784→10 logistic regression
 * at batch 10 trained at ~12k examples/s, a third of PyTorch. The model is small enough that the
 * whole step is a few thousand multiply-adds; here it runs as plain loops, over the nonzero
 * features only when an example is sparse (most MNIST pixels are 0), with the exact batch
 * gradient: every example's logits are computed with the weights before the step, then the step
 * applies the summed per-example outer products.
 *
 * Layout: `kernelT` is the Dense kernel transposed, [classes, features] row-major, so each class's
 * weights are contiguous (the trainer converts from and to TF.js's [features, classes]); `bias` has
 * one value per class.
 */

export interface SoftmaxSgdState {
  readonly kernelT: Float32Array;
  readonly bias: Float32Array;
  readonly numFeatures: number;
  readonly numClasses: number;
  /** FedProx anchor (same layouts) and μ; absent: no proximal term. */
  readonly anchor?: { kernelT: Float32Array; bias: Float32Array; mu: number };
}

/** Scratch buffers of one batch size, reused across steps. */
export interface SoftmaxSgdScratch {
  readonly grads: Float64Array;
  readonly nonzero: Int32Array;
  readonly values: Float32Array;
  /** Nonzero features of each example in `nonzero`/`values`, or −1 for a dense example (read from x). */
  readonly counts: Int32Array;
}

export function softmaxSgdScratch(batchSize: number, numFeatures: number, numClasses: number): SoftmaxSgdScratch {
  return { grads: new Float64Array(batchSize * numClasses), nonzero: new Int32Array(batchSize * numFeatures), values: new Float32Array(batchSize * numFeatures), counts: new Int32Array(batchSize) };
}

/** Transposes a row-major [rows, cols] matrix into `out` ([cols, rows]). */
export function transpose(a: Float32Array, rows: number, cols: number, out = new Float32Array(a.length)): Float32Array {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * One SGD step on examples `idx` of `x` (row-major, `numFeatures` per example) with labels `y`.
 * Returns the batch's summed cross-entropy and the number of correct predictions (argmax of the
 * logits before the step, as the TF.js path reports them).
 */
export function softmaxSgdStep(s: SoftmaxSgdState, scratch: SoftmaxSgdScratch, x: Float32Array, y: ArrayLike<number>, idx: ArrayLike<number>, learningRate: number): { lossSum: number; correct: number } {
  const f = s.numFeatures;
  const c = s.numClasses;
  const W = s.kernelT;
  const b = s.bias;
  const { grads, nonzero, values, counts } = scratch;
  const m = idx.length;
  let lossSum = 0;
  let correct = 0;
  let nnz = 0;
  // Forward with the weights before the step; grads[k] becomes dL/dlogits (softmax − one-hot).
  for (let k = 0; k < m; k++) {
    const row = idx[k] * f;
    const g = k * c;
    const first = nnz;
    for (let i = 0; i < f; i++) {
      const v = x[row + i];
      if (v !== 0) {
        nonzero[nnz] = i;
        values[nnz++] = v;
      }
    }
    const sparse = nnz - first < f >> 1;
    for (let j = 0; j < c; j++) {
      const w = j * f;
      let acc = b[j];
      if (sparse) {
        for (let t = first; t < nnz; t++) acc += values[t] * W[w + nonzero[t]];
      } else {
        // Four partial sums: independent chains the CPU overlaps.
        let a1 = 0, a2 = 0, a3 = 0;
        let i = 0;
        for (; i + 3 < f; i += 4) {
          acc += x[row + i] * W[w + i];
          a1 += x[row + i + 1] * W[w + i + 1];
          a2 += x[row + i + 2] * W[w + i + 2];
          a3 += x[row + i + 3] * W[w + i + 3];
        }
        for (; i < f; i++) acc += x[row + i] * W[w + i];
        acc += a1 + a2 + a3;
      }
      grads[g + j] = acc;
    }
    counts[k] = sparse ? nnz - first : -1;
    if (!sparse) nnz = first; // a dense example: the step reads x directly
    let max = grads[g];
    let arg = 0;
    for (let j = 1; j < c; j++) {
      if (grads[g + j] > max) {
        max = grads[g + j];
        arg = j;
      }
    }
    let sum = 0;
    for (let j = 0; j < c; j++) sum += Math.exp(grads[g + j] - max);
    const label = y[idx[k]];
    lossSum += Math.log(sum) + max - grads[g + label];
    if (arg === label) correct++;
    for (let j = 0; j < c; j++) grads[g + j] = Math.exp(grads[g + j] - max) / sum;
    grads[g + label] -= 1;
  }
  // The proximal term's gradient μ(w − w₀), with the weights before the step.
  const prox = s.anchor;
  if (prox && prox.mu > 0) {
    const step = learningRate * prox.mu;
    for (let i = 0; i < W.length; i++) W[i] -= step * (W[i] - prox.kernelT[i]);
    for (let j = 0; j < c; j++) b[j] -= step * (b[j] - prox.bias[j]);
  }
  // The step: W −= (lr/m) Σ_k g_k ⊗ x_k.
  const scale = learningRate / m;
  let next = 0;
  for (let k = 0; k < m; k++) {
    const row = idx[k] * f;
    const g = k * c;
    const dense = counts[k] < 0;
    const first = next;
    const end = dense ? first : first + counts[k];
    for (let j = 0; j < c; j++) {
      const a = scale * grads[g + j];
      if (a === 0) continue;
      b[j] -= a;
      const w = j * f;
      if (dense) {
        let i = 0;
        for (; i + 3 < f; i += 4) {
          W[w + i] -= a * x[row + i];
          W[w + i + 1] -= a * x[row + i + 1];
          W[w + i + 2] -= a * x[row + i + 2];
          W[w + i + 3] -= a * x[row + i + 3];
        }
        for (; i < f; i++) W[w + i] -= a * x[row + i];
      } else {
        for (let t = first; t < end; t++) W[w + nonzero[t]] -= a * values[t];
      }
    }
    next = end;
  }
  return { lossSum, correct };
}
