/**
 * docs/config.md, generated from the schema: every key of the simulation and server configs with
 * its type, default, flag and meaning, by topic. `npm run docs:config` writes it; a test fails
 * when the committed file is stale.
 */
import type { z } from 'zod';
import { CONFIG_GROUPS } from './schema.js';
import { ServerConfigSchema, SimulationConfigSchema } from './schema.js';
import { describeFields, type FieldInfo } from './flags.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function value(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return `\`"${v}"\``;
  return `\`${JSON.stringify(v)}\``;
}

function table(fields: readonly FieldInfo[]): string[] {
  const lines: string[] = [];
  for (const group of CONFIG_GROUPS) {
    const rows = fields.filter((f) => f.meta.group === group);
    if (rows.length === 0) continue;
    lines.push(`### ${group[0].toUpperCase()}${group.slice(1)}`, '', '| key | type | default | flag | meaning |', '|---|---|---|---|---|');
    for (const f of rows) {
      const type = f.choices ? f.choices.map((c) => (typeof c === 'string' ? `"${c}"` : String(c))).join(' \\| ') : f.type.replace(/\|/g, ' \\| ');
      const flag = f.meta.flag ? `\`${f.meta.flag}\`` : '';
      lines.push(`| \`${f.path}\` | ${type} | ${f.required ? 'required' : value(f.default)} | ${flag} | ${cell(f.meta.help)} |`);
    }
    lines.push('');
  }
  return lines;
}

function section(title: string, intro: string, schema: z.ZodType): string[] {
  return [`## ${title}`, '', intro, '', ...table(describeFields(schema))];
}

/** The text of docs/config.md. */
export function configReference(): string {
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`; a test fails when this file is stale. -->',
    '',
    'A run is configured by a JSON or TOML file (`--config run.toml`), flags, or both (flags win).',
    'Dotted keys are tables: `local.epochs` is `epochs` in a `[local]` table. A bad value is refused',
    'before anything runs, naming the key, the flag when one set it, what is allowed and what arrived.',
    '',
    ...section('federa simulate', 'Everything `npx federa simulate` reads.', SimulationConfigSchema),
    ...section('federa server', 'The run settings a deployment shares with a simulation, plus the `[server]` table (`npx federa server --config run.toml`).', ServerConfigSchema),
  ].join('\n');
}
