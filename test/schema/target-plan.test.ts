/**
 * Planning toward a target schema: the operation chosen for each kind of difference, guesses
 * marked for review, what cannot be reached said so — and a target equal to the current schema
 * needs nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { SchemaBuilder } from '../../src/schema/infer-schema.js';
import { fromJsonSchema, toJsonSchema } from '../../src/schema/json-schema.js';
import { planToTarget } from '../../src/schema/target-plan.js';
import { arbDoc } from '../support/arb-values.js';

const schemaOf = (docs: readonly Doc[]) => {
  const b = new SchemaBuilder();
  for (const d of docs) b.add(d);
  return b.build('c', 1);
};
const targetOf = (json: unknown) => fromJsonSchema(json, { collection: 'c', version: 2 });
const calls = (docs: Doc[], json: unknown) =>
  planToTarget(schemaOf(docs), targetOf(json)).steps.map((s) => [
    s.op === undefined ? 'proposed' : 'active',
    s.call.name,
    JSON.stringify(s.call.args),
    s.review !== undefined,
  ]);

const DOCS: Doc[] = [
  { _id: 'a', addr: { street: 'x', city: 'y' }, tags: ['t'], n: '1', old: 1 },
  { _id: 'b', addr: { street: 'z', city: 'w' }, tags: ['u'], n: '2', old: 2 },
];

describe('planning toward a target', () => {
  it('needs nothing when the target is the current schema', () => {
    fc.assert(
      fc.property(fc.array(arbDoc, { minLength: 1, maxLength: 5 }), (docs) => {
        const current = schemaOf(docs);
        const plan = planToTarget(
          current,
          targetOf(JSON.parse(JSON.stringify(toJsonSchema(current)))),
        );
        expect(plan.steps).toEqual([]);
        expect(plan.unreached).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it('unnests, unwraps, coerces exactly, and removes from a closed object', () => {
    const target = {
      additionalProperties: false,
      required: ['_id', 'street', 'city', 'tags', 'n'],
      properties: {
        _id: { bsonType: 'string' },
        street: { bsonType: 'string' },
        city: { bsonType: 'string' },
        tags: { bsonType: 'string' },
        n: { bsonType: 'int' },
      },
    };
    expect(calls(DOCS, target)).toEqual([
      ['active', 'unnestField', '["addr",{"fields":["city","street"]}]', false],
      ['active', 'coerceType', '["n","int",{"from":"string"}]', false],
      ['active', 'unwrapArray', '["tags"]', false],
      ['active', 'removeField', '["old"]', false],
    ]);
  });

  it('proposes a rename among several candidates only commented out, and keeps their removal for review', () => {
    const target = {
      additionalProperties: false,
      required: ['_id', 'label'],
      properties: { _id: { bsonType: 'string' }, label: { bsonType: 'string' }, addr: {} },
    };
    const docs: Doc[] = [{ _id: 'a', x: 's', y: 't', addr: {} }];
    const steps = calls(docs, target);
    expect(steps.filter(([, name]) => name === 'renameField')).toEqual([
      ['proposed', 'renameField', '["x","label"]', true],
      ['proposed', 'renameField', '["y","label"]', true],
    ]);
    expect(steps.filter(([, name]) => name === 'removeField')).toEqual([
      ['proposed', 'removeField', '["x"]', true],
      ['proposed', 'removeField', '["y"]', true],
    ]);
  });

  it('says what it cannot reach', () => {
    const plan = planToTarget(
      schemaOf([{ o: { a: 1 } }, { o: 'text' }]),
      targetOf({
        required: ['o', 'z'],
        properties: { o: { bsonType: 'int' }, z: { bsonType: 'date' } },
      }),
    );
    expect(plan.unreached).toEqual([
      "'o' would still hold object | string; the target allows int",
      "'z' (date) is required, but nothing puts it there",
    ]);
    expect(plan.steps.map((s) => [s.call.name, s.op === undefined])).toEqual([
      ['addField', true], // no default for 'z': for review, not written as code
    ]);
  });
});
