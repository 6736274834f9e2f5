import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { removeField } from '../../src/migration/op-remove-field.js';
import { applyChecked } from './helpers.js';

describe('removeField', () => {
  it('removes a field wherever it is, leaving emptied objects', () => {
    expect(applyChecked(removeField('legacyId'), { legacyId: 7, name: 'Ada' })).toEqual({
      name: 'Ada',
    });
    expect(applyChecked(removeField('a.b'), { a: { b: 1 } })).toEqual({ a: {} });
    expect(
      applyChecked(removeField('items[].tmp'), { items: [{ tmp: 1, k: 1 }, { k: 2 }] }),
    ).toEqual({
      items: [{ k: 1 }, { k: 2 }],
    });
    expect(applyChecked(removeField('nope'), { a: 1 })).toEqual({ a: 1 });
  });

  it('is lossy', () => {
    expect(removeField('a').lossy).toMatch(/not kept/);
    expect(removeField('a').inverse()).toBeUndefined();
  });

  it('rejects bad arguments', () => {
    expect(() => removeField('a[]')).toThrow(InputError);
  });
});
