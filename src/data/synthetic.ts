/**
 * Synthetic(α, β): the generated federated classification data of the FedProx paper (Li et al.
 * 2020, §5.1, after Shamir et al. 2014), with heterogeneity by construction and no download.
 *
 * For client k: u_k ~ N(0, α), B_k ~ N(0, β); W_k ∈ R^{d×c} with entries ~ N(u_k, 1), b_k ∈ R^c
 * ~ N(u_k, 1); the feature mean v_k ∈ R^d has entries ~ N(B_k, 1); x ~ N(v_k, Σ) with Σ diagonal,
 * Σ_jj = j^−1.2; y = argmax(softmax(x·W_k + b_k)). α controls how much the clients' models differ,
 * β how much their data differ. `iid` is the paper's Synthetic-IID: one W, b for everyone and
 * v_k = 0. Client sizes follow the paper's code: ⌊lognormal(4, 2)⌋ + 50. d = 60, c = 10, 30
 * clients by default. Every draw comes from the seed through named streams.
 */
import { FederaError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { makeDataset, type Dataset } from './dataset.js';

export interface SyntheticOptions {
  alpha: number;
  beta: number;
  /** Default 30 (the paper's). */
  numClients?: number;
  /** Default 60. */
  numFeatures?: number;
  /** Default 10. */
  numClasses?: number;
  /** Synthetic-IID (α, β ignored). */
  iid?: boolean;
  /** Share of each client's examples held out for the test split (default 0.1, as in the paper's code: 90/10). */
  testFraction?: number;
  /** Fixes every client's size instead of the lognormal draw. */
  samplesPerClient?: number;
  /** Caps the lognormal draw (its tail reaches tens of thousands). Default: no cap. */
  maxSamplesPerClient?: number;
  seed?: number | string;
}

export interface SyntheticData {
  train: Dataset;
  test: Dataset;
  /** Per client, its indices into `train` (contiguous). */
  partitions: Int32Array[];
  /** Per client, its indices into `test`. */
  testPartitions: Int32Array[];
  /** Per client, the generating model (W row-major d×c, b), for checks. */
  models: Array<{ w: Float64Array; b: Float64Array }>;
}

function check(name: string, v: number, ok: boolean, want: string): void {
  if (!ok) throw new FederaError('invalid_config', `synthetic: ${name} must be ${want}, got ${v}`, { field: name });
}

/** Generates Synthetic(α, β). */
export function synthetic(o: SyntheticOptions): SyntheticData {
  const { alpha, beta } = o;
  const K = o.numClients ?? 30;
  const d = o.numFeatures ?? 60;
  const c = o.numClasses ?? 10;
  const testFraction = o.testFraction ?? 0.1;
  check('alpha', alpha, Number.isFinite(alpha) && alpha >= 0, 'a finite number ≥ 0');
  check('beta', beta, Number.isFinite(beta) && beta >= 0, 'a finite number ≥ 0');
  check('numClients', K, Number.isInteger(K) && K >= 1, 'an integer ≥ 1');
  check('numFeatures', d, Number.isInteger(d) && d >= 1, 'an integer ≥ 1');
  check('numClasses', c, Number.isInteger(c) && c >= 2, 'an integer ≥ 2');
  check('testFraction', testFraction, testFraction >= 0 && testFraction < 1, 'in [0, 1)');
  if (o.samplesPerClient !== undefined) check('samplesPerClient', o.samplesPerClient, Number.isInteger(o.samplesPerClient) && o.samplesPerClient >= 1, 'an integer ≥ 1');
  if (o.maxSamplesPerClient !== undefined) check('maxSamplesPerClient', o.maxSamplesPerClient, Number.isInteger(o.maxSamplesPerClient) && o.maxSamplesPerClient >= 50, 'an integer ≥ 50');
  const root = new Rng(o.seed ?? 0).stream(`synthetic(${alpha},${beta}${o.iid ? ',iid' : ''})`);
  const sizeRng = root.stream('sizes');
  const sizes = Array.from({ length: K }, () => {
    if (o.samplesPerClient !== undefined) return o.samplesPerClient;
    const s = Math.floor(Math.exp(4 + 2 * sizeRng.normal())) + 50;
    return o.maxSamplesPerClient !== undefined ? Math.min(s, o.maxSamplesPerClient) : s;
  });
  const sd = Float64Array.from({ length: d }, (_, j) => Math.sqrt((j + 1) ** -1.2));
  const globalRng = root.stream('iid-model');
  const globalW = Float64Array.from({ length: d * c }, () => globalRng.normal());
  const globalB = Float64Array.from({ length: c }, () => globalRng.normal());

  const total = sizes.reduce((a, b) => a + b, 0);
  const nTest = sizes.map((s) => Math.round(s * testFraction));
  const trainN = total - nTest.reduce((a, b) => a + b, 0);
  const trainX = new Float32Array(trainN * d);
  const trainY = new Int32Array(trainN);
  const testX = new Float32Array((total - trainN) * d);
  const testY = new Int32Array(total - trainN);
  const partitions: Int32Array[] = [];
  const testPartitions: Int32Array[] = [];
  const models: SyntheticData['models'] = [];
  let tr = 0;
  let te = 0;
  const logits = new Float64Array(c);
  const x = new Float64Array(d);
  for (let k = 0; k < K; k++) {
    const r = root.stream(`client-${k}`);
    const u = alpha * r.normal();
    const bk = beta * r.normal();
    let w: Float64Array;
    let b: Float64Array;
    const v = new Float64Array(d);
    if (o.iid) {
      w = globalW;
      b = globalB;
    } else {
      w = Float64Array.from({ length: d * c }, () => u + r.normal());
      b = Float64Array.from({ length: c }, () => u + r.normal());
      for (let j = 0; j < d; j++) v[j] = bk + r.normal();
    }
    models.push({ w, b });
    const trainCount = sizes[k] - nTest[k];
    partitions.push(Int32Array.from({ length: trainCount }, (_, i) => tr + i));
    testPartitions.push(Int32Array.from({ length: nTest[k] }, (_, i) => te + i));
    for (let i = 0; i < sizes[k]; i++) {
      for (let j = 0; j < d; j++) x[j] = v[j] + sd[j] * r.normal();
      for (let cl = 0; cl < c; cl++) logits[cl] = b[cl];
      for (let j = 0; j < d; j++) {
        const xj = x[j];
        for (let cl = 0; cl < c; cl++) logits[cl] += xj * w[j * c + cl];
      }
      let best = 0;
      for (let cl = 1; cl < c; cl++) if (logits[cl] > logits[best]) best = cl;
      const isTest = i >= trainCount;
      const X = isTest ? testX : trainX;
      const row = isTest ? te++ : tr++;
      for (let j = 0; j < d; j++) X[row * d + j] = x[j];
      (isTest ? testY : trainY)[row] = best;
    }
  }
  return { train: makeDataset(trainX, trainY, d, c), test: makeDataset(testX, testY, d, c), partitions, testPartitions, models };
}

/** Parses `α,β` (e.g. "1,1", "0.5,0.5", or "iid"), as in `--data synthetic:1,1`. */
export function parseSyntheticSpec(spec: string): Pick<SyntheticOptions, 'alpha' | 'beta' | 'iid'> {
  const s = spec.trim();
  if (s === 'iid') return { alpha: 0, beta: 0, iid: true };
  const m = /^([0-9]*\.?[0-9]+)\s*,\s*([0-9]*\.?[0-9]+)$/.exec(s);
  if (!m) throw new FederaError('invalid_config', `synthetic: expected "α,β" (two numbers ≥ 0, e.g. synthetic:1,1) or "iid", got "${spec}"`, { field: 'data' });
  return { alpha: Number(m[1]), beta: Number(m[2]) };
}
