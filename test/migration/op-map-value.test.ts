import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import type { Value } from '../../src/core/values.js';
import { mapValue } from '../../src/migration/op-map-value.js';
import { applyChecked, refusal } from './helpers.js';

const toCents = (v: Value): Value => Math.round((v as number) * 100);
const toDollars = (v: Value): Value => (v as number) / 100;

describe('mapValue', () => {
  it('maps every present value, with the document available', () => {
    expect(applyChecked(mapValue('price', toCents), { price: 1.25 })).toEqual({ price: 125 });
    const op = mapValue('items[].n', (v, doc) => `${String(v)}/${String(doc.k)}`);
    expect(applyChecked(op, { k: 'x', items: [{ n: 1 }, {}, { n: null }] })).toEqual({
      k: 'x',
      items: [{ n: '1/x' }, {}, { n: 'null/x' }],
    });
  });

  it('is lossy without an inverse', () => {
    expect(mapValue('a', toCents).lossy).toMatch(/without an inverse/);
    expect(mapValue('a', toCents).userInverse).toBe(false);
  });

  it('with an inverse it is exact, flagged as resting on user code', () => {
    const op = mapValue('price', toCents, toDollars);
    expect(op.lossy).toBe(false);
    expect(op.userInverse).toBe(true);
    expect(applyChecked(op, { price: 125 })).toEqual({ price: 12500 });
    expect(op.inverse()!.apply({ price: 125 })).toEqual({ price: 1.25 });
    expect(op.describe()).toBe("map 'price' with toCents");
  });

  it('wraps what the function throws, and refuses undefined', () => {
    const err = refusal(
      mapValue('a', () => {
        throw new TypeError('nope');
      }),
      { a: 1 },
    );
    expect(err.message).toMatch(/at 'a': the function threw: nope/);
    expect(err.cause).toBeInstanceOf(TypeError);
    expect(
      refusal(
        mapValue('a', () => undefined as never),
        { a: 1 },
      ).message,
    ).toMatch(/returned undefined/);
  });

  it('rejects bad arguments', () => {
    expect(() => mapValue('a', 'x' as never)).toThrow(InputError);
    expect(() => mapValue('a', toCents, 5 as never)).toThrow(/'inverseFn' must be a function/);
  });
});
