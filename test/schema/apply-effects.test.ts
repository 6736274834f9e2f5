/**
 * Every operation's declared schema effects against what it does: for random documents, the
 * schema predicted from the effects (apply-effects.ts) must describe the schema inferred from
 * the operation's actual results — every path they hold, with every type they hold, and where
 * the prediction says a path is always there, it is.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Doc, Value } from '../../src/core/values.js';
import {
  addField,
  coerceType,
  copyField,
  joinFields,
  lowercase,
  mapElements,
  nestFields,
  removeCopy,
  removeField,
  renameField,
  splitField,
  trim,
  unnestField,
  unwrapArray,
  wrapInArray,
  type Operation,
} from '../../src/migration/index.js';
import { predictSchema } from '../../src/schema/apply-effects.js';
import { UNKNOWN_TYPE, pathMap } from '../../src/schema/collection-schema.js';
import { SchemaBuilder } from '../../src/schema/infer-schema.js';
import { docArb, stringArb, typedValue, type FieldSpec } from '../migration/arbitraries.js';
import { tryApply } from '../migration/harness.js';

interface EffectCase {
  op: Operation;
  fields?: Record<string, FieldSpec>;
}

const str: FieldSpec = { value: stringArb as fc.Arbitrary<Value>, presence: 0.8 };
const always = (value?: fc.Arbitrary<Value>): FieldSpec => ({
  presence: 1,
  ...(value ? { value } : {}),
});

const cases: EffectCase[] = [
  { op: renameField('a', 'b') },
  { op: renameField('a.x', 'a.y') },
  { op: renameField('a', 'x.y') },
  { op: renameField('x.y', 'a') },
  { op: renameField('items[].a', 'items[].b') },
  { op: copyField('a', 'x.y.z') },
  { op: removeCopy('a', 'b'), fields: { a: always(), b: always() } },
  { op: addField('tier', 'free') },
  { op: addField('a.b.c', 7) },
  { op: addField('items[].qty', { n: 1, tags: ['x'] }) },
  { op: addField('computed', (d: Readonly<Doc>) => Object.keys(d).length) },
  { op: removeField('a.b') },
  { op: removeField('items[].x') },
  { op: coerceType('n', 'string') },
  { op: coerceType('n', 'int', { from: 'string' }), fields: { n: { value: typedValue.string } } },
  { op: coerceType('n', 'double', { from: 'int' }), fields: { n: always(typedValue.int) } },
  { op: splitField('name', ['first', 'last'], ' '), fields: { name: str } },
  { op: splitField('p.name', ['p.a', 'p.b', 'p.c'], '-'), fields: { 'p.name': str } },
  { op: joinFields(['first', 'last'], 'name', ' '), fields: { first: str, last: str } },
  { op: joinFields(['a.first', 'a.last'], 'name', ' '), fields: { 'a.first': str, 'a.last': str } },
  { op: splitField('a.name', ['x', 'y'], ' '), fields: { 'a.name': str } },
  { op: nestFields(['street', 'city'], 'address') },
  { op: nestFields(['items[].w', 'items[].h'], 'items[].size') },
  { op: unnestField('address') },
  { op: unnestField('address', { fields: ['street', 'city'] }) },
  { op: wrapInArray('a') },
  { op: wrapInArray('matrix[]') },
  { op: wrapInArray('items[].tag') },
  {
    op: unwrapArray('a'),
    fields: {
      a: always(fc.array(stringArb as fc.Arbitrary<Value>, { minLength: 1, maxLength: 1 })),
    },
  },
  { op: unwrapArray('a') },
  { op: lowercase('email'), fields: { email: str } },
  { op: trim('tags[]') },
  { op: mapElements('items', renameField('qty', 'quantity'), addField('unit', 'pc')) },
  { op: renameField('a', 'b', { onConflict: 'keep' }) },
  { op: renameField('a.x', 'b', { onConflict: 'overwrite' }) },
  { op: copyField('a', 'b', { onConflict: 'keep' }) },
  { op: copyField('items[].a', 'items[].b', { onConflict: 'overwrite' }) },
  { op: removeField('a', { when: 'null' }) },
  { op: removeField('items[].x', { when: 'empty' }) },
  { op: wrapInArray('a', { unlessArray: true }) },
];

function underUnknown(predicted: ReturnType<typeof pathMap>, path: string): boolean {
  for (const [p, q] of predicted) {
    if (!q.types.includes(UNKNOWN_TYPE) || p === path) continue;
    if (path.startsWith(`${p}.`) || path.startsWith(`${p}[]`)) return true;
  }
  return false;
}

function schemaOf(docs: readonly Doc[]) {
  const b = new SchemaBuilder();
  for (const d of docs) b.add(d);
  return b.build('c', 1);
}

describe('schema effects predict what operations do', () => {
  for (const c of cases) {
    it(c.op.describe(), () => {
      const fields: Record<string, FieldSpec> = {};
      for (const t of c.op.touches) fields[t] = {};
      Object.assign(fields, c.fields);
      fc.assert(
        fc.property(fc.array(docArb(fields), { minLength: 1, maxLength: 25 }), (docs) => {
          const before = schemaOf(docs);
          const predicted = pathMap(predictSchema(before, [c.op], 2).schema);
          const outputs = docs.map((d) => tryApply(c.op, d)).filter((d) => d !== undefined);
          const actual = schemaOf(outputs);
          for (const p of actual.paths) {
            // below a path whose types are unknown (opaque), nothing is predicted
            if (underUnknown(predicted, p.path)) continue;
            const q = predicted.get(p.path);
            expect(q, `path ${p.path} is not predicted`).toBeDefined();
            if (q!.types.includes(UNKNOWN_TYPE)) continue;
            for (const t of p.types)
              expect(q!.types, `type ${t} at ${p.path} is not predicted`).toContain(t);
          }
          // a path predicted to be in every container is in every container that was seen
          for (const q of predicted.values()) {
            const p = actual.paths.find((x) => x.path === q.path);
            if (!q.required || p === undefined) continue;
            expect(p.required, `${q.path} is predicted required`).toBe(true);
          }
        }),
        { numRuns: 150 },
      );
    });
  }
});
