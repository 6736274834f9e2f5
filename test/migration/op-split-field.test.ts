import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { splitField } from '../../src/migration/op-split-field.js';
import { applyChecked, refusal } from './helpers.js';

describe('splitField', () => {
  const op = splitField('name', ['first', 'last'], ' ');

  it('splits on the first separators; the last field gets the rest', () => {
    expect(applyChecked(op, { name: 'Ada Lovelace' })).toEqual({ first: 'Ada', last: 'Lovelace' });
    expect(applyChecked(op, { name: 'Mary Ann Smith' })).toEqual({
      first: 'Mary',
      last: 'Ann Smith',
    });
    expect(applyChecked(op, { name: ' x' })).toEqual({ first: '', last: 'x' });
  });

  it('leaves the last fields absent when there are fewer parts', () => {
    expect(applyChecked(op, { name: 'Cher' })).toEqual({ first: 'Cher' });
    expect(applyChecked(op, { name: '' })).toEqual({ first: '' });
  });

  it('splits into nested fields and inside array elements', () => {
    expect(
      applyChecked(splitField('p.name', ['p.n.a', 'p.n.b'], ', '), { p: { name: 'x, y' } }),
    ).toEqual({
      p: { n: { a: 'x', b: 'y' } },
    });
    expect(
      applyChecked(splitField('u[].s', ['u[].a', 'u[].b'], '-'), { u: [{ s: 'a-b' }, 3] }),
    ).toEqual({
      u: [{ a: 'a', b: 'b' }, 3],
    });
  });

  it('refuses non-strings and existing targets', () => {
    expect(refusal(op, { name: 5 }).message).toMatch(/at 'name': expected a string, found an int/);
    expect(refusal(op, { name: null }).message).toMatch(/found a null/);
    expect(refusal(op, { name: 'a b', last: 'x' }).where).toBe('last');
    expect(refusal(op, { last: 'x' }).where).toBe('last');
  });

  it('is exact; the inverse is an exact join', () => {
    expect(op.lossy).toBe(false);
    expect(op.inverse()!.args).toEqual([['first', 'last'], 'name', ' ', { exact: true }]);
  });

  it('rejects bad arguments', () => {
    expect(() => splitField('name', ['first'], ' ')).toThrow(
      /'into' must be an array of at least 2/,
    );
    expect(() => splitField('name', ['a', 'b'], '')).toThrow(/'sep' must be a non-empty string/);
    expect(() => splitField('name', ['a', 'a'], ' ')).toThrow(InputError);
    expect(() => splitField('name', ['name', 'b'], ' ')).toThrow(/the same path/);
    expect(() => splitField('name', ['a', 'b..c'], ' ')).toThrow(/'into\[1\]'/);
  });
});
