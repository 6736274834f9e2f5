import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import {
  FieldPathError,
  deleteAt,
  formatSteps,
  formatTrail,
  getAll,
  has,
  lastKey,
  parsePath,
  setAt,
  slotsOf,
  updateAt,
  visit,
} from '../../src/core/field-path.js';
import { canonicalString, cloneValue, type Doc, type Value } from '../../src/core/values.js';
import { anyValue, docArb, keyArb } from '../migration/arbitraries.js';

describe('parsePath', () => {
  it('parses dot paths and [] steps', () => {
    expect(parsePath('a.b.c').steps).toEqual([
      { kind: 'key', key: 'a' },
      { kind: 'key', key: 'b' },
      { kind: 'key', key: 'c' },
    ]);
    expect(parsePath('emails[].address').steps).toEqual([
      { kind: 'key', key: 'emails' },
      { kind: 'each' },
      { kind: 'key', key: 'address' },
    ]);
    expect(parsePath('m[][]').steps.map((s) => s.kind)).toEqual(['key', 'each', 'each']);
    expect(parsePath('héllo wörld.😀').steps).toHaveLength(2);
  });

  it.each([
    ['', /must not be empty/],
    ['a..b', /'a..b': segment 2 is empty/],
    ['.a', /segment 1 is empty/],
    ['a.', /segment 2 is empty/],
    ['[]', /'\[\]' must follow a field name/],
    ['a.[]', /'\[\]' must follow a field name/],
    ['a[]b', /may only appear as '\[\]' at the end/],
    ['a[0]', /may only appear as '\[\]'/],
    ['a]', /may only appear/],
    ['a[', /may only appear/],
  ])('rejects %j', (text, message) => {
    expect(() => parsePath(text)).toThrow(InputError);
    expect(() => parsePath(text)).toThrow(message);
  });

  it('rejects a non-string', () => {
    expect(() => parsePath(3 as unknown as string)).toThrow(InputError);
  });

  it('formatSteps gives back the text (property)', () => {
    const segment = fc.tuple(keyArb, fc.nat({ max: 2 })).map(([k, n]) => k + '[]'.repeat(n));
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }), (segments) => {
        const text = segments.join('.');
        const p = parsePath(text);
        expect(p.text).toBe(text);
        expect(formatSteps(p.steps)).toBe(text);
      }),
    );
  });

  it('lastKey', () => {
    expect(lastKey(parsePath('a.b'))).toBe('b');
    expect(lastKey(parsePath('a.b[]'))).toBeUndefined();
  });
});

describe('reading', () => {
  const doc: Doc = {
    name: 'Ada',
    emails: [{ address: 'a@x' }, 'not an object', { other: 1 }, { address: null }],
    a: { b: [{ c: [{ d: 1 }, { d: 2 }] }, { c: 'str' }, { c: [{ d: 3 }] }] },
    s: 'text',
  };

  it('getAll returns every present value with its location', () => {
    expect(getAll(doc, parsePath('emails[].address'))).toEqual([
      { value: 'a@x', trail: ['emails', 0, 'address'], where: 'emails[0].address' },
      { value: null, trail: ['emails', 3, 'address'], where: 'emails[3].address' },
    ]);
    expect(getAll(doc, parsePath('a.b[].c[].d')).map((f) => [f.where, f.value])).toEqual([
      ['a.b[0].c[0].d', 1],
      ['a.b[0].c[1].d', 2],
      ['a.b[2].c[0].d', 3],
    ]);
    expect(getAll(doc, parsePath('emails[]'))).toHaveLength(4);
  });

  it('a step through a missing value or a value of another kind resolves to nothing', () => {
    expect(getAll(doc, parsePath('missing.x'))).toEqual([]);
    expect(getAll(doc, parsePath('s.length'))).toEqual([]);
    expect(getAll(doc, parsePath('s[]'))).toEqual([]);
    expect(getAll(doc, parsePath('name[].x'))).toEqual([]);
    expect(has(doc, parsePath('name'))).toBe(true);
    expect(has(doc, parsePath('nope'))).toBe(false);
    expect(has(doc, parsePath('emails[].other'))).toBe(true);
  });

  it('null is present; inherited properties are not', () => {
    expect(has({ a: null }, parsePath('a'))).toBe(true);
    expect(has({}, parsePath('toString'))).toBe(false);
    expect(has({}, parsePath('__proto__'))).toBe(false);
  });

  it('visit sees absent locations whose parent exists', () => {
    const seen: string[] = [];
    visit(doc, parsePath('emails[].address'), (slot) => seen.push(`${slot.where}:${slot.present}`));
    expect(seen).toEqual([
      'emails[0].address:true',
      'emails[2].address:false',
      'emails[3].address:true',
    ]);
  });

  it('formatTrail', () => {
    expect(formatTrail([])).toBe('(root)');
    expect(formatTrail(['a', 0, 'b', 1, 2])).toBe('a[0].b[1][2]');
  });
});

describe('writing', () => {
  it('setAt creates intermediate objects on plain paths', () => {
    const d: Doc = { a: { keep: 1 } };
    expect(setAt(d, parsePath('a.b.c'), 5)).toBe(1);
    expect(d).toEqual({ a: { keep: 1, b: { c: 5 } } });
  });

  it('setAt with [] sets the field in every object element, creating below them', () => {
    const d: Doc = { items: [{}, { x: { y: 0 } }, 'str', { x: {} }] };
    setAt(d, parsePath('items[].x.z'), (slot) => slot.where);
    expect(d).toEqual({
      items: [
        { x: { z: 'items[0].x.z' } },
        { x: { y: 0, z: 'items[1].x.z' } },
        'str',
        { x: { z: 'items[3].x.z' } },
      ],
    });
  });

  it('setAt does not create arrays', () => {
    const d: Doc = {};
    expect(setAt(d, parsePath('items[].x'), 1)).toBe(0);
    expect(d).toEqual({});
  });

  it('setAt refuses to write through a value that is not an object', () => {
    expect(() => setAt({ a: 'str' }, parsePath('a.b'), 1)).toThrow(FieldPathError);
    expect(() => setAt({ a: null }, parsePath('a.b'), 1)).toThrow(
      "at 'a': cannot create a field inside a null",
    );
  });

  it('updateAt replaces present values only, including array elements', () => {
    const d: Doc = { tags: ['A', 'B'], n: { v: 1 } };
    expect(updateAt(d, parsePath('tags[]'), (v) => (v as string).toLowerCase())).toBe(2);
    expect(updateAt(d, parsePath('n.missing'), () => 0)).toBe(0);
    expect(d).toEqual({ tags: ['a', 'b'], n: { v: 1 } });
  });

  it('deleteAt removes fields and refuses array elements', () => {
    const d: Doc = { a: [{ x: 1, y: 2 }, { y: 3 }], b: 1 };
    expect(deleteAt(d, parsePath('a[].x'))).toBe(1);
    expect(d).toEqual({ a: [{ y: 2 }, { y: 3 }], b: 1 });
    expect(() => deleteAt(d, parsePath('a[]'))).toThrow(FieldPathError);
  });

  it('__proto__ is an ordinary key', () => {
    const d: Doc = {};
    setAt(d, parsePath('__proto__.x'), 1);
    expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
    expect(Object.keys(d)).toEqual(['__proto__']);
    expect(getAll(d, parsePath('__proto__.x'))[0]!.value).toBe(1);
  });
});

describe('properties', () => {
  const plainPath = fc
    .array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 })
    .map((k) => k.join('.'));

  it('set then get gives the value on plain paths (when the path can be created)', () => {
    fc.assert(
      fc.property(
        docArb({ 'a.b': {}, 'a.c': {}, b: {} }),
        plainPath,
        anyValue,
        (doc, text, value) => {
          const p = parsePath(text);
          const d = cloneValue(doc);
          try {
            setAt(d, p, value);
          } catch (err) {
            expect(err).toBeInstanceOf(FieldPathError);
            return;
          }
          const found = getAll(d, p);
          expect(found).toHaveLength(1);
          expect(canonicalString(found[0]!.value)).toBe(canonicalString(value));
        },
      ),
    );
  });

  it('after deleteAt the path is absent, and nothing else changed', () => {
    fc.assert(
      fc.property(docArb({ 'x[].y': {}, 'x[].z': {} }), (doc) => {
        const p = parsePath('x[].y');
        const d = cloneValue(doc);
        const n = deleteAt(d, p);
        expect(n).toBe(getAll(doc, p).length);
        expect(has(d, p)).toBe(false);
        expect(canonicalString(getAll(d, parsePath('x[].z')).map((f) => f.value))).toBe(
          canonicalString(getAll(doc, parsePath('x[].z')).map((f) => f.value)),
        );
      }),
    );
  });

  it('updateAt with the identity changes nothing; getAll matches the present slots', () => {
    fc.assert(
      fc.property(
        docArb({ 'e[].a.b': {}, 'e[].a.c[]': {} }),
        fc.constantFrom('e[].a.b', 'e[].a.c[]', 'e[]', 'e'),
        (doc, text) => {
          const p = parsePath(text);
          const d = cloneValue(doc);
          const n = updateAt(d, p, (v: Value) => v);
          expect(canonicalString(d)).toBe(canonicalString(doc));
          expect(n).toBe(getAll(doc, p).length);
          expect(slotsOf(doc, p).filter((s) => s.present)).toHaveLength(n);
        },
      ),
    );
  });
});
