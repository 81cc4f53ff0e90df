/**
 * Caps on the strings a client may make the server store, log and serve. A reply's error `code`
 * and `message`, its metric names and the number of its metrics end up in the round record, the
 * database, the log and the open `/api/history`; unbounded, one client's 20 MiB error message or
 * 50,000 metric names bloat all of them. A value over its cap is cut and marked
 * (`…[truncated: N characters]`), metrics past the count cap are dropped, and the caller counts the
 * violation against the client.
 */
import type { MessageBase } from '../core/messages.js';

export const WIRE_LIMITS = {
  /** Longest error `code` of an error reply (characters). */
  errorCode: 64,
  /** Longest error `message` of an error reply, and of any other string a client sends. */
  errorMessage: 1024,
  /** Longest metric name. */
  metricName: 64,
  /** Most metrics in one reply (the rest are dropped). */
  metricsPerReply: 32,
} as const;

/** What was cut: `field` is one of `code`, `message`, `metric_name`, `metrics` (entries dropped), `string`. */
export interface Truncation {
  readonly field: 'code' | 'message' | 'metric_name' | 'metrics' | 'string';
  /** Characters removed (for `metrics`: entries dropped). */
  readonly removed: number;
}

const MARKER = /…\[truncated: \d+ characters\]$/;

/** The marker appended to a cut string. */
export function truncationMarker(removed: number): string {
  return `…[truncated: ${removed} characters]`;
}

/** `s` cut to `max` characters plus the marker, or `s` itself when it fits (never splits a surrogate pair). */
export function truncateString(s: string, max: number): { value: string; removed: number } {
  if (s.length <= max) return { value: s, removed: 0 };
  // Idempotent: a string already cut to `max` (and marked) passes as it is.
  const marked = MARKER.exec(s);
  if (marked && marked.index <= max && s.length <= max + 40) return { value: s, removed: 0 };
  let keep = max;
  const last = s.charCodeAt(keep - 1);
  if (keep > 0 && last >= 0xd800 && last <= 0xdbff) keep--;
  const removed = s.length - keep;
  return { value: s.slice(0, keep) + truncationMarker(removed), removed };
}

/**
 * A client's reply with every string within its cap: error code and message, metric names and
 * count, and any other string in the body. Returns the message unchanged (same object) when
 * nothing was over a cap.
 */
export function limitReplyStrings(message: MessageBase): { message: MessageBase; truncations: Truncation[] } {
  const truncations: Truncation[] = [];
  const cut = (s: string, max: number, field: Truncation['field']): string => {
    const t = truncateString(s, max);
    if (t.removed) truncations.push({ field, removed: t.removed });
    return t.value;
  };
  const limitValue = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return cut(v, WIRE_LIMITS.errorMessage, 'string');
    if (depth > 16 || v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return v;
    if (Array.isArray(v)) {
      let changed = false;
      const out = v.map((x) => {
        const y = limitValue(x, depth + 1);
        if (y !== x) changed = true;
        return y;
      });
      return changed ? out : v;
    }
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const y = limitValue(x, depth + 1);
      if (y !== x) changed = true;
      out[k] = y;
    }
    return changed ? out : v;
  };

  const source = message as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(source)) {
    if (k === 'type' || k === 'runId' || k === 'round') out[k] = v; // header fields: bounded by the frame decoder
    else if (message.type === 'error' && k === 'code' && typeof v === 'string') out[k] = cut(v, WIRE_LIMITS.errorCode, 'code');
    else if (message.type === 'error' && k === 'message' && typeof v === 'string') out[k] = cut(v, WIRE_LIMITS.errorMessage, 'message');
    else if (k === 'metrics' && typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v)) out[k] = limitMetrics(v as Record<string, unknown>, truncations);
    else out[k] = limitValue(v, 1);
  }
  return truncations.length ? { message: out as unknown as MessageBase, truncations } : { message, truncations };
}

function limitMetrics(metrics: Record<string, unknown>, truncations: Truncation[]): Record<string, unknown> {
  const entries = Object.entries(metrics);
  const out: Record<string, unknown> = {};
  let kept = 0;
  for (const [k, v] of entries) {
    if (kept === WIRE_LIMITS.metricsPerReply) break;
    const t = truncateString(k, WIRE_LIMITS.metricName);
    if (t.removed) truncations.push({ field: 'metric_name', removed: t.removed });
    if (Object.hasOwn(out, t.value)) continue; // two long names cut to the same prefix: the first wins
    out[t.value] = v;
    kept++;
  }
  const removed = entries.length - kept;
  if (removed > 0) truncations.push({ field: 'metrics', removed });
  return out;
}

/** One line describing what was cut, for logs and client events. */
export function describeTruncations(truncations: readonly Truncation[]): string {
  const by = new Map<string, { count: number; removed: number }>();
  for (const t of truncations) {
    const e = by.get(t.field) ?? { count: 0, removed: 0 };
    e.count++;
    e.removed += t.removed;
    by.set(t.field, e);
  }
  const limits: Record<Truncation['field'], string> = {
    code: `error code over ${WIRE_LIMITS.errorCode} characters`,
    message: `error message over ${WIRE_LIMITS.errorMessage} characters`,
    metric_name: `metric name(s) over ${WIRE_LIMITS.metricName} characters`,
    metrics: `metrics over ${WIRE_LIMITS.metricsPerReply} per reply`,
    string: `string(s) over ${WIRE_LIMITS.errorMessage} characters`,
  };
  return [...by].map(([field, e]) => (field === 'metrics' ? `${e.removed} ${limits.metrics} dropped` : `${e.count} ${limits[field as Truncation['field']]} (${e.removed} characters cut)`)).join('; ');
}
