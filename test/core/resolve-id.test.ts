import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { AmbiguousIdError, resolveId, UnknownIdError } from '../../src/core/resolve-id.js';

const IDS = ['20261120-split-name', '20261121-split-email', '20261122-add-tier'];

describe('resolveId: an id or an unambiguous part of it', () => {
  it('takes a part from anywhere in the id, ignoring case', () => {
    expect(resolveId('20261122-add-tier', IDS)).toBe('20261122-add-tier');
    expect(resolveId('20261120', IDS)).toBe('20261120-split-name'); // a prefix
    expect(resolveId('name', IDS)).toBe('20261120-split-name'); // a suffix
    expect(resolveId('split-em', IDS)).toBe('20261121-split-email'); // the middle
    expect(resolveId('ADD-TIER', IDS)).toBe('20261122-add-tier');
  });

  it('an ambiguous part lists every match (exit 2)', () => {
    let err: unknown;
    try {
      resolveId('split', IDS, { field: '--migration' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AmbiguousIdError);
    const a = err as AmbiguousIdError;
    expect(a.exitCode).toBe(ExitCode.usage);
    expect(a.code).toBe('E_AMBIGUOUS_ID');
    expect(a.field).toBe('--migration');
    expect(a.matches).toEqual(['20261120-split-name', '20261121-split-email']);
    expect(a.message).toMatch(
      /'split' is ambiguous: it matches 2 migrations \(20261120-split-name, 20261121-split-email\); give more of the id/,
    );
  });

  it('an exact id wins over the longer ids that contain it', () => {
    expect(resolveId('split-name', ['split-name', 'split-name-v2'])).toBe('split-name');
  });

  it('an unknown part names the ids there are (exit 2)', () => {
    expect(() => resolveId('nope', IDS)).toThrow(UnknownIdError);
    expect(() => resolveId('nope', IDS)).toThrow(
      /no migration 'nope'. Known: 20261120-split-name, 20261121-split-email, 20261122-add-tier/,
    );
    expect(() => resolveId('', IDS)).toThrow(UnknownIdError);
    expect(() => resolveId('x', [])).toThrow(/Known: \(none\)/);
  });

  it('property: the answer contains the part, and is the only id that does unless it is the part', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,8}$/), { maxLength: 8 }),
        fc.stringMatching(/^[a-z0-9-]{1,4}$/),
        (ids, part) => {
          const containing = ids.filter((id) => id.includes(part));
          let got: string | undefined;
          try {
            got = resolveId(part, ids);
          } catch (err) {
            if (containing.length === 0) expect(err).toBeInstanceOf(UnknownIdError);
            else {
              expect(err).toBeInstanceOf(AmbiguousIdError);
              expect((err as AmbiguousIdError).matches).toEqual([...containing].sort());
            }
            return;
          }
          expect(got).toContain(part);
          if (got !== part) expect(containing).toEqual([got]);
        },
      ),
    );
  });
});
