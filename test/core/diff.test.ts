import fc from 'fast-check';
import { Double } from 'bson';
import { describe, expect, it } from 'vitest';
import { diff, sameValue } from '../../src/core/diff.js';
import { canonicalEquals, type Value } from '../../src/core/values.js';
import { arbDoc } from '../support/arb-values.js';

describe('diff', () => {
  it('names each differing path as a JSON Pointer and as a field pattern', () => {
    const a = {
      name: 'Ada',
      items: [{ price: 1 }, { price: 2 }],
      'a/b': 1,
      gone: true,
      same: { x: 1 },
    };
    const b = {
      name: 'Ada L',
      items: [{ price: 1 }, { price: 3 }, { price: 4 }],
      'a/b': 2,
      added: 1,
      same: { x: 1 },
    };
    expect(diff(a, b)).toEqual([
      { op: 'replace', path: '/name', field: 'name', before: 'Ada', after: 'Ada L' },
      { op: 'replace', path: '/items/1/price', field: 'items[].price', before: 2, after: 3 },
      { op: 'add', path: '/items/2', field: 'items[]', after: { price: 4 } },
      { op: 'replace', path: '/a~1b', field: 'a/b', before: 1, after: 2 },
      { op: 'remove', path: '/gone', field: 'gone', before: true },
      { op: 'add', path: '/added', field: 'added', after: 1 },
    ]);
  });

  it('sees a type change as a difference (int 1 vs double 1.0)', () => {
    expect(diff({ n: 1 }, { n: new Double(1) as unknown as Value })).toHaveLength(1);
  });

  it('ignores key order, honours ignore and limit', () => {
    expect(diff({ a: 1, b: 2 }, { b: 2, a: 1 })).toEqual([]);
    expect(diff({ _sv: 1, a: 1 }, { _sv: 2, a: 1 }, { ignore: ['_sv'] })).toEqual([]);
    expect(diff({ a: 1, b: 1, c: 1 }, { a: 2, b: 2, c: 2 }, { limit: 2 })).toHaveLength(2);
  });

  it('is empty exactly when the documents are canonically equal (property)', () => {
    fc.assert(
      fc.property(arbDoc, arbDoc, (a, b) => {
        expect(sameValue(a, b)).toBe(canonicalEquals(a, b));
        expect(diff(a, a)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
