import fc from 'fast-check';
import { Double, Long } from 'bson';
import { describe, expect, it } from 'vitest';
import {
  canonicalString,
  fromStorageJSON,
  hashValue,
  parseEJSON,
  toEJSON,
  toStorageJSON,
  typeOf,
  type Value,
} from '../../src/core/values.js';
import { keyOf } from '../../src/core/keys.js';
import { EVERY_TYPE } from '../conformance/store-checks.js';
import { arbDoc } from '../support/arb-values.js';

describe('value model', () => {
  it('keeps int32, double, integral double and long apart', () => {
    const d = parseEJSON(
      '{"i":{"$numberInt":"1"},"d":{"$numberDouble":"1.0"},"f":{"$numberDouble":"1.5"},"l":{"$numberLong":"1"},"big":3000000000}',
    ) as Record<string, Value>;
    expect(d.i).toBe(1);
    expect(d.f).toBe(1.5);
    expect(typeOf(d.i)).toBe('int');
    expect(typeOf(d.d)).toBe('double');
    expect(typeOf(d.f)).toBe('double');
    expect(typeOf(d.l)).toBe('long');
    expect(typeOf(d.big)).toBe('long');
    expect(toEJSON(d)).toBe(
      '{"i":{"$numberInt":"1"},"d":{"$numberDouble":"1.0"},"f":{"$numberDouble":"1.5"},"l":{"$numberLong":"1"},"big":{"$numberLong":"3000000000"}}',
    );
  });

  it('types what up() computes by value alone: the Int32 / Double trap as docs/concepts/values.md tells it', () => {
    const d = parseEJSON(
      '{"a":{"$numberInt":"2000000000"},"n":{"$numberLong":"5"},"d":{"$numberDouble":"1.0"}}',
    ) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const stored = (v: Value) => toEJSON({ v });
    expect(stored(d.a * 2)).toBe('{"v":{"$numberDouble":"4000000000.0"}}');
    expect(stored(d.n * 1)).toBe('{"v":{"$numberInt":"5"}}');
    expect(stored(d.n + 1)).toBe('{"v":"51"}');
    expect(stored(d.d * 2)).toBe('{"v":{"$numberInt":"2"}}');
    // and the fixes it gives
    expect(stored(Long.fromNumber(d.a * 2))).toBe('{"v":{"$numberLong":"4000000000"}}');
    expect(stored((d.n as Long).add(1))).toBe('{"v":{"$numberLong":"6"}}');
    expect(stored(new Double(d.d * 2))).toBe('{"v":{"$numberDouble":"2.0"}}');
  });

  it('reads relaxed Extended JSON as mongoexport writes it', () => {
    const d = parseEJSON(
      '{"when":{"$date":"2020-01-02T03:04:05.006Z"},"old":{"$date":{"$numberLong":"-1000"}},"n":2.5}',
    ) as Record<string, Value>;
    expect(d.when).toEqual(new Date('2020-01-02T03:04:05.006Z'));
    expect(d.old).toEqual(new Date(-1000));
    expect(d.n).toBe(2.5);
  });

  it('an integer computed by user code outside int32 is written as a double, as the MongoDB driver does', () => {
    expect(toEJSON({ n: 2 ** 40 })).toBe('{"n":{"$numberDouble":"1099511627776.0"}}');
  });

  it('canonical form sorts keys at every level; the hash is stable', () => {
    const a = { b: 1, a: { d: 1, c: [{ z: 1, y: 2 }] } };
    const b = { a: { c: [{ y: 2, z: 1 }], d: 1 }, b: 1 };
    expect(canonicalString(a)).toBe(canonicalString(b));
    expect(canonicalString(a)).toBe(
      '{"a":{"c":[{"y":{"$numberInt":"2"},"z":{"$numberInt":"1"}}],"d":{"$numberInt":"1"}},"b":{"$numberInt":"1"}}',
    );
    expect(hashValue(a)).toBe(hashValue(b));
    expect(hashValue({ n: 1 })).not.toBe(hashValue({ n: new Double(1) as unknown as Value }));
  });

  it('the storage form is plain JSON where exact and round-trips every type', () => {
    expect(toStorageJSON({ a: 1, b: 1.5, c: 'x', d: [true, null] })).toBe(
      '{"a":1,"b":1.5,"c":"x","d":[true,null]}',
    );
    expect(canonicalString(fromStorageJSON(toStorageJSON(EVERY_TYPE)))).toBe(
      canonicalString(EVERY_TYPE),
    );
    fc.assert(
      fc.property(
        arbDoc,
        (doc) => canonicalString(fromStorageJSON(toStorageJSON(doc))) === canonicalString(doc),
      ),
      { numRuns: 500 },
    );
  });

  it('canonical EJSON round-trips (property)', () => {
    fc.assert(
      fc.property(
        arbDoc,
        (doc) => canonicalString(parseEJSON(toEJSON(doc))) === canonicalString(doc),
      ),
      {
        numRuns: 500,
      },
    );
  });

  it('derives string keys from typed ids', () => {
    expect(keyOf('abc')).toBe('abc');
    expect(keyOf(7)).toBe('7');
    expect(keyOf(Long.fromNumber(7) as unknown as Value)).toBe('7');
    expect(
      keyOf((parseEJSON('{"x":{"$oid":"5ca4bbcea2dd94ee58162a68"}}') as Record<string, Value>).x),
    ).toBe('5ca4bbcea2dd94ee58162a68');
    expect(keyOf(null)).toBeUndefined();
  });
});

describe('contentHash and the storage fast path', () => {
  it('contentHash ignores key order, sees types, and agrees with canonical equality (property)', async () => {
    const { contentHash } = await import('../../src/core/values.js');
    expect(contentHash({ a: 1, b: [1, { c: 2, d: 3 }] })).toBe(
      contentHash({ b: [1, { d: 3, c: 2 }], a: 1 }),
    );
    expect(contentHash({ n: 1 })).not.toBe(contentHash({ n: new Double(1) as unknown as Value }));
    fc.assert(
      fc.property(
        arbDoc,
        arbDoc,
        (a, b) =>
          (contentHash(a) === contentHash(b)) === (canonicalString(a) === canonicalString(b)),
      ),
      { numRuns: 300 },
    );
  });

  it('plain documents take the native JSON path and still round-trip', () => {
    const plain = { s: 'x', n: 5, f: 1.5, b: true, z: null, a: [1, 'two', { deep: [] }] };
    expect(toStorageJSON(plain)).toBe(JSON.stringify(plain));
    expect(toStorageJSON({ big: 2 ** 40 })).toBe('{"big":{"$numberDouble":"1099511627776.0"}}');
  });
});
