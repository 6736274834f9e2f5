/**
 * `findUnstorable(doc)`: every place in a document that is not a value of the document model
 * (core/values.ts) and so could not be stored and read back as it is — a function or a Map that
 * would be dropped or stored as `{}`, a BigInt that makes the write throw, a circular object,
 * `undefined` in an array (stored as null), ... Each finding names the JSON Pointer path and why.
 *
 * Rules:
 * - Pure and total: it never throws, whatever it is given (a Proxy aside), and never changes
 *   its input. Recursion is bounded by MAX_NESTING_DEPTH: nothing deeper is walked.
 * - What it accepts round-trips: through the storage form and through canonical Extended JSON
 *   it reads back as the same value of the model (test/core/unstorable.test.ts proves it with
 *   generated values). `undefined` as an object's field is accepted and means "absent", as it
 *   does everywhere in the model (the field is not written).
 * - A shared (non-circular) object is fine: it is written once per place it appears.
 */
import { EJSON } from 'bson';
import { isBsonObject, MAX_NESTING_DEPTH } from './values.js';

export interface UnstorableValue {
  /** JSON Pointer (RFC 6901) to the value: `/items/0/price`; '' is the document itself */
  readonly path: string;
  readonly reason: string;
}

export interface FindUnstorableOptions {
  /** stop after this many findings (default 20) */
  limit?: number;
}

/** bson types the model keeps (others, or objects of another bson version, cannot be written) */
const BSON_TYPES = new Set([
  'ObjectId',
  'Decimal128',
  'Long',
  'Double',
  'Int32',
  'Binary',
  'Timestamp',
  'MinKey',
  'MaxKey',
  'BSONRegExp',
  'BSONSymbol',
  'Code',
  'DBRef',
]);

/**
 * Field names that Extended JSON reads as a type wrapper: an object with such a field would be
 * read back as an ObjectId, a Date, a DBRef, ... (or refused), not as the object it was.
 */
const EJSON_KEYS = new Set([
  '$oid',
  '$date',
  '$numberInt',
  '$numberLong',
  '$numberDouble',
  '$numberDecimal',
  '$binary',
  '$uuid',
  '$type',
  '$code',
  '$scope',
  '$symbol',
  '$timestamp',
  '$regularExpression',
  '$regex',
  '$options',
  '$dbPointer',
  '$ref',
  '$id',
  '$db',
  '$minKey',
  '$maxKey',
  '$undefined',
]);

const DEFAULT_LIMIT = 20;

export function findUnstorable(
  doc: unknown,
  options: FindUnstorableOptions = {},
): UnstorableValue[] {
  const out: UnstorableValue[] = [];
  const limit = options.limit ?? DEFAULT_LIMIT;
  if (!isDocumentObject(doc)) {
    out.push({ path: '', reason: `not a document: ${describe(doc)}` });
    return out;
  }
  walk(doc, '', 1, [], out, limit);
  return out;
}

function walk(
  v: object,
  path: string,
  depth: number,
  ancestors: { value: object; path: string }[],
  out: UnstorableValue[],
  limit: number,
): void {
  if (depth > MAX_NESTING_DEPTH) {
    out.push({ path, reason: `nested deeper than ${MAX_NESTING_DEPTH} levels` });
    return;
  }
  ancestors.push({ value: v, path });
  const child = (x: unknown, p: string): void => {
    if (out.length >= limit) return;
    const why = leafProblem(x);
    if (why !== undefined) {
      out.push({ path: p, reason: why });
      return;
    }
    if (!isContainer(x)) return;
    const cycle = ancestors.find((a) => a.value === x);
    if (cycle !== undefined) {
      out.push({ path: p, reason: `a circular reference (to ${cycle.path || '/'})` });
      return;
    }
    walk(x, p, depth + 1, ancestors, out, limit);
  };
  if (Array.isArray(v)) {
    const extra = Object.keys(v).length - v.length;
    for (let i = 0; i < v.length && out.length < limit; i++) {
      const p = `${path}/${i}`;
      if (!(i in v))
        out.push({ path: p, reason: 'a hole in an array (it would be stored as null)' });
      else if (v[i] === undefined)
        out.push({ path: p, reason: 'undefined in an array (it would be stored as null)' });
      else child(v[i], p);
    }
    if (extra > 0 && out.length < limit) {
      const named = Object.keys(v).find((k) => !/^(0|[1-9]\d*)$/.test(k));
      out.push({
        path,
        reason: `an array with a named property${named !== undefined ? ` '${named}'` : ''} (it would be dropped)`,
      });
    }
  } else {
    for (const k of Object.keys(v)) {
      if (out.length >= limit) break;
      const p = `${path}/${escapePointer(k)}`;
      if (k === '__proto__') {
        out.push({
          path: p,
          reason: "a field named '__proto__' (JavaScript reads it back as the object's prototype)",
        });
        continue;
      }
      if (EJSON_KEYS.has(k)) {
        out.push({
          path: p,
          reason: `a field named '${k}' (Extended JSON would read the object back as a type wrapper, not as itself)`,
        });
        continue;
      }
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) child(x, p);
    }
    if (Object.getOwnPropertySymbols(v).length > 0 && out.length < limit)
      out.push({ path, reason: 'a property keyed by a symbol (it would be dropped)' });
  }
  ancestors.pop();
}

/** Why a value cannot be stored as such, or undefined when it can (or is a container to walk). */
function leafProblem(x: unknown): string | undefined {
  switch (typeof x) {
    case 'string':
    case 'boolean':
    case 'number':
      return undefined;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function (it would be dropped)';
    case 'symbol':
      return 'a symbol (it would be dropped)';
    case 'bigint':
      return 'a BigInt (use Long.fromBigInt(n) from bson for a 64-bit integer, or a number)';
  }
  if (x === null || isContainer(x)) return undefined;
  if (x instanceof Date)
    return Number.isNaN(x.getTime()) ? 'an invalid Date (its time is NaN)' : undefined;
  if (isBsonObject(x)) {
    if (!BSON_TYPES.has(x._bsontype)) return `a bson ${x._bsontype}, which cannot be stored`;
    try {
      EJSON.serialize(x, { relaxed: false });
      return undefined;
    } catch (err) {
      return `a bson ${x._bsontype} that cannot be written: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return `${describe(x)} (${hint(x as object)})`;
}

function hint(x: object): string {
  if (x instanceof Map) return 'use a plain object';
  if (x instanceof Set) return 'use an array';
  if (x instanceof RegExp) return 'use BSONRegExp from bson';
  if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer) return 'use Binary from bson';
  if (x instanceof Number || x instanceof String || x instanceof Boolean)
    return 'use the primitive';
  return 'only plain objects, arrays, strings, numbers, booleans, null, Dates and bson values are stored';
}

/** A plain object or an array: walked field by field. */
function isContainer(x: unknown): x is object {
  if (x === null || typeof x !== 'object') return false;
  if (Array.isArray(x)) return true;
  return isDocumentObject(x);
}

function isDocumentObject(x: unknown): x is object {
  if (x === null || typeof x !== 'object' || Array.isArray(x) || isBsonObject(x)) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (Array.isArray(x)) return 'an array';
  if (typeof x !== 'object') return `a ${typeof x}`;
  const name = (x as { constructor?: { name?: unknown } }).constructor?.name;
  if (x instanceof Map) return 'a Map';
  if (x instanceof Set) return 'a Set';
  if (x instanceof RegExp) return 'a RegExp';
  return typeof name === 'string' && name !== '' && name !== 'Object'
    ? `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`
    : 'an object';
}

function escapePointer(k: string): string {
  return k.replace(/~/g, '~0').replace(/\//g, '~1');
}
