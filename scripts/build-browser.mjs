#!/usr/bin/env node
// Bundles the browser entry points with esbuild into dist/browser/ (run by `npm run build` after
// tsc). Each entry is an ES module that a page loads with <script type="module">.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Source entry → output file under dist/browser/. Add one line per bundle. */
const entries = [
  // { in: 'src/browser/index.ts', out: 'federa-browser' },
];

for (const e of entries) {
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
