// Copies the browser client's example page and TF.js's wasm binaries into dist/browser/client/,
// where a federa server serves them at /client/ (next to dist/browser/federa-browser.js).
// Called by scripts/build-browser.mjs after esbuild has bundled src/browser/index.ts.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const PAGE_FILES = ['index.html', 'app.js', 'style.css'];
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export function copyClientAssets(root) {
  const out = join(root, 'dist/browser/client');
  mkdirSync(out, { recursive: true });
  for (const f of PAGE_FILES) copyFileSync(join(here, f), join(out, f));
  const wasmDir = join(dirname(createRequire(join(root, 'package.json')).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  for (const f of WASM_FILES) copyFileSync(join(wasmDir, f), join(out, f));
}
