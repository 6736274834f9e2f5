import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import type { Doc } from '../../src/core/values.js';
import { copyField } from '../../src/migration/op-copy-field.js';
import { applyChecked, refusal } from './helpers.js';

describe('copyField', () => {
  it('copies a value (deeply)', () => {
    const doc: Doc = { email: { v: 'a@b' } };
    const out = applyChecked(copyField('email', 'login'), doc);
    expect(out).toEqual({ email: { v: 'a@b' }, login: { v: 'a@b' } });
    expect(out.login).not.toBe(out.email);
  });

  it('copies to a nested path and inside array elements', () => {
    expect(applyChecked(copyField('a', 'x.y'), { a: 1 })).toEqual({ a: 1, x: { y: 1 } });
    expect(applyChecked(copyField('m[].a', 'm[].b'), { m: [{ a: 1 }, { c: 2 }] })).toEqual({
      m: [{ a: 1, b: 1 }, { c: 2 }],
    });
  });

  it('refuses a document where the target exists', () => {
    expect(refusal(copyField('a', 'b'), { b: 1 }).message).toMatch(/target field already exists/);
  });

  it('is exact; the inverse is removeCopy', () => {
    const op = copyField('a', 'b');
    expect(op.lossy).toBe(false);
    expect(op.inverse()!.name).toBe('removeCopy');
    expect(op.inverse()!.inverse()!.describe()).toBe(op.describe());
  });

  it('rejects bad arguments', () => {
    expect(() => copyField('a', '')).toThrow(InputError);
    expect(() => copyField('a', 'a')).toThrow(/the same path/);
  });
});
