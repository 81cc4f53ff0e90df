/**
 * Command-line flags derived from the config schema: every field whose `.meta()` names a flag
 * becomes one commander option, in its topic's help group, with its default and allowed values
 * read from the schema. `applyFlags` copies the values given into the raw config (flags last, over
 * the config file), and returns which config path each flag set, so errors name the flag typed.
 */
import { z } from 'zod';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CONFIG_GROUPS, type ConfigGroup, type FieldMeta } from './schema.js';
import { parseDataSpec } from './data-spec.js';

/** One documented config field. */
export interface FieldInfo {
  /** Dotted path in the config (`local.learningRate`). */
  path: string;
  meta: FieldMeta;
  /** JSON-schema type of the value (`integer`, `number`, `string`, `boolean`, `object`, `array`), or `|`-joined. */
  type: string;
  /** The default, when the schema has one. */
  default?: unknown;
  /** Allowed values, for an enum or literal union. */
  choices?: readonly unknown[];
  required: boolean;
}

interface JsonNode {
  type?: string | string[];
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonNode[];
  oneOf?: JsonNode[];
  properties?: Record<string, JsonNode>;
  required?: string[];
  [key: string]: unknown;
}

function typeOf(n: JsonNode): string {
  if (n.type) return Array.isArray(n.type) ? n.type.join('|') : n.type;
  const alts = n.anyOf ?? n.oneOf;
  if (alts) return [...new Set(alts.map(typeOf))].join('|');
  if (n.const !== undefined) return typeof n.const;
  return 'any';
}

function choicesOf(n: JsonNode): unknown[] | undefined {
  if (n.enum) return n.enum;
  const disc = typeof n.discriminator === 'string' ? n.discriminator : undefined;
  if (disc) return tablesOf(n).map((a) => a.properties?.[disc]?.const).filter((v) => v !== undefined);
  const alts = n.anyOf ?? n.oneOf;
  if (alts && alts.every((a) => a.const !== undefined || a.enum)) return alts.flatMap((a) => a.enum ?? [a.const]);
  return undefined;
}

/** The object alternatives of a union, through nested unions (a shorthand string or a union of tables). */
function tablesOf(node: JsonNode): JsonNode[] {
  const alts = node.anyOf ?? node.oneOf ?? [];
  return alts.flatMap((a) => (a.properties ? [a] : a.anyOf || a.oneOf ? tablesOf(a) : []));
}

/** Every documented field of `schema`, depth first, in declaration order. */
export function describeFields(schema: z.ZodType): FieldInfo[] {
  const json = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as JsonNode;
  const out: FieldInfo[] = [];
  const walk = (node: JsonNode, prefix: string, required: boolean) => {
    const objects = node.properties ? [node] : tablesOf(node);
    for (const obj of objects) {
      for (const [key, child] of Object.entries(obj.properties ?? {})) {
        const path = prefix ? `${prefix}.${key}` : key;
        const isReq = required && (obj.required ?? []).includes(key) && child.default === undefined;
        if (typeof child.help === 'string' && !out.some((f) => f.path === path)) {
          out.push({ path, meta: child as unknown as FieldMeta, type: typeOf(child), default: child.default, choices: choicesOf(child), required: isReq });
        }
        walk(child, path, isReq);
      }
    }
  };
  walk(json, '', true);
  return out;
}

/** `--clients-per-round` → `clientsPerRound` (commander's attribute name). */
export function attributeOf(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parserFor(f: FieldInfo): ((v: string) => unknown) | undefined {
  const flag = f.meta.flag!;
  const types = f.type.split('|');
  const number = (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} expects a number, got "${v}"`);
    return n;
  };
  if (f.path === 'seed') return (v) => (/^-?\d+$/.test(v) ? Number(v) : v);
  if (f.meta.shorthand) return undefined;
  // A union with a string (the codec pipelines' shorthand) takes the string as written.
  if (types.includes('array') && !types.includes('string')) return (v) => v.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (types.includes('boolean') && types.includes('string')) {
    return (v) => (v === 'true' ? true : v === 'false' ? false : v);
  }
  if ((types.includes('number') || types.includes('integer')) && types.includes('string')) {
    // A number or one of a few words (`--norm-bound median`).
    return (v) => (f.choices?.includes(v) || !/^[-+.\d]/.test(v) ? v : number(v));
  }
  if (types.includes('number') || types.includes('integer')) return number;
  return undefined;
}

/** The text `--help` shows for a field: its help, allowed values and default. */
export function helpText(f: FieldInfo): string {
  const parts = [f.meta.help];
  const d = f.default;
  const shown = d !== undefined && !(Array.isArray(d) && d.length === 0) && !(typeof d === 'object' && d !== null && !Array.isArray(d));
  if (shown) parts.push(`(default: ${typeof d === 'string' ? d : JSON.stringify(d)})`);
  return parts.join(' ');
}

const GROUP_TITLES: Record<ConfigGroup, string> = Object.fromEntries(CONFIG_GROUPS.map((g) => [g, `${g[0].toUpperCase()}${g.slice(1)}:`])) as Record<ConfigGroup, string>;

/** A help-group heading of a topic. */
export function groupHeading(group: ConfigGroup): string {
  return GROUP_TITLES[group];
}

/**
 * Adds the flags of `command` (`simulate` or `server`) found in `schema` to `cmd`. A field whose
 * value is an object (the `--dp-adaptive` switch) becomes a boolean switch that turns it on.
 */
export function addSchemaFlags(cmd: Command, schema: z.ZodType, command: 'simulate' | 'server'): FieldInfo[] {
  const fields = describeFields(schema).filter((f) => f.meta.flag && (f.meta.commands ?? ['simulate']).includes(command));
  const seen = new Set<string>();
  const added: FieldInfo[] = [];
  for (const f of fields) {
    const flag = f.meta.flag!;
    if (seen.has(flag)) continue;
    seen.add(flag);
    const isSwitch = !f.meta.discriminator && !f.meta.shorthand && (f.type === 'object' || f.type === 'boolean');
    const choices = !f.meta.shorthand && f.choices && f.choices.every((c) => typeof c === 'string') && (f.meta.discriminator || (!f.type.includes('number') && !f.type.includes('boolean'))) ? (f.choices as string[]) : undefined;
    const spec = isSwitch ? flag : `${flag} ${f.meta.value ?? `<${choices ? attributeOf(flag).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) : 'value'}>`}`;
    const option = new Option(spec, helpText(f)).helpGroup(groupHeading(f.meta.group));
    if (choices) option.choices(choices);
    const parse = isSwitch ? undefined : parserFor(f);
    if (parse) option.argParser(parse);
    cmd.addOption(option);
    added.push(f);
  }
  return added;
}

/** The table a shorthand flag's string stands for (only `--data` has one). */
function parseShorthand(f: FieldInfo, value: string): Record<string, unknown> {
  if (f.path !== 'dataset') throw new Error(`no shorthand parser for ${f.path}`);
  return parseDataSpec(value);
}

/** Sets `value` at a dotted path inside `target`, creating objects on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}

function getPath(target: Record<string, unknown>, path: string): unknown {
  let node: unknown = target;
  for (const key of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/**
 * Copies the flag values in `opts` (commander's parsed options) into `raw`, for the fields of
 * `fields`; returns config path → flag for the ones given. A switch for an object field sets it to
 * `{}` unless the config file already set it.
 */
export function applyFlags(raw: Record<string, unknown>, opts: Record<string, unknown>, fields: readonly FieldInfo[]): Map<string, string> {
  const given = new Map<string, string>();
  const valueOf = (f: FieldInfo) => opts[attributeOf(f.meta.flag!)];
  // Discriminators first (a flag's, else one a member flag implies): a different kind starts its table afresh.
  for (const f of fields) {
    const key = f.meta.discriminator;
    if (!key) continue;
    const implied = fields.find((g) => valueOf(g) !== undefined && g.meta.implies?.[`${f.path}.${key}`] !== undefined)?.meta.implies?.[`${f.path}.${key}`];
    const existing = getPath(raw, f.path);
    // A shorthand string in the config file (`dataset = "clinic.csv"`) is its table.
    const current = ((typeof existing === 'string' && f.meta.shorthand ? parseShorthand(f, existing) : existing) as Record<string, unknown> | undefined) ?? {};
    const typed = valueOf(f);
    // `--data synthetic:1,1` names the kind and its settings; they go over a table of the same kind.
    const table = typed !== undefined && f.meta.shorthand ? parseShorthand(f, String(typed)) : undefined;
    const kind = table ? table[key] : (typed ?? current[key] ?? implied);
    if (kind === undefined) continue;
    setPath(raw, f.path, { ...(current[key] === kind ? current : {}), ...(table ?? { [key]: kind }) });
    if (valueOf(f) !== undefined) given.set(`${f.path}.${key}`, f.meta.flag!);
  }
  for (const f of fields) {
    if (f.meta.discriminator) continue;
    const v = valueOf(f);
    if (v === undefined) continue;
    if (f.type === 'object') {
      if (v === true && getPath(raw, f.path) === undefined) setPath(raw, f.path, {});
    } else setPath(raw, f.path, v);
    given.set(f.path, f.meta.flag!);
  }
  return given;
}
