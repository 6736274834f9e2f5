/**
 * The policy options real migrations needed (#16 item 6): rename / copy onto an existing target,
 * remove only null or empty values, wrap unless already an array; and the value types exported
 * from the package itself.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { toEJSON, type Doc } from '../../src/core/values.js';
import * as pkg from '../../src/index.js';
import { copyField, removeField, renameField, wrapInArray } from '../../src/migration/index.js';
import { applyChecked, refusal } from './helpers.js';

describe('renameField onConflict', () => {
  const both: Doc = { nick: 'A', name: 'Ada' };
  it("'fail' (the default) refuses and is exact", () => {
    expect(refusal(renameField('nick', 'name'), both).detail).toMatch(/already exists/);
    expect(refusal(renameField('nick', 'name', { onConflict: 'fail' }), both).where).toBe('name');
    expect(renameField('nick', 'name', { onConflict: 'fail' }).lossy).toBe(false);
  });
  it("'keep' keeps the target and drops the source; lossy, naming the journal", () => {
    const op = renameField('nick', 'name', { onConflict: 'keep' });
    expect(applyChecked(op, both)).toEqual({ name: 'Ada' });
    expect(applyChecked(op, { nick: 'A' })).toEqual({ name: 'A' });
    expect(applyChecked(op, { name: 'Ada' })).toEqual({ name: 'Ada' });
    expect(op.lossy).toMatch(/source's value is dropped.*undo journal/);
    expect(op.inverse()).toBeUndefined();
    expect(op.describe()).toBe("rename 'nick' to 'name', keeping an existing target");
  });
  it("'overwrite' replaces the target, also inside array elements", () => {
    const op = renameField('e[].a', 'e[].b', { onConflict: 'overwrite' });
    expect(applyChecked(op, { e: [{ a: 1, b: 2 }, { a: 3 }, { b: 4 }] })).toEqual({
      e: [{ b: 1 }, { b: 3 }, { b: 4 }],
    });
    expect(op.lossy).toMatch(/overwritten and not kept/);
    expect(op.describe()).toBe("rename 'e[].a' to 'e[].b', overwriting an existing target");
  });
  it('rejects an unknown policy, naming the option', () => {
    expect(() => renameField('a', 'b', { onConflict: 'merge' as 'keep' })).toThrow(
      /'onConflict' must be one of fail, keep, overwrite/,
    );
  });
});

describe('copyField onConflict', () => {
  it("'keep' leaves the target, 'overwrite' replaces it with a deep copy", () => {
    const doc: Doc = { a: { x: [1] }, b: 'old' };
    expect(applyChecked(copyField('a', 'b', { onConflict: 'keep' }), doc)).toEqual(doc);
    const out = applyChecked(copyField('a', 'b', { onConflict: 'overwrite' }), doc);
    expect(out).toEqual({ a: { x: [1] }, b: { x: [1] } });
    expect(out.b).not.toBe(out.a);
    expect(copyField('a', 'b', { onConflict: 'keep' }).lossy).toMatch(/cannot be told from a copy/);
  });
});

describe('removeField when', () => {
  it("'null' removes only nulls", () => {
    const op = removeField('items[].note', { when: 'null' });
    expect(applyChecked(op, { items: [{ note: null }, { note: '' }, { k: 1 }] })).toEqual({
      items: [{}, { note: '' }, { k: 1 }],
    });
    expect(op.describe()).toBe("remove 'items[].note' when null");
  });
  it("'empty' removes null, '', [] and {}, and nothing else", () => {
    const op = removeField('v', { when: 'empty' });
    for (const v of [null, '', [], {}]) expect(applyChecked(op, { v })).toEqual({});
    for (const v of [0, false, ' ', [null], { a: null }])
      expect(applyChecked(op, { v })).toEqual({ v });
    expect(op.lossy).toMatch(/absent end up alike/);
  });
  it('rejects an unknown condition', () => {
    expect(() => removeField('v', { when: 'zero' as 'null' })).toThrow(InputError);
  });
});

describe('wrapInArray unlessArray', () => {
  it('wraps anything but an array', () => {
    const op = wrapInArray('tags', { unlessArray: true });
    expect(applyChecked(op, { tags: 'x' })).toEqual({ tags: ['x'] });
    expect(applyChecked(op, { tags: null })).toEqual({ tags: [null] });
    expect(applyChecked(op, { tags: ['x', 'y'] })).toEqual({ tags: ['x', 'y'] });
    expect(applyChecked(op, {})).toEqual({});
    expect(op.lossy).toMatch(/'a' and \['a'\] give \['a'\]/);
    expect(op.describe()).toBe("wrap 'tags' in an array unless it is one");
  });
});

describe('value types from the package itself', () => {
  it('exports the bson classes documents hold, the same ones EJSON reads', () => {
    const id = new pkg.ObjectId('64b7f0c2a1b2c3d4e5f60718');
    const doc: Doc = {
      id,
      n: pkg.Long.fromString('9007199254740993'),
      d: pkg.Decimal128.fromString('1.10'),
      i: new pkg.Int32(7),
      f: new pkg.Double(1),
      t: new pkg.Timestamp({ t: 1, i: 2 }),
      b: new pkg.Binary(Buffer.from('hi')),
      u: new pkg.UUID('5b8c2c9e-7b1a-4b2e-9a55-3e1f0c1d2e3f'),
    };
    const back = pkg.parseEJSON(toEJSON(doc)) as Doc;
    expect(back.id).toBeInstanceOf(pkg.ObjectId);
    expect(back.n).toBeInstanceOf(pkg.Long);
    expect(back.d).toBeInstanceOf(pkg.Decimal128);
    expect(pkg.canonicalEquals(back, doc)).toBe(true);
    expect(pkg.typeOf(doc.n as pkg.Value)).toBe('long');
  });
});
