// The public API, snapshotted: every name each package entry point exports (types marked), so a
// change to it shows up in review. After a deliberate change: UPDATE_API_SNAPSHOT=1 npx tsx --test test/core/api.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';

const ENTRIES: Record<string, string> = {
  federa: 'index.ts',
  'federa/wire': 'wire/index.ts',
  'federa/kernels': 'core/kernels-entry.ts',
  'federa/node': 'node/index.ts',
  'federa/browser': 'browser/index.ts',
  'federa/tfjs': 'tfjs/index.ts',
};
const SNAPSHOT = new URL('./api-snapshot.txt', import.meta.url);
const src = (rel: string) => new URL(`../../src/${rel}`, import.meta.url);

/** Names of `export { … } from` and `export type { … } from` statements: `name` or `type name`. */
export function exportedNames(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(/export\s+(type\s+)?\{([^}]*)\}/g)) {
    const allTypes = Boolean(m[1]);
    for (const raw of m[2].split(',')) {
      const item = raw.replace(/\/\/.*$/gm, '').trim();
      if (!item) continue;
      const isType = allTypes || item.startsWith('type ');
      const name = item.replace(/^type\s+/, '').split(/\s+as\s+/).pop()!.trim();
      names.push(isType ? `type ${name}` : name);
    }
  }
  for (const m of text.matchAll(/export\s+(?:async\s+)?(?:function|class|const)\s+([A-Za-z0-9_$]+)/g)) names.push(m[1]);
  for (const m of text.matchAll(/export\s+(?:interface|type)\s+([A-Za-z0-9_$]+)/g)) names.push(`type ${m[1]}`);
  return [...new Set(names)].sort();
}

function snapshot(): string {
  return Object.entries(ENTRIES)
    .map(([name, file]) => `## ${name}\n${exportedNames(readFileSync(src(file), 'utf8')).join('\n')}\n`)
    .join('\n');
}

test('the export reader sees values, types and renames', () => {
  assert.deepEqual(exportedNames("export { a, type B, c as d } from './x.js';\nexport type { E } from './y.js';"), ['a', 'd', 'type B', 'type E']);
});

test('the root export is curated: about 80 values, no internals', async () => {
  const root = await import('../../src/index.js');
  const values = Object.keys(root);
  assert.ok(values.length <= 90, `${values.length} values exported from federa`);
  for (const internal of ['checkTrainReply', 'clientSeed', 'sharedBuffers', 'axpy', 'RESIDUAL_STATE_KEY', 'encodeFrame']) assert.ok(!values.includes(internal), `${internal} is internal`);
  // The reader agrees with what the module really exports.
  assert.deepEqual(exportedNames(readFileSync(src('index.ts'), 'utf8')).filter((n) => !n.startsWith('type ')), [...values].sort());
});

test('every entry point matches the API snapshot', () => {
  const now = snapshot();
  if (process.env.UPDATE_API_SNAPSHOT === '1') writeFileSync(SNAPSHOT, now);
  assert.equal(now, readFileSync(SNAPSHOT, 'utf8'), 'the public API changed: review, then UPDATE_API_SNAPSHOT=1 npx tsx --test test/core/api.test.ts');
});
