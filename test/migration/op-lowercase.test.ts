import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { lowercase } from '../../src/migration/op-lowercase.js';
import { applyChecked, refusal } from './helpers.js';

describe('lowercase', () => {
  it('lower-cases strings, leaves null and absent alone', () => {
    expect(applyChecked(lowercase('email'), { email: 'Ada@Example.COM' })).toEqual({
      email: 'ada@example.com',
    });
    expect(applyChecked(lowercase('email'), { email: null })).toEqual({ email: null });
    expect(applyChecked(lowercase('tags[]'), { tags: ['A', 'Ó'] })).toEqual({ tags: ['a', 'ó'] });
    expect(applyChecked(lowercase('e[].a'), { e: [{ a: 'X' }, {}] })).toEqual({
      e: [{ a: 'x' }, {}],
    });
  });

  it('refuses non-strings', () => {
    const err = refusal(lowercase('tags[]'), { tags: ['A', 1] });
    expect(err.message).toBe("lower-case 'tags[]': at 'tags[1]': expected a string, found an int");
  });

  it('is lossy', () => {
    expect(lowercase('a').lossy).toMatch(/letter case/);
    expect(lowercase('a').inverse()).toBeUndefined();
  });

  it('rejects bad arguments', () => {
    expect(() => lowercase('')).toThrow(InputError);
  });
});
