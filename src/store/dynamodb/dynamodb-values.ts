/**
 * Documents <-> DynamoDB attribute values, losslessly, and as native as possible so that the
 * application's own code reads and writes the same items (see docs/stores/dynamodb.md):
 *
 *   null, boolean, string           NULL, BOOL, S
 *   int32 and other finite doubles  N, when DynamoDB can hold the number (0, or 1e-130 <= |x| <
 *                                   1e126) and it is not -0; written without an exponent
 *   a DynamoNumber                  N, its exact text (dynamodb-numbers.ts: an N read that a
 *                                   double cannot hold, up to DynamoDB's 38 digits)
 *   Binary of subtype 0             B
 *   a StringSet, NumberSet,         SS, NS, BS: what reading a set gives; written back as a set
 *   BinarySet                       while its members still make one (all of the set's type,
 *                                   distinct, at least one), else as a list
 *   array, object                   L, M
 *   everything else                 a tagged map: the canonical Extended JSON object, e.g.
 *                                   {"$oid": S}, {"$date": {"$numberLong": S}},
 *                                   {"$numberDouble": S "1.0"}, {"$numberLong": S},
 *                                   {"$numberDecimal": S}, {"$binary": {...}}
 *   an object with a `$` key        the same (its canonical Extended JSON object as a map), so a
 *                                   map with a `$` key always reads back through EJSON
 *
 * Sets are arrays (subclasses of Array) everywhere in Switchyard: diffs, hashes and Extended
 * JSON see lists. An array method (`map`, `filter`, `slice`) on a set gives a set of the same
 * kind, and the operations copy arrays with `map` (migration/operation.ts), so a set the
 * migration does not touch is written back as the same set.
 *
 * `itemRev` is the rev of an item: sha1 over a canonical form of its attributes (map keys
 * sorted, numbers normalized, set members sorted), so it is the same however DynamoDB orders or
 * formats what it returns, and it changes with any change of content.
 */
import { hash } from 'node:crypto';
import { Binary } from 'bson';
import {
  compareKeys,
  fromEJSONObject,
  isBsonObject,
  isPlainObject,
  toEJSONObject,
  type Doc,
  type Value,
} from '../../core/values.js';
import {
  decodeN,
  DynamoNumber,
  nativeNumber,
  normalizeDecimal,
  numberSize,
  plainDecimal,
} from './dynamodb-numbers.js';

export type AttrValue =
  | { readonly S: string }
  | { readonly N: string }
  | { readonly B: Uint8Array }
  | { readonly BOOL: boolean }
  | { readonly NULL: true }
  | { readonly L: AttrValue[] }
  | { readonly M: AttrMap }
  | { readonly SS: string[] }
  | { readonly NS: string[] }
  | { readonly BS: Uint8Array[] };
export type AttrMap = Record<string, AttrValue>;

type AnyAttr = {
  S?: string;
  N?: string;
  B?: Uint8Array;
  BOOL?: boolean;
  NULL?: boolean;
  L?: AttrValue[];
  M?: AttrMap;
  SS?: string[];
  NS?: string[];
  BS?: Uint8Array[];
};

/** The type tag of an attribute value: 'S', 'N', 'M', ... */
export function attrType(av: AttrValue): keyof AnyAttr {
  const a = av as AnyAttr;
  if (a.S !== undefined) return 'S';
  if (a.N !== undefined) return 'N';
  if (a.B !== undefined) return 'B';
  if (a.BOOL !== undefined) return 'BOOL';
  if (a.NULL !== undefined) return 'NULL';
  if (a.L !== undefined) return 'L';
  if (a.M !== undefined) return 'M';
  if (a.SS !== undefined) return 'SS';
  if (a.NS !== undefined) return 'NS';
  if (a.BS !== undefined) return 'BS';
  throw new TypeError(`unknown DynamoDB attribute value: ${JSON.stringify(av)}`);
}

function tagged(v: Value): AttrValue {
  return jsonToAttr(toEJSONObject(v));
}

/** A JSON value (as JSON.parse would give it) as an attribute value. */
function jsonToAttr(j: unknown): AttrValue {
  if (j === null || j === undefined) return { NULL: true };
  if (typeof j === 'boolean') return { BOOL: j };
  if (typeof j === 'string') return { S: j };
  if (typeof j === 'number') return { N: plainDecimal(String(j)) };
  if (Array.isArray(j)) return { L: j.map(jsonToAttr) };
  const M: AttrMap = {};
  for (const [k, x] of Object.entries(j as Record<string, unknown>)) M[k] = jsonToAttr(x);
  return { M };
}

/** An attribute value as plain JSON (numbers as JS numbers), for EJSON decoding. */
function attrToJson(av: AttrValue): unknown {
  const a = av as AnyAttr;
  switch (attrType(av)) {
    case 'S':
      return a.S;
    case 'N':
      return Number(a.N);
    case 'BOOL':
      return a.BOOL;
    case 'NULL':
      return null;
    case 'B':
      return {
        $binary: { base64: Buffer.from(a.B!).toString('base64'), subType: '00' },
      };
    case 'L':
      return a.L!.map(attrToJson);
    case 'M': {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(a.M!)) o[k] = attrToJson(x);
      return o;
    }
    case 'SS':
      return [...a.SS!];
    case 'NS':
      return a.NS!.map(Number);
    case 'BS':
      return a.BS!.map((b) => ({
        $binary: { base64: Buffer.from(b).toString('base64'), subType: '00' },
      }));
  }
}

/** A DynamoDB string set (SS) read as an array; see the file comment. */
export class StringSet extends Array<Value> {}
/** A DynamoDB number set (NS) read as an array of numbers (and DynamoNumbers). */
export class NumberSet extends Array<Value> {}
/** A DynamoDB binary set (BS) read as an array of Binary values. */
export class BinarySet extends Array<Value> {}

/** The set attribute for an array read from a set, when its members still make one. */
function setAttr(v: Value[]): AttrValue | undefined {
  if (v.length === 0) return undefined;
  if (v instanceof StringSet) {
    if (!v.every((x) => typeof x === 'string') || new Set(v).size !== v.length) return undefined;
    return { SS: [...(v as string[])] };
  }
  if (v instanceof NumberSet) {
    const ns: string[] = [];
    for (const x of v) {
      if (typeof x === 'number' && nativeNumber(x)) ns.push(plainDecimal(String(x)));
      else if (x instanceof DynamoNumber) ns.push(x.text);
      else return undefined;
    }
    return new Set(ns.map(normalizeDecimal)).size === ns.length ? { NS: ns } : undefined;
  }
  if (v instanceof BinarySet) {
    const bs: Uint8Array[] = [];
    for (const x of v) {
      if (!isBsonObject(x) || x._bsontype !== 'Binary' || (x as unknown as Binary).sub_type !== 0)
        return undefined;
      bs.push(new Uint8Array((x as unknown as Binary).value()));
    }
    const distinct = new Set(bs.map((b) => Buffer.from(b).toString('base64'))).size;
    return distinct === bs.length ? { BS: bs } : undefined;
  }
  return undefined;
}

export function toAttr(v: Value): AttrValue {
  if (v === null) return { NULL: true };
  if (typeof v === 'boolean') return { BOOL: v };
  if (typeof v === 'string') return { S: v };
  if (typeof v === 'number') {
    return nativeNumber(v) ? { N: plainDecimal(String(v)) } : tagged(v);
  }
  if (Array.isArray(v)) return setAttr(v) ?? { L: v.map(toAttr) };
  if (v instanceof Date) return tagged(v);
  if (v instanceof DynamoNumber) return { N: v.text };
  if (isBsonObject(v)) {
    if (v._bsontype === 'Binary' && (v as unknown as Binary).sub_type === 0) {
      return { B: new Uint8Array((v as unknown as Binary).value()) };
    }
    return tagged(v);
  }
  const keys = Object.keys(v);
  if (keys.some((k) => k.startsWith('$'))) return tagged(v);
  const M: AttrMap = {};
  for (const k of keys) {
    const x = (v as Doc)[k];
    if (x !== undefined) M[k] = toAttr(x);
  }
  return { M };
}

export function fromAttr(av: AttrValue): Value {
  const a = av as AnyAttr;
  switch (attrType(av)) {
    case 'S':
      return a.S!;
    case 'N':
      return decodeN(a.N!);
    case 'BOOL':
      return a.BOOL!;
    case 'NULL':
      return null;
    case 'B':
      return new Binary(Buffer.from(a.B!), 0) as unknown as Value;
    case 'L':
      return a.L!.map(fromAttr);
    case 'M': {
      const m = a.M!;
      if (Object.keys(m).some((k) => k.startsWith('$'))) {
        try {
          return fromEJSONObject(attrToJson(av));
        } catch {
          // not Extended JSON after all (a foreign map): read it as a plain map
        }
      }
      const doc: Doc = {};
      for (const [k, x] of Object.entries(m)) doc[k] = fromAttr(x);
      return doc;
    }
    case 'SS':
      return StringSet.from(a.SS!) as Value[];
    case 'NS':
      return NumberSet.from(a.NS!, decodeN) as Value[];
    case 'BS':
      return BinarySet.from(
        a.BS!,
        (b) => new Binary(Buffer.from(b), 0) as unknown as Value,
      ) as Value[];
  }
}

/** The attributes of a document (key attributes are the caller's business). */
export function docToAttrs(doc: Doc): AttrMap {
  const item: AttrMap = {};
  for (const [k, v] of Object.entries(doc)) if (v !== undefined) item[k] = toAttr(v);
  return item;
}

/** A document from attributes, leaving out the names in `skip`. */
export function attrsToDoc(item: AttrMap, skip?: ReadonlySet<string>): Doc {
  const doc: Doc = {};
  for (const [k, av] of Object.entries(item)) {
    if (skip?.has(k)) continue;
    doc[k] = fromAttr(av);
  }
  return doc;
}

/** A canonical text of an attribute value (see itemRev). */
export function canonicalAttr(av: AttrValue): string {
  const a = av as AnyAttr;
  switch (attrType(av)) {
    case 'S':
      return `S${JSON.stringify(a.S)}`;
    case 'N':
      return `N${normalizeDecimal(a.N!)}`;
    case 'B':
      return `B${Buffer.from(a.B!).toString('base64')}`;
    case 'BOOL':
      return a.BOOL ? 'T' : 'F';
    case 'NULL':
      return 'Z';
    case 'L':
      return `[${a.L!.map(canonicalAttr).join(',')}]`;
    case 'M':
      return canonicalMap(a.M!);
    case 'SS':
      return `SS${JSON.stringify([...a.SS!].sort(compareKeys))}`;
    case 'NS':
      return `NS${JSON.stringify(a.NS!.map(normalizeDecimal).sort(compareKeys))}`;
    case 'BS':
      return `BS${JSON.stringify(a.BS!.map((b) => Buffer.from(b).toString('base64')).sort())}`;
  }
}

export function canonicalMap(m: AttrMap): string {
  const keys = Object.keys(m).sort(compareKeys);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalAttr(m[k]!)}`).join(',')}}`;
}

/**
 * Do two attribute values hold the same content (numbers compared as numbers, set members in
 * any order)? Cheaper than comparing canonicalAttr texts for what usually differs at once.
 */
export function sameAttr(a: AttrValue, b: AttrValue): boolean {
  const x = a as AnyAttr;
  const y = b as AnyAttr;
  if (x.S !== undefined) return x.S === y.S;
  if (x.N !== undefined)
    return y.N !== undefined && (x.N === y.N || normalizeDecimal(x.N) === normalizeDecimal(y.N));
  if (x.BOOL !== undefined) return x.BOOL === y.BOOL;
  if (x.NULL !== undefined) return y.NULL !== undefined;
  if (x.M !== undefined) {
    if (y.M === undefined) return false;
    const keys = Object.keys(x.M);
    if (keys.length !== Object.keys(y.M).length) return false;
    for (const k of keys) {
      const w = y.M[k];
      if (w === undefined || !sameAttr(x.M[k]!, w)) return false;
    }
    return true;
  }
  if (x.L !== undefined) {
    if (y.L === undefined || x.L.length !== y.L.length) return false;
    for (let i = 0; i < x.L.length; i++) if (!sameAttr(x.L[i]!, y.L[i]!)) return false;
    return true;
  }
  if (x.B !== undefined) return y.B !== undefined && Buffer.from(x.B).equals(Buffer.from(y.B));
  return canonicalAttr(a) === canonicalAttr(b);
}

/** The rev of a stored item: sha1 hex of its canonical form. */
export function itemRev(item: AttrMap): string {
  return hash('sha1', canonicalMap(item), 'hex');
}

function utf8(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function valueSize(av: AttrValue): number {
  const a = av as AnyAttr;
  switch (attrType(av)) {
    case 'S':
      return utf8(a.S!);
    case 'N':
      return numberSize(a.N!);
    case 'B':
      return a.B!.length;
    case 'BOOL':
    case 'NULL':
      return 1;
    case 'L':
      return 3 + a.L!.reduce((s, x) => s + 1 + valueSize(x), 0);
    case 'M':
      return 3 + Object.entries(a.M!).reduce((s, [k, x]) => s + 1 + utf8(k) + valueSize(x), 0);
    case 'SS':
      return a.SS!.reduce((s, x) => s + utf8(x), 0);
    case 'NS':
      return a.NS!.reduce((s, x) => s + numberSize(x), 0);
    case 'BS':
      return a.BS!.reduce((s, x) => s + x.length, 0);
  }
}

/** DynamoDB's size of an item in bytes (names + values), as its 400 KB limit counts it. */
export function itemSize(item: AttrMap): number {
  return Object.entries(item).reduce((s, [k, av]) => s + utf8(k) + valueSize(av), 0);
}

/** Key attributes in a JSON-safe form (B as base64), for cursors. */
export function keyToJson(key: AttrMap): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [k, av] of Object.entries(key)) {
    const t = attrType(av);
    const a = av as AnyAttr;
    if (t === 'S') out[k] = { S: a.S! };
    else if (t === 'N') out[k] = { N: a.N! };
    else if (t === 'B') out[k] = { B: Buffer.from(a.B!).toString('base64') };
    else throw new TypeError(`key attribute ${k} has type ${t}`);
  }
  return out;
}

export function keyFromJson(j: unknown): AttrMap {
  if (!isPlainObject(j)) throw new TypeError('not a key');
  const out: AttrMap = {};
  for (const [k, v] of Object.entries(j)) {
    const x = v as { S?: unknown; N?: unknown; B?: unknown };
    if (typeof x?.S === 'string') out[k] = { S: x.S };
    else if (typeof x?.N === 'string') out[k] = { N: x.N };
    else if (typeof x?.B === 'string') out[k] = { B: new Uint8Array(Buffer.from(x.B, 'base64')) };
    else throw new TypeError(`key attribute ${k} is not S, N or B`);
  }
  return out;
}
