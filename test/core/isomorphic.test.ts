// The core entry point (`federa`), `federa/tfjs` and `federa/browser` must load in browsers: no file they reach
// (dynamic imports behind a runtime check, as in models/backend.ts, are allowed)
// through static imports may import a Node built-in, a Node-only package, or use require/process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../src/', import.meta.url));
const builtins = new Set(builtinModules);
const NODE_ONLY_PACKAGES = new Set(['pino', 'ws', 'better-sqlite3', 'prom-client', 'commander', 'cli-progress', 'smol-toml', 'mnist', '@tensorflow/tfjs-node']);

function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** Files reachable from `entry` through static `import`/`export … from` (type-only imports included: harmless but simple). */
function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const stack = [entry];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    const code = stripComments(readFileSync(file, 'utf8'));
    const specs = [...code.matchAll(/^\s*(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm), ...code.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    seen.set(file, specs);
    for (const spec of specs) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      assert.ok(existsSync(target), `${file} imports missing ${spec}`);
      stack.push(target);
    }
  }
  return seen;
}

for (const entry of ['index.ts', 'tfjs/index.ts', 'browser/index.ts']) {
  test(`everything reachable from src/${entry} is browser-safe`, () => {
    const files = reachable(join(root, entry));
    assert.ok(files.size > 5);
    for (const [file, specs] of files) {
      const rel = file.slice(root.length);
      assert.ok(!rel.startsWith('node/') && !rel.startsWith('cli/'), `${rel} is Node-only but reachable from ${entry}`);
      for (const spec of specs) {
        if (spec.startsWith('.')) continue;
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        assert.ok(!spec.startsWith('node:') && !builtins.has(pkg), `${rel} imports the Node module "${spec}"`);
        assert.ok(!NODE_ONLY_PACKAGES.has(pkg), `${rel} imports the Node-only package "${spec}"`);
      }
      const code = stripComments(readFileSync(file, 'utf8'));
      assert.doesNotMatch(code, /(?<![.\w])require\s*\(|(?<![.?\w])process\.(?:env|cwd|argv|exit)\b/, `${rel} uses require or process`);
    }
  });
}
