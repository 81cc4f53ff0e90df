/**
 * Image folders in Node: `root/<class>/<image>.png|jpg|jpeg`, one subfolder per class, decoded
 * with pure-JavaScript libraries (pngjs, jpeg-js: nothing native, nothing downloaded), converted
 * to grayscale or RGB and resized to the model's input. Class indices follow the browser loader:
 * whole-number folder names are the class index, other names are sorted and numbered.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { FederaError } from '../core/errors.js';
import { makeDataset, type Dataset } from '../data/dataset.js';
import { rgbaToFeatures } from '../data/image.js';

const IMAGE_EXT = /\.(png|jpe?g)$/i;
/** Refuse images above this many pixels (a corrupt header can claim gigapixels). */
const MAX_PIXELS = 50_000_000;

export interface ImageFolderOptions {
  /** Output size; the model's input (e.g. 28×28 for the MNIST CNN, 32×32 for cifar-cnn). */
  width: number;
  height: number;
  /** 1 (grayscale, default) or 3 (RGB). */
  channels?: 1 | 3;
}

export interface ImageFolderData {
  dataset: Dataset;
  classNames: string[];
  /** Image paths in example order. */
  files: string[];
  /** Files that are not .png/.jpg/.jpeg (ignored). */
  skipped: string[];
}

/** Decodes PNG or JPEG bytes (told apart by their signature) to RGBA. */
export function decodeImage(bytes: Uint8Array, path: string): { width: number; height: number; rgba: Uint8Array } {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new FederaError('data_error', `${path}: not a PNG or JPEG image (${bytes.length === 0 ? 'empty file' : `starts with ${head}`})`, { source: path });
  }
  try {
    if (isPng) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, rgba: png.data };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
    return { width: img.width, height: img.height, rgba: img.data };
  } catch (e) {
    throw new FederaError('data_error', `${path}: corrupt ${isPng ? 'PNG' : 'JPEG'} (${(e as Error).message})`, { source: path }, { cause: e });
  }
}

/** Loads `root/<class>/<image>` into a dataset of `height × width × channels` features in [0, 1]. */
export function loadImageFolder(root: string, options: ImageFolderOptions): ImageFolderData {
  const { width, height } = options;
  const channels = options.channels ?? 1;
  for (const [k, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new FederaError('invalid_argument', `loadImageFolder: ${k} must be an integer ≥ 1, got ${v}`, { field: k });
  }
  if (channels !== 1 && channels !== 3) throw new FederaError('invalid_argument', `loadImageFolder: channels must be 1 or 3, got ${String(channels)}`, { field: 'channels' });
  let entries: string[];
  try {
    if (!statSync(root).isDirectory()) throw new Error('not a folder');
    entries = readdirSync(root).filter((n) => !n.startsWith('.')).sort();
  } catch (e) {
    throw new FederaError('data_error', `${root}: cannot be read as an image folder (${(e as Error).message})`, { source: root }, { cause: e });
  }
  const classDirs = entries.filter((n) => statSync(join(root, n)).isDirectory());
  const strays = entries.filter((n) => IMAGE_EXT.test(n));
  if (strays.length > 0) throw new FederaError('data_error', `${join(root, strays[0])}: image outside a class subfolder; put every image in ${root}/<class>/`, { source: root });
  if (classDirs.length === 0) throw new FederaError('data_error', `${root}: no class subfolders (expected ${root}/<class>/<image>.png)`, { source: root });
  const numeric = classDirs.every((n) => /^\d+$/.test(n) && Number(n) < 100_000);
  const classNames = numeric ? Array.from({ length: Math.max(...classDirs.map(Number)) + 1 }, (_, i) => String(i)) : classDirs;
  const files: string[] = [];
  const labels: number[] = [];
  const skipped: string[] = [];
  for (const [c, name] of classDirs.entries()) {
    const dir = join(root, name);
    const images = readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
    let count = 0;
    for (const f of images) {
      const p = join(dir, f);
      if (!IMAGE_EXT.test(f) || !statSync(p).isFile()) {
        skipped.push(p);
        continue;
      }
      files.push(p);
      labels.push(numeric ? Number(name) : c);
      count++;
    }
    if (count === 0) throw new FederaError('data_error', `${dir}: class folder "${name}" holds no .png/.jpg images`, { source: dir });
  }
  const f = width * height * channels;
  const x = new Float32Array(files.length * f);
  files.forEach((p, i) => {
    const img = decodeImage(readFileSync(p), p);
    if (img.width * img.height > MAX_PIXELS) throw new FederaError('data_error', `${p}: ${img.width}×${img.height} pixels is too large`, { source: p });
    x.set(rgbaToFeatures(img.rgba, img.width, img.height, width, height, channels), i * f);
  });
  return { dataset: makeDataset(x, Int32Array.from(labels), f, Math.max(2, classNames.length), [height, width, channels]), classNames, files, skipped };
}
