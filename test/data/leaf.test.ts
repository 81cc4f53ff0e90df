// LEAF JSON (src/data/leaf.ts, src/node/leaf.ts) on small generated FEMNIST- and
// Shakespeare-like fixtures: natural user partition, folder merging, and errors naming the file,
// user and sample.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLeaf, LEAF_CHARACTERS } from '../../src/data/leaf.js';
import { loadLeaf } from '../../src/node/leaf.js';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'federa-leaf-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** FEMNIST-like: `users` writers with 784 pixels per sample and labels < 62. */
function femnist(users: string[], sizes: number[], seed: number) {
  const rng = new Rng(seed);
  const user_data: Record<string, { x: number[][]; y: number[] }> = {};
  users.forEach((u, i) => {
    user_data[u] = { x: Array.from({ length: sizes[i] }, () => Array.from({ length: 784 }, () => Math.round(rng.next() * 100) / 100)), y: Array.from({ length: sizes[i] }, () => rng.int(62)) };
  });
  return { users, num_samples: sizes, user_data };
}

const shakespeare = {
  users: ['HAMLET', 'OPHELIA'],
  num_samples: [2, 1],
  user_data: {
    HAMLET: { x: ['To be, or not', 'o be, or not '], y: ['t', 'o'] },
    OPHELIA: { x: ['Good my lord,'], y: [' '] },
  },
};

test('numeric LEAF: one client per user in file order, 28×28×1 for 784 values', () => {
  const j = femnist(['f0001_41', 'f0002_12', 'f0003_07'], [4, 2, 3], 1);
  const d = parseLeaf(JSON.stringify(j), { numClasses: 62 });
  assert.equal(d.kind, 'numeric');
  assert.deepEqual(d.users, ['f0001_41', 'f0002_12', 'f0003_07']);
  assert.deepEqual(d.partitions.map((p) => [...p]), [[0, 1, 2, 3], [4, 5], [6, 7, 8]]);
  assert.equal(d.dataset.numFeatures, 784);
  assert.deepEqual(d.dataset.featureShape, [28, 28, 1]);
  assert.equal(d.dataset.numClasses, 62);
  assert.equal(d.dataset.y[4], j.user_data.f0002_12.y[0]);
  assert.equal(d.dataset.x[4 * 784 + 10], Math.fround(j.user_data.f0002_12.x[0][10]));
});

test('text LEAF (Shakespeare): characters → indices of LEAF’s 80-symbol alphabet', () => {
  assert.equal(LEAF_CHARACTERS.length, 80);
  const d = parseLeaf(shakespeare);
  assert.equal(d.kind, 'text');
  assert.equal(d.dataset.numFeatures, 13);
  assert.equal(d.dataset.numClasses, 80);
  assert.equal(LEAF_CHARACTERS[d.dataset.x[0]], 'T');
  assert.equal(LEAF_CHARACTERS[d.dataset.y[0]], 't');
  assert.equal(LEAF_CHARACTERS[d.dataset.y[2]], ' ');
  assert.deepEqual(d.partitions.map((p) => p.length), [2, 1]);
});

test('a folder of LEAF files is merged, users in file-name order', () => {
  const f = join(dir, 'train');
  mkdirSync(f);
  writeFileSync(join(f, 'all_data_1.json'), JSON.stringify(femnist(['c', 'd'], [1, 2], 2)));
  writeFileSync(join(f, 'all_data_0.json'), JSON.stringify(femnist(['a', 'b'], [3, 1], 3)));
  writeFileSync(join(f, 'README.txt'), 'not json');
  const d = loadLeaf(f);
  assert.deepEqual(d.users, ['a', 'b', 'c', 'd']);
  assert.equal(d.dataset.y.length, 7);
  assert.deepEqual([...d.partitions[3]], [5, 6]);
});

test('bad LEAF input: errors name the file, the user and the sample', () => {
  const fails = (json: unknown, re: RegExp, source = 'shard.json') =>
    assert.throws(() => parseLeaf(typeof json === 'string' ? json : (json as never), { source }), (e) => isFederaError(e, 'data_error') && re.test((e as Error).message), `expected ${re}`);
  fails('{"users": [', /shard\.json: is not valid JSON/);
  fails({ users: 'x', user_data: {} }, /"users" is missing or not an array/);
  fails({ ...shakespeare, num_samples: [2, 2] }, /num_samples\[1\] is 2 but user "OPHELIA" has 1 samples/);
  fails({ users: ['a'], user_data: {} }, /user_data\["a"\] must have arrays "x" and "y"/);
  fails({ users: ['a', 'a'], user_data: { a: { x: [[1]], y: [0] } } }, /user "a" appears twice/);
  fails({ users: ['a'], user_data: { a: { x: [[1, 2], [1]], y: [0, 1] } } }, /shard\.json: user "a" sample 1: x must have 2 values/);
  fails({ users: ['a'], user_data: { a: { x: [[1, 'n']], y: [0] } } }, /user "a" sample 0: x\[1\] is "n", not a finite number/);
  fails({ users: ['a'], user_data: { a: { x: [[1]], y: [1.5] } } }, /y is 1\.5, not a class index/);
  fails({ users: ['a'], user_data: { a: { x: ['ab', 'a€'], y: ['a', 'b'] } } }, /user "a" sample 1: character "€" is not in LEAF's 80-symbol alphabet/);
  fails({ users: ['a'], user_data: { a: { x: ['ab'], y: ['ab'] } } }, /y must be one character/);
  assert.throws(() => loadLeaf(join(dir, 'nope.json')), (e) => isFederaError(e, 'data_error') && /nope\.json: cannot be read/.test((e as Error).message));
});
