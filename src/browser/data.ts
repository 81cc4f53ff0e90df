/**
 * Local data for a page: a CSV file, a folder of images (class = subfolder name), or the MNIST
 * subset the federa server serves for demos. Everything is decoded in the page; nothing here sends
 * a byte anywhere.
 */
import { FederaError, describeError } from '../core/errors.js';
import { makeDataset, subset, type Dataset } from '../data/dataset.js';
import { parseCsv, type CsvData } from '../data/csv.js';

// ---------------------------------------------------------------------------------------------
// CSV

export interface CsvFileOptions {
  labelColumn?: string;
  /** The server model's class count (labels must fit it). */
  numClasses?: number;
}

/** Parses a CSV `File` (or its text) into a dataset; errors name the file, line and column. */
export async function csvDataset(file: Blob & { name?: string }, options: CsvFileOptions = {}): Promise<CsvData> {
  const source = file.name ?? 'csv';
  let text: string;
  try {
    text = await file.text();
  } catch (e) {
    throw new FederaError('data_error', `cannot read ${source}: ${describeError(e)}`);
  }
  return parseCsv(text, { labelColumn: options.labelColumn ?? 'label', numClasses: options.numClasses, source });
}

// ---------------------------------------------------------------------------------------------
// Image folders

/** The part of `File` the image loader reads (a `<input type=file webkitdirectory>` gives these). */
export interface ImageFile extends Blob {
  readonly name: string;
  readonly webkitRelativePath?: string;
}

export interface ImageFolder {
  /** Grayscale pixels in [0, 1], row-major, one image after another. */
  dataset: Dataset;
  /** Class names (subfolder names) in index order. */
  classNames: string[];
  width: number;
  height: number;
  /** Files that were not images (skipped). */
  skipped: string[];
}

const IMAGE_EXT = /\.(png|jpe?g|gif|bmp|webp)$/i;

function relativePath(f: ImageFile): string {
  return f.webkitRelativePath || f.name;
}

/** The class of an image: the name of the folder it is in (`root/<class>/<file>`). */
function classOf(path: string): string | undefined {
  const parts = path.split('/').filter((p) => p.length > 0);
  return parts.length >= 3 ? parts[parts.length - 2] : undefined;
}

async function decodeGray(file: ImageFile): Promise<{ width: number; height: number; pixels: Float32Array }> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (e) {
    throw new FederaError('data_error', `${relativePath(file)} is not an image this browser can decode (${describeError(e)})`);
  }
  try {
    const { width, height } = bitmap;
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new FederaError('unsupported', 'this browser has no 2D canvas to decode images with');
    ctx.drawImage(bitmap, 0, 0);
    const rgba = ctx.getImageData(0, 0, width, height).data;
    const pixels = new Float32Array(width * height);
    // Luma (ITU-R BT.601), transparent pixels as black: MNIST-style white-on-black digits stay so.
    for (let i = 0, p = 0; i < pixels.length; i++, p += 4) {
      pixels[i] = ((0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2]) / 255) * (rgba[p + 3] / 255);
    }
    return { width, height, pixels };
  } finally {
    bitmap.close();
  }
}

/**
 * Decodes a folder of images (as `<input type=file webkitdirectory>` lists it) into a grayscale
 * dataset. The class of an image is its subfolder's name; if every class name is a whole number,
 * that number is the class index, otherwise names are sorted and numbered. Every image must have
 * the same size; `expected` (the model's side) makes a wrong size an error naming the file.
 */
export async function imageFolderDataset(files: Iterable<ImageFile>, expected?: { width: number; height: number }): Promise<ImageFolder> {
  const images: Array<{ file: ImageFile; path: string; cls: string }> = [];
  const skipped: string[] = [];
  for (const file of files) {
    const path = relativePath(file);
    if (!IMAGE_EXT.test(path) && !(file.type ?? '').startsWith('image/')) {
      skipped.push(path);
      continue;
    }
    const cls = classOf(path);
    if (cls === undefined) throw new FederaError('data_error', `${path} is not in a class subfolder: pick a folder holding one subfolder per class (e.g. digits/3/img-001.png)`);
    images.push({ file, path, cls });
  }
  if (images.length === 0) throw new FederaError('data_error', `the folder holds no images (${skipped.length} other files); expected one subfolder of .png/.jpg images per class`);
  images.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const names = [...new Set(images.map((i) => i.cls))];
  const numeric = names.every((n) => /^\d+$/.test(n) && Number(n) < 100_000);
  const classNames = numeric ? Array.from({ length: Math.max(...names.map(Number)) + 1 }, (_, i) => String(i)) : names.sort();
  const index = new Map(classNames.map((n, i) => [n, i] as const));

  let width = expected?.width ?? 0;
  let height = expected?.height ?? 0;
  let first = expected ? 'the model' : '';
  let x = new Float32Array(0);
  const y = new Int32Array(images.length);
  for (const [k, img] of images.entries()) {
    const g = await decodeGray(img.file);
    if (k === 0 && !expected) {
      width = g.width;
      height = g.height;
      first = images[0].path;
    }
    if (g.width !== width || g.height !== height) {
      throw new FederaError('data_error', `${img.path} is ${g.width}×${g.height} pixels; ${first} ${first === 'the model' ? 'takes' : 'is'} ${width}×${height} — every image must have the same size`);
    }
    if (k === 0) x = new Float32Array(images.length * width * height);
    x.set(g.pixels, k * width * height);
    y[k] = numeric ? Number(img.cls) : index.get(img.cls)!;
  }
  return { dataset: makeDataset(x, y, width * height, classNames.length, [height, width, 1]), classNames, width, height, skipped };
}

/** The square image side a model with `numFeatures` grayscale inputs takes (28 for 784), if any. */
export { squareSide } from '../data/image-subset.js';

// The MNIST subset a federa server serves at /client/mnist-subset.bin: its format lives in data/.
export { MNIST_SUBSET_MAGIC, encodeImageSubset, decodeImageSubset } from '../data/image-subset.js';
import { decodeImageSubset } from '../data/image-subset.js';

/** Fetches and decodes the server's MNIST subset (default: next to the page, `mnist-subset.bin`). */
export async function loadMnistSubset(options: { url?: string; shard?: number; shards?: number } = {}): Promise<Dataset> {
  const url = options.url ?? 'mnist-subset.bin';
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new FederaError('not_found', `cannot fetch the MNIST subset from ${url}: ${describeError(e)}`);
  }
  if (!res.ok) throw new FederaError('not_found', `cannot fetch the MNIST subset from ${url}: HTTP ${res.status}`);
  return decodeImageSubset(new Uint8Array(await res.arrayBuffer()), options);
}
