import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { renameField } from '../../src/migration/op-rename-field.js';
import { applyChecked, refusal } from './helpers.js';

describe('renameField', () => {
  it('renames a top-level field, keeping the value', () => {
    expect(applyChecked(renameField('name', 'fullName'), { _id: 1, name: 'Ada' })).toEqual({
      _id: 1,
      fullName: 'Ada',
    });
  });

  it('moves between levels, creating and pruning objects', () => {
    expect(applyChecked(renameField('a', 'x.y'), { a: 1 })).toEqual({ x: { y: 1 } });
    expect(applyChecked(renameField('x.y', 'a'), { x: { y: 1 } })).toEqual({ a: 1 });
    expect(applyChecked(renameField('x.y', 'a'), { x: { y: 1, z: 2 } })).toEqual({
      x: { z: 2 },
      a: 1,
    });
  });

  it('renames inside every array element', () => {
    const op = renameField('emails[].addr', 'emails[].address');
    expect(applyChecked(op, { emails: [{ addr: 'a' }, 'x', {}, { addr: null }] })).toEqual({
      emails: [{ address: 'a' }, 'x', {}, { address: null }],
    });
  });

  it('leaves a document without the field alone', () => {
    expect(applyChecked(renameField('a', 'b'), { c: 1 })).toEqual({ c: 1 });
  });

  it('refuses a document where the target exists, even without the source', () => {
    expect(refusal(renameField('a', 'b'), { a: 1, b: 2 }).message).toBe(
      "rename 'a' to 'b': at 'b': the target field already exists",
    );
    expect(refusal(renameField('a', 'b'), { b: 2 }).where).toBe('b');
    expect(refusal(renameField('i[].a', 'i[].b'), { i: [{ a: 1 }, { b: 1 }] }).where).toBe(
      'i[1].b',
    );
  });

  it('refuses to go into an existing empty object or through a non-object', () => {
    expect(refusal(renameField('a', 'x.y'), { a: 1, x: {} }).message).toMatch(
      /existing empty object/,
    );
    expect(refusal(renameField('a', 'x.y'), { a: 1, x: 'str' }).message).toMatch(/inside a string/);
  });

  it('is exact; its inverse renames back', () => {
    const op = renameField('a', 'b');
    expect(op.lossy).toBe(false);
    expect(op.inverse()!.describe()).toBe("rename 'b' to 'a'");
    expect(op.args).toEqual(['a', 'b']);
    expect(op.touches).toEqual(['a', 'b']);
  });

  it('rejects bad arguments', () => {
    expect(() => renameField('', 'b')).toThrow(InputError);
    expect(() => renameField('a..b', 'b')).toThrow(
      /renameField: 'from': invalid field path 'a..b'/,
    );
    expect(() => renameField('a', 'a')).toThrow(/the same path as/);
    expect(() => renameField('a', 'a.b')).toThrow(/inside/);
    expect(() => renameField('a[].x', 'b[].x')).toThrow(/must share their array part/);
    expect(() => renameField('a[].x', 'y')).toThrow(/must share their array part/);
    expect(() => renameField('a[]', 'b')).toThrow(/must end with a field name/);
  });
});
