import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { unnestField } from '../../src/migration/op-unnest-field.js';
import { applyChecked, refusal } from './helpers.js';

describe('unnestField', () => {
  it('moves the fields of an object up beside it', () => {
    expect(
      applyChecked(unnestField('address'), {
        name: 'Ada',
        address: { street: 'Main', city: 'Oslo' },
      }),
    ).toEqual({
      name: 'Ada',
      street: 'Main',
      city: 'Oslo',
    });
    expect(applyChecked(unnestField('a.b'), { a: { b: { c: 1 } } })).toEqual({ a: { c: 1 } });
    expect(applyChecked(unnestField('i[].o'), { i: [{ o: { x: 1 } }, {}] })).toEqual({
      i: [{ x: 1 }, {}],
    });
  });

  it('refuses non-objects and clashes', () => {
    expect(refusal(unnestField('address'), { address: 'Main St' }).message).toMatch(
      /expected an object, found a string/,
    );
    expect(refusal(unnestField('address'), { address: { city: 'x' }, city: 'y' }).where).toBe(
      'city',
    );
  });

  it('is lossy without fields', () => {
    expect(unnestField('address').lossy).toMatch(/not recorded/);
    expect(unnestField('address').inverse()).toBeUndefined();
  });

  it('with fields it is exact and refuses what nestFields could not recreate', () => {
    const op = unnestField('address', { fields: ['street', 'city'] });
    expect(op.lossy).toBe(false);
    expect(applyChecked(op, { address: { city: 'Oslo' } })).toEqual({ city: 'Oslo' });
    expect(refusal(op, { address: { zip: 1 } }).message).toMatch(
      /'zip', which is not one of the declared fields/,
    );
    expect(refusal(op, { address: {} }).message).toMatch(/an empty object/);
    expect(refusal(op, { city: 'Oslo' }).message).toMatch(/absent while 'city' is present/);
    expect(refusal(op, { address: { city: 'Oslo' }, street: 'x' }).where).toBe('street');
    expect(op.inverse()!.describe()).toBe("nest ['street', 'city'] into 'address'");
  });

  it('rejects bad arguments', () => {
    expect(() => unnestField('')).toThrow(InputError);
    expect(() => unnestField('a', { fields: [] })).toThrow(/'fields' must be a non-empty array/);
    expect(() => unnestField('a', { fields: ['x.y'] })).toThrow(/'fields\[0\]'/);
    expect(() => unnestField('a', { fields: ['x', 'x'] })).toThrow(/distinct/);
  });
});
