/** fast-check generators for documents in the value model (core/values.ts). */
import fc from 'fast-check';
import { Binary, Decimal128, Double, Long, ObjectId } from 'bson';
import type { Doc, Value } from '../../src/core/values.js';

export const arbKeyName = fc.oneof(
  fc
    .string({ minLength: 1, maxLength: 8 })
    .filter((s) => !s.startsWith('$') && !s.includes('\u0000') && s !== '__proto__'),
  fc.constantFrom('a', 'b', 'name', 'ключ', '名前', '😀', 'a.b', 'x y'),
);

export const arbScalar: fc.Arbitrary<Value> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.string({ maxLength: 20 }),
  fc.integer({ min: -2147483648, max: 2147483647 }),
  fc.double({ noNaN: false }).filter((d) => !Number.isInteger(d) || !Number.isFinite(d)),
  fc.integer({ min: -1e6, max: 1e6 }).map((n) => new Double(n) as unknown as Value),
  fc
    .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
    .map((n) => Long.fromBigInt(n) as unknown as Value),
  fc
    .constantFrom('0', '1.5', '-12345678901234567890.123', '1E+10', 'NaN')
    .map((s) => Decimal128.fromString(s) as unknown as Value),
  fc
    .uint8Array({ minLength: 12, maxLength: 12 })
    .map((b) => new ObjectId(Buffer.from(b)) as unknown as Value),
  fc.date({ min: new Date(-8.64e15 + 1), max: new Date(8.64e15 - 1), noInvalidDate: true }),
  fc.uint8Array({ maxLength: 16 }).map((b) => new Binary(Buffer.from(b)) as unknown as Value),
);

export const arbValue: fc.Arbitrary<Value> = fc.letrec<{ value: Value; doc: Doc; arr: Value[] }>(
  (tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      arbScalar,
      tie('doc'),
      tie('arr'),
    ),
    doc: fc.dictionary(arbKeyName, tie('value'), { maxKeys: 5 }) as fc.Arbitrary<Doc>,
    arr: fc.array(tie('value'), { maxLength: 4 }),
  }),
).value;

export const arbDoc: fc.Arbitrary<Doc> = fc.dictionary(arbKeyName, arbValue, {
  maxKeys: 6,
}) as fc.Arbitrary<Doc>;
