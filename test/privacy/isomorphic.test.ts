// src/privacy runs in browsers too: no Node built-ins, no process, randomness from globalThis.crypto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../../src/privacy/', import.meta.url));

function files(d: string): string[] {
  return readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? files(join(d, n)) : n.endsWith('.ts') ? [join(d, n)] : []));
}

test('no file under src/privacy imports a Node module or touches process', () => {
  const all = files(dir);
  assert.ok(all.length >= 8);
  for (const f of all) {
    const code = readFileSync(f, 'utf8');
    const specs = [...code.matchAll(/\bfrom\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
    for (const s of specs) assert.ok(s.startsWith('.'), `${f} imports "${s}" (only relative imports of the isomorphic core are allowed)`);
    assert.doesNotMatch(code, /\bprocess\.|require\(|node:/, f);
  }
  assert.match(readFileSync(join(dir, 'noise.ts'), 'utf8'), /globalThis as .*crypto/);
});
