/**
 * Every operation of the catalogue through the shared harness (see harness.ts): exact ones must
 * round-trip, lossy ones must be shown to lose information.
 */
import fc from 'fast-check';
import { describe } from 'vitest';
import type { Value } from '../../src/core/values.js';
import {
  addField,
  arrayToObject,
  coerceType,
  copyField,
  joinFields,
  lowercase,
  mapElements,
  mapValue,
  nestFields,
  objectToArray,
  removeCopy,
  removeField,
  renameField,
  splitField,
  trim,
  unnestField,
  unwrapArray,
  wrapInArray,
  type CoerceType,
} from '../../src/migration/index.js';
import { convertValue } from '../../src/migration/coerce-values.js';
import { anyValue, keyArb, stringArb, typedValue, type FieldSpec } from './arbitraries.js';
import { executeCase, type HarnessCase } from './harness.js';

const rarely: FieldSpec = { presence: 0.15 };
const often = (value: fc.Arbitrary<Value>, share = 4): FieldSpec => ({
  value: fc.oneof({ weight: share, arbitrary: value }, { weight: 1, arbitrary: anyValue }),
});
const text = often(stringArb);
const names = often(
  fc
    .array(fc.constantFrom('Ada', 'Mary', 'Ann', '', 'Ó', '😀'), { maxLength: 4 })
    .map((w) => w.join(' ')),
);
const objects = often(fc.dictionary(keyArb, anyValue, { maxKeys: 4 }) as fc.Arbitrary<Value>);
/** Arrays of { k, v } entries with keys from `keys` (so duplicates and index-like keys occur). */
const entries = (
  keys: fc.Arbitrary<Value>,
  k = 'k',
  v = 'v',
  values: fc.Arbitrary<Value> = anyValue,
): FieldSpec =>
  often(
    fc
      .array(fc.tuple(keys, values), { maxLength: 4 })
      .map((pairs): Value => pairs.map(([key, value]) => ({ [k]: key, [v]: value }))),
  );
const reverse = (v: Value): Value => (typeof v === 'string' ? [...v].reverse().join('') : v);
const upper = (v: Value): Value => (typeof v === 'string' ? v.toUpperCase() : v);

const UTC_FORMAT = 'YYYY-MM-DD HH:mm:ss [UTC]';
const dates = fc.date({
  min: new Date(Date.UTC(100, 0, 1)),
  max: new Date(Date.UTC(9999, 11, 31)),
  noInvalidDate: true,
});
// the format has no milliseconds: a date with some does not come back the same (refused)
const wholeSeconds = dates.map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000));
const formattedDates = dates.map((d) =>
  d.toISOString().slice(0, 19).replace('T', ' ').concat(' UTC'),
);

const exact: HarnessCase[] = [
  { op: renameField('a', 'b'), fields: { b: rarely } },
  { op: renameField('a.x', 'a.y'), fields: { 'a.y': rarely } },
  { op: renameField('a', 'x.y'), fields: { 'x.y': rarely } },
  { op: renameField('x.y', 'a'), fields: { a: rarely } },
  { op: renameField('items[].a', 'items[].b'), fields: { 'items[].b': rarely } },
  { op: renameField('p.q[].r.s', 'p.q[].t'), fields: { 'p.q[].t': rarely } },
  { op: copyField('a', 'b'), fields: { b: rarely } },
  { op: copyField('a', 'x.y.z'), fields: { 'x.y.z': rarely } },
  { op: copyField('m[].a', 'm[].n.b'), fields: { 'm[].n.b': rarely } },
  { op: removeCopy('a', 'x.b'), seedWith: copyField('a', 'x.b') },
  { op: wrapInArray('a') },
  { op: wrapInArray('items[].tag') },
  { op: wrapInArray('matrix[]') },
  { op: unwrapArray('a'), seedWith: wrapInArray('a') },
  {
    op: unwrapArray('t[]'),
    fields: { 't[]': often(fc.array(anyValue, { minLength: 1, maxLength: 1 })) },
  },
  {
    op: splitField('name', ['first', 'last'], ' '),
    fields: { name: names, first: rarely, last: rarely },
  },
  {
    op: splitField('p.name', ['p.n.a', 'p.n.b', 'c'], ' '),
    fields: { 'p.name': names, 'p.n.a': rarely, 'p.n.b': rarely, c: rarely },
  },
  {
    op: splitField('u[].s', ['u[].a', 'u[].b'], ', '),
    fields: {
      'u[].a': rarely,
      'u[].b': rarely,
      'u[].s': often(
        fc.array(fc.constantFrom('x', 'y', ',', ' '), { maxLength: 6 }).map((c) => c.join('')),
      ),
    },
  },
  {
    op: joinFields(['first', 'last'], 'name', ' ', { exact: true }),
    fields: { first: names, last: names, name: rarely },
  },
  {
    op: joinFields(['a', 'x.b', 'c'], 'x.j', '-', { exact: true }),
    fields: { a: text, 'x.b': text, c: text, 'x.j': rarely },
  },
  { op: nestFields(['street', 'city'], 'address'), fields: { address: rarely } },
  { op: nestFields(['o.w', 'o.h'], 'o.size'), fields: { 'o.size': rarely } },
  { op: nestFields(['i[].w'], 'i[].box'), fields: { 'i[].box': rarely } },
  {
    op: unnestField('address', { fields: ['street', 'city'] }),
    fields: { street: rarely, city: rarely },
    seedWith: nestFields(['street', 'city'], 'address'),
    numRuns: 400,
  },
  {
    op: mapValue('s', reverse, reverse),
    fields: { s: text },
  },
  {
    op: mapElements('items', renameField('a', 'b'), wrapInArray('c'), copyField('c', 'd')),
    fields: { 'items[].b': rarely, 'items[].d': rarely },
    numRuns: 400,
  },
  { op: objectToArray('s'), fields: { s: objects } },
  {
    op: objectToArray('i[].a', { keyField: 'name', valueField: 'value' }),
    fields: { 'i[].a': objects },
  },
  { op: arrayToObject('a'), fields: { a: entries(keyArb) }, seedWith: objectToArray('a') },
  {
    op: arrayToObject('a', { keyField: 'n', valueField: 'x' }),
    fields: { a: entries(fc.constantFrom('a', 'b', '1', ''), 'n', 'x') },
  },
  ...coercions(),
  // dates written in a format: strings in it (or not), and dates, both ways
  {
    op: coerceType('v', 'date', { from: 'string', format: UTC_FORMAT }),
    fields: { v: often(fc.oneof(formattedDates, stringArb, dates)) },
  },
  {
    op: coerceType('v', 'string', { from: 'date', format: UTC_FORMAT }),
    fields: { v: often(fc.oneof(wholeSeconds, wholeSeconds, formattedDates, dates)) },
  },
];

function coercions(): HarnessCase[] {
  const pairs: Array<[CoerceType, CoerceType]> = [
    ['int', 'string'],
    ['string', 'int'],
    ['int', 'long'],
    ['long', 'int'],
    ['int', 'double'],
    ['double', 'string'],
    ['string', 'double'],
    ['long', 'decimal'],
    ['decimal', 'string'],
    ['long', 'double'],
    ['double', 'decimal'],
    ['bool', 'string'],
    ['bool', 'int'],
    ['date', 'string'],
    ['string', 'date'],
    ['date', 'long'],
    ['long', 'date'],
    ['objectId', 'string'],
    ['string', 'objectId'],
  ];
  return pairs.map(([from, to]) => {
    // Values of both types, and for strings, strings that convert.
    const convertible = (t: CoerceType): fc.Arbitrary<Value> =>
      typedValue[t === 'string' ? (from === 'string' ? to : from) : t].map((v) => {
        const s = convertValue(v, 'string');
        return t === 'string' && s.ok ? s.value : v;
      });
    const values = fc.oneof(typedValue[from], typedValue[to], convertible(from), convertible(to));
    return { op: coerceType('v', to, { from }), fields: { v: often(values, 6) } };
  });
}

const lossy: HarnessCase[] = [
  { op: addField('tier', 'free') },
  { op: addField('meta.tags[].seen', (d) => Object.keys(d).length) },
  { op: removeField('a') },
  { op: removeField('items[].tmp') },
  { op: coerceType('v', 'int'), fields: { v: text } },
  { op: coerceType('v', 'string') },
  { op: coerceType('v', 'date'), fields: { v: often(typedValue.long) } },
  { op: joinFields(['first', 'last'], 'name', ' '), fields: { first: names, last: names } },
  { op: unnestField('address') },
  { op: mapValue('s', upper), fields: { s: text } },
  { op: lowercase('email'), fields: { email: text } },
  { op: lowercase('tags[]'), fields: { 'tags[]': text } },
  { op: trim('name'), fields: { name: names } },
  { op: trim('emails[].address'), fields: { 'emails[].address': names } },
  { op: mapElements('items', trim('s'), removeField('c')), fields: { 'items[].s': names } },
  { op: renameField('a', 'b', { onConflict: 'keep' }) },
  { op: renameField('a', 'b', { onConflict: 'overwrite' }) },
  { op: renameField('m[].a', 'm[].x.b', { onConflict: 'overwrite' }) },
  { op: copyField('a', 'b', { onConflict: 'keep' }) },
  { op: copyField('a', 'b', { onConflict: 'overwrite' }) },
  { op: removeField('a', { when: 'null' }), fields: { a: often(fc.constant(null)) } },
  {
    op: removeField('i[].a', { when: 'empty' }),
    fields: { 'i[].a': often(fc.constantFrom(null, '', [], {})) },
  },
  { op: wrapInArray('a', { unlessArray: true }) },
  ...(['first', 'last'] as const).map((onDuplicate): HarnessCase => ({
    op: arrayToObject('a', { onDuplicate }),
    fields: { a: entries(fc.constantFrom('x', 'y'), 'k', 'v', fc.constantFrom(1, 2)) },
    extras: false,
  })),
  {
    op: arrayToObject('a', { convertKeys: true }),
    // only '1' and 1: the collision is found on every seed (with four keys it was missed 1 in ~20)
    fields: { a: entries(fc.constantFrom<Value>('1', 1), 'k', 'v', fc.constant(1)) },
    numRuns: 1000,
    extras: false,
  },
  {
    op: arrayToObject('a', { anyOrder: true }),
    fields: { a: entries(fc.constantFrom('b', '1'), 'k', 'v', fc.constant(1)) },
    numRuns: 1000,
    extras: false,
  },
];

describe('exact operations round-trip', () => {
  for (const c of exact) executeCase(c);
});

describe('lossy operations lose information', () => {
  for (const c of lossy) executeCase(c);
});
