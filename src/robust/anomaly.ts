/**
 * Per-client anomaly scores of one round, measured against the round's aggregate update:
 * distance to it, cosine similarity with it, and robust z-scores of the norm and the distance
 * among the round's updates.
 *
 * The z-scores are "modified" z-scores (Iglewicz and Hoaglin): (x − median) / (1.4826 · MAD), with
 * the median and the median absolute deviation of the round (scale floored at 10 % of the median). A plain mean/standard deviation would
 * be dragged by the very outliers it should expose (four updates scaled ×10 among twenty give them a
 * z of about 2); the median and MAD are not.
 */
import { median } from './select.js';

export interface AnomalyScore {
  /** L2 norm of the update. */
  norm: number;
  /** L2 distance to the aggregate. */
  distance: number;
  /** Cosine similarity with the aggregate; 0 when either is zero. */
  cosine: number;
  /** Robust z-score of the norm among this round's updates. */
  normZ: number;
  /** Robust z-score of the distance among this round's updates. */
  distanceZ: number;
}

export interface AnomalyThresholds {
  /** Flag an update whose cosine similarity with the aggregate is below this (default 0: pointing away). */
  minCosine?: number;
  /** Flag an update whose norm z-score is above this (default 3.5). */
  maxNormZ?: number;
  /** Flag an update whose distance z-score is above this (default 3.5). */
  maxDistanceZ?: number;
}

export const DEFAULT_THRESHOLDS: Required<AnomalyThresholds> = { minCosine: 0, maxNormZ: 3.5, maxDistanceZ: 3.5 };

/**
 * Robust z-scores (x − median) / s with s = max(1.4826·MAD, 0.1·|median|). The floor keeps
 * near-identical values (MAD ≈ 0) from turning tiny differences into huge scores: a value within
 * 10 % of the median never scores above 1.
 */
export function robustZ(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const med = median(values);
  const dev = new Float64Array(n);
  for (let i = 0; i < n; i++) dev[i] = Math.abs(values[i] - med);
  const scale = Math.max(1.4826 * median(dev), 0.1 * Math.abs(med)) || 1e-30;
  for (let i = 0; i < n; i++) out[i] = (values[i] - med) / scale;
  return out;
}

/** Scores every update against `aggregate` (one O(d) pass per update). */
export function anomalyScores(updates: readonly Float32Array[], aggregate: Float32Array): AnomalyScore[] {
  let aa = 0;
  for (let j = 0; j < aggregate.length; j++) aa += aggregate[j] * aggregate[j];
  const aggNorm = Math.sqrt(aa);
  const raw = updates.map((u) => {
    let uu = 0, ua = 0, dd = 0;
    for (let j = 0; j < u.length; j++) {
      const x = u[j], a = aggregate[j], t = x - a;
      uu += x * x;
      ua += x * a;
      dd += t * t;
    }
    const norm = Math.sqrt(uu);
    const cosine = norm > 0 && aggNorm > 0 ? Math.max(-1, Math.min(1, ua / (norm * aggNorm))) : 0;
    return { norm, distance: Math.sqrt(dd), cosine };
  });
  const normZ = robustZ(raw.map((r) => r.norm));
  const distanceZ = robustZ(raw.map((r) => r.distance));
  return raw.map((r, i) => ({ ...r, normZ: normZ[i], distanceZ: distanceZ[i] }));
}

/** Why `s` is anomalous under `t` (empty when it is not). */
export function anomalyReasons(s: AnomalyScore, t: AnomalyThresholds = {}): string[] {
  const { minCosine, maxNormZ, maxDistanceZ } = { ...DEFAULT_THRESHOLDS, ...t };
  const reasons: string[] = [];
  if (s.cosine < minCosine) reasons.push(`cosine ${s.cosine.toFixed(3)} < ${minCosine}`);
  if (s.normZ > maxNormZ) reasons.push(`norm z ${s.normZ.toFixed(1)} > ${maxNormZ}`);
  if (s.distanceZ > maxDistanceZ) reasons.push(`distance z ${s.distanceZ.toFixed(1)} > ${maxDistanceZ}`);
  return reasons;
}
