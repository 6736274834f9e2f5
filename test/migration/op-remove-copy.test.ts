import { describe, expect, it } from 'vitest';
import { Long } from 'bson';
import { removeCopy } from '../../src/migration/op-remove-copy.js';
import { applyChecked, refusal } from './helpers.js';

describe('removeCopy', () => {
  it('removes a field equal to its original, pruning emptied objects', () => {
    expect(applyChecked(removeCopy('email', 'login'), { email: 'a', login: 'a' })).toEqual({
      email: 'a',
    });
    expect(applyChecked(removeCopy('a', 'x.y'), { a: 1, x: { y: 1 } })).toEqual({ a: 1 });
  });

  it('leaves a document with neither field alone', () => {
    expect(applyChecked(removeCopy('a', 'b'), { c: 1 })).toEqual({ c: 1 });
  });

  it('compares canonically (types matter)', () => {
    const op = removeCopy('a', 'b');
    expect(refusal(op, { a: 1, b: Long.fromNumber(1) }).message).toMatch(/differs from 'a'/);
  });

  it('refuses a lone copy or a lone original', () => {
    expect(refusal(removeCopy('a', 'b'), { b: 1 }).message).toMatch(/'a' is absent/);
    expect(refusal(removeCopy('a', 'b'), { a: 1 }).message).toMatch(/the copy is absent/);
  });

  it('is exact; the inverse is copyField', () => {
    expect(removeCopy('a', 'b').inverse()!.describe()).toBe("copy 'a' to 'b'");
  });
});
