import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { wrapInArray } from '../../src/migration/op-wrap-in-array.js';
import { applyChecked } from './helpers.js';

describe('wrapInArray', () => {
  it('wraps any present value, null and arrays included', () => {
    const op = wrapInArray('a');
    expect(applyChecked(op, { a: 'x' })).toEqual({ a: ['x'] });
    expect(applyChecked(op, { a: null })).toEqual({ a: [null] });
    expect(applyChecked(op, { a: [1, 2] })).toEqual({ a: [[1, 2]] });
    expect(applyChecked(op, {})).toEqual({});
  });

  it('wraps per element with []', () => {
    expect(applyChecked(wrapInArray('m[]'), { m: [1, [2]] })).toEqual({ m: [[1], [[2]]] });
    expect(applyChecked(wrapInArray('i[].t'), { i: [{ t: 'a' }, {}] })).toEqual({
      i: [{ t: ['a'] }, {}],
    });
  });

  it('is exact; the inverse is unwrapArray', () => {
    expect(wrapInArray('a').lossy).toBe(false);
    expect(wrapInArray('a').inverse()!.name).toBe('unwrapArray');
  });

  it('rejects bad arguments', () => {
    expect(() => wrapInArray('a..b')).toThrow(InputError);
  });
});
