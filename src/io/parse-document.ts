/**
 * One record's text to a document: canonical or relaxed Extended JSON (as mongoexport writes it),
 * which must be an object (not an array, a scalar, or a bare wrapper such as `{"$oid": ...}`).
 *
 * Two legacy (Extended JSON v1) shapes that older mongoexport versions write are accepted too:
 * `{"$binary": "<base64>", "$type": "<hex>"}` and `{"$date": <milliseconds>}`. They are rewritten
 * to their v2 form before decoding; texts without them take the fast path.
 */
import {
  fromEJSONObject,
  isPlainObject,
  parseEJSON,
  type Doc,
  type Value,
} from '../core/values.js';

const LEGACY_HINT = /"\$type"|"\$date"\s*:\s*-?\d/;

/** Parse one document; throws an Error whose message is the reason (no location). */
export function parseDocument(text: string): Doc {
  let value: Value;
  try {
    value = LEGACY_HINT.test(text)
      ? fromEJSONObject(upgradeLegacy(JSON.parse(text)))
      : parseEJSON(text);
  } catch (err) {
    throw new Error(`malformed Extended JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isPlainObject(value)) {
    throw new Error(`not a document: expected an object, got ${describe(value)}`);
  }
  return value as Doc;
}

/** Rewrite v1 `$binary`/`$type` and numeric `$date` wrappers to v2, in place. */
function upgradeLegacy(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = upgradeLegacy(v[i]);
    return v;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 2 && typeof o['$binary'] === 'string' && typeof o['$type'] === 'string') {
    return { $binary: { base64: o['$binary'], subType: o['$type'].padStart(2, '0') } };
  }
  if (keys.length === 1 && typeof o['$date'] === 'number') {
    return { $date: { $numberLong: String(Math.trunc(o['$date'])) } };
  }
  for (const k of keys) o[k] = upgradeLegacy(o[k]);
  return o;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a bare $date';
  if (typeof value === 'object') {
    const t = (value as { _bsontype?: unknown })._bsontype;
    return typeof t === 'string' ? `a bare ${t}` : 'an object';
  }
  return `a ${typeof value}`;
}
