/**
 * Documents <-> stored MongoDB documents, and contract keys <-> `_id` values (pure functions, no
 * driver; see docs/stores/mongodb.md).
 *
 * Values are stored as native BSON with their exact types: the value model of core/values.ts
 * (a JS number is an Int32 when it is an int32 and a Double otherwise; integral doubles are bson
 * `Double`s; Long, Decimal128, ObjectId, Binary, Timestamp, ... are bson objects) is written with
 * explicit bson wrappers (`toBson`), and read with the driver's value promotion off
 * (`BSON_READ_OPTIONS`) and then `normalize`d, so Int32, Double and Long never turn into one
 * another.
 *
 * Layout. The contract key of a stored document is `keyOf(_id)` (core/keys.ts: ObjectId -> hex,
 * number -> digits, string -> itself, ...). A document is written:
 *   - as itself, when it has an `_id` whose key is the op's key (the normal case: data keyed by
 *     `_id`). This is the form applications write and read.
 *   - otherwise (no `_id`, or an `_id` that is not the key) with `_id` = the key as a string
 *     (or, for a conditional write, the `_id` of the document that was read), followed by
 *     `_sy_id`: an array holding the document's own `_id`, empty when it has none. Reads turn
 *     that back into the document as written (`_id` first).
 * A top-level field `_sy_id` is therefore reserved (writing one is refused).
 *
 * From a key back to `_id`: `idCandidates(key)` lists the `_id` values whose key it could be
 * (the string, an ObjectId for 24 lower-case hex digits, a number, a date, an Extended JSON
 * value); a read asks for all of them and keeps the documents whose `keyOf(_id)` is the key.
 * Two stored documents with one key (the string "1" and the number 1, an ObjectId and its hex
 * string) cannot be told apart by key: reads of that key refuse (see mongodb-adapter.ts).
 */
import { createHash } from 'node:crypto';
import {
  BSON,
  Decimal128,
  Double,
  EJSON,
  Int32,
  ObjectId,
  type Document as BsonDocument,
} from 'bson';
import { StoreError } from '../../core/errors.js';
import { keyOf } from '../../core/keys.js';
import { isBsonObject, isPlainObject, normalize, type Doc, type Value } from '../../core/values.js';
import type { Key } from '../contract.js';

/**
 * How stored documents are decoded, by the driver (change streams, aggregations) and by
 * `fromBsonBytes` (raw find results): no promotion of Int32/Double/Long to JS numbers, no
 * promotion of Binary to Buffer, regular expressions as BSONRegExp (flags kept exactly).
 */
export const BSON_READ_OPTIONS = {
  promoteValues: false,
  promoteLongs: false,
  promoteBuffers: false,
  bsonRegExp: true,
} as const;

/** The reserved field that marks the "keyed" layout (see the file comment). */
export const OWN_ID_FIELD = '_sy_id';
/** MongoDB's document size limit. */
export const MAX_BSON_BYTES = 16 * 1024 * 1024;

/** A document as the driver takes and gives it (bson-typed values). */
export type BsonDoc = BsonDocument;

function isInt32(n: number): boolean {
  return Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 && !Object.is(n, -0);
}

function setField(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true });
  else o[k] = v;
}

/**
 * A model value as BSON-ready data: JS numbers become explicit Int32 (int32 values) or Double
 * (everything else), so the stored type never depends on the serializer's guess.
 */
export function toBson(v: Value): unknown {
  if (typeof v === 'number') return isInt32(v) ? new Int32(v) : new Double(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toBson);
  if (v instanceof Date || isBsonObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = (v as Doc)[k];
    if (x !== undefined) setField(out, k, toBson(x));
  }
  return out;
}

/** The key of an `_id` value (model form). `_id: null` has the key 'null'. */
export function keyOfId(id: Value | undefined): Key {
  if (id === undefined) throw new StoreError('a stored document has no _id');
  return keyOf(id) ?? 'null';
}

/** A copy of a bson-typed `_id` in the model form (normalize works in place). */
function modelId(id: unknown): Value {
  return normalize(EJSON.parse(EJSON.stringify(id, { relaxed: false }), { relaxed: false }));
}

/** The key of a bson-typed `_id` (as read with BSON_READ_OPTIONS). */
export function keyOfBsonId(id: unknown): Key {
  return keyOfId(modelId(id));
}

/**
 * The document to store for a put: its own form when its `_id` has the op's key, the keyed
 * layout otherwise. `address` is the `_id` to store it under in the keyed layout (default: the
 * key as a string). Returns the stored document (`_id` first, as MongoDB keeps it) and its `_id`.
 */
export function storedForm(
  key: Key,
  doc: Doc,
  address?: unknown,
): { readonly stored: BsonDoc; readonly id: unknown } {
  if (Object.prototype.hasOwnProperty.call(doc, OWN_ID_FIELD)) {
    throw new StoreError(
      `document '${key}' has a top-level field '${OWN_ID_FIELD}', which the MongoDB adapter reserves`,
    );
  }
  const own = doc._id;
  const native =
    own !== undefined &&
    own !== null &&
    !Array.isArray(own) &&
    keyOf(own) === key &&
    (address === undefined || sameBson(toBson(own), address));
  const stored: BsonDoc = {};
  if (native) {
    stored._id = toBson(own);
  } else {
    stored._id = address ?? key;
    stored[OWN_ID_FIELD] = own === undefined ? [] : [toBson(own)];
  }
  for (const k of Object.keys(doc)) {
    const x = doc[k];
    if (k !== '_id' && x !== undefined) setField(stored, k, toBson(x));
  }
  return { stored, id: stored._id };
}

function sameBson(a: unknown, b: unknown): boolean {
  return EJSON.stringify(a, { relaxed: false }) === EJSON.stringify(b, { relaxed: false });
}

/** A stored document (bson-typed, as read with BSON_READ_OPTIONS) as a key and a model document. */
export function fromBsonDoc(obj: BsonDoc): { readonly key: Key; readonly doc: Doc } {
  const model = normalize(obj) as Doc;
  const key = keyOfId(model._id);
  const own = model[OWN_ID_FIELD];
  if (!Array.isArray(own) || own.length > 1) return { key, doc: model };
  const doc: Doc = {};
  if (own.length === 1) doc._id = own[0]!;
  for (const k of Object.keys(model)) {
    if (k !== '_id' && k !== OWN_ID_FIELD) setField(doc, k, model[k]);
  }
  return { key, doc };
}

/** The rev of a stored document: sha1 (hex) of its BSON bytes, as the server holds them. */
export function bytesRev(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}

export function serialize(doc: BsonDoc): Uint8Array {
  return BSON.serialize(doc);
}

export function deserialize(bytes: Uint8Array): BsonDoc {
  return BSON.deserialize(bytes, BSON_READ_OPTIONS);
}

/** A raw stored document: its bson form, key, model document and rev. */
export function fromBsonBytes(bytes: Uint8Array): {
  readonly key: Key;
  readonly doc: Doc;
  readonly rev: string;
  readonly id: unknown;
} {
  const rev = bytesRev(bytes);
  const obj = deserialize(bytes);
  const id = obj._id;
  const { key, doc } = fromBsonDoc(obj);
  return { key, doc, rev, id };
}

const HEX24 = /^[0-9a-f]{24}$/;
const NUMBER = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const ISO_DATE = /^[+-]?\d{4,6}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * The `_id` values (bson-typed) whose key could be `key`, for an `$in` query. Each matches at
 * most one document per BSON type class (the `_id` index compares numbers by value), and the
 * caller keeps only documents whose `keyOf(_id)` is `key`.
 */
export function idCandidates(key: Key): unknown[] {
  const out: unknown[] = [key];
  if (HEX24.test(key)) out.push(new ObjectId(key));
  if (NUMBER.test(key) || key === 'NaN' || key === 'Infinity' || key === '-Infinity') {
    const n = Number(key);
    if (String(n) === key) out.push(new Double(n));
    try {
      out.push(Decimal128.fromString(key));
    } catch {
      // not representable as a Decimal128: no stored number has it as its key
    }
  }
  if (ISO_DATE.test(key)) {
    const d = new Date(key);
    if (!Number.isNaN(d.getTime()) && d.toISOString() === key) out.push(d);
  }
  if (/^[{[]|^(true|false|null)$/.test(key)) {
    try {
      const v: unknown = EJSON.parse(key, { relaxed: false });
      // no arrays (never an _id), no regular expressions or `$` operators (not literals in $in)
      const literal =
        !Array.isArray(v) &&
        (v as { _bsontype?: string } | null)?._bsontype !== 'BSONRegExp' &&
        !(isPlainObject(v) && Object.keys(v).some((k) => k.startsWith('$')));
      if (literal) out.push(v);
    } catch {
      // not Extended JSON
    }
  }
  return out;
}

/** Canonical Extended JSON of a bson value (cursors and range bounds are kept in this form). */
export function bsonToText(v: unknown): string {
  return EJSON.stringify(v, { relaxed: false });
}

/** The bson value of a `bsonToText` text; `what` names it in the error. */
export function bsonFromText(text: string, what: string): unknown {
  try {
    return EJSON.parse(text, { relaxed: false });
  } catch {
    throw new StoreError(`not a MongoDB ${what}: ${text.slice(0, 80)}`);
  }
}

/** Is the value (bson-typed, as read) a plain sub-document rather than a bson object? */
export function isBsonSubdoc(v: unknown): v is Record<string, unknown> {
  return isPlainObject(v);
}
