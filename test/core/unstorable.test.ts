/**
 * findUnstorable against the value model: whatever it accepts reads back as the same value
 * through the storage form and through canonical Extended JSON (generated documents mixed with
 * every kind of thing user code can put in one), and whatever it reports is really there.
 */
import {
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Double,
  EJSON,
  Int32,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  UUID,
} from 'bson';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findUnstorable } from '../../src/core/unstorable.js';
import {
  fromStorageJSON,
  isBsonObject,
  MAX_NESTING_DEPTH,
  parseEJSON,
  toEJSON,
  toStorageJSON,
  typeOf,
  type Value,
} from '../../src/core/values.js';
import { arbKeyName, arbScalar } from '../support/arb-values.js';

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

/** bson values the model keeps that arbScalar does not generate */
const arbMoreBson: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -5, max: 5 }).map((n) => new Int32(n)),
  fc.constant(new Timestamp({ t: 7, i: 3 })),
  fc.constant(new MinKey()),
  fc.constant(new MaxKey()),
  fc.constant(new BSONRegExp('^a+', 'i')),
  fc.constant(new BSONSymbol('sym')),
  fc.constant(new Code('function () {}')),
  fc.constant(new DBRef('users', new ObjectId('64f1a2b3c4d5e6f7a8b9c0d1'))),
  fc.constant(new UUID('6f1c3b2a-8e4d-4c7b-9a10-1d2e3f405162')),
);

/** what user code can put in a document that is not a value of the model */
const arbWild: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(() => 1),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.constant(new Map([['a', 1]])),
  fc.constant(new Set([1])),
  fc.constant(Symbol('s')),
  fc.constant(/re/g),
  fc.constant(Buffer.from('hi')),
  fc.constant(new Uint8Array([1, 2])),
  fc.constant(Object(3) as unknown),
  fc.constant(new Date(Number.NaN)),
  fc.constant(new Point(1, 2)),
  fc.constant({ _bsontype: 'Nope' }),
  fc.constant({ $oid: 'not hex' }),
  fc.constant({ $ref: 'users', $id: 1 }),
  fc.constant({ a: 1, $date: 5 }),
  fc.constant(JSON.parse('{"__proto__": {"x": 1}}') as unknown),
);

const arbAnyKey = fc.oneof(
  { weight: 6, arbitrary: arbKeyName },
  fc.constantFrom('$oid', '$date', '$foo', '$numberInt', '__proto__', '', '~/'),
);

/** documents of model values with wild things mixed in, anywhere */
const arbMixed = fc.letrec<{ value: unknown; doc: object; arr: unknown[] }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: arbScalar as fc.Arbitrary<unknown> },
    { weight: 1, arbitrary: arbMoreBson },
    { weight: 1, arbitrary: arbWild },
    { weight: 1, arbitrary: fc.constant(undefined) },
    tie('doc'),
    tie('arr'),
  ),
  doc: fc.dictionary(arbAnyKey, tie('value'), { maxKeys: 5 }),
  arr: fc.oneof(
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(tie('value'), { minLength: 2, maxLength: 4 }).map((a) => {
      const holey = [...a];
      delete holey[1];
      return holey;
    }),
  ),
})).doc;

/** equal as values of the model: same types, same numbers, same keys in the same order */
function modelEqual(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  const ta = typeOf(a as Value);
  if (ta !== typeOf(b as Value)) return false;
  switch (ta) {
    case 'int':
    case 'double':
      return Object.is(numeric(a), numeric(b));
    case 'date':
      return (a as Date).getTime() === (b as Date).getTime();
    case 'array': {
      const x = a as unknown[];
      const y = b as unknown[];
      return x.length === y.length && x.every((v, i) => modelEqual(v, y[i]));
    }
    case 'object': {
      const ka = Object.keys(a as object).filter(
        (k) => (a as Record<string, unknown>)[k] !== undefined,
      );
      const kb = Object.keys(b as object);
      return (
        ka.join('\u0000') === kb.join('\u0000') &&
        ka.every((k) =>
          modelEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
        )
      );
    }
    default:
      if (isBsonObject(a) || isBsonObject(b))
        return (
          EJSON.stringify(a as never, { relaxed: false }) ===
          EJSON.stringify(b as never, { relaxed: false })
        );
      return a === b;
  }
}

function numeric(v: unknown): number {
  return typeof v === 'number' ? v : (v as { value: number }).value;
}

/** the value at a JSON Pointer, and whether the path exists */
function at(doc: unknown, pointer: string): { found: boolean; value?: unknown } {
  let cur = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const k = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, k))
      return { found: Array.isArray(cur) && Number(k) < cur.length, value: undefined };
    cur = (cur as Record<string, unknown>)[k];
  }
  return { found: true, value: cur };
}

describe('findUnstorable', () => {
  it('property: what it accepts round-trips through the storage form and Extended JSON', () => {
    fc.assert(
      fc.property(arbMixed, (doc) => {
        const found = findUnstorable(doc);
        if (found.length > 0) {
          for (const f of found) expect(at(doc, f.path).found).toBe(true);
          return;
        }
        const stored = fromStorageJSON(toStorageJSON(doc as Value));
        expect(modelEqual(doc, stored)).toBe(true);
        const ejson = parseEJSON(toEJSON(doc as Value));
        expect(modelEqual(doc, ejson)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('property: a wild value put anywhere is reported at its path', () => {
    fc.assert(
      fc.property(
        fc.dictionary(arbKeyName, arbScalar, { minKeys: 1, maxKeys: 4 }),
        fc.array(fc.constantFrom('a', 'b', '0'), { maxLength: 4 }),
        arbWild,
        (doc, path, wild) => {
          let cur: Record<string, unknown> = doc;
          for (const k of path)
            cur = (cur[k] = { ...(cur[k] as object) }) as Record<string, unknown>;
          cur.w = wild;
          const pointer = `/${[...path, 'w'].join('/')}`;
          const found = findUnstorable(doc);
          expect(found.some((f) => f.path === pointer || f.path.startsWith(`${pointer}/`))).toBe(
            true,
          );
        },
      ),
    );
  });

  it('names the path and the reason of each kind', () => {
    const circular: Record<string, unknown> = { a: { b: 1 } };
    (circular.a as Record<string, unknown>).back = circular;
    expect(
      findUnstorable({
        f: () => 1,
        m: new Map(),
        n: 10n,
        arr: [1, undefined, 3],
        d: new Date(Number.NaN),
        p: new Point(1, 2),
        o: { $oid: 'x' },
      }),
    ).toEqual([
      { path: '/f', reason: 'a function (it would be dropped)' },
      { path: '/m', reason: 'a Map (use a plain object)' },
      {
        path: '/n',
        reason: 'a BigInt (use Long.fromBigInt(n) from bson for a 64-bit integer, or a number)',
      },
      { path: '/arr/1', reason: 'undefined in an array (it would be stored as null)' },
      { path: '/d', reason: 'an invalid Date (its time is NaN)' },
      {
        path: '/p',
        reason:
          'a Point (only plain objects, arrays, strings, numbers, booleans, null, Dates and bson values are stored)',
      },
      {
        path: '/o/$oid',
        reason:
          "a field named '$oid' (Extended JSON would read the object back as a type wrapper, not as itself)",
      },
    ]);
    expect(findUnstorable(circular)).toEqual([
      { path: '/a/back', reason: 'a circular reference (to /)' },
    ]);
    // a shared object that is not circular is fine: it is written once per place
    const shared = { x: 1 };
    expect(findUnstorable({ a: shared, b: [shared, shared] })).toEqual([]);
    // undefined as a field means absent, as everywhere in the model
    expect(findUnstorable({ a: undefined, b: 1 })).toEqual([]);
    expect(findUnstorable([1])).toEqual([{ path: '', reason: 'not a document: an array' }]);
  });

  it('stops at the nesting limit without walking deeper (and never overflows the stack)', () => {
    const nest = (levels: number): Record<string, unknown> => {
      let v: Record<string, unknown> = { leaf: 1 };
      for (let i = 1; i < levels; i++) v = { a: v };
      return v;
    };
    expect(findUnstorable(nest(MAX_NESTING_DEPTH))).toEqual([]);
    const deep = findUnstorable(nest(MAX_NESTING_DEPTH + 1));
    expect(deep).toHaveLength(1);
    expect(deep[0]!.reason).toBe(`nested deeper than ${MAX_NESTING_DEPTH} levels`);
    expect(deep[0]!.path.split('/').length - 1).toBe(MAX_NESTING_DEPTH);
    expect(findUnstorable(nest(50_000))[0]!.reason).toMatch(/nested deeper/);
  });

  it('keeps to its limit of findings', () => {
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, () => i]));
    expect(findUnstorable(many)).toHaveLength(20);
    expect(findUnstorable(many, { limit: 3 })).toHaveLength(3);
  });

  it('accepts every value the model has', () => {
    expect(
      findUnstorable({
        i: 1,
        d: new Double(1),
        i32: new Int32(2),
        o: new ObjectId(),
        when: new Date(0),
        nan: Number.NaN,
        neg: -0,
        big: 2 ** 40,
        nested: { $foo: 1, list: [[], {}, null] },
      }),
    ).toEqual([]);
  });
});
