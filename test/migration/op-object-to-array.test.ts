/** Object keys as data: objectToArray and its inverse arrayToObject (#16 item 6). */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import type { Doc, Value } from '../../src/core/values.js';
import { SkippedDocumentError } from '../../src/migration/operation-error.js';
import { arrayToObject, objectToArray } from '../../src/migration/index.js';
import { applyChecked, refusal } from './helpers.js';

describe('objectToArray', () => {
  it('turns an object into { k, v } entries in key order; null, absent and {} as expected', () => {
    const op = objectToArray('s');
    expect(applyChecked(op, { s: { math: 9, art: { x: [1] } } })).toEqual({
      s: [
        { k: 'math', v: 9 },
        { k: 'art', v: { x: [1] } },
      ],
    });
    expect(applyChecked(op, { s: {} })).toEqual({ s: [] });
    expect(applyChecked(op, { s: null })).toEqual({ s: null });
    expect(applyChecked(op, {})).toEqual({});
    expect(op.describe()).toBe("turn the object 's' into an array of { k, v } entries");
  });

  it('names the entry fields, works per element, and keeps __proto__ as a key', () => {
    const op = objectToArray('i[].a', { keyField: 'name', valueField: 'value' });
    const doc = JSON.parse('{"i":[{"a":{"__proto__":1}},{}]}');
    const out = applyChecked(op, doc);
    expect(JSON.stringify(out)).toBe('{"i":[{"a":[{"name":"__proto__","value":1}]},{}]}');
    expect(op.args).toEqual(['i[].a', { keyField: 'name', valueField: 'value' }]);
  });

  it('refuses a value that is not an object, naming where; or skips the document', () => {
    const e = refusal(objectToArray('s'), { s: [1] });
    expect(e.where).toBe('s');
    expect(e.detail).toBe('expected an object, found an array');
    const skip = objectToArray('s', { onInvalid: 'skip' });
    expect(() => skip.apply({ s: 'x' })).toThrow(SkippedDocumentError);
    expect(() => skip.apply({ s: 'x' })).toThrow(
      "turn the object 's' into an array of { k, v } entries: at 's': expected an object, found a string",
    );
    expect(skip.apply({ s: {} })).toEqual({ s: [] });
  });

  it('is exact; the inverse is arrayToObject with the same fields', () => {
    const inv = objectToArray('s', { keyField: 'n' }).inverse()!;
    expect(inv.name).toBe('arrayToObject');
    expect(inv.args).toEqual(['s', { keyField: 'n' }]);
  });

  it('rejects bad options, naming them', () => {
    expect(() => objectToArray('s', { keyField: '' })).toThrow(/'keyField' must be a non-empty/);
    expect(() => objectToArray('s', { keyField: 'v' })).toThrow(InputError);
    expect(() => objectToArray('s', { onInvalid: 'ignore' as 'skip' })).toThrow(
      /'onInvalid' must be one of fail, skip/,
    );
  });
});

describe('arrayToObject', () => {
  const e = (k: Value, v: Value): Doc => ({ k, v });

  it('turns entries into an object; null, absent and [] as expected', () => {
    const op = arrayToObject('a');
    expect(applyChecked(op, { a: [e('x', 1), e('y', [2])] })).toEqual({ a: { x: 1, y: [2] } });
    expect(applyChecked(op, { a: [] })).toEqual({ a: {} });
    expect(applyChecked(op, { a: null })).toEqual({ a: null });
    expect(op.lossy).toBe(false);
  });

  it('refuses what its inverse could not restore, naming the element', () => {
    const op = arrayToObject('a');
    expect(refusal(op, { a: [e('x', 1), e('x', 2)] }).where).toBe('a[1]');
    expect(refusal(op, { a: [e(1, 1)] }).detail).toMatch(/key must be a string, found an int/);
    expect(refusal(op, { a: [{ k: 'x' }] }).detail).toMatch(/exactly the fields 'k' and 'v'/);
    expect(refusal(op, { a: [{ k: 'x', v: 1, w: 2 }] }).where).toBe('a[0]');
    expect(refusal(op, { a: ['x'] }).detail).toMatch(/found a string/);
    expect(refusal(op, { a: { x: 1 } }).detail).toMatch(/expected an array of entries/);
    expect(refusal(op, { a: [e('b', 1), e('1', 2)] }).detail).toMatch(/anyOrder/);
  });

  it('onDuplicate, convertKeys and anyOrder accept them, and are lossy with reasons', () => {
    const dups = { a: [e('x', 1), e('y', 2), e('x', 3)] };
    const first = arrayToObject('a', { onDuplicate: 'first' });
    expect(first.apply(dups)).toEqual({ a: { x: 1, y: 2 } });
    expect(arrayToObject('a', { onDuplicate: 'last' }).apply(dups)).toEqual({ a: { x: 3, y: 2 } });
    expect(first.lossy).toMatch(/only the first is kept.*undo journal/);
    expect(first.inverse()).toBeUndefined();
    const conv = arrayToObject('a', { convertKeys: true });
    expect(conv.apply({ a: [e(1, 'n'), e(true, 'b')] })).toEqual({ a: { 1: 'n', true: 'b' } });
    expect(conv.lossy).toMatch(/1 and '1'/);
    expect(refusal(conv, { a: [e(null, 1)] }).detail).toMatch(/found a null$/);
    const any = arrayToObject('a', { anyOrder: true });
    expect(Object.keys(any.apply({ a: [e('b', 1), e('1', 2)] }).a as object)).toEqual(['1', 'b']);
    expect(any.lossy).toMatch(/order is not kept/);
  });

  it('rejects bad options, naming them', () => {
    expect(() => arrayToObject('a', { onDuplicate: 'merge' as 'first' })).toThrow(
      /'onDuplicate' must be one of fail, first, last/,
    );
    expect(() => arrayToObject('a', { anyOrder: 'yes' as unknown as boolean })).toThrow(
      /'anyOrder' must be true or false/,
    );
  });
});
