/**
 * The query filters of the MongoDB adapter (pure functions; see docs/stores/mongodb.md).
 *
 * `_id` intervals. Scans, ranges and counts walk `_id` in MongoDB's sort order, which runs
 * across BSON types (MinKey < null < numbers < strings < objects < ... < ObjectId < booleans <
 * dates < ... < MaxKey). Query comparisons (`$gt`, `$lt`) only match values of the bound's own
 * type class ("type bracketing"), so an interval that spans classes is written as an `$or`: the
 * part of the first class above the lower bound, whole classes in between (`$type`), and the
 * part of the last class below the upper bound. Every clause can use the `_id` index.
 *
 * Conditional writes. "The stored document is still exactly the one that was read" is
 * `_id` equality (index) plus `$expr`: `$$ROOT` equals the document as read (`$literal`, so
 * `$`-prefixed field names are taken as data) — an order-sensitive comparison of the whole
 * document, which also sees added fields — and, because `$eq` compares numbers by value (1 ==
 * 1.0 == NumberLong(1)), a `$type` check for every number in it, so a change of type alone is
 * seen as well.
 */
import type { Range } from '../contract.js';
import { bsonFromText, bsonToText, isBsonSubdoc, type BsonDoc } from './mongodb-values.js';

/** BSON type classes in MongoDB's comparison order, each with its `$type` aliases. */
export const TYPE_CLASSES: readonly (readonly string[])[] = [
  ['minKey'],
  ['undefined'],
  ['null'],
  ['int', 'long', 'double', 'decimal'],
  ['string', 'symbol'],
  ['object'],
  ['array'],
  ['binData'],
  ['objectId'],
  ['bool'],
  ['date'],
  ['timestamp'],
  ['regex'],
  ['dbPointer'],
  ['javascript'],
  ['javascriptWithScope'],
  ['maxKey'],
];

/** classes with a single value, which `$gt`/`$lt` cannot bound (MinKey, MaxKey are unbracketed) */
const SINGLETON = new Set(['minKey', 'undefined', 'null', 'maxKey']);

/** The `$type` alias of a bson-typed value (as read with BSON_READ_OPTIONS or parsed EJSON). */
export function bsonTypeName(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) && Math.abs(v) <= 2147483647 && !Object.is(v, -0)
        ? 'int'
        : 'double';
    case 'bigint':
      return 'long';
  }
  if (v instanceof Date) return 'date';
  if (Array.isArray(v)) return 'array';
  const t = (v as { _bsontype?: string })._bsontype;
  switch (t) {
    case undefined:
      return 'object';
    case 'Int32':
      return 'int';
    case 'Double':
      return 'double';
    case 'Long':
      return 'long';
    case 'Decimal128':
      return 'decimal';
    case 'ObjectId':
      return 'objectId';
    case 'Binary':
      return 'binData';
    case 'Timestamp':
      return 'timestamp';
    case 'BSONRegExp':
      return 'regex';
    case 'BSONSymbol':
      return 'symbol';
    case 'Code':
      return (v as { scope?: unknown }).scope != null ? 'javascriptWithScope' : 'javascript';
    case 'MinKey':
      return 'minKey';
    case 'MaxKey':
      return 'maxKey';
    case 'DBRef':
      return 'object';
    case 'DBPointer':
      return 'dbPointer';
    default:
      return 'object';
  }
}

export function typeClassOf(v: unknown): number {
  const name = bsonTypeName(v);
  const i = TYPE_CLASSES.findIndex((c) => c.includes(name));
  return i < 0 ? TYPE_CLASSES.findIndex((c) => c.includes('object')) : i;
}

export interface IdBound {
  readonly value: unknown;
  readonly inclusive: boolean;
}

/** A filter that matches nothing. */
const NOTHING: BsonDoc = { _id: { $in: [] } };

/** The filter for `_id` in the interval (lo, hi) of MongoDB's sort order; either end open. */
export function idIntervalFilter(lo?: IdBound, hi?: IdBound): BsonDoc {
  if (lo === undefined && hi === undefined) return {};
  const last = TYPE_CLASSES.length - 1;
  const loClass = lo === undefined ? 0 : typeClassOf(lo.value);
  const hiClass = hi === undefined ? last : typeClassOf(hi.value);
  if (loClass > hiClass) return NOTHING;
  const clauses: BsonDoc[] = [];
  const typeClause = (from: number, to: number) => {
    if (from > to) return;
    clauses.push({ _id: { $type: TYPE_CLASSES.slice(from, to + 1).flat() } });
  };
  if (lo !== undefined && hi !== undefined && loClass === hiClass) {
    const name = TYPE_CLASSES[loClass]![0]!;
    if (SINGLETON.has(name)) {
      // one value: in the interval only when both ends include it
      if (lo.inclusive && hi.inclusive) typeClause(loClass, loClass);
    } else {
      clauses.push({
        _id: {
          [lo.inclusive ? '$gte' : '$gt']: lo.value,
          [hi.inclusive ? '$lte' : '$lt']: hi.value,
        },
      });
    }
  } else {
    let from = 0;
    let to = last;
    if (lo !== undefined) {
      const name = TYPE_CLASSES[loClass]![0]!;
      if (SINGLETON.has(name)) {
        if (lo.inclusive) typeClause(loClass, loClass);
      } else {
        clauses.push({ _id: { [lo.inclusive ? '$gte' : '$gt']: lo.value } });
      }
      from = loClass + 1;
    }
    if (hi !== undefined) to = hiClass - 1;
    typeClause(from, to);
    if (hi !== undefined) {
      const name = TYPE_CLASSES[hiClass]![0]!;
      if (SINGLETON.has(name)) {
        if (hi.inclusive) typeClause(hiClass, hiClass);
      } else {
        clauses.push({ _id: { [hi.inclusive ? '$lte' : '$lt']: hi.value } });
      }
    }
  }
  if (clauses.length === 0) return NOTHING;
  return clauses.length === 1 ? clauses[0]! : { $or: clauses };
}

/**
 * A part of a collection for a parallel scan: the `_id`s from `gte` (inclusive) up to `lt`
 * (exclusive) in MongoDB's sort order, each as canonical Extended JSON text; an absent end is
 * open. JSON-serializable, so it can be saved in a checkpoint.
 */
export interface IdRange extends Range {
  readonly gte?: string;
  readonly lt?: string;
}

/** Ranges from sorted, distinct boundary `_id`s (bson-typed): n boundaries give n + 1 ranges. */
export function rangesFromIds(boundaries: readonly unknown[]): IdRange[] {
  const texts = boundaries.map(bsonToText);
  const total = texts.length + 1;
  return Array.from({ length: total }, (_, i): IdRange => {
    const gte = i === 0 ? undefined : texts[i - 1];
    const lt = i === texts.length ? undefined : texts[i];
    return {
      id: `${i + 1}/${total}`,
      ...(gte !== undefined ? { gte } : {}),
      ...(lt !== undefined ? { lt } : {}),
    };
  });
}

export function asIdRange(range: Range | undefined): IdRange {
  if (range === undefined) return { id: 'all' };
  const { gte, lt } = range as IdRange;
  if (
    (gte !== undefined && typeof gte !== 'string') ||
    (lt !== undefined && typeof lt !== 'string')
  )
    throw new TypeError(`range ${range.id} is not a MongoDB _id range`);
  return range as IdRange;
}

/**
 * The filter of a scan page: `_id` in the range and after the cursor (the last `_id` returned,
 * as canonical Extended JSON).
 */
export function scanFilter(range: IdRange, cursor: string | null | undefined): BsonDoc {
  const lo: IdBound | undefined =
    cursor != null
      ? { value: bsonFromText(cursor, 'scan cursor'), inclusive: false }
      : range.gte !== undefined
        ? { value: bsonFromText(range.gte, 'range bound'), inclusive: true }
        : undefined;
  const hi: IdBound | undefined =
    range.lt !== undefined
      ? { value: bsonFromText(range.lt, 'range bound'), inclusive: false }
      : undefined;
  return idIntervalFilter(lo, hi);
}

/** The filter counting a range. */
export function rangeFilter(range: IdRange): BsonDoc {
  return scanFilter(range, null);
}

function isNumber(v: unknown): boolean {
  const t = (v as { _bsontype?: string } | null)?._bsontype;
  return (
    typeof v === 'number' ||
    typeof v === 'bigint' ||
    t === 'Int32' ||
    t === 'Double' ||
    t === 'Long' ||
    t === 'Decimal128'
  );
}

function hasNumber(v: unknown): boolean {
  if (isNumber(v)) return true;
  if (Array.isArray(v)) return v.some(hasNumber);
  if (isBsonSubdoc(v)) return Object.values(v).some(hasNumber);
  return false;
}

const SIMPLE_FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface PathExpr {
  /** `$a.b.c` while every step so far is a simple field name, else null */
  readonly path: string | null;
  readonly expr: unknown;
}

function fieldExpr(parent: PathExpr, name: string): PathExpr {
  if (parent.path !== null && SIMPLE_FIELD.test(name)) {
    const path = parent.path === '$$ROOT' ? `$${name}` : `${parent.path}.${name}`;
    return { path, expr: path };
  }
  return { path: null, expr: { $getField: { field: { $literal: name }, input: parent.expr } } };
}

/** `$type` checks for every number under `v` (at `at`), into `out`. */
function typeChecks(at: PathExpr, v: unknown, out: unknown[]): void {
  if (isNumber(v)) {
    out.push({ $eq: [{ $type: at.expr }, bsonTypeName(v)] });
  } else if (Array.isArray(v)) {
    if (!v.some(hasNumber)) return;
    // the element types of the whole array in one comparison; then inside nested containers
    if (v.some(isNumber)) {
      out.push({
        $eq: [{ $map: { input: at.expr, as: 't', in: { $type: '$$t' } } }, v.map(bsonTypeName)],
      });
    }
    v.forEach((x, i) => {
      if (!isNumber(x) && hasNumber(x))
        typeChecks({ path: null, expr: { $arrayElemAt: [at.expr, i] } }, x, out);
    });
  } else if (isBsonSubdoc(v)) {
    for (const [k, x] of Object.entries(v)) if (hasNumber(x)) typeChecks(fieldExpr(at, k), x, out);
  }
}

/**
 * The filter "the stored document is exactly `read`" (bson-typed, as read with
 * BSON_READ_OPTIONS, fields in stored order): see the file comment.
 */
export function sameDocumentFilter(read: BsonDoc): BsonDoc {
  const checks: unknown[] = [{ $eq: ['$$ROOT', { $literal: read }] }];
  typeChecks({ path: '$$ROOT', expr: '$$ROOT' }, read, checks);
  return { _id: read._id, $expr: checks.length === 1 ? checks[0] : { $and: checks } };
}
