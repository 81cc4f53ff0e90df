// Image folders in Node (src/node/images.ts, src/data/image.ts): PNG and JPEG fixtures written
// here, class numbering, resizing against tf.image.resizeBilinear, and bad files named.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import * as tf from '@tensorflow/tfjs';
import { loadImageFolder } from '../../src/node/images.js';
import { rgbaToFeatures } from '../../src/data/image.js';
import { Rng } from '../../src/core/rng.js';
import { isFederaError } from '../../src/core/errors.js';

const root = mkdtempSync(join(tmpdir(), 'federa-images-'));
after(() => rmSync(root, { recursive: true, force: true }));

function rgba(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out.set([...pixel(x, y), 255], (y * width + x) * 4);
  return out;
}

function png(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Buffer {
  const p = new PNG({ width, height });
  p.data = Buffer.from(rgba(width, height, pixel));
  return PNG.sync.write(p);
}

function jpg(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Buffer {
  return Buffer.from(jpeg.encode({ data: rgba(width, height, pixel), width, height }, 95).data);
}

function folder(name: string, files: Record<string, Buffer | string>): string {
  const dir = join(root, name);
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), data);
  }
  return dir;
}

test('bilinear resize agrees with tf.image.resizeBilinear (half-pixel centres)', async () => {
  const rng = new Rng('img');
  const w = 7, h = 5;
  const img = rgba(w, h, () => [rng.int(256), rng.int(256), rng.int(256)]);
  const ours = rgbaToFeatures(img, w, h, 4, 3, 3);
  tf.setBackend('cpu');
  const rgb = Float32Array.from({ length: w * h * 3 }, (_, i) => img[Math.floor(i / 3) * 4 + (i % 3)] / 255);
  const ref = tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(rgb, [h, w, 3]), [3, 4], false, true).dataSync());
  ours.forEach((v, i) => assert.ok(Math.abs(v - ref[i]) < 1e-5, `value ${i}: ${v} vs ${ref[i]}`));
});

test('a folder of PNG and JPEG classes: labels, grayscale, resize to the model input', () => {
  const dir = folder('shapes', {
    'circle/a.png': png(8, 8, () => [255, 255, 255]),
    'circle/b.jpg': jpg(16, 16, () => [255, 255, 255]),
    'square/a.png': png(8, 8, (x) => (x < 4 ? [0, 0, 0] : [255, 255, 255])),
    'square/notes.txt': 'ignored',
  });
  const d = loadImageFolder(dir, { width: 4, height: 4 });
  assert.deepEqual(d.classNames, ['circle', 'square']);
  assert.deepEqual([...d.dataset.y], [0, 0, 1]);
  assert.deepEqual(d.dataset.featureShape, [4, 4, 1]);
  assert.equal(d.skipped.length, 1);
  assert.ok(d.dataset.x.subarray(0, 16).every((v) => Math.abs(v - 1) < 1e-6), 'white PNG');
  assert.ok(d.dataset.x.subarray(16, 32).every((v) => Math.abs(v - 1) < 0.02), 'white JPEG (lossy)');
  const half = d.dataset.x.subarray(32, 48);
  assert.deepEqual([...half.subarray(0, 4)], [0, 0, 1, 1], 'left half black, right half white');
});

test('RGB (channels 3) keeps colour; whole-number folder names are class indices', () => {
  const dir = folder('digits', { '0/r.png': png(2, 2, () => [255, 0, 0]), '2/g.png': png(2, 2, () => [0, 255, 0]) });
  const d = loadImageFolder(dir, { width: 2, height: 2, channels: 3 });
  assert.deepEqual(d.classNames, ['0', '1', '2']);
  assert.equal(d.dataset.numClasses, 3);
  assert.deepEqual([...d.dataset.y], [0, 2]);
  assert.deepEqual([...d.dataset.x.subarray(0, 3)], [1, 0, 0]);
  assert.deepEqual([...d.dataset.x.subarray(12, 15)], [0, 1, 0]);
});

test('bad image folders: each error names the file or folder and what is wrong', () => {
  const fails = (dir: string, re: RegExp) => assert.throws(() => loadImageFolder(dir, { width: 4, height: 4 }), (e) => isFederaError(e, 'data_error') && re.test((e as Error).message), `expected ${re}`);
  const good = png(4, 4, () => [1, 2, 3]);
  fails(folder('fake', { 'a/x.png': 'hello, not a png' }), /fake\/a\/x\.png: not a PNG or JPEG image \(starts with 68 65 6c 6c\)/);
  fails(folder('trunc', { 'a/x.png': good.subarray(0, 40) }), /trunc\/a\/x\.png: corrupt PNG/);
  fails(folder('badjpg', { 'a/x.jpg': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 1, 2]) }), /badjpg\/a\/x\.jpg: corrupt JPEG/);
  fails(folder('emptyfile', { 'a/x.png': Buffer.alloc(0) }), /emptyfile\/a\/x\.png: not a PNG or JPEG image \(empty file\)/);
  fails(folder('emptyclass', { 'a/x.png': good, 'b/readme.md': '#' }), /emptyclass\/b: class folder "b" holds no \.png\/\.jpg images/);
  fails(folder('stray', { 'x.png': good, 'a/y.png': good }), /stray\/x\.png: image outside a class subfolder/);
  fails(folder('flat', { 'readme.md': '#' }), /flat: no class subfolders/);
  fails(join(root, 'missing'), /missing: cannot be read as an image folder/);
});
