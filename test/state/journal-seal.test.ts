/**
 * The journal seal's fast path (journal.ts `journalSeal`: plain JSON with the keys in code-point
 * order) must hash exactly the text the general path does (chain-hash.ts: canonical EJSON with
 * sorted keys), or every journal written before it stops verifying. Property-based, over any
 * Unicode text in every field, before-images in storage form included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalString, toStorageJSON, type Doc } from '../../src/core/values.js';
import { chainHash, GENESIS_HASH } from '../../src/state/chain-hash.js';
import { journalSeal, unverified, type JournalEntry } from '../../src/state/journal.js';

const general = (id: string, e: JournalEntry) =>
  chainHash(GENESIS_HASH, { migration: id, key: e.key, before: e.before, afterHash: e.afterHash });

describe('journalSeal', () => {
  it('equals the general canonical hash for any text', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'binary' }),
        (id, key, before, afterHash) => {
          const e = { key, before, afterHash };
          expect(journalSeal(id, e)).toBe(general(id, e));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('equals it for before-images in storage form, and the canonical text is the JSON one', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), (v, key) => {
        const before = toStorageJSON({ v } as Doc);
        const e = { key, before, afterHash: 'h' };
        expect(journalSeal('m', e)).toBe(general('m', e));
        expect(canonicalString({ migration: 'm', key, before, afterHash: 'h' })).toBe(
          JSON.stringify({ afterHash: 'h', before, key, migration: 'm' }),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('a sealed entry verifies; one changed character does not', () => {
    const e: JournalEntry = { key: 'k1', before: '{"a":1}', afterHash: 'x' };
    const sealed = { ...e, seal: journalSeal('m', e) };
    expect(unverified('m', 'k1', sealed)).toBeUndefined();
    expect(unverified('m', 'k1', { ...sealed, before: '{"a":2}' })).toMatch(/edited/);
    expect(unverified('n', 'k1', sealed)).toMatch(/edited/);
  });
});
