/**
 * The fan-out's pure part (migration/fan-out.ts): what a parent emits and how it folds back. A
 * fast-check property: for any parent key and any document whose array holds objects, folding
 * the emitted documents back (in any order, among other parents' documents) gives the document
 * back exactly, and emitting twice gives the same keys and documents (a redone batch writes the
 * same). Refusals name the document and why; an ill-formed declaration names the field.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalString, type Doc } from '../../src/core/values.js';
import { whyJournalNeeded } from '../../src/migration/journal-rule.js';
import { FanOut, FanOutError } from '../../src/migration/fan-out.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { arbDoc } from '../support/arb-values.js';

const spec = { path: 'auditLog', into: 'auditLogs', parentField: 'userId' };
const element = arbDoc.map((d) => {
  const { _id: _k, userId: _u, index: _i, ...rest } = d;
  return rest as Doc;
});
const parentKey = fc.string({ minLength: 1, maxLength: 12 });

describe('fanOut round trip (property)', () => {
  for (const [title, f, place] of [
    [
      'top-level array, default keys',
      new FanOut(spec),
      (d: Doc, a: Doc[]) => ({ ...d, auditLog: a }),
    ],
    [
      'nested array, keys from the element',
      new FanOut({
        ...spec,
        path: 'history.entries',
        indexField: 'pos',
        key: (k, e, i) => `${k}#${i}#${canonicalString(e).length}`,
      }),
      (d: Doc, a: Doc[]) => ({ ...d, history: { note: 'n', entries: a } }),
    ],
  ] as const) {
    it(`${title}: foldBack(emit(d)) == d, emit is deterministic`, () => {
      const withoutPos = element.map((e) => {
        const { pos: _p, ...rest } = e;
        return rest as Doc;
      });
      fc.assert(
        fc.property(
          parentKey,
          arbDoc,
          fc.array(withoutPos, { maxLength: 6 }),
          fc.array(withoutPos, { maxLength: 3 }),
          fc.integer(),
          (key, base, arr, others, seed) => {
            const { auditLog: _a, history: _h, ...rest } = base;
            const doc = place(rest as Doc, arr);
            const { parent, emitted } = f.emit(key, doc);
            expect(emitted).toHaveLength(arr.length);
            expect(new Set(emitted.map((e) => e.key)).size).toBe(arr.length);
            // a redone batch writes the same keys and documents
            expect(canonicalString(f.emit(key, doc).emitted as never)).toBe(
              canonicalString(emitted as never),
            );
            // the children of another parent, and any order, do not matter
            const foreign = f.emit(`${key}-other`, place(rest as Doc, others)).emitted;
            const mixed = [...emitted, ...foreign].map((e) => e.doc);
            const shuffled = mixed
              .map((d, i) => ({ d, r: (i * 7919 + seed) % 101 }))
              .sort((a, b) => a.r - b.r)
              .map((x) => x.d);
            expect(canonicalString(f.foldBack(key, parent, shuffled))).toBe(canonicalString(doc));
          },
        ),
        { numRuns: 200 },
      );
    });
  }

  it('arrays of objects only; the added fields must be free; keys distinct', () => {
    const f = new FanOut(spec);
    const refusal = (doc: Doc, k = 'u1') => {
      try {
        f.emit(k, doc);
      } catch (err) {
        expect(err).toBeInstanceOf(FanOutError);
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refusal({})).toBe(
      `'u1': fanOut auditLog needs an array, found nothing (the field is absent)`,
    );
    expect(refusal({ auditLog: null })).toMatch(/needs an array, found null/);
    expect(refusal({ auditLog: [{ a: 1 }, 3] })).toBe(
      `'u1': element 1 of auditLog is a number, not an object`,
    );
    expect(refusal({ auditLog: [{ userId: 'x' }] })).toMatch(
      /element 0 of auditLog already has a field 'userId'/,
    );
    const same = new FanOut({ ...spec, key: (k) => k });
    expect(() => same.emit('u1', { auditLog: [{}, {}] })).toThrow(/returned 'u1' for two elements/);
    expect(refusal({ auditLog: [{ _id: 'own' }] })).toMatch(
      /element 0 of auditLog already has a field '_id'/,
    );
    expect(refusal({ auditLog: [] })).toBe('accepted');
    expect(f.foldBack('u1', {}, [])).toEqual({ auditLog: [] });
  });
});

describe('fanOut in a migration', () => {
  it('up() removes the array; down() is refused (rollback restores from the journal); --no-journal refused', () => {
    const m = compileMigration({ id: 'm', collection: 'users', fanOut: { ...spec } });
    expect(m.up({ _id: 'u1', auditLog: [{ a: 1 }], x: 1 })).toEqual({ _id: 'u1', x: 1, _sv: 2 });
    expect(() => m.up({ _id: 'u1', auditLog: 'no' })).toThrow(/fanOut auditLog needs an array/);
    expect(m.reversible).toBe(false);
    expect(m.lossy[0]).toMatchObject({ step: 'fanOut auditLog -> auditLogs (userId)' });
    expect(whyJournalNeeded(m)).toMatch(/--no-journal needs an exactly invertible migration/);
    expect(m.isEmpty).toBe(false);
  });

  for (const [fanOut, field, message] of [
    [{ ...spec, into: undefined }, 'fanOut.into', /must name the collection/],
    [{ ...spec, path: 'a[].b' }, 'fanOut.path', /must be the array field/],
    [
      { ...spec, parentField: 'a.b' },
      'fanOut.parentField',
      /must be the field that holds the parent's key/,
    ],
    [{ ...spec, key: 'x' }, 'fanOut.key', /must be a function/],
    [{ ...spec, extra: 1 }, 'fanOut', /extra/],
    [{ ...spec, into: 'users' }, 'fanOut.into', /is the migrated collection/],
    [{ ...spec, indexField: 'userId' }, 'fanOut.indexField', /is parentField too/],
    [{ ...spec, parentField: '_id' }, 'fanOut.parentField', /must not be _id/],
  ] as const) {
    it(`an ill-formed declaration names ${field}`, () => {
      let err: unknown;
      try {
        compileMigration(
          { id: 'm', collection: 'users', fanOut: fanOut as never },
          { file: '/tmp/m.ts' },
        );
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ exitCode: 2 });
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toContain('/tmp/m.ts');
      expect((err as Error).message).toContain(field);
    });
  }

  it('side by side cannot fan out', () => {
    expect(() =>
      compileMigration({
        id: 'm',
        collection: 'users',
        fanOut: { ...spec },
        target: { collection: 'u2' },
      }),
    ).toThrow(/fanOut.*in place only/s);
  });
});
