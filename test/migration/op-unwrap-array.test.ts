import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { unwrapArray } from '../../src/migration/op-unwrap-array.js';
import { applyChecked, refusal } from './helpers.js';

describe('unwrapArray', () => {
  const op = unwrapArray('email');

  it('replaces a one-element array by its element', () => {
    expect(applyChecked(op, { email: ['a@b'] })).toEqual({ email: 'a@b' });
    expect(applyChecked(op, { email: [[1]] })).toEqual({ email: [1] });
    expect(applyChecked(op, {})).toEqual({});
    expect(applyChecked(unwrapArray('m[]'), { m: [[1], [null]] })).toEqual({ m: [1, null] });
  });

  it('refuses anything else', () => {
    expect(refusal(op, { email: [] }).message).toMatch(/found 0 elements/);
    expect(refusal(op, { email: ['a', 'b'] }).message).toMatch(/found 2 elements/);
    expect(refusal(op, { email: 'a' }).message).toMatch(
      /at 'email': expected a one-element array, found a string/,
    );
    expect(refusal(op, { email: null }).message).toMatch(/found a null/);
  });

  it('is exact; the inverse is wrapInArray', () => {
    expect(op.lossy).toBe(false);
    expect(op.inverse()!.describe()).toBe("wrap 'email' in an array");
  });

  it('rejects bad arguments', () => {
    expect(() => unwrapArray('')).toThrow(InputError);
  });
});
