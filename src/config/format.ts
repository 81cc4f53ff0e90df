/**
 * The one formatter of config errors: every problem on its own line, with the field's path, the
 * flag that set it when a flag did (`local.learningRate (--lr)`), what is allowed and what arrived.
 */
import { z } from 'zod';
import { FederaError } from '../core/errors.js';

export function describeIssue(issue: z.core.$ZodIssue): string {
  const i = issue as z.core.$ZodIssue & { values?: unknown[]; keys?: string[]; input?: unknown };
  const got = 'input' in i && i.input !== undefined ? `; got ${JSON.stringify(i.input)}` : '';
  switch (i.code) {
    case 'invalid_value':
      return `expected one of ${(i.values ?? []).map((v) => JSON.stringify(v)).join(' | ')}${got}`;
    case 'unrecognized_keys':
      return `unknown field(s) ${(i.keys ?? []).map((k) => `"${k}"`).join(', ')}`;
    default:
      return `${i.message}${got}`;
  }
}

/**
 * Parses `raw` with `schema`; throws `invalid_config` listing every problem. `flags` maps a dotted
 * config path to the flag the user typed for it, so the message names both.
 */
export function parseWith<T extends z.ZodType>(schema: T, raw: unknown, source: string, flags: ReadonlyMap<string, string> = new Map()): z.infer<T> {
  const result = schema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.join('.');
    const flag = flags.get(path);
    return `  ${path || '(root)'}${flag ? ` (${flag})` : ''}: ${describeIssue(issue)}`;
  });
  throw new FederaError('invalid_config', `${source} is invalid:\n${lines.join('\n')}`);
}
