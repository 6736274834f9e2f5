/**
 * Inferring schemas: every path a document holds is in the schema with the exact Extended JSON
 * type of its values; presence is counted among the containers; versions are kept apart; the
 * bounds hold; secrets get no examples. And the JSON Schema form round-trips.
 */
import { Decimal128, Double, Long, ObjectId } from 'bson';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { getAll, parsePath } from '../../src/core/field-path.js';
import { typeOf, type Doc } from '../../src/core/values.js';
import { pathMap } from '../../src/schema/collection-schema.js';
import { inferSchemas, MAX_KEYS_PER_OBJECT, SchemaBuilder } from '../../src/schema/infer-schema.js';
import { fromJsonSchema, toJsonSchema } from '../../src/schema/json-schema.js';
import { arbDoc } from '../support/arb-values.js';

const build = (docs: readonly Doc[]) => {
  const b = new SchemaBuilder();
  for (const d of docs) b.add(d);
  return b.build('c', 1);
};

describe('inferring a schema', () => {
  it('names every path of every document, with the type of every value found there', () => {
    fc.assert(
      fc.property(fc.array(arbDoc, { minLength: 1, maxLength: 8 }), (docs) => {
        const schema = build(docs);
        const paths = pathMap(schema);
        for (const p of schema.paths) {
          const found = docs.flatMap((d) => getAll(d, parsePath(p.path)));
          expect(found.length, p.path).toBe(p.counts!.present);
          expect([...new Set(found.map((f) => typeOf(f.value)))].sort()).toEqual(p.types);
          expect(p.required).toBe(p.counts!.present === p.counts!.containers);
          // a path below another is only there when the one above holds objects or arrays
          const parent = p.path.endsWith('[]')
            ? p.path.slice(0, -2)
            : p.path.slice(0, p.path.lastIndexOf('.'));
          if ((parent !== '' && p.path.includes('.')) || p.path.endsWith('[]'))
            expect(paths.has(parent), `${p.path} has no parent`).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps Extended JSON types apart and counts presence among containers', () => {
    const s = pathMap(
      build([
        {
          a: 1,
          b: new Double(1),
          c: Long.fromNumber(1),
          d: Decimal128.fromString('1'),
          o: { x: 1 },
        } as unknown as Doc,
        {
          a: 1.5,
          b: new ObjectId('64b7f0a1a1a1a1a1a1a1a1a1'),
          o: { y: new Date(0) },
          items: [{ q: 1 }, { q: '2' }, {}],
        } as unknown as Doc,
        { a: null, items: [] },
      ]),
    );
    expect(s.get('a')!.types).toEqual(['double', 'int', 'null']);
    expect(s.get('b')!.types).toEqual(['double', 'objectId']);
    expect(s.get('c')!.types).toEqual(['long']);
    expect(s.get('d')!.types).toEqual(['decimal']);
    expect(s.get('o')).toMatchObject({ presence: 0.6667, required: false });
    expect(s.get('o.x')).toMatchObject({ presence: 0.5, counts: { containers: 2, present: 1 } });
    expect(s.get('o.y')!.types).toEqual(['date']);
    expect(s.get('items')!.counts!.arrayLength).toEqual({ min: 0, max: 3 });
    expect(s.get('items[].q')).toMatchObject({ types: ['int', 'string'], presence: 0.6667 });
    expect(s.get('a')!.examples).toEqual([{ $numberInt: '1' }, { $numberDouble: '1.5' }, null]);
  });

  it('keeps no examples of secrets, no passwords in URLs, and none that are long', () => {
    const s = pathMap(
      build([
        {
          password: 'hunter2',
          apiKey: 'k',
          user: { token: 't' },
          bio: 'x'.repeat(500),
          db: 'redis://app:hunter2@cache:6379/0',
        },
      ]),
    );
    expect(s.get('db')!.examples).toEqual(['redis://app:***@cache:6379/0']);
    expect(s.get('password')!.examples).toBeUndefined();
    expect(s.get('apiKey')!.examples).toBeUndefined();
    expect(s.get('user.token')!.examples).toBeUndefined();
    expect((s.get('bio')!.examples![0] as string).length).toBeLessThan(70);
  });

  it('is bounded: objects keyed by data, and keys no path can name, are counted, not listed', () => {
    const wide: Doc = {};
    for (let i = 0; i < MAX_KEYS_PER_OBJECT + 50; i++) wide[`k${i}`] = i;
    const s = build([{ m: wide, 'a.b': 1, 'x[0]': 2 }]);
    expect(s.paths.filter((p) => p.path.startsWith('m.'))).toHaveLength(MAX_KEYS_PER_OBJECT);
    expect(s.notes!.join(' ')).toMatch(/2 value\(s\) under keys no field path can name/);
    expect(s.notes!.join(' ')).toMatch(/50 path\(s\) left out/);
  });

  it('keeps versions apart and leaves the version field out', () => {
    const schemas = inferSchemas(
      [{ name: 'Ada' }, { name: 'Ada', _sv: 1 }, { first: 'Ada', _sv: 2 }],
      { collection: 'users', versionField: '_sv', baseVersion: 1 },
    );
    expect(schemas.map((s) => [s.version, s.sampled, s.paths.map((p) => p.path)])).toEqual([
      [1, 2, ['name']],
      [2, 1, ['first']],
    ]);
  });
});

describe('JSON Schema', () => {
  it('an inferred schema survives JSON Schema and back: paths, types, required', () => {
    fc.assert(
      fc.property(fc.array(arbDoc, { minLength: 1, maxLength: 6 }), (docs) => {
        const schema = build(docs);
        const back = fromJsonSchema(JSON.parse(JSON.stringify(toJsonSchema(schema))), {
          collection: 'c',
          version: 1,
        });
        const strip = (s: typeof schema) =>
          s.paths.map((p) => [p.path, p.types, p.required, p.examples ?? []]);
        expect(strip(back)).toEqual(strip(schema));
        expect(back.closed).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('reads plain JSON Schema types, defaults in Extended JSON and x-renamedFrom', () => {
    const s = pathMap(
      fromJsonSchema(
        {
          type: 'object',
          required: ['n'],
          properties: {
            n: { type: 'integer' },
            x: { type: ['number', 'null'], default: { $numberDouble: '1.0' } },
            when: { bsonType: 'date', 'x-renamedFrom': 'created' },
            tags: { type: 'array', items: { type: 'string' } },
          },
        },
        { collection: 'c', version: 2 },
      ),
    );
    expect(s.get('n')).toMatchObject({ types: ['int', 'long'], required: true });
    expect(s.get('x')).toMatchObject({
      types: ['decimal', 'double', 'int', 'long', 'null'],
      required: false,
      default: { $numberDouble: '1.0' },
    });
    expect(s.get('when')).toMatchObject({ types: ['date'], renamedFrom: 'created' });
    expect(s.get('tags[]')!.types).toEqual(['string']);
  });

  const refused: [string, unknown, RegExp, string][] = [
    ['not an object', [1], /must be a JSON Schema object/, '/'],
    [
      'an unknown bsonType',
      { properties: { a: { bsonType: 'integer' } } },
      /unknown bsonType "integer"/,
      '/properties/a/bsonType',
    ],
    [
      'anyOf',
      { properties: { a: { anyOf: [{ type: 'string' }] } } },
      /'anyOf' is not supported/,
      '/properties/a/anyOf',
    ],
    [
      'a required field that is not a property',
      { required: ['b'], properties: {} },
      /names 'b', which is not one of its properties/,
      '/required',
    ],
    [
      'a field name no path can name',
      { properties: { 'a.b': {} } },
      /cannot be named by a field path/,
      '/properties/a.b',
    ],
    [
      'an invalid JSON Schema',
      { type: 'object', properties: { a: { type: 12 } } },
      /not a valid JSON Schema/,
      '/',
    ],
    [
      'a default that is not Extended JSON',
      { properties: { a: { default: { $oid: 'zz' } } } },
      /not valid Extended JSON/,
      '/properties/a/default',
    ],
  ];
  for (const [what, json, message, field] of refused)
    it(`refuses ${what}, naming the file and the JSON pointer`, () => {
      let err: unknown;
      try {
        fromJsonSchema(json, { collection: 'c', version: 2, file: 'target.json' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).message).toMatch(message);
      expect((err as InputError).file).toBe('target.json');
      expect((err as InputError).field).toBe(field);
    });
});
