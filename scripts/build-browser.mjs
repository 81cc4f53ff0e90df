#!/usr/bin/env node
// Bundles the browser entry points with esbuild into dist/browser/ (run by `npm run build` after
// tsc). Each entry is an ES module that a page loads with <script type="module">.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Source entry → output file under dist/browser/. Add one line per bundle. */
const entries = [
  { in: 'src/browser/index.ts', out: 'federa-browser' },
  { in: 'src/dashboard/app.ts', out: 'dashboard' },
];

// `node scripts/build-browser.mjs federa-browser` builds only the named bundles (tests use it).
const only = process.argv.slice(2);
for (const e of entries) {
  if (only.length > 0 && !only.includes(e.out)) continue;
  await build({
    entryPoints: [join(root, e.in)],
    outfile: join(root, 'dist/browser', `${e.out}.js`),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    sourcemap: true,
    minify: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
}

// The browser client's example page and the TF.js wasm binaries, next to the bundle.
if (only.length === 0 || only.includes('federa-browser')) await (await import('../examples/browser-client/build.mjs')).copyClientAssets(root);
