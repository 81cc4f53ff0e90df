/**
 * Evaluation metrics computed from plain arrays (no tensors): ROC AUC for binary tasks and R²
 * for regression.
 */

/**
 * Area under the ROC curve of `scores` for the 0/1 `labels`: the probability that a random
 * positive scores above a random negative, ties counting one half (Mann–Whitney U with average
 * ranks). 0.5 when one class is absent (the AUC is undefined there; 0.5 is "no information").
 */
export function aucRoc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1; // average 1-based rank of the tie group
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] === 1) {
        positives++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return 0.5;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * R² = 1 − SSE / SST for row-major `targets` (n × numTargets), SST summed over the targets around
 * each target's mean. 0 when the targets are constant (SST = 0) and the fit is not exact.
 */
export function rSquaredFromSse(sse: number, targets: Float32Array, numTargets: number): number {
  const n = targets.length / numTargets;
  let sst = 0;
  for (let t = 0; t < numTargets; t++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += targets[i * numTargets + t];
    mean /= n;
    for (let i = 0; i < n; i++) sst += (targets[i * numTargets + t] - mean) ** 2;
  }
  if (sst === 0) return sse === 0 ? 1 : 0;
  return 1 - sse / sst;
}
