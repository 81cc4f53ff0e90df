import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';
import {
  partitionDirichlet,
  partitionIid,
  partitionNatural,
  partitionShards,
  splitIndices,
} from '../../src/data/partition.js';
import { loadMnist } from '../../src/node/mnist.js';

/** Every index 0..n-1 appears in exactly one partition; each partition is strictly ascending. */
function assertPartition(parts: Int32Array[], n: number): void {
  const seen = new Uint8Array(n);
  let total = 0;
  for (const [c, p] of parts.entries()) {
    assert.ok(p instanceof Int32Array, `client ${c} is not an Int32Array`);
    for (let k = 0; k < p.length; k++) {
      const i = p[k];
      assert.ok(Number.isInteger(i) && i >= 0 && i < n, `client ${c}: index ${i} out of range`);
      if (k > 0) assert.ok(p[k - 1] < i, `client ${c}: indices not strictly ascending at ${k}`);
      seen[i]++;
    }
    total += p.length;
  }
  assert.equal(total, n);
  assert.ok(seen.every((s) => s === 1), 'some example is missing or repeated');
}

function throwsConfig(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isFederaError(e, 'invalid_config'), `expected invalid_config, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

function labelSets(parts: Int32Array[], labels: Int32Array): Set<number>[] {
  return parts.map((p) => new Set(Array.from(p, (i) => labels[i])));
}

function maxClassFraction(parts: Int32Array[], labels: Int32Array, numClasses: number): number {
  let sum = 0;
  for (const p of parts) {
    const counts = new Array<number>(numClasses).fill(0);
    for (const i of p) counts[labels[i]]++;
    sum += Math.max(...counts) / p.length;
  }
  return sum / parts.length;
}

// ---- IID ---------------------------------------------------------------------------------------

test('partitionIid: a permutation with sizes differing by at most one', () => {
  const parts = partitionIid(10, 3, new Rng(1));
  assert.deepEqual(parts.map((p) => p.length), [4, 3, 3]);
  assertPartition(parts, 10);
  const big = partitionIid(8000, 7, new Rng(2));
  assertPartition(big, 8000);
  assert.deepEqual(big.map((p) => p.length), [1143, 1143, 1143, 1143, 1143, 1143, 1142]);
  assert.deepEqual(partitionIid(5, 5, new Rng(3)).map((p) => p.length), [1, 1, 1, 1, 1]);
  assert.deepEqual(partitionIid(5, 1, new Rng(3)), [Int32Array.from([0, 1, 2, 3, 4])]);
});

test('partitionIid: random, deterministic per seed', () => {
  const a = partitionIid(1000, 10, new Rng('s').stream('partitioning'));
  const b = partitionIid(1000, 10, new Rng('s').stream('partitioning'));
  const c = partitionIid(1000, 10, new Rng('t').stream('partitioning'));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  // Not contiguous blocks: client 0 holds indices from all over the range.
  assert.ok(a[0][a[0].length - 1] - a[0][0] > 500);
});

test('partitionIid: 10,000 clients are cheap', () => {
  const t0 = performance.now();
  const parts = partitionIid(100_000, 10_000, new Rng(1));
  const ms = performance.now() - t0;
  assert.equal(parts.length, 10_000);
  assert.ok(parts.every((p) => p.length === 10));
  assertPartition(parts, 100_000);
  assert.ok(ms < 2000, `took ${ms} ms`);
});

test('partitionIid: argument errors', () => {
  throwsConfig(() => partitionIid(10, 11, new Rng(1)), 'partitionIid: numClients must be an integer in [1, 10] (n=10), got 11');
  throwsConfig(() => partitionIid(10, 0, new Rng(1)), 'partitionIid: numClients must be an integer in [1, 10] (n=10), got 0');
  throwsConfig(() => partitionIid(10, 2.5, new Rng(1)), 'partitionIid: numClients must be an integer in [1, 10] (n=10), got 2.5');
  throwsConfig(() => partitionIid(10, NaN, new Rng(1)), 'partitionIid: numClients must be an integer in [1, 10] (n=10), got NaN');
  throwsConfig(() => partitionIid(-1, 1, new Rng(1)), 'partitionIid: n must be an integer >= 0, got -1');
  throwsConfig(() => partitionIid(0, 1, new Rng(1)), 'partitionIid: numClients must be an integer in [1, 0] (n=0), got 1');
});

// ---- Shards ------------------------------------------------------------------------------------

test('partitionShards: clients get whole shards of the label-sorted order', () => {
  const labels = Int32Array.from([0, 0, 0, 1, 1, 1, 2, 2, 2, 2]);
  // S = 4 shards of 10 examples: sizes 3, 3, 2, 2 → {0,1,2} {3,4,5} {6,7} {8,9}.
  const shards = ['0,1,2', '3,4,5', '6,7', '8,9'];
  const parts = partitionShards(labels, 2, 2, new Rng(5));
  assertPartition(parts, 10);
  const used: string[] = [];
  for (const p of parts) {
    const set = new Set(p);
    const mine = shards.filter((s) => s.split(',').every((i) => set.has(Number(i))));
    assert.equal(mine.length, 2, `client ${Array.from(p)} is not two whole shards`);
    assert.equal(mine.reduce((a, s) => a + s.split(',').length, 0), p.length);
    used.push(...mine);
  }
  assert.deepEqual(used.sort(), shards);
});

test('partitionShards: sorting is stable by label, ties by index', () => {
  // Sorted order: label 0 → 1, 3; label 1 → 2, 5; label 2 → 0, 4.
  const labels = Int32Array.from([2, 0, 1, 0, 2, 1]);
  const parts = partitionShards(labels, 3, 1, new Rng(9));
  assert.deepEqual(parts.map((p) => Array.from(p).join(',')).sort(), ['0,4', '1,3', '2,5']);
  // Shard boundaries inside a label: sorted order is 1, 2, 3 | 0, 4, 5 → shards {1,2} {0,3} {4,5}.
  const tie = partitionShards(Int32Array.from([1, 0, 0, 0, 1, 1]), 3, 1, new Rng(9));
  assert.deepEqual(tie.map((p) => Array.from(p).join(',')).sort(), ['0,3', '1,2', '4,5']);
  // Wide label range (comparison-sort path) gives the same kind of result.
  const wide = partitionShards(Int32Array.from([1e9, 0, 0, 0, 1e9, 1e9]), 3, 1, new Rng(9));
  assert.deepEqual(wide.map((p) => Array.from(p).join(',')).sort(), ['0,3', '1,2', '4,5']);
  // Non-divisible: 3 shards of 10 examples → sizes 4, 3, 3.
  const sizes = partitionShards(new Int32Array(10), 3, 1, new Rng(1)).map((p) => p.length).sort();
  assert.deepEqual(sizes, [3, 3, 4]);
});

test('partitionShards: MNIST train, 100 clients × 2 shards', () => {
  const { train } = loadMnist();
  const labels = train.y;
  const n = labels.length;
  const parts = partitionShards(labels, 100, 2, new Rng('shards'));
  assertPartition(parts, n);
  assert.ok(parts.every((p) => p.length === 80), 'each client has 2 shards of 40');

  // Independent reference: the label-sorted order and its 200 shards.
  const sorted = Array.from({ length: n }, (_, i) => i).sort((a, b) => labels[a] - labels[b] || a - b);
  const shardOf = new Int32Array(n);
  sorted.forEach((i, pos) => (shardOf[i] = Math.floor(pos / 40)));
  const shardLabels = Array.from({ length: 200 }, (_, s) => new Set(sorted.slice(s * 40, s * 40 + 40).map((i) => labels[i])));
  const straddling = shardLabels.filter((s) => s.size > 1).length;
  assert.ok(straddling <= 9, 'at most one straddling shard per label boundary');

  const sets = labelSets(parts, labels);
  let atMostTwo = 0;
  for (const [c, p] of parts.entries()) {
    const mine = new Set(Array.from(p, (i) => shardOf[i]));
    assert.equal(mine.size, 2, `client ${c} touches ${mine.size} shards`);
    const bound = new Set([...mine].flatMap((s) => [...shardLabels[s]]));
    assert.deepEqual(sets[c], bound, `client ${c}: labels are exactly those of its shards`);
    if (sets[c].size <= 2) atMostTwo++;
  }
  // Only clients holding a straddling shard can exceed 2 labels.
  assert.ok(atMostTwo >= 100 - straddling, `${atMostTwo} clients with ≤ 2 labels`);
  assert.ok(Math.max(...sets.map((s) => s.size)) <= 4);
});

test('partitionShards: deterministic per seed, 10,000 clients cheap', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => i % 10);
  assert.deepEqual(partitionShards(labels, 50, 2, new Rng(1)), partitionShards(labels, 50, 2, new Rng(1)));
  assert.notDeepEqual(partitionShards(labels, 50, 2, new Rng(1)), partitionShards(labels, 50, 2, new Rng(2)));
  const many = Int32Array.from({ length: 200_000 }, (_, i) => i % 10);
  const t0 = performance.now();
  const parts = partitionShards(many, 10_000, 2, new Rng(1));
  const ms = performance.now() - t0;
  assertPartition(parts, 200_000);
  assert.ok(parts.every((p) => p.length === 20));
  assert.ok(ms < 2000, `took ${ms} ms`);
});

test('partitionShards: argument errors', () => {
  const labels = new Int32Array(10);
  throwsConfig(() => partitionShards(labels, 11, 1, new Rng(1)), 'partitionShards: numClients must be an integer in [1, 10] (n=10 examples), got 11');
  throwsConfig(() => partitionShards(labels, 0, 1, new Rng(1)), 'partitionShards: numClients must be an integer in [1, 10] (n=10 examples), got 0');
  throwsConfig(
    () => partitionShards(labels, 3, 4, new Rng(1)),
    'partitionShards: shardsPerClient must be an integer in [1, 3] (so that numClients·shardsPerClient <= n=10), got 4',
  );
  throwsConfig(
    () => partitionShards(labels, 3, 0, new Rng(1)),
    'partitionShards: shardsPerClient must be an integer in [1, 3] (so that numClients·shardsPerClient <= n=10), got 0',
  );
});

// ---- Dirichlet ---------------------------------------------------------------------------------

test('partitionDirichlet: a partition with minSize respected', () => {
  const { train } = loadMnist();
  const parts = partitionDirichlet(train.y, 10, 10, 0.1, new Rng(1), { minSize: 50 });
  assert.equal(parts.length, 10);
  assertPartition(parts, train.y.length);
  assert.ok(parts.every((p) => p.length >= 50), `sizes ${parts.map((p) => p.length)}`);
});

test('partitionDirichlet: small alpha skews labels, large alpha is near-uniform', () => {
  const { train } = loadMnist();
  const skewed: number[] = [];
  const uniform: number[] = [];
  for (let seed = 0; seed < 5; seed++) {
    skewed.push(maxClassFraction(partitionDirichlet(train.y, 10, 10, 0.1, new Rng(seed)), train.y, 10));
    uniform.push(maxClassFraction(partitionDirichlet(train.y, 10, 10, 100, new Rng(seed)), train.y, 10));
  }
  // IID gives ≈ 0.12 (the largest of ~10 equal shares); one dominant class per client gives 1.
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(skewed) > 0.5, `alpha=0.1: ${skewed}`);
  assert.ok(skewed.every((s) => s > 0.4), `alpha=0.1: ${skewed}`);
  assert.ok(uniform.every((s) => s < 0.15), `alpha=100: ${uniform}`);
  // Sizes at alpha=100 are close to n/numClients.
  const sizes = partitionDirichlet(train.y, 10, 10, 100, new Rng(0)).map((p) => p.length);
  assert.ok(sizes.every((s) => Math.abs(s - 800) < 100), `sizes ${sizes}`);
});

test('partitionDirichlet: deterministic per seed, different across seeds', () => {
  const labels = Int32Array.from({ length: 2000 }, (_, i) => i % 5);
  const a = partitionDirichlet(labels, 5, 20, 0.5, new Rng('p').stream('partitioning'));
  const b = partitionDirichlet(labels, 5, 20, 0.5, new Rng('p').stream('partitioning'));
  const c = partitionDirichlet(labels, 5, 20, 0.5, new Rng('q').stream('partitioning'));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assertPartition(a, 2000);
  assertPartition(c, 2000);
});

test('partitionDirichlet: one client gets everything; classes absent from labels are fine', () => {
  const labels = Int32Array.from([0, 2, 2, 0]);
  assert.deepEqual(partitionDirichlet(labels, 4, 1, 0.3, new Rng(1)), [Int32Array.from([0, 1, 2, 3])]);
});

test('partitionDirichlet: gives up after maxRetries + 1 draws with a clear error', () => {
  class CountingRng extends Rng {
    draws = 0;
    override dirichlet(alpha: number, k: number): Float64Array {
      this.draws++;
      return super.dirichlet(alpha, k);
    }
  }
  const labels = new Int32Array(20); // one class
  const rng = new CountingRng(1);
  throwsConfig(
    () => partitionDirichlet(labels, 1, 10, 0.01, rng, { minSize: 2, maxRetries: 3 }),
    'partitionDirichlet: no partition with every client holding at least minSize=2 examples after 4 draws ' +
      '(alpha=0.01, numClients=10, n=20); increase alpha, lower minSize, use fewer clients or raise maxRetries',
  );
  assert.equal(rng.draws, 4);
  // minSize 0 always succeeds on the first draw.
  const ok = new CountingRng(1);
  assertPartition(partitionDirichlet(labels, 1, 10, 0.01, ok, { minSize: 0, maxRetries: 0 }), 20);
  assert.equal(ok.draws, 1);
});

test('partitionDirichlet: argument errors', () => {
  const labels = Int32Array.from([0, 1, 0, 1, 0, 1]);
  const rng = () => new Rng(1);
  for (const alpha of [0, -1, Infinity, NaN]) {
    throwsConfig(() => partitionDirichlet(labels, 2, 2, alpha, rng()), `partitionDirichlet: alpha must be a finite number > 0, got ${alpha}`);
  }
  throwsConfig(() => partitionDirichlet(labels, 2, 7, 1, rng()), 'partitionDirichlet: numClients must be an integer in [1, 6] (n=6 examples), got 7');
  throwsConfig(() => partitionDirichlet(labels, 2, 0, 1, rng()), 'partitionDirichlet: numClients must be an integer in [1, 6] (n=6 examples), got 0');
  throwsConfig(() => partitionDirichlet(labels, 0, 2, 1, rng()), 'partitionDirichlet: numClasses must be an integer in [1, 2147483647], got 0');
  throwsConfig(
    () => partitionDirichlet(labels, 2, 2, 1, rng(), { minSize: 4 }),
    'partitionDirichlet: minSize must be an integer in [0, 3] (floor(n / numClients) = floor(6 / 2)), got 4',
  );
  throwsConfig(() => partitionDirichlet(labels, 2, 2, 1, rng(), { maxRetries: -1 }), 'partitionDirichlet: maxRetries must be an integer >= 0, got -1');
  throwsConfig(() => partitionDirichlet(Int32Array.from([0, 2, 1]), 2, 1, 1, rng()), 'partitionDirichlet: labels[1] = 2 is outside [0, numClasses=2)');
  throwsConfig(() => partitionDirichlet(Int32Array.from([0, -1]), 2, 1, 1, rng()), 'partitionDirichlet: labels[1] = -1 is outside [0, numClasses=2)');
});

// ---- Natural -----------------------------------------------------------------------------------

test('partitionNatural: one client per group, sorted by name', () => {
  const r = partitionNatural(['b', 'a', 'b', 'c', 'a']);
  assert.deepEqual(r.groupNames, ['a', 'b', 'c']);
  assert.deepEqual(r.partitions, [Int32Array.from([1, 4]), Int32Array.from([0, 2]), Int32Array.from([3])]);
  // Numbers sort numerically.
  const nums = partitionNatural([10, 2, 10, 1]);
  assert.deepEqual(nums.groupNames, ['1', '2', '10']);
  assert.deepEqual(nums.partitions, [Int32Array.from([3]), Int32Array.from([1]), Int32Array.from([0, 2])]);
  // Strings sort by code unit, not numerically, and 1 and "1" are one group.
  const mixed = partitionNatural(['10', 1, '2', '1']);
  assert.deepEqual(mixed.groupNames, ['1', '10', '2']);
  assert.deepEqual(mixed.partitions, [Int32Array.from([1, 3]), Int32Array.from([0]), Int32Array.from([2])]);
  assert.deepEqual(partitionNatural([]), { partitions: [], groupNames: [] });
});

test('partitionNatural: every example once; bad group values rejected', () => {
  const groups = Array.from({ length: 5000 }, (_, i) => `site-${(i * 7919) % 37}`);
  const r = partitionNatural(groups);
  assert.equal(r.groupNames.length, 37);
  assertPartition(r.partitions, 5000);
  r.partitions.forEach((p, c) => assert.ok(Array.from(p).every((i) => groups[i] === r.groupNames[c])));
  throwsConfig(() => partitionNatural([1, NaN]), 'partitionNatural: groups[1] is NaN; group values must be strings or finite numbers');
  throwsConfig(() => partitionNatural(['a', undefined as unknown as string]), 'partitionNatural: groups[1] is undefined; group values must be strings or finite numbers');
});

// ---- splitIndices ------------------------------------------------------------------------------

test('splitIndices: sizes, disjointness, order', () => {
  const idx = Int32Array.from([50, 10, 40, 20, 30, 90, 80, 70, 60, 0]);
  const copy = idx.slice();
  const { first, second } = splitIndices(idx, 0.2, new Rng(1));
  assert.equal(first.length, 8);
  assert.equal(second.length, 2);
  assert.deepEqual(idx, copy, 'input not modified');
  assert.deepEqual(Array.from(first).concat(Array.from(second)).sort((a, b) => a - b), Array.from(copy).sort((a, b) => a - b));
  assert.deepEqual(first, first.slice().sort());
  assert.deepEqual(second, second.slice().sort());
  // round(len·(1 − fraction)), half up.
  assert.equal(splitIndices(new Int32Array(5), 0.1, new Rng(1)).first.length, 5);
  assert.equal(splitIndices(new Int32Array(7), 0.5, new Rng(1)).first.length, 4);
  assert.equal(splitIndices(new Int32Array(7), 0, new Rng(1)).second.length, 0);
});

test('splitIndices: a 1-example client keeps it in train; empty stays empty', () => {
  for (const f of [0, 0.5, 0.99]) {
    const r = splitIndices(Int32Array.from([42]), f, new Rng(1));
    assert.deepEqual(r.first, Int32Array.from([42]));
    assert.deepEqual(r.second, new Int32Array(0));
  }
  assert.equal(splitIndices(new Int32Array(4), 0.95, new Rng(1)).first.length, 1);
  const empty = splitIndices(new Int32Array(0), 0.3, new Rng(1));
  assert.equal(empty.first.length + empty.second.length, 0);
});

test('splitIndices: deterministic per seed, different across seeds; fraction errors', () => {
  const idx = Int32Array.from({ length: 100 }, (_, i) => i);
  assert.deepEqual(splitIndices(idx, 0.3, new Rng(1)), splitIndices(idx, 0.3, new Rng(1)));
  assert.notDeepEqual(splitIndices(idx, 0.3, new Rng(1)).second, splitIndices(idx, 0.3, new Rng(2)).second);
  for (const f of [1, -0.1, NaN]) {
    throwsConfig(() => splitIndices(idx, f, new Rng(1)), `splitIndices: fraction must be a number in [0, 1), got ${f}`);
  }
});
