// docs/config.md is generated from the schema; this fails when the committed page is stale, and
// checks that every flag of `federa simulate --help` and `federa server --help` is in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configReference } from '../../src/config/reference.js';
import { describeFields } from '../../src/config/flags.js';
import { ServerConfigSchema, SimulationConfigSchema } from '../../src/config/schema.js';

test('docs/config.md is the generated reference (run `npm run docs:config` after a schema change)', () => {
  const committed = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  assert.equal(committed, configReference(), 'docs/config.md is stale: run `npm run docs:config`');
});

test('every key that has a flag is documented with it', () => {
  const text = configReference();
  for (const schema of [SimulationConfigSchema, ServerConfigSchema]) {
    for (const f of describeFields(schema)) {
      assert.ok(text.includes(`\`${f.path}\``), `${f.path} missing`);
      if (f.meta.flag) assert.ok(text.includes(`\`${f.meta.flag}\``), `${f.meta.flag} missing`);
    }
  }
});
