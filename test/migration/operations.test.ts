import { describe, expect, it } from 'vitest';
import { canonicalString, type Doc } from '../../src/core/values.js';
import {
  OperationError,
  addField,
  composeOperations,
  defineOperation,
  mapValue,
  renameField,
  splitField,
  wrapInArray,
} from '../../src/migration/index.js';

describe('composeOperations', () => {
  it('runs up in order and down in reverse', () => {
    const c = composeOperations([
      renameField('a', 'b'),
      wrapInArray('b'),
      splitField('name', ['f', 'l'], ' '),
    ]);
    const doc: Doc = { a: 1, name: 'Ada L' };
    const up = c.up(doc);
    expect(up).toEqual({ b: [1], f: 'Ada', l: 'L' });
    expect(canonicalString(c.down!(up))).toBe(canonicalString(doc));
    expect(c.lossy).toEqual([]);
    expect(doc).toEqual({ a: 1, name: 'Ada L' });
  });

  it('has no down when an operation is lossy, and says which and why', () => {
    const add = addField('tier', 'free');
    const c = composeOperations([renameField('a', 'b'), add]);
    expect(c.down).toBeUndefined();
    expect(c.lossy).toEqual([{ op: add, reason: add.lossy }]);
  });

  it('lists operations that rest on user inverses', () => {
    const m = mapValue(
      'a',
      (v) => v,
      (v) => v,
    );
    expect(composeOperations([m]).unproven).toEqual([m]);
  });

  it('an empty list copies', () => {
    const doc: Doc = { a: 1 };
    const c = composeOperations([]);
    expect(c.up(doc)).toEqual(doc);
    expect(c.up(doc)).not.toBe(doc);
    expect(c.down!(doc)).toEqual(doc);
  });
});

describe('defineOperation', () => {
  it('wraps unexpected errors as OperationError with the cause', () => {
    const op = defineOperation({
      name: 'boom',
      args: [],
      touches: [],
      lossy: 'test',
      description: 'boom',
      mutate() {
        throw new RangeError('bad');
      },
    });
    try {
      op.apply({});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(OperationError);
      expect((err as OperationError).message).toBe('boom: bad');
      expect((err as OperationError).cause).toBeInstanceOf(RangeError);
    }
  });

  it('refuses a non-object document', () => {
    expect(() => renameField('a', 'b').apply([] as never)).toThrow(/a document must be an object/);
  });

  it('requires an inverse for exact operations', () => {
    expect(() =>
      defineOperation({
        name: 'x',
        args: [],
        touches: [],
        lossy: false,
        description: 'x',
        mutate() {},
      }),
    ).toThrow(TypeError);
  });
});
