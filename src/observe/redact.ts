/**
 * Secret redaction of structured values (log fields, alert bodies): every string inside, at any
 * depth, goes through `redactSecrets` (passwords in URLs, password/token query parameters).
 * Strings are redacted one by one, never the serialized JSON: a pattern that runs to the end of
 * a parameter value would otherwise swallow the closing quote and break the JSON.
 */
import { redactSecrets } from '../store/store-url.js';

export function redactDeep<T>(value: T): T {
  return walk(value, new WeakSet()) as T;
}

function walk(v: unknown, seen: WeakSet<object>): unknown {
  if (typeof v === 'string') return redactSecrets(v);
  if (v === null || typeof v !== 'object') return v;
  if (seen.has(v)) return '[circular]';
  seen.add(v);
  if (v instanceof Error) {
    const out: Record<string, unknown> = {
      name: v.name,
      message: redactSecrets(v.message),
      ...(v.stack !== undefined ? { stack: redactSecrets(v.stack) } : {}),
    };
    for (const [k, x] of Object.entries(v)) out[k] = walk(x, seen);
    return out;
  }
  if (Array.isArray(v)) return v.map((x) => walk(x, seen));
  // plain data only: anything with its own JSON form (Date, bson values) is kept as that form
  const json = (v as { toJSON?: () => unknown }).toJSON;
  if (typeof json === 'function') return walk(json.call(v), seen);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[redactSecrets(k)] = walk(x, seen);
  return out;
}
