import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { trim } from '../../src/migration/op-trim.js';
import { applyChecked, refusal } from './helpers.js';

describe('trim', () => {
  it('trims strings, leaves null and absent alone', () => {
    expect(applyChecked(trim('name'), { name: '  Ada \n' })).toEqual({ name: 'Ada' });
    expect(applyChecked(trim('name'), { name: null })).toEqual({ name: null });
    expect(applyChecked(trim('emails[].address'), { emails: [{ address: ' a ' }] })).toEqual({
      emails: [{ address: 'a' }],
    });
  });

  it('refuses non-strings', () => {
    expect(refusal(trim('name'), { name: { first: 'Ada' } }).message).toMatch(
      /at 'name': expected a string, found an object/,
    );
  });

  it('is lossy', () => {
    expect(trim('a').lossy).toMatch(/white space/);
  });

  it('rejects bad arguments', () => {
    expect(() => trim('a.')).toThrow(InputError);
  });
});
