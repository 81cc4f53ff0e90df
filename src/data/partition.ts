/**
 * Splitting one dataset among simulated clients.
 *
 * Every partitioner returns one `Int32Array` of example indices per client; each example belongs to
 * exactly one client, and each client's indices are in ascending order (order carries no
 * information; trainers shuffle). Only index arrays are built, so 10,000 clients cost ~4 bytes per
 * example plus one small array per client. Pair with `subset(dataset, indices)` to materialize a
 * client's data when it is needed.
 *
 * All randomness comes from the `Rng` passed in, so a seed fixes the partition. Invalid arguments
 * throw `FederaError('invalid_config')` naming the parameter, its value and the allowed range.
 */
import { FederaError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';

/**
 * IID baseline: a uniformly random permutation cut into `numClients` contiguous pieces whose sizes
 * differ by at most one (the first `n mod numClients` clients get the extra example).
 */
export function partitionIid(n: number, numClients: number, rng: Rng): Int32Array[] {
  checkInt('partitionIid', 'n', n, 0, Number.MAX_SAFE_INTEGER);
  checkInt('partitionIid', 'numClients', numClients, 1, n, `n=${n}`);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  rng.shuffle(perm);
  const base = Math.floor(n / numClients);
  const extra = n % numClients;
  const out: Int32Array[] = new Array(numClients);
  let start = 0;
  for (let c = 0; c < numClients; c++) {
    const size = base + (c < extra ? 1 : 0);
    out[c] = perm.slice(start, start + size).sort();
    start += size;
  }
  return out;
}

export interface DirichletOptions {
  /** Every client must get at least this many examples; the whole partition is redrawn until it does. Default 1. */
  minSize?: number;
  /** Redraws allowed after the first draw before giving up with `invalid_config`. Default 100. */
  maxRetries?: number;
}

/**
 * Label-skew non-IID partition (Hsu et al. 2019; Yurochkin et al. 2019): small `alpha` gives each
 * client a few dominant classes, large `alpha` approaches IID class proportions.
 *
 * One draw: for each non-empty class c in increasing order, shuffle class c's indices (ascending
 * order first), draw p ~ Dir(alpha, ..., alpha) over clients, and give client j the shuffled
 * positions [floor(P_{j−1}·m), floor(P_j·m)) where P_j = p_0 + ... + p_j and m is the class size
 * (the last client's range always ends at m). Client sizes are random; if some client has fewer than
 * `minSize` examples the whole partition is redrawn, up to `maxRetries` times.
 */
export function partitionDirichlet(
  labels: Int32Array,
  numClasses: number,
  numClients: number,
  alpha: number,
  rng: Rng,
  options: DirichletOptions = {},
): Int32Array[] {
  const fn = 'partitionDirichlet';
  const n = labels.length;
  const minSize = options.minSize ?? 1;
  const maxRetries = options.maxRetries ?? 100;
  checkInt(fn, 'numClasses', numClasses, 1, 2 ** 31 - 1);
  checkInt(fn, 'numClients', numClients, 1, n, `n=${n} examples`);
  checkPositiveFinite(fn, 'alpha', alpha);
  checkInt(fn, 'minSize', minSize, 0, Math.floor(n / numClients), `floor(n / numClients) = floor(${n} / ${numClients})`);
  checkInt(fn, 'maxRetries', maxRetries, 0, Number.MAX_SAFE_INTEGER);
  const { order, start } = groupByLabel(labels, numClasses, fn);

  const owner = new Int32Array(n);
  const sizes = new Int32Array(numClients);
  for (let attempt = 0; attempt <= maxRetries; attempt++) {
    sizes.fill(0);
    for (let c = 0; c < numClasses; c++) {
      const m = start[c + 1] - start[c];
      if (m === 0) continue;
      const members = order.subarray(start[c], start[c + 1]);
      rng.shuffle(members);
      const p = rng.dirichlet(alpha, numClients);
      let cum = 0;
      let prev = 0;
      for (let j = 0; j < numClients; j++) {
        cum += p[j];
        const cut = j === numClients - 1 ? m : Math.max(prev, Math.min(m, Math.floor(cum * m)));
        for (let t = prev; t < cut; t++) owner[members[t]] = j;
        sizes[j] += cut - prev;
        prev = cut;
      }
    }
    let smallest = n;
    for (let j = 0; j < numClients; j++) if (sizes[j] < smallest) smallest = sizes[j];
    if (smallest >= minSize) return bucket(owner, sizes);
    // Redraws start from the previous shuffles; still a deterministic function of the rng.
  }
  throw new FederaError(
    'invalid_config',
    `${fn}: no partition with every client holding at least minSize=${minSize} examples after ${maxRetries + 1} draws ` +
      `(alpha=${alpha}, numClients=${numClients}, n=${n}); increase alpha, lower minSize, use fewer clients or raise maxRetries`,
    { alpha, minSize, numClients, n, maxRetries },
  );
}

/**
 * Pathological non-IID split of McMahan et al. 2017: sort examples by label (stable, ties by index),
 * cut the sorted order into S = numClients·shardsPerClient contiguous shards of floor(n/S) examples
 * (the first n mod S shards get one extra), and deal the shards to clients uniformly at random
 * without replacement (a shuffled shard order; client i gets shards i·k ... i·k + k − 1 of it).
 * A shard can straddle a label boundary, so a client can hold more labels than shards.
 */
export function partitionShards(labels: Int32Array, numClients: number, shardsPerClient: number, rng: Rng): Int32Array[] {
  const fn = 'partitionShards';
  const n = labels.length;
  checkInt(fn, 'numClients', numClients, 1, n, `n=${n} examples`);
  checkInt(fn, 'shardsPerClient', shardsPerClient, 1, Math.floor(n / numClients), `so that numClients·shardsPerClient <= n=${n}`);
  const numShards = numClients * shardsPerClient;
  const sorted = stableSortByLabel(labels);

  const base = Math.floor(n / numShards);
  const extra = n % numShards;
  const shardStart = (s: number): number => s * base + Math.min(s, extra);

  const shardOrder = new Int32Array(numShards);
  for (let s = 0; s < numShards; s++) shardOrder[s] = s;
  rng.shuffle(shardOrder);

  const out: Int32Array[] = new Array(numClients);
  for (let c = 0; c < numClients; c++) {
    let size = 0;
    for (let k = 0; k < shardsPerClient; k++) {
      const s = shardOrder[c * shardsPerClient + k];
      size += shardStart(s + 1) - shardStart(s);
    }
    const idx = new Int32Array(size);
    let w = 0;
    for (let k = 0; k < shardsPerClient; k++) {
      const s = shardOrder[c * shardsPerClient + k];
      idx.set(sorted.subarray(shardStart(s), shardStart(s + 1)), w);
      w += shardStart(s + 1) - shardStart(s);
    }
    out[c] = idx.sort();
  }
  return out;
}

export interface NaturalPartition {
  /** One index array per distinct group, in the order of `groupNames`. */
  partitions: Int32Array[];
  /** Distinct groups as strings, sorted: numerically if every group is a number, else by code unit. */
  groupNames: string[];
}

/**
 * One client per distinct group value (site, user, hospital...), for data that is federated by
 * nature. Values are compared as strings (`1` and `"1"` are the same group).
 */
export function partitionNatural(groups: ArrayLike<string | number>): NaturalPartition {
  const n = groups.length;
  let allNumbers = true;
  const keyOf = new Map<string, number | string>();
  for (let i = 0; i < n; i++) {
    const g = groups[i];
    if (typeof g === 'number') {
      if (!Number.isFinite(g)) throw new FederaError('invalid_config', `partitionNatural: groups[${i}] is ${g}; group values must be strings or finite numbers`, { index: i });
    } else if (typeof g === 'string') {
      allNumbers = false;
    } else {
      throw new FederaError('invalid_config', `partitionNatural: groups[${i}] is ${String(g)}; group values must be strings or finite numbers`, { index: i });
    }
    const key = String(g);
    if (!keyOf.has(key)) keyOf.set(key, g);
  }
  const names = [...keyOf.keys()];
  if (allNumbers) names.sort((a, b) => (keyOf.get(a) as number) - (keyOf.get(b) as number));
  else names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const clientOf = new Map<string, number>();
  names.forEach((name, c) => clientOf.set(name, c));
  const owner = new Int32Array(n);
  const sizes = new Int32Array(names.length);
  for (let i = 0; i < n; i++) {
    const c = clientOf.get(String(groups[i]))!;
    owner[i] = c;
    sizes[c]++;
  }
  return { partitions: bucket(owner, sizes), groupNames: names };
}

/**
 * Random split of one client's indices, typically into local train (`first`) and validation
 * (`second`): shuffle a copy, then `first` takes round(len·(1 − fraction)) (half up) and `second`
 * the rest. `first` keeps at least one example whenever there is one, so a 1-example client
 * still trains. Both results are sorted ascending.
 *
 * @param fraction share for `second`, in [0, 1).
 */
export function splitIndices(indices: Int32Array, fraction: number, rng: Rng): { first: Int32Array; second: Int32Array } {
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction < 1)) {
    throw new FederaError('invalid_config', `splitIndices: fraction must be a number in [0, 1), got ${String(fraction)}`, { fraction });
  }
  const copy = indices.slice();
  rng.shuffle(copy);
  const len = copy.length;
  const firstLen = len === 0 ? 0 : Math.max(1, Math.round(len * (1 - fraction)));
  return { first: copy.slice(0, firstLen).sort(), second: copy.slice(firstLen).sort() };
}

// ---------------------------------------------------------------------------------------------

/** Indices grouped by label (ascending within a label): class c occupies order[start[c] .. start[c+1]). */
function groupByLabel(labels: Int32Array, numClasses: number, fn: string): { order: Int32Array; start: Int32Array } {
  const n = labels.length;
  const start = new Int32Array(numClasses + 1);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y < 0 || y >= numClasses) {
      throw new FederaError('invalid_config', `${fn}: labels[${i}] = ${y} is outside [0, numClasses=${numClasses})`, { index: i, label: y, numClasses });
    }
    start[y + 1]++;
  }
  for (let c = 0; c < numClasses; c++) start[c + 1] += start[c];
  const order = new Int32Array(n);
  const fill = start.slice(0, numClasses);
  for (let i = 0; i < n; i++) order[fill[labels[i]]++] = i;
  return { order, start };
}

/** Indices 0..n−1 sorted by label, ties by index (counting sort when the label range is small). */
function stableSortByLabel(labels: Int32Array): Int32Array {
  const n = labels.length;
  let min = n > 0 ? labels[0] : 0;
  let max = min;
  for (let i = 1; i < n; i++) {
    const y = labels[i];
    if (y < min) min = y;
    else if (y > max) max = y;
  }
  const sorted = new Int32Array(n);
  const range = max - min + 1;
  if (n > 0 && range <= 4 * n + 1024) {
    const start = new Int32Array(range + 1);
    for (let i = 0; i < n; i++) start[labels[i] - min + 1]++;
    for (let c = 0; c < range; c++) start[c + 1] += start[c];
    for (let i = 0; i < n; i++) sorted[start[labels[i] - min]++] = i;
  } else {
    for (let i = 0; i < n; i++) sorted[i] = i;
    sorted.sort((a, b) => labels[a] - labels[b] || a - b);
  }
  return sorted;
}

/** Per-client index arrays (ascending) from an owner-per-example array. */
function bucket(owner: Int32Array, sizes: Int32Array): Int32Array[] {
  const out: Int32Array[] = new Array(sizes.length);
  for (let c = 0; c < sizes.length; c++) out[c] = new Int32Array(sizes[c]);
  const fill = new Int32Array(sizes.length);
  for (let i = 0; i < owner.length; i++) {
    const c = owner[i];
    out[c][fill[c]++] = i;
  }
  return out;
}

function checkInt(fn: string, name: string, value: number, min: number, max: number, maxNote?: string): void {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return;
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]${maxNote ? ` (${maxNote})` : ''}`;
  throw new FederaError('invalid_config', `${fn}: ${name} must be an integer ${range}, got ${String(value)}`, { [name]: value, min, max });
}

function checkPositiveFinite(fn: string, name: string, value: number): void {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return;
  throw new FederaError('invalid_config', `${fn}: ${name} must be a finite number > 0, got ${String(value)}`, { [name]: value });
}
