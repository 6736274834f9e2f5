import { describe, expect, it } from 'vitest';
import { Decimal128, Double, Long, ObjectId } from 'bson';
import { InputError } from '../../src/core/errors.js';
import { canonicalString, type BsonObject, type Value } from '../../src/core/values.js';
import { coerceType, type CoerceType } from '../../src/migration/op-coerce-type.js';
import { applyChecked, refusal } from './helpers.js';

const b = (v: unknown): Value => v as BsonObject;
const coerce = (v: Value, to: CoerceType): Value => coerceType('v', to).apply({ v }).v!;
const canon = (v: Value): string => canonicalString(v);

describe('coerceType', () => {
  it.each<[Value, CoerceType, Value]>([
    ['42', 'int', 42],
    ['007', 'int', 7],
    [b(new Double(3)), 'int', 3],
    [b(Long.fromNumber(5)), 'int', 5],
    [b(Decimal128.fromString('1.50E+3')), 'int', 1500],
    [true, 'int', 1],
    [7, 'string', '7'],
    [1.5, 'string', '1.5'],
    [b(new Double(-0)), 'string', '-0'],
    [b(Long.fromString('9223372036854775807')), 'string', '9223372036854775807'],
    [new Date('2024-02-29T10:00:00.000Z'), 'string', '2024-02-29T10:00:00.000Z'],
    [b(new ObjectId('64b7f0c2a1b2c3d4e5f60718')), 'string', '64b7f0c2a1b2c3d4e5f60718'],
    ['9007199254740993', 'long', b(Long.fromString('9007199254740993'))],
    [7, 'double', b(new Double(7))],
    ['0.1', 'double', 0.1],
    ['7', 'decimal', b(Decimal128.fromString('7'))],
    [0.1, 'decimal', b(Decimal128.fromString('0.1'))],
    ['TRUE', 'bool', true],
    [0, 'bool', false],
    ['2024-02-29', 'date', new Date('2024-02-29T00:00:00.000Z')],
    ['2024-02-29T10:00', 'date', new Date('2024-02-29T10:00:00.000Z')],
    ['2024-02-29T10:00:00+02:00', 'date', new Date('2024-02-29T08:00:00.000Z')],
    [1709200800000, 'date', new Date(1709200800000)],
    [b(Long.fromNumber(1709200800000)), 'date', new Date(1709200800000)],
    [new Date(1709200800000), 'long', b(Long.fromNumber(1709200800000))],
    ['64B7F0C2A1B2C3D4E5F60718', 'objectId', b(new ObjectId('64b7f0c2a1b2c3d4e5f60718'))],
  ])('%o to %s', (value, to, expected) => {
    expect(canon(coerce(value, to))).toBe(canon(expected));
  });

  it('leaves null, absent fields and values already of the type alone', () => {
    const op = coerceType('v', 'int');
    expect(applyChecked(op, { v: null })).toEqual({ v: null });
    expect(applyChecked(op, {})).toEqual({});
    expect(applyChecked(op, { v: 3 })).toEqual({ v: 3 });
  });

  it('works per element with []', () => {
    expect(applyChecked(coerceType('scores[]', 'int'), { scores: ['1', 2, null] })).toEqual({
      scores: [1, 2, null],
    });
  });

  it.each<[Value, CoerceType, RegExp]>([
    ['abc', 'int', /cannot convert a string to int: not an integer/],
    [7.5, 'int', /cannot convert a double to int: not an integer/],
    ['3000000000', 'int', /outside the range of int/],
    [b(Long.fromString('9007199254740993')), 'double', /not exactly representable/],
    [2, 'bool', /only 0 and 1/],
    ['2024-13-01', 'date', /not a valid date/],
    ['yesterday', 'date', /not an ISO 8601 date/],
    ['xyz', 'objectId', /24 hexadecimal digits/],
    [[1], 'string', /an array cannot be converted to string/],
    [{ a: 1 }, 'int', /an object cannot be converted to int/],
    ['1e400', 'decimal', /./],
  ])('refuses %o to %s, naming the path and the type', (value, to, message) => {
    if (to === 'decimal') {
      // '1e400' is a valid decimal; check a clearly invalid one instead
      expect(refusal(coerceType('v', 'decimal'), { v: 'abc' }).message).toMatch(
        /not a decimal number/,
      );
      return;
    }
    const err = refusal(coerceType('age', to), { age: value });
    expect(err.where).toBe('age');
    expect(err.message).toMatch(message);
  });

  it('without from it is lossy', () => {
    const op = coerceType('v', 'int');
    expect(op.lossy).toMatch(/pass \{ from \}/);
    expect(op.inverse()).toBeUndefined();
  });

  it('with from it is exact, converting only that type and only when it converts back', () => {
    const op = coerceType('v', 'int', { from: 'string' });
    expect(op.lossy).toBe(false);
    expect(applyChecked(op, { v: '42' })).toEqual({ v: 42 });
    expect(refusal(op, { v: '007' }).message).toMatch(/would not convert back/);
    expect(refusal(op, { v: 7 }).message).toMatch(/expected a string, found an int/);
    expect(op.inverse()!.describe()).toBe("coerce 'v' to string from int");
    expect(op.args).toEqual(['v', 'int', { from: 'string' }]);
  });

  it('rejects bad arguments', () => {
    expect(() => coerceType('v', 'integer' as CoerceType)).toThrow(InputError);
    expect(() => coerceType('v', 'integer' as CoerceType)).toThrow(
      /'type' must be one of string, int/,
    );
    expect(() => coerceType('v', 'int', { from: 'int' })).toThrow(/both 'int'/);
    expect(() => coerceType('v', 'int', { from: 'float' as CoerceType })).toThrow(
      /'from' must be one of/,
    );
    expect(() => coerceType('', 'int')).toThrow(InputError);
  });
});
