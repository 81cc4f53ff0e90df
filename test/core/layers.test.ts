// Folders import only downward. Every import in src/ is read; one against the order fails the test
// with the file, the import and the two layers. The order is docs/architecture.md's "Layers" list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Lower layers first; folders on one line are peers and may not import each other. */
export const LAYERS: readonly (readonly string[])[] = [
  ['core'],
  ['wire', 'report'],
  ['data'],
  ['strategy'],
  ['engine'],
  ['transport', 'client'],
  ['compress'],
  ['privacy', 'secagg', 'robust'],
  ['aggregate'],
  ['models'],
  ['config'],
  ['run'],
  ['sim', 'tfjs'],
  ['node', 'dashboard'],
  ['server'],
  ['cli', 'browser'],
];

/** The package's entry points (package.json "exports") gather every layer and are exempt. */
const ENTRY_POINTS = new Set(['index.ts', 'node/index.ts', 'browser/index.ts', 'tfjs/index.ts']);

function rankOf(folder: string): number {
  const r = LAYERS.findIndex((l) => l.includes(folder));
  return r;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a file: static, re-exports and dynamic `import('…')`. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;
  for (const m of text.matchAll(re)) out.push(m[1] ?? m[2]);
  return out;
}

function folderOf(file: string): string {
  const rel = relative(SRC, file).split(/[\\/]/);
  return rel.length === 1 ? '' : rel[0];
}

test('every folder of src/ has a layer', () => {
  const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
  const missing = folders.filter((f) => rankOf(f) < 0);
  assert.deepEqual(missing, [], `add these folders to LAYERS (and docs/architecture.md): ${missing.join(', ')}`);
});

test('imports go only to lower layers (or within a folder)', () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const rel = relative(SRC, file).replace(/\\/g, '/');
    if (ENTRY_POINTS.has(rel)) continue;
    const from = folderOf(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = folderOf(resolve(dirname(file), spec));
      if (target === from || target === '') continue;
      const a = rankOf(from), b = rankOf(target);
      if (b >= a) violations.push(`${rel} imports ${spec}: ${from} (layer ${a}) may not import ${target} (layer ${b})`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the import reader sees static, re-export and dynamic imports', () => {
  const text = "import { a } from '../x/a.js';\nexport { b } from './b.js';\nimport type { C } from '../y/c.js';\nconst m = await import('../z/m.js');\n";
  assert.deepEqual(importsOf(text), ['../x/a.js', './b.js', '../y/c.js', '../z/m.js']);
});

test('docs/architecture.md lists the same layers', () => {
  const doc = readFileSync(resolve(SRC, '../docs/architecture.md'), 'utf8');
  const line = LAYERS.map((l) => l.join(', ')).join(' < ');
  assert.ok(doc.includes(line), `docs/architecture.md must contain the layer order:\n${line}`);
});
