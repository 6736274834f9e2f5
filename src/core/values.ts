/**
 * The document value model.
 *
 * Documents are MongoDB Extended JSON values held in memory as:
 *   - plain JSON: null, boolean, string, arrays, plain objects;
 *   - numbers: a JS `number` for Int32 values and for doubles with a fractional part (or NaN,
 *     Infinity); a bson `Double` for a double whose value is integral (1.0, -0.0), so that
 *     `{"$numberDouble": "1.0"}` stays a double and never turns into `{"$numberInt": "1"}`;
 *   - bson `Long` (Int64), `Decimal128`, `ObjectId`, `Binary`, `Timestamp`, ... as bson objects;
 *   - `Date` for dates.
 * That keeps user code simple (`doc.age + 1`, `doc.name.split(' ')`) while every value
 * round-trips losslessly through canonical Extended JSON.
 */
import { createHash, hash } from 'node:crypto';
import type { Int32 } from 'bson';
import { EJSON, Double } from 'bson';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type BsonObject = { readonly _bsontype: string } & Record<string, any>;
export type Value = null | boolean | number | string | Date | BsonObject | Value[] | Doc;
export interface Doc {
  [key: string]: Value;
}

/**
 * How deeply objects and arrays may nest in a document: a document with a field that holds an
 * object is 2 levels deep. The same limit as MongoDB's (100); deeper documents are refused at the
 * boundaries (import, `findUnstorable`) with this number, never half-processed.
 */
export const MAX_NESTING_DEPTH = 100;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function isBsonObject(v: unknown): v is BsonObject {
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as { _bsontype?: unknown })._bsontype === 'string'
  );
}

/** The bson type name of a value: 'string', 'int', 'double', 'long', 'decimal', 'objectId', ... */
export function typeOf(v: Value | undefined): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) && isInt32(v) ? 'int' : 'double';
  if (v instanceof Date) return 'date';
  if (Array.isArray(v)) return 'array';
  if (isBsonObject(v)) {
    switch (v._bsontype) {
      case 'Double':
        return 'double';
      case 'Int32':
        return 'int';
      case 'Long':
        return 'long';
      case 'Decimal128':
        return 'decimal';
      case 'ObjectId':
        return 'objectId';
      case 'Binary':
        return 'binData';
      default:
        return v._bsontype.charAt(0).toLowerCase() + v._bsontype.slice(1);
    }
  }
  return 'object';
}

function isInt32(n: number): boolean {
  return n >= -2147483648 && n <= 2147483647 && !Object.is(n, -0);
}

/**
 * Turn what `EJSON.parse(..., { relaxed: false })` returns into the in-memory model:
 * Int32 becomes a number, a Double with a fractional part becomes a number, an integral
 * Double stays a Double. Works in place on arrays and objects and returns the value.
 */
export function normalize(v: unknown): Value {
  if (v === null || typeof v !== 'object') return v as Value;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = normalize(v[i]);
    return v as Value[];
  }
  if (v instanceof Date) return v;
  if (isBsonObject(v)) {
    if (v._bsontype === 'Int32') return (v as unknown as Int32).value;
    if (v._bsontype === 'Double') {
      const n = (v as unknown as Double).value;
      return Number.isInteger(n) || Object.is(n, -0) ? (v as BsonObject) : n;
    }
    return v as BsonObject;
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = normalize(o[k]);
  return o as Doc;
}

/**
 * Prepare a value for canonical EJSON output: a JS number that is an integer outside the Int32
 * range is written as a double (it is one), never silently turned into something else.
 */
function encodeNumber(n: number): Value {
  return Number.isInteger(n) && !isInt32(n) ? (new Double(n) as unknown as BsonObject) : n;
}

/** Parse one Extended JSON text (canonical or relaxed, as mongoexport writes it). */
export function parseEJSON(text: string): Value {
  return normalize(EJSON.parse(text, { relaxed: false }));
}

/** Turn an already JSON-parsed object with EJSON wrappers (`{$oid}`, `{$date}`) into a value. */
export function fromEJSONObject(obj: unknown): Value {
  return normalize(
    EJSON.deserialize(obj as Parameters<typeof EJSON.deserialize>[0], { relaxed: false }),
  );
}

/** Canonical Extended JSON text of a value, keys in their stored order. */
export function toEJSON(v: Value): string {
  return EJSON.stringify(prepare(v, false), { relaxed: false });
}

/** The canonical EJSON object form (JSON-safe: `{ $numberInt: '1' }` ...), keys in stored order. */
export function toEJSONObject(v: Value): unknown {
  return EJSON.serialize(prepare(v, false), { relaxed: false });
}

/** Canonical form: canonical EJSON with object keys sorted at every level. */
export function canonicalString(v: Value): string {
  return EJSON.stringify(prepare(v, true), { relaxed: false });
}

/** Stable SHA-256 (hex) of a value's canonical form. */
export function hashValue(v: Value): string {
  return createHash('sha256').update(canonicalString(v)).digest('hex');
}

export function canonicalEquals(a: Value | undefined, b: Value | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalString(a) === canonicalString(b);
}

/** A deep copy of a value (bson objects and dates are copied too). */
export function cloneValue<T extends Value>(v: T): T {
  return parseEJSON(toEJSON(v)) as T;
}

function prepare(v: Value, sortKeys: boolean): Value {
  if (typeof v === 'number') return encodeNumber(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => prepare(x, sortKeys));
  if (v instanceof Date || isBsonObject(v)) return v;
  const keys = Object.keys(v);
  if (sortKeys) keys.sort(compareKeys);
  const out: Doc = {};
  for (const k of keys) {
    const x = (v as Doc)[k];
    if (x !== undefined) out[k] = prepare(x, sortKeys);
  }
  return out;
}

/** Code-point order, so the canonical form does not depend on UTF-16 surrogate ordering. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n;) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

/**
 * The storage form: JSON that is plain where plain JSON is exact, Extended JSON where it is not.
 * An int32 or a fractional double is a bare JSON number; an integral double, NaN, ±Infinity, -0,
 * Long, Decimal128, ObjectId, Date, Binary are canonical EJSON wrappers. So `json_extract(doc,
 * '$.age')` works in SQLite, the text is compact, and every value round-trips exactly.
 */
export function toStorageJSON(v: Value): string {
  // fast path: most documents hold only plain JSON values, which native JSON writes exactly
  return plainJSON(v) ? JSON.stringify(v) : JSON.stringify(encodeStorage(v));
}

/** True when JSON.stringify writes this value exactly (no wrapper needed anywhere inside). */
function plainJSON(v: Value): boolean {
  if (v === null) return true;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0) && (!Number.isInteger(v) || isInt32(v));
    case 'object': {
      if (Array.isArray(v)) {
        for (const x of v) if (!plainJSON(x)) return false;
        return true;
      }
      if (v instanceof Date || isBsonObject(v)) return false;
      for (const k in v) {
        if (k.charCodeAt(0) === 36 /* $ */) return false;
        const x = (v as Doc)[k];
        if (x === undefined || !plainJSON(x)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * A content hash for change detection (is this still the document we wrote?): SHA-1 of the
 * storage form with keys sorted at every level. Canonical for the value model (key order does not
 * matter, types do), and several times cheaper than `hashValue`, which goes through canonical
 * EJSON. Not for anything that needs collision resistance against an adversary.
 */
export function contentHash(v: Value): string {
  // the one-shot hash: about 3x cheaper than createHash for strings this size
  return hash('sha1', sortedStorageString(v), 'base64');
}

/** JSON-encoded object keys: the same few keys recur in every document of a collection. */
const keyJSON = new Map<string, string>();
function encodeKey(k: string): string {
  let e = keyJSON.get(k);
  if (e === undefined) {
    e = JSON.stringify(k);
    if (keyJSON.size < 10_000) keyJSON.set(k, e);
  }
  return e;
}

/** The storage form as text with object keys sorted (any fixed order does for a hash). */
function sortedStorageString(v: Value): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      // exact as a bare number (int32, or a finite fraction): JSON writes it as String() does
      return Number.isFinite(v) && !Object.is(v, -0) && (!Number.isInteger(v) || isInt32(v))
        ? String(v)
        : JSON.stringify(encodeStorage(v));
  }
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + sortedStorageString(v[i]!);
    return `${out}]`;
  }
  if (v instanceof Date || isBsonObject(v)) return JSON.stringify(encodeStorage(v));
  const keys = Object.keys(v).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const x = (v as Doc)[k];
    if (x === undefined) continue;
    out += `${first ? '' : ','}${encodeKey(k)}:${sortedStorageString(x)}`;
    first = false;
  }
  return `${out}}`;
}

export function fromStorageJSON(text: string): Value {
  return decodeStorage(JSON.parse(text));
}

function encodeStorage(v: Value): unknown {
  if (typeof v === 'number') {
    if (Number.isFinite(v) && !Object.is(v, -0) && (!Number.isInteger(v) || isInt32(v))) return v;
    return EJSON.serialize(new Double(v), { relaxed: false });
  }
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(encodeStorage);
  if (v instanceof Date || isBsonObject(v)) return EJSON.serialize(v, { relaxed: false });
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = (v as Doc)[k];
    if (x !== undefined) out[k] = encodeStorage(x);
  }
  return out;
}

function decodeStorage(v: unknown): Value {
  if (v === null || typeof v !== 'object') return v as Value;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = decodeStorage(v[i]);
    return v as Value[];
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    if (k.charCodeAt(0) === 36 /* $ */) {
      // an EJSON wrapper ({"$oid": ...}); EJSON leaves ordinary `$` keys alone
      return normalize(
        EJSON.deserialize(o as Parameters<typeof EJSON.deserialize>[0], { relaxed: false }),
      );
    }
    break;
  }
  for (const k in o) o[k] = decodeStorage(o[k]);
  return o as Doc;
}
