// IDX loaders (src/data/idx.ts, src/node/idx.ts): generated fixtures, gzip or not, file pairs and
// folders; every malformed input names the file and the problem; Fashion-MNIST from Debian's
// package when it is installed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseIdx, idxDataset } from '../../src/data/idx.js';
import { loadIdxFolder, loadIdxPair, loadFashionMnist, FASHION_MNIST_DIR } from '../../src/node/idx.js';
import { labelCounts } from '../../src/data/dataset.js';
import { isFederaError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'federa-idx-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** IDX bytes: u8 values unless `type` says otherwise. */
function idx(dims: number[], values: number[], type = 0x08): Uint8Array {
  const size = { 0x08: 1, 0x0b: 2, 0x0d: 4 }[type]!;
  const out = new Uint8Array(4 + 4 * dims.length + values.length * size);
  const view = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  values.forEach((v, i) => {
    const o = 4 + 4 * dims.length + i * size;
    if (type === 0x08) out[o] = v;
    else if (type === 0x0b) view.setInt16(o, v, false);
    else view.setFloat32(o, v, false);
  });
  return out;
}

const images = idx([3, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0]);
const labels = idx([3], [2, 0, 1]);

function fails(fn: () => unknown, re: RegExp) {
  assert.throws(fn, (e) => isFederaError(e, 'data_error') && re.test((e as Error).message), `expected ${re}`);
}

test('parses u8, i16 and f32 IDX arrays (big-endian)', () => {
  assert.deepEqual(parseIdx(labels).dims, [3]);
  assert.deepEqual([...parseIdx(idx([2], [-3, 300], 0x0b)).values], [-3, 300]);
  assert.deepEqual([...parseIdx(idx([2], [1.5, -2.25], 0x0d)).values], [1.5, -2.25]);
});

test('images + labels → dataset with featureShape [rows, cols, 1] and pixels / 255', () => {
  const d = idxDataset(parseIdx(images), parseIdx(labels));
  assert.equal(d.numFeatures, 4);
  assert.deepEqual(d.featureShape, [2, 2, 1]);
  assert.equal(d.numClasses, 3);
  assert.deepEqual([...d.y], [2, 0, 1]);
  assert.deepEqual([...d.x.slice(0, 4)], [0, 1, 0.20000000298023224, 0.4000000059604645]);
});

test('a folder of gzip files and a pair of plain files give the same data', () => {
  const gz = join(dir, 'gz');
  const plain = join(dir, 'plain');
  for (const d of [gz, plain]) rmSync(d, { recursive: true, force: true });
  writeFileSync(join(dir, 'x.idx'), images);
  writeFileSync(join(dir, 'y.idx'), labels);
  const fromPair = loadIdxPair(join(dir, 'x.idx'), join(dir, 'y.idx'));
  makeDir(gz);
  writeFileSync(join(gz, 'train-images-idx3-ubyte.gz'), gzipSync(images));
  writeFileSync(join(gz, 'train-labels-idx1-ubyte.gz'), gzipSync(labels));
  writeFileSync(join(gz, 't10k-images-idx3-ubyte'), idx([1, 2, 2], [9, 9, 9, 9]));
  writeFileSync(join(gz, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([1], [1])));
  const folder = loadIdxFolder(gz);
  assert.deepEqual([...folder.train.x], [...fromPair.x]);
  assert.deepEqual([...folder.train.y], [...fromPair.y]);
  assert.equal(folder.test!.y.length, 1);
  assert.equal(folder.test!.numClasses, 3, 'the test split takes the train split’s class count');
});

function makeDir(p: string) {
  mkdirSync(p, { recursive: true });
}

test('bad IDX input: every error names the file and what is wrong', () => {
  const write = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const good = write('good-labels', labels);
  fails(() => loadIdxPair(write('truncated', images.slice(0, images.length - 3)), good), /truncated: has 25 bytes but its header \[3 × 2 × 2\] of 1-byte values needs 28 \(truncated\?\)/);
  fails(() => loadIdxPair(write('notidx.png', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 1, 2])), good), /notidx\.png: is not an IDX file \(first bytes 89 50/);
  fails(() => loadIdxPair(write('badtype', Uint8Array.from([0, 0, 0x07, 1, 0, 0, 0, 0])), good), /badtype: has unknown IDX value type 07/);
  fails(() => loadIdxPair(write('badgz.gz', Uint8Array.from([0x1f, 0x8b, 1, 2, 3])), good), /badgz\.gz: is not valid gzip data/);
  fails(() => loadIdxPair(write('imgs', images), write('two-labels', idx([2], [0, 1]))), /two-labels: has 2 labels but .*imgs has 3 images/);
  fails(() => loadIdxPair(join(dir, 'missing-file'), good), /missing-file: cannot be read/);
  fails(() => loadIdxFolder(dir), /no train-images-idx3-ubyte\[\.gz\] in the folder/);
  fails(() => parseIdx(gzipSync(labels), 'mem'), /mem: is gzip-compressed/);
});

test('Fashion-MNIST from Debian’s dataset-fashion-mnist (when installed)', { skip: !existsSync(FASHION_MNIST_DIR) && 'dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)' }, () => {
  const { train, test: t } = loadFashionMnist();
  assert.equal(train.y.length, 60_000);
  assert.equal(t!.y.length, 10_000);
  assert.deepEqual(train.featureShape, [28, 28, 1]);
  assert.deepEqual(labelCounts(train), new Array(10).fill(6000));
  let max = 0;
  for (let i = 0; i < 784 * 10; i++) max = Math.max(max, train.x[i]);
  assert.ok(max > 0.9 && max <= 1);
});
