/**
 * Documents <-> DynamoDB attribute values, losslessly, and as native as possible so that the
 * application's own code reads and writes the same items (see docs/stores/dynamodb.md):
 *
 *   null, boolean, string           NULL, BOOL, S
 *   int32 and other finite doubles  N, when DynamoDB can hold the number (0, or 1e-130 <= |x| <
 *                                   1e126) and it is not -0; written without an exponent
 *   Binary of subtype 0             B
 *   array, object                   L, M
 *   everything else                 a tagged map: the canonical Extended JSON object, e.g.
 *                                   {"$oid": S}, {"$date": {"$numberLong": S}},
 *                                   {"$numberDouble": S "1.0"}, {"$numberLong": S},
 *                                   {"$numberDecimal": S}, {"$binary": {...}}
 *   an object with a `$` key        the same (its canonical Extended JSON object as a map), so a
 *                                   map with a `$` key always reads back through EJSON
 *
 * Reading N: the JS number when it prints back as the same decimal (so int32 stays int32, 0.1
 * stays 0.1, 3e20 stays a double); otherwise (more digits than a double holds) a Decimal128,
 * so a foreign N is never rounded silently. String, number and binary sets (SS/NS/BS), which
 * Switchyard never writes, read as arrays.
 *
 * `itemRev` is the rev of an item: sha1 over a canonical form of its attributes (map keys
 * sorted, numbers normalized, set members sorted), so it is the same however DynamoDB orders or
 * formats what it returns, and it changes with any change of content.
 */
import { hash } from 'node:crypto';
import { Binary, Decimal128 } from 'bson';
import {
  compareKeys,
  fromEJSONObject,
  isBsonObject,
  isPlainObject,
  toEJSONObject,
  type Doc,
  type Value,
} from '../../core/values.js';

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

const N_MIN = 1e-130;
const N_MAX = 1e126;

function nativeNumber(d: number): boolean {
  if (!Number.isFinite(d) || Object.is(d, -0)) return false;
  const a = Math.abs(d);
  return a === 0 || (a >= N_MIN && a < N_MAX);
}

interface Decimal {
  neg: boolean;
  /** significant digits, no leading or trailing zeros; '' for zero */
  digits: string;
  /** the value is 0.<digits> * 10^exp */
  exp: number;
}

function parseDecimal(s: string): Decimal | null {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(s);
  if (m === null || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const intPart = m[2]!;
  const frac = m[3] ?? '';
  let digits = intPart + frac;
  let exp = intPart.length + Number(m[4] ?? '0');
  const lead = digits.length - digits.replace(/^0+/, '').length;
  digits = digits.slice(lead);
  exp -= lead;
  digits = digits.replace(/0+$/, '');
  if (digits === '') return { neg: false, digits: '', exp: 0 };
  return { neg: m[1] === '-', digits, exp };
}

/** A canonical text for a decimal number ('-0.123e4' style), or the input when not a number. */
export function normalizeDecimal(s: string): string {
  const d = parseDecimal(s);
  if (d === null) return s;
  if (d.digits === '') return '0';
  return `${d.neg ? '-' : ''}0.${d.digits}e${d.exp}`;
}

/** A number in plain decimal notation (no exponent), as DynamoDB stores it. */
export function plainDecimal(s: string): string {
  const d = parseDecimal(s);
  if (d === null) throw new TypeError(`not a decimal number: ${s}`);
  if (d.digits === '') return '0';
  let out: string;
  if (d.exp <= 0) out = `0.${'0'.repeat(-d.exp)}${d.digits}`;
  else if (d.exp >= d.digits.length) out = d.digits + '0'.repeat(d.exp - d.digits.length);
  else out = `${d.digits.slice(0, d.exp)}.${d.digits.slice(d.exp)}`;
  return (d.neg ? '-' : '') + out;
}

/** Read an N: a JS number when exact, else Decimal128 (see the file comment). */
export function decodeN(n: string): Value {
  const d = Number(n);
  if (Number.isFinite(d) && normalizeDecimal(n) === normalizeDecimal(String(d))) {
    return Object.is(d, -0) ? 0 : d;
  }
  try {
    return Decimal128.fromString(n.trim()) as unknown as Value;
  } catch {
    return d;
  }
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

export function toAttr(v: Value): AttrValue {
  if (v === null) return { NULL: true };
  if (typeof v === 'boolean') return { BOOL: v };
  if (typeof v === 'string') return { S: v };
  if (typeof v === 'number') {
    return nativeNumber(v) ? { N: plainDecimal(String(v)) } : tagged(v);
  }
  if (Array.isArray(v)) return { L: v.map(toAttr) };
  if (v instanceof Date) return tagged(v);
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
      return [...a.SS!];
    case 'NS':
      return a.NS!.map(decodeN);
    case 'BS':
      return a.BS!.map((b) => new Binary(Buffer.from(b), 0) as unknown as Value);
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
    case 'N': {
      const d = parseDecimal(a.N!);
      return d === null || d.digits === '' ? 1 : 2 + Math.ceil(d.digits.length / 2);
    }
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
      return a.NS!.reduce((s, x) => s + valueSize({ N: x }), 0);
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
