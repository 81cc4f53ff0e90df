import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

// src/data/ runs in browsers too: no Node built-ins, no CommonJS require.
const dir = fileURLToPath(new URL('../../src/data/', import.meta.url));
const builtins = new Set(builtinModules);

test('src/data files import no Node built-ins and do not use require', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('csv.ts') && files.includes('partition.ts') && files.includes('mnist.ts'));
  for (const file of files) {
    const code = readFileSync(join(dir, file), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    for (const m of code.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1];
      const root = spec.split('/')[0];
      assert.ok(!spec.startsWith('node:') && !builtins.has(root), `${file} imports the Node module "${spec}"`);
    }
    assert.doesNotMatch(code, /\brequire\s*\(|\bcreateRequire\b|\bprocess\.(?:env|cwd|argv)/, `${file} uses require/process`);
  }
});
