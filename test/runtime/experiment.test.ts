import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../src/core/errors.js';
import {
  ABSENT_IN_CANDIDATE,
  ABSENT_IN_CONTROL,
  compare,
  MismatchCounter,
  OTHER_PATHS,
} from '../../src/runtime/experiment.js';
import { arbDoc } from '../support/arb-values.js';

class CandidateDown extends SwitchyardError {
  override readonly code = 'E_CANDIDATE_DOWN';
}

describe('compare', () => {
  it('matches equal documents and both-absent', () => {
    expect(compare({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 })).toEqual({
      matched: true,
      mismatchedPaths: [],
    });
    expect(compare(null, null).matched).toBe(true);
    fc.assert(
      fc.property(arbDoc, (d) => {
        expect(compare(d, d).matched).toBe(true);
      }),
    );
  });

  it('names mismatches by field pattern, once each, sorted', () => {
    const o = compare(
      { name: 'Ada', items: [{ price: 1 }, { price: 2 }], gone: 1, _sv: 1 },
      { name: 'Ada L', items: [{ price: 3 }, { price: 4 }, { price: 5 }], _sv: 2 },
    );
    expect(o.matched).toBe(false);
    expect(o.mismatchedPaths).toEqual(['_sv', 'gone', 'items[]', 'items[].price', 'name']);
    expect(compare({ a: 1, _sv: 1 }, { a: 1, _sv: 2 }, { ignore: ['_sv'] }).matched).toBe(true);
  });

  it('names a document missing on one side', () => {
    expect(compare({ a: 1 }, null).mismatchedPaths).toEqual([ABSENT_IN_CANDIDATE]);
    expect(compare(null, { a: 1 }).mismatchedPaths).toEqual([ABSENT_IN_CONTROL]);
  });

  it('records a candidate error without paths', () => {
    const err = new Error('timeout');
    const o = compare({ a: 1 }, err);
    expect(o).toEqual({ matched: false, mismatchedPaths: [], candidateError: err });
    expect(o.candidateError).toBe(err);
  });

  it('returns immutable observations', () => {
    const o = compare({ a: 1 }, { a: 2 });
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(o.mismatchedPaths)).toBe(true);
    expect(() => {
      (o as { matched: boolean }).matched = true;
    }).toThrow(TypeError);
    expect(() => (o.mismatchedPaths as string[]).push('x')).toThrow(TypeError);
  });
});

describe('MismatchCounter', () => {
  it('aggregates totals, rates, paths and errors', () => {
    const c = new MismatchCounter();
    c.record(compare({ a: 1 }, { a: 1 }));
    c.record(compare({ a: 1, b: 1 }, { a: 2, b: 2 }));
    c.record(compare({ a: 1 }, { a: 3 }));
    c.record(compare({ a: 1 }, null));
    c.record(compare({ a: 1 }, new CandidateDown('down')));
    c.record(compare({ a: 1 }, new TypeError('bad')));
    const s = c.snapshot();
    expect(s).toMatchObject({ total: 6, matched: 1, mismatched: 3, errors: 2 });
    expect(s.mismatchRate).toBe(3 / 4);
    expect(s.errorRate).toBe(2 / 6);
    expect(s.byPath).toEqual([
      { name: 'a', count: 2 },
      { name: ABSENT_IN_CANDIDATE, count: 1 },
      { name: 'b', count: 1 },
    ]);
    expect(s.errorsByKind).toEqual([
      { name: 'E_CANDIDATE_DOWN', count: 1 },
      { name: 'TypeError', count: 1 },
    ]);
    expect(Object.isFrozen(s) && Object.isFrozen(s.byPath) && Object.isFrozen(s.byPath[0])).toBe(
      true,
    );
  });

  it('bounds the distinct paths it keeps', () => {
    const c = new MismatchCounter({ maxPaths: 2 });
    for (const f of ['a', 'b', 'c', 'd', 'a']) c.record(compare({ [f]: 1 }, { [f]: 2 }));
    expect(c.snapshot().byPath).toEqual([
      { name: OTHER_PATHS, count: 2 }, // ties in code-point order
      { name: 'a', count: 2 },
      { name: 'b', count: 1 },
    ]);
  });

  it('drain returns the window and starts again; snapshots stay as they were', () => {
    const c = new MismatchCounter();
    c.record(compare({ a: 1 }, { a: 2 }));
    const first = c.drain();
    c.record(compare({ a: 1 }, { a: 1 }));
    expect(first).toMatchObject({ total: 1, mismatched: 1 });
    expect(c.snapshot()).toMatchObject({ total: 1, matched: 1, mismatched: 0, byPath: [] });
    expect(new MismatchCounter().snapshot()).toMatchObject({ mismatchRate: 0, errorRate: 0 });
  });
});
