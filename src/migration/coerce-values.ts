/**
 * Value conversions for `coerceType`. A conversion may change how a value is written ("007"
 * becomes 7, 7 becomes 7.0) but never its value: 7.5 does not become the int 7, and a Long
 * beyond 2^53 does not become a rounded double — those are refused with a reason.
 * Numbers from and to dates are epoch milliseconds.
 */
import { withArticle } from '../core/field-path.js';
import { Decimal128, Double, Long, ObjectId } from 'bson';
import { typeOf, type BsonObject, type Value } from '../core/values.js';

export const COERCE_TYPES = [
  'string',
  'int',
  'long',
  'double',
  'decimal',
  'bool',
  'date',
  'objectId',
] as const;
export type CoerceType = (typeof COERCE_TYPES)[number];

/** The converted value, or a reason it cannot be converted. */
export type Converted =
  { readonly ok: true; readonly value: Value } | { readonly ok: false; readonly reason: string };

const INT32 = [-(2n ** 31n), 2n ** 31n - 1n] as const;
const INT64 = [-(2n ** 63n), 2n ** 63n - 1n] as const;
const MAX_DATE_MS = 8.64e15;
const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const ISO_DATE =
  /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const OBJECT_ID = /^[0-9a-fA-F]{24}$/;

const ok = (value: Value): Converted => ({ ok: true, value });
const no = (reason: string): Converted => ({ ok: false, reason });

/** Convert `v` (not null) to type `to`. A value already of type `to` is returned unchanged. */
export function convertValue(v: Value, to: CoerceType): Converted {
  if (typeOf(v) === to) return ok(v);
  const converted = CONVERT[to](v);
  return converted ?? no(`${withArticle(typeOf(v))} cannot be converted to ${to}`);
}

const CONVERT: Record<CoerceType, (v: Value) => Converted | undefined> = {
  string(v) {
    const n = numeric(v);
    if (n !== undefined) return ok(typeof n === 'number' ? numberText(n) : String(n));
    if (typeof v === 'boolean') return ok(String(v));
    if (v instanceof Date)
      return Number.isNaN(v.getTime()) ? no('an invalid date') : ok(v.toISOString());
    if (typeOf(v) === 'objectId') return ok((v as unknown as ObjectId).toHexString());
    return undefined;
  },
  int: (v) => toInteger(v, INT32, 'int', (b) => Number(b)),
  long: (v) => toInteger(v, INT64, 'long', (b) => Long.fromBigInt(b) as unknown as BsonObject),
  double(v) {
    if (typeof v === 'string') {
      if (!NUMBER.test(v) && !['NaN', 'Infinity', '-Infinity'].includes(v))
        return no('not a number');
      return ok(makeDouble(Number(v)));
    }
    if (typeof v === 'boolean') return ok(makeDouble(v ? 1 : 0));
    if (v instanceof Date) return dateMs(v, (ms) => ok(makeDouble(ms)));
    const n = numeric(v);
    if (n === undefined) return undefined;
    if (typeof n === 'number') return ok(makeDouble(n));
    if (typeof n === 'bigint') {
      return BigInt(Number(n)) === n
        ? ok(makeDouble(Number(n)))
        : no('not exactly representable as a double');
    }
    const d = Number(n);
    return Number.isNaN(d) && n !== 'NaN' ? no('not a number') : ok(makeDouble(d));
  },
  decimal(v) {
    let text: string | undefined;
    if (typeof v === 'string') text = v;
    else if (typeof v === 'boolean') text = v ? '1' : '0';
    else if (v instanceof Date) return dateMs(v, (ms) => convertValue(ms, 'decimal'));
    else {
      const n = numeric(v);
      if (n === undefined) return undefined;
      text = typeof n === 'number' ? numberText(n) : String(n);
    }
    try {
      return ok(Decimal128.fromString(text) as unknown as BsonObject);
    } catch {
      return no('not a decimal number, or more than 34 significant digits');
    }
  },
  bool(v) {
    if (typeof v === 'string') {
      const s = v.toLowerCase();
      return s === 'true'
        ? ok(true)
        : s === 'false'
          ? ok(false)
          : no("only 'true' and 'false' convert");
    }
    const n = integerOf(v);
    if (n === undefined) return numeric(v) === undefined ? undefined : no('only 0 and 1 convert');
    return n === 0n ? ok(false) : n === 1n ? ok(true) : no('only 0 and 1 convert');
  },
  date(v) {
    if (typeof v === 'string') {
      const m = ISO_DATE.exec(v);
      if (m === null) return no('not an ISO 8601 date');
      const zoned = v.includes('T') && m[1] === undefined ? `${v}Z` : v;
      const d = new Date(zoned);
      return Number.isNaN(d.getTime()) ? no('not a valid date') : ok(d);
    }
    if (numeric(v) === undefined) return undefined;
    const ms = integerOf(v);
    if (ms === undefined) return no('epoch milliseconds must be an integer');
    if (ms < -MAX_DATE_MS || ms > MAX_DATE_MS) return no('outside the range of dates');
    return ok(new Date(Number(ms)));
  },
  objectId(v) {
    if (typeof v !== 'string') return undefined;
    if (!OBJECT_ID.test(v)) return no('an ObjectId is 24 hexadecimal digits');
    return ok(new ObjectId(v.toLowerCase()) as unknown as BsonObject);
  },
};

function toInteger(
  v: Value,
  range: readonly [bigint, bigint],
  name: string,
  make: (b: bigint) => Value,
): Converted | undefined {
  let b: bigint | undefined;
  if (typeof v === 'string') {
    if (!INTEGER.test(v)) return no('not an integer');
    b = BigInt(v);
  } else if (typeof v === 'boolean') b = v ? 1n : 0n;
  else if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return no('an invalid date');
    b = BigInt(v.getTime());
  } else {
    if (numeric(v) === undefined) return undefined;
    b = integerOf(v);
    if (b === undefined) return no('not an integer');
  }
  return b < range[0] || b > range[1] ? no(`outside the range of ${name}`) : ok(make(b));
}

function dateMs(d: Date, then: (ms: number) => Converted): Converted {
  const ms = d.getTime();
  return Number.isNaN(ms) ? no('an invalid date') : then(ms);
}

/**
 * The number a numeric value holds: a JS number (int, double), a bigint (long), or the decimal's
 * text. Undefined for values that are not numbers.
 */
function numeric(v: Value): number | bigint | string | undefined {
  if (typeof v === 'number') return v;
  switch (typeOf(v)) {
    case 'double':
      return (v as unknown as Double).value;
    case 'long':
      return (v as unknown as Long).toBigInt();
    case 'decimal':
      return (v as unknown as Decimal128).toString();
    default:
      return undefined;
  }
}

/** The integer a numeric value holds exactly, or undefined (not numeric, or has a fraction). */
function integerOf(v: Value): bigint | undefined {
  const n = numeric(v);
  if (typeof n === 'bigint') return n;
  if (typeof n === 'number') return Number.isInteger(n) ? BigInt(n) : undefined;
  return n === undefined ? undefined : decimalInteger(n);
}

/** The integer value of a decimal's text ("1.50E+3" → 1500n), or undefined if it has a fraction. */
function decimalInteger(text: string): bigint | undefined {
  const m = /^([+-]?)(\d+)(?:\.(\d*))?(?:E([+-]?\d+))?$/i.exec(text);
  if (m === null) return undefined;
  const frac = m[3] ?? '';
  const digits = BigInt(m[2]! + frac);
  const exp = Number(m[4] ?? '0') - frac.length;
  const sign = m[1] === '-' ? -1n : 1n;
  if (digits === 0n) return 0n;
  if (exp >= 0) return exp > 40 ? 10n ** 40n * sign : sign * digits * 10n ** BigInt(exp);
  const scale = 10n ** BigInt(-exp);
  return digits % scale === 0n ? (sign * digits) / scale : undefined;
}

/** A double in the value model: integral values (and -0) as bson Double, others as numbers. */
function makeDouble(n: number): Value {
  return Number.isInteger(n) || Object.is(n, -0) ? (new Double(n) as unknown as BsonObject) : n;
}

function numberText(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}
