// Writes docs/config.md from the config schema (`npm run docs:config`); test/config/reference.test.ts fails when it is stale.
import { writeFileSync } from 'node:fs';
import { configReference } from '../src/config/reference.js';

writeFileSync(new URL('../docs/config.md', import.meta.url), configReference());
console.log('wrote docs/config.md');
