/**
 * coerceType with a date `format` (issue 16 item 6: "2025-06-20 15:53:31 UTC") and with
 * `onInvalid: 'skip'`: strict parsing (the whole string, real days only), the inverse writing
 * the same format, and a document whose value does not convert left as it is when asked.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { compileDateFormat } from '../../src/migration/date-format.js';
import { coerceType } from '../../src/migration/op-coerce-type.js';
import { SkippedDocumentError } from '../../src/migration/operation-error.js';
import { applyChecked, refusal } from './helpers.js';

const UTC = 'YYYY-MM-DD HH:mm:ss [UTC]';

describe('coerceType with a date format', () => {
  it('reads "2025-06-20 15:53:31 UTC" and, with from, writes it back exactly', () => {
    const op = coerceType('at', 'date', { from: 'string', format: UTC });
    const out = applyChecked(op, { _id: 1, at: '2025-06-20 15:53:31 UTC' });
    expect(out.at).toEqual(new Date('2025-06-20T15:53:31.000Z'));
    expect(op.inverse()!.describe()).toContain(`format ${UTC}`);
    expect(op.describe()).toBe(`coerce 'at' to date from string (format ${UTC})`);
  });

  it('reads offsets with Z, and milliseconds with SSS', () => {
    const op = coerceType('at', 'date', { format: 'YYYY-MM-DDTHH:mm:ss.SSSZ' });
    expect(op.apply({ at: '2025-06-20T17:53:31.250+02:00' }).at).toEqual(
      new Date('2025-06-20T15:53:31.250Z'),
    );
    expect(op.apply({ at: '2025-06-20T15:53:31.250Z' }).at).toEqual(
      new Date('2025-06-20T15:53:31.250Z'),
    );
    expect(op.apply({ at: '2025-06-20T15:53:31.250-0130' }).at).toEqual(
      new Date('2025-06-20T17:23:31.250Z'),
    );
    // exact mode refuses a string that would not come back the same (written in UTC as Z)
    const exact = coerceType('at', 'date', { from: 'string', format: 'YYYY-MM-DDTHH:mm:ss.SSSZ' });
    expect(refusal(exact, { at: '2025-06-20T17:53:31.250+02:00' }).message).toMatch(
      /would not convert back to itself/,
    );
  });

  it('refuses what does not match the whole format, or a day that does not exist', () => {
    const op = coerceType('at', 'date', { format: UTC });
    for (const [at, why] of [
      ['2025-06-20 15:53:31', /does not match the format/],
      ['2025-06-20 15:53:31 UTC+1', /does not match the format/],
      ['2025-6-20 15:53:31 UTC', /does not match the format/],
      ['2025-02-30 00:00:00 UTC', /a day that does not exist/],
      ['2025-13-01 00:00:00 UTC', /not a valid date or time/],
      ['2025-06-20 24:00:00 UTC', /not a valid date or time/],
    ] as const)
      expect(refusal(op, { at }).message, at).toMatch(why);
    // numbers are epoch milliseconds, as without a format
    expect(op.apply({ at: 0 }).at).toEqual(new Date(0));
  });

  it('writes dates in the format when converting to string', () => {
    const op = coerceType('at', 'string', { format: 'DD.MM.YYYY' });
    expect(op.apply({ at: new Date('2025-06-20T23:59:00Z') }).at).toBe('20.06.2025');
  });

  it('rejects a bad format, or a format on a type that is not a date or a string', () => {
    const bad = (f: () => unknown, why: RegExp) => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).message).toMatch(why);
    };
    bad(() => coerceType('at', 'date', { format: 'YYYY-MM-DD hh' }), /'h' at 12.*\[brackets\]/);
    bad(() => coerceType('at', 'date', { format: 'HH:mm' }), /needs YYYY, MM and DD/);
    bad(() => coerceType('at', 'date', { format: 'YYYY-MM-DD [UTC' }), /without its '\]'/);
    bad(() => coerceType('at', 'int', { format: UTC }), /'format' is for 'date' and 'string'/);
    bad(() => compileDateFormat('coerceType', ''), /non-empty string/);
  });
});

describe("coerceType with onInvalid: 'skip'", () => {
  it('leaves a document whose value does not convert as it is, and converts the others', () => {
    const op = coerceType('age', 'int', { onInvalid: 'skip' });
    expect(op.apply({ age: '42' }).age).toBe(42);
    let err: unknown;
    try {
      op.apply({ age: 'forty-two' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SkippedDocumentError);
    expect((err as Error).message).toMatch(/cannot convert a string to int/);
    expect(op.describe()).toBe("coerce 'age' to int");
    // the default still refuses
    expect(refusal(coerceType('age', 'int'), { age: 'forty-two' })).not.toBeInstanceOf(
      SkippedDocumentError,
    );
  });
});
