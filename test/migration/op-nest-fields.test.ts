import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { nestFields } from '../../src/migration/op-nest-fields.js';
import { applyChecked, refusal } from './helpers.js';

describe('nestFields', () => {
  const op = nestFields(['street', 'city'], 'address');

  it('moves sibling fields into a new object', () => {
    expect(applyChecked(op, { name: 'Ada', street: 'Main', city: 'Oslo' })).toEqual({
      name: 'Ada',
      address: { street: 'Main', city: 'Oslo' },
    });
    expect(applyChecked(op, { city: 'Oslo' })).toEqual({ address: { city: 'Oslo' } });
    expect(applyChecked(op, { name: 'Ada' })).toEqual({ name: 'Ada' });
  });

  it('works below the root and inside array elements', () => {
    expect(applyChecked(nestFields(['o.w', 'o.h'], 'o.size'), { o: { w: 1, h: 2 } })).toEqual({
      o: { size: { w: 1, h: 2 } },
    });
    expect(applyChecked(nestFields(['i[].w'], 'i[].box'), { i: [{ w: 1 }, {}] })).toEqual({
      i: [{ box: { w: 1 } }, {}],
    });
  });

  it('refuses a document where the target exists', () => {
    expect(refusal(op, { address: null }).where).toBe('address');
  });

  it('is exact; the inverse unnests the declared fields', () => {
    expect(op.lossy).toBe(false);
    expect(op.inverse()!.args).toEqual(['address', { fields: ['street', 'city'] }]);
  });

  it('rejects bad arguments', () => {
    expect(() => nestFields([], 'x')).toThrow(InputError);
    expect(() => nestFields(['a.b', 'c'], 'x')).toThrow(/must be a sibling of 'into'/);
    expect(() => nestFields(['a'], 'a')).toThrow(/the same path/);
  });
});
