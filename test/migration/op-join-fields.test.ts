import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { joinFields } from '../../src/migration/op-join-fields.js';
import { applyChecked, refusal } from './helpers.js';

describe('joinFields', () => {
  const loose = joinFields(['first', 'last'], 'name', ' ');
  const exact = joinFields(['first', 'last'], 'name', ' ', { exact: true });

  it('joins present strings and removes the parts', () => {
    expect(applyChecked(loose, { first: 'Ada', last: 'Lovelace' })).toEqual({
      name: 'Ada Lovelace',
    });
    expect(applyChecked(loose, { last: 'Lovelace' })).toEqual({ name: 'Lovelace' });
    expect(applyChecked(loose, { other: 1 })).toEqual({ other: 1 });
  });

  it('is lossy by default', () => {
    expect(loose.lossy).toMatch(/separator/);
    expect(loose.apply({ first: 'Mary Ann', last: 'Smith' })).toEqual(
      loose.apply({ first: 'Mary', last: 'Ann Smith' }),
    );
  });

  it('refuses non-string parts and an existing target', () => {
    expect(refusal(loose, { first: 1, last: 'x' }).message).toMatch(
      /at 'first': expected a string, found an int/,
    );
    expect(refusal(loose, { first: 'a', name: 'x' }).where).toBe('name');
  });

  it('with { exact: true } refuses what could not be split back, and inverts with splitField', () => {
    expect(applyChecked(exact, { first: 'Mary', last: 'Ann Smith' })).toEqual({
      name: 'Mary Ann Smith',
    });
    expect(applyChecked(exact, { first: 'Cher' })).toEqual({ name: 'Cher' });
    expect(refusal(exact, { first: 'Mary Ann', last: 'Smith' }).message).toMatch(
      /contains the separator/,
    );
    expect(refusal(exact, { last: 'Smith' }).message).toMatch(
      /absent, while a later part is present/,
    );
    expect(refusal(exact, { name: 'x' }).where).toBe('name');
    expect(exact.lossy).toBe(false);
    expect(exact.inverse()!.describe()).toBe(`split 'name' on " " into ['first', 'last']`);
  });

  it('rejects bad arguments', () => {
    expect(() => joinFields(['a'], 'b', ' ')).toThrow(/at least 2/);
    expect(() => joinFields(['a', 'b'], 'c', 1 as unknown as string)).toThrow(
      /'sep' must be a string/,
    );
    expect(() => joinFields(['a', 'b'], 'c', '', { exact: true })).toThrow(/must not be empty/);
    expect(() => joinFields(['a', 'b'], 'a', ' ')).toThrow(InputError);
  });
});
