/**
 * The expressions the DocumentClient wrapper evaluates itself: SET/REMOVE as DynamoDB applies
 * them, conditions, projections, and a clear InputError for anything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import type { Doc } from '../../src/core/values.js';
import {
  applyUpdate,
  meetsCondition,
  project,
} from '../../src/runtime/clients/dynamodb-expressions.js';

describe('dynamodb expressions', () => {
  it('SET, REMOVE, if_not_exists, list_append, + and -, nested paths and aliases', () => {
    const doc: Doc = { id: 'a', n: 1, tags: ['x'], a: { b: 1 }, gone: true };
    const out = applyUpdate(
      doc,
      'SET #n = #n + :two, tags = list_append(tags, :more), a.b = :b, c = if_not_exists(c, :z) - :one REMOVE gone, tags[0]',
      {
        ExpressionAttributeNames: { '#n': 'n' },
        ExpressionAttributeValues: { ':two': 2, ':more': ['y'], ':b': 'B', ':z': 10, ':one': 1 },
      },
    );
    expect(out).toEqual({ id: 'a', n: 3, tags: ['y'], a: { b: 'B' }, c: 9 });
    expect(doc).toEqual({ id: 'a', n: 1, tags: ['x'], a: { b: 1 }, gone: true });
  });

  it('SET of a new attribute then REMOVE of it gives the document back (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('a', 'b', 'c', 'n'), fc.oneof(fc.integer(), fc.string())),
        fc.oneof(fc.integer(), fc.string(), fc.array(fc.integer())),
        (doc, value) => {
          const input = { ExpressionAttributeValues: { ':v': value } };
          const set = applyUpdate(doc, 'SET fresh = :v', input);
          expect(set.fresh).toEqual(value);
          expect(applyUpdate(set, 'REMOVE fresh', input)).toEqual(doc);
        },
      ),
    );
  });

  it('x = x + :d then x = x - :d is the identity on numbers (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: -1000, max: 1000 }), (x, d) => {
        const input = { ExpressionAttributeValues: { ':d': d } };
        const up = applyUpdate({ x }, 'SET x = x + :d', input);
        expect(applyUpdate(up, 'SET x = x - :d', input)).toEqual({ x });
      }),
    );
  });

  it('conditions and projections', () => {
    expect(meetsCondition(null, 'attribute_not_exists(id)', {})).toBe(true);
    expect(
      meetsCondition({ id: 'a' }, 'attribute_exists(#k)', {
        ExpressionAttributeNames: { '#k': 'id' },
      }),
    ).toBe(true);
    expect(meetsCondition({ id: 'a' }, 'attribute_not_exists(id)', {})).toBe(false);
    expect(meetsCondition({ id: 'a' }, undefined, {})).toBe(true);
    expect(
      project({ id: 'a', n: 1, m: 2 }, 'id, #m', { ExpressionAttributeNames: { '#m': 'm' } }),
    ).toEqual({
      id: 'a',
      m: 2,
    });
  });

  it('what it cannot evaluate is an InputError naming the expression', () => {
    const bad: [() => unknown, RegExp][] = [
      [
        () => applyUpdate({}, 'ADD n :one', {}),
        /UpdateExpression 'ADD n :one' 'ADD' is not supported/,
      ],
      [
        () => applyUpdate({}, 'SET n = :nope', {}),
        /:nope, which ExpressionAttributeValues does not define/,
      ],
      [
        () => applyUpdate({}, 'SET #x = :v', { ExpressionAttributeValues: { ':v': 1 } }),
        /#x, which ExpressionAttributeNames/,
      ],
      [
        () => applyUpdate({}, 'SET n = :v ;', { ExpressionAttributeValues: { ':v': 1 } }),
        /cannot be read at ';'/,
      ],
      [() => meetsCondition({}, 'n > :v', {}), /ConditionExpression/],
      [() => project({}, 'a.b', {}), /nested paths/],
    ];
    for (const [fn, message] of bad) {
      expect(fn).toThrow(InputError);
      expect(fn).toThrow(message);
    }
  });
});
