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
  MAX_NESTING_DEPTH,
  parseEJSON,
  type Doc,
  type Value,
} from '../core/values.js';

const LEGACY_HINT = /"\$type"|"\$date"\s*:\s*-?\d/;

/** Parse one document; throws an Error whose message is the reason (no location). */
export function parseDocument(text: string): Doc {
  // Extended JSON wrappers ({"$date": {"$numberLong": ...}}) add up to 2 levels of text that
  // are one value in the document: deeper text is too deep for sure; close to it, count the value
  const textDepth = nestingDepth(text, MAX_NESTING_DEPTH + WRAPPER_LEVELS);
  if (textDepth > MAX_NESTING_DEPTH + WRAPPER_LEVELS) throw tooDeep();
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
  if (textDepth > MAX_NESTING_DEPTH && valueDepth(value) > MAX_NESTING_DEPTH) throw tooDeep();
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

const WRAPPER_LEVELS = 2;

function tooDeep(): Error {
  return new Error(
    `nested deeper than ${MAX_NESTING_DEPTH} levels of objects and arrays, the limit for a document (as in MongoDB)`,
  );
}

/**
 * How deep objects and arrays nest in a JSON text (brackets inside strings do not count), up to
 * `cap` + 1. Counted on the text, before parsing, which would overflow the stack long before it
 * said anything useful; a text too short to nest past `cap` is not scanned.
 */
function nestingDepth(text: string, cap: number): number {
  if (text.length <= 2 * cap) return 0;
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest && (deepest = depth) > cap) return deepest;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/** The nesting depth of a parsed value (a document is 1; bson values and dates are leaves). */
function valueDepth(v: unknown): number {
  const inner = Array.isArray(v) ? v : isPlainObject(v) ? Object.values(v) : undefined;
  if (inner === undefined) return 0;
  let max = 0;
  for (const x of inner) max = Math.max(max, valueDepth(x));
  return 1 + max;
}
