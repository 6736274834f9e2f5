/**
 * DynamoDB numbers (N): decimal text with up to 38 significant digits, magnitude 1e-130 to
 * 1e126, no NaN, no infinities, no -0. How they map to the value model (core/values.ts):
 *
 * - reading: the JS number when it prints back as the same decimal (`36` is an int32, `0.1` stays
 *   0.1, `1.50` reads 1.5); otherwise a `DynamoNumber`: a Decimal128 (so code, diffs and Extended
 *   JSON see a decimal) that also keeps the exact text. Decimal128 holds 34 digits, DynamoDB 38:
 *   for 35 to 38 digits the Decimal128 value is rounded to 34, the text is not;
 * - writing: a JS number DynamoDB can hold as N; a DynamoNumber as its exact text. A Decimal128
 *   that is not a DynamoNumber (from Extended JSON, or made by a transform) is not an N: it keeps
 *   precision and trailing zeros that N would lose, so it is written tagged (dynamodb-values.ts).
 *
 * A DynamoNumber is an object, so the operations' copies (migration/operation.ts `copyValue`)
 * pass it on as it is: a 38-digit number the migration does not touch is written back exactly.
 */
import { Decimal128 } from 'bson';
import type { Value } from '../../core/values.js';

/** A DynamoDB N that a double cannot hold exactly: a Decimal128 keeping the exact text. */
export class DynamoNumber extends Decimal128 {
  /** the number as DynamoDB stores it (plain decimal notation) */
  readonly text: string;

  constructor(text: string) {
    super(Decimal128.fromStringWithRounding(text.trim()).bytes);
    this.text = plainDecimal(text);
  }
}

const N_MIN = 1e-130;
const N_MAX = 1e126;

/** Can DynamoDB hold this JS number as an N (finite, not -0, within its magnitude)? */
export function nativeNumber(d: number): boolean {
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

/** Read an N: a JS number when exact, else a DynamoNumber (see the file comment). */
export function decodeN(n: string): Value {
  const d = Number(n);
  if (Number.isFinite(d) && normalizeDecimal(n) === normalizeDecimal(String(d))) {
    return Object.is(d, -0) ? 0 : d;
  }
  return new DynamoNumber(n) as unknown as Value;
}

/** An N's size in bytes as DynamoDB counts it: about one byte per two significant digits. */
export function numberSize(n: string): number {
  const d = parseDecimal(n);
  return d === null || d.digits === '' ? 1 : 2 + Math.ceil(d.digits.length / 2);
}
