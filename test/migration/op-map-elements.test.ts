import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { mapElements } from '../../src/migration/op-map-elements.js';
import { addField } from '../../src/migration/op-add-field.js';
import { lowercase } from '../../src/migration/op-lowercase.js';
import { mapValue } from '../../src/migration/op-map-value.js';
import { renameField } from '../../src/migration/op-rename-field.js';
import { trim } from '../../src/migration/op-trim.js';
import { wrapInArray } from '../../src/migration/op-wrap-in-array.js';
import { applyChecked, refusal } from './helpers.js';

describe('mapElements', () => {
  it('applies operations in order to each object element', () => {
    const op = mapElements('emails', renameField('addr', 'address'), wrapInArray('address'));
    expect(applyChecked(op, { emails: [{ addr: 'a' }, 'x', { other: 1 }] })).toEqual({
      emails: [{ address: ['a'] }, 'x', { other: 1 }],
    });
    expect(applyChecked(op, { emails: 'not an array' })).toEqual({ emails: 'not an array' });
    expect(applyChecked(op, {})).toEqual({});
  });

  it('nests: arrays of arrays', () => {
    const op = mapElements('orders[].items', renameField('q', 'qty'));
    expect(
      applyChecked(op, { orders: [{ items: [{ q: 1 }] }, { items: [{ q: 2 }, {}] }] }),
    ).toEqual({
      orders: [{ items: [{ qty: 1 }] }, { items: [{ qty: 2 }, {}] }],
    });
  });

  it('is exact when every inner operation is, inverting in reverse order', () => {
    const op = mapElements('e', renameField('a', 'b'), wrapInArray('b'));
    expect(op.lossy).toBe(false);
    expect(op.inverse()!.describe()).toBe(
      "in each element of 'e': unwrap the one-element array 'b'; rename 'b' to 'a'",
    );
  });

  it('is lossy when an inner operation is, and flags user inverses', () => {
    // the description names the one inner operation already: the reason does not repeat it
    const one = mapElements('e', lowercase('a'));
    expect(one.describe()).toBe("in each element of 'e': lower-case 'a'");
    expect(one.lossy).toBe('the original letter case is not kept');
    // with several, the reason says which one loses what
    expect(mapElements('e', renameField('b', 'c'), lowercase('a'), trim('d')).lossy).toBe(
      "lower-case 'a': the original letter case is not kept; trim 'd': the removed white space is not kept",
    );
    expect(
      mapElements(
        'e',
        mapValue(
          'a',
          (v) => v,
          (v) => v,
        ),
      ).userInverse,
    ).toBe(true);
  });

  it('reports inner refusals at the element', () => {
    const err = refusal(mapElements('e', renameField('a', 'b')), { e: [{}, { a: 1, b: 2 }] });
    expect(err.message).toBe(
      "in each element of 'e': rename 'a' to 'b': at 'e[1].b': rename 'a' to 'b': the target field already exists",
    );
    expect(err.where).toBe('e[1].b');
  });

  it('reports the touched paths under the array', () => {
    expect(mapElements('e', renameField('a', 'b'), addField('c', 1)).touches).toEqual([
      'e',
      'e[].a',
      'e[].b',
      'e[].c',
    ]);
  });

  it('rejects bad arguments', () => {
    expect(() => mapElements('e')).toThrow(/at least one operation/);
    expect(() => mapElements('e', {} as never)).toThrow(/'operations\[0\]' is not an operation/);
    expect(() => mapElements('e[]', lowercase('a'))).toThrow(InputError);
  });
});
