/**
 * `check`'s rules: what each kind of change breaks, the class of a migration, the modes
 * (transitive too), aliases, consumers, custom code judged from samples, and the cautious
 * reading when no schema is known.
 */
import { describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import {
  addField,
  coerceType,
  mapValue,
  removeField,
  renameField,
  splitField,
  wrapInArray,
  type Operation,
} from '../../src/migration/index.js';
import type { MigrationDefinition } from '../../src/migration/define-migration.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { CompatibilityMode } from '../../src/migration/compatibility-mode.js';
import { checkMigrations, type CheckPolicy } from '../../src/schema/check-migrations.js';
import type { CollectionSchema } from '../../src/schema/collection-schema.js';
import { SchemaBuilder } from '../../src/schema/infer-schema.js';

const USERS: Doc[] = [
  { _id: 'u1', name: 'Ada Lovelace', age: 36, email: 'ada@x.org', tags: 'a' },
  { _id: 'u2', name: 'Alan Turing', age: '41', email: 'alan@x.org', tags: 'b', nick: 'al' },
];

function schemaOf(docs: readonly Doc[], version = 1): CollectionSchema {
  const b = new SchemaBuilder(['_sv']);
  for (const d of docs) b.add(d);
  return b.build('users', version);
}

const migration = (def: Partial<MigrationDefinition>, id = 'm1') =>
  compileMigration({ id, collection: 'users', ...def });

async function check(
  defs: ReturnType<typeof migration>[],
  options: {
    mode?: CompatibilityMode;
    consumers?: Record<string, string[]>;
    schemas?: Record<number, CollectionSchema>;
    docs?: Doc[];
  } = {},
) {
  const policy: CheckPolicy = {
    compatibility: options.mode ?? 'BACKWARD',
    collections: options.consumers ? { users: { consumers: options.consumers } } : {},
  };
  const schemas = options.schemas ?? { 1: schemaOf(USERS) };
  return checkMigrations(defs, policy, {
    schema: async (_c, v) =>
      schemas[v] ? { schema: schemas[v]!, source: 'registry:inferred' } : undefined,
    sample: async (_m, v) => (v === 1 ? (options.docs ?? []) : []),
  });
}

const one = async (
  ops: Operation[],
  options: Parameters<typeof check>[1] = {},
  extra: Partial<MigrationDefinition> = {},
) => (await check([migration({ operations: ops, ...extra })], options)).migrations[0]!;

describe('classifying a migration', () => {
  const cases: [string, Operation[], string][] = [
    ['a new field with a default', [addField('tier', 'free')], 'full'],
    ['a new optional field of a removed one', [removeField('nick')], 'full'],
    ['a removed required field', [removeField('email')], 'backward'],
    ['a rename of a required field', [renameField('email', 'mail')], 'sideways'],
    ['a narrowed type (int | string -> int)', [coerceType('age', 'int')], 'forward'],
    ['a changed type (string -> array)', [wrapInArray('tags')], 'sideways'],
    ['a split into required parts', [splitField('name', ['first', 'last'], ' ')], 'sideways'],
  ];
  for (const [what, ops, cls] of cases)
    it(`${what} is ${cls}`, async () => {
      expect((await one(ops)).class).toBe(cls);
    });

  it('a computed new required field breaks backward readers; one with a default does not', async () => {
    const computed = await one([addField('n', (d) => Object.keys(d).length)]);
    expect(computed.findings.map((f) => f.message)).toEqual([
      expect.stringMatching(/adds required field 'n' \(computed per document\) without a default/),
    ]);
    expect(computed.ok).toBe(false);
    expect((await one([addField('n', 0)])).findings).toEqual([]);
  });
});

describe('modes', () => {
  it('BACKWARD fails a narrowed type, FORWARD a removed required field, FULL both, NONE neither', async () => {
    const narrowed = [coerceType('age', 'int')];
    const removed = [removeField('email')];
    expect((await one(narrowed, { mode: 'BACKWARD' })).ok).toBe(false);
    expect((await one(removed, { mode: 'BACKWARD' })).ok).toBe(true);
    expect((await one(narrowed, { mode: 'FORWARD' })).ok).toBe(true);
    expect((await one(removed, { mode: 'FORWARD' })).ok).toBe(false);
    expect((await one(removed, { mode: 'FULL' })).ok).toBe(false);
    expect((await one(narrowed, { mode: 'NONE' })).ok).toBe(true);
    const f = (await one(removed, { mode: 'FORWARD' })).findings[0]!;
    expect(f).toMatchObject({ severity: 'error', path: 'email', breaks: ['forward'] });
    expect(f.message).toMatch(
      /removes required field 'email' without a read-time alias: v1 readers expect it/,
    );
  });

  it("a migration's own mode wins over its collection's", async () => {
    const c = await one([removeField('email')], { mode: 'FULL' }, { compatibility: 'BACKWARD' });
    expect(c).toMatchObject({ ok: true, mode: 'BACKWARD', modeFrom: 'migration' });
  });

  it('a read-time alias makes a rename harmless to readers', async () => {
    const c = await one(
      [renameField('email', 'mail')],
      { mode: 'FULL' },
      { aliases: { mail: 'email' } },
    );
    expect(c).toMatchObject({ ok: true, class: 'full' });
  });

  it('transitive modes compare with every earlier version', async () => {
    // v1 -> v2 adds an optional copy; v2 -> v3 makes it required with a default: fine against v2,
    // but v3 also drops 'nick', which is optional: fine; and retypes age: narrowed against v1
    const m1 = migration({ from: 1, to: 2, operations: [removeField('nick')] }, 'a');
    const m2 = migration({ from: 2, to: 3, operations: [coerceType('age', 'string')] }, 'b');
    const v2 = schemaOf(
      USERS.map((d) => ({ ...d, age: 7 })),
      2,
    ); // v2 as recorded: all ints
    const plain = await check([m1, m2], {
      mode: 'BACKWARD',
      schemas: { 1: schemaOf(USERS), 2: v2 },
    });
    const transitive = await check([m1, m2], {
      mode: 'BACKWARD_TRANSITIVE',
      schemas: { 1: schemaOf(USERS), 2: v2 },
    });
    expect(
      plain.migrations[1]!.findings.filter((f) => f.severity === 'error').map((f) => f.against),
    ).toEqual([2]);
    expect(
      transitive.migrations[1]!.findings.filter((f) => f.severity === 'error').map(
        (f) => f.against,
      ),
    ).toEqual([2, 1]);
  });
});

describe('consumers', () => {
  it('removing, renaming or retyping a field a consumer reads is an error naming it, in every mode', async () => {
    const consumers = { analytics: ['email', 'address.city'], billing: ['age'] };
    for (const mode of ['NONE', 'BACKWARD'] as const) {
      const c = await one([removeField('email'), coerceType('age', 'int')], { mode, consumers });
      const named = c.findings.filter((f) => f.consumer !== undefined);
      expect(named.map((f) => [f.consumer, f.path, f.severity])).toEqual([
        ['billing', 'age', 'error'],
        ['analytics', 'email', 'error'],
      ]);
      expect(named[1]!.message).toMatch(
        /removes 'email', which consumer 'analytics' reads: change the consumer first/,
      );
      expect(c.ok).toBe(false);
    }
    // an alias does not help a consumer
    const aliased = await one(
      [renameField('email', 'mail')],
      { mode: 'NONE', consumers },
      { aliases: { mail: 'email' } },
    );
    expect(aliased.findings.map((f) => f.consumer)).toEqual(['analytics']);
  });
});

describe('what only running code tells', () => {
  const custom = (doc: Doc) => ({ ...doc, age: String(doc.age) });

  it('a custom up() is judged from sampled documents', async () => {
    const c = await one([], { docs: USERS }, { up: custom });
    expect(c.judged).toBe('samples');
    expect(c.changes).toEqual([
      { kind: 'retyped', path: 'age', before: ['int', 'string'], after: ['string'] },
    ]);
    expect(c.class).toBe('forward');
  });

  it('without documents it is reported as unknown, not passed silently', async () => {
    const c = await one([mapValue('age', (v) => v)], {});
    expect(c.judged).toBe('operations');
    expect(c.findings.map((f) => [f.unknown, f.message])).toEqual([
      [true, expect.stringMatching(/changes 'age' in a way only running the code tells/)],
    ]);
    const u = await one([], {}, { up: custom });
    expect(u.findings.some((f) => f.unknown === true && /custom up\(\)/.test(f.message))).toBe(
      true,
    );
  });
});

describe('with no schema known', () => {
  it('takes every touched path to exist and be required: a rename is still a rename', async () => {
    const c = await one([renameField('email', 'mail'), addField('tier', 'free')], { schemas: {} });
    expect(c.base).toBe('none');
    expect(c.changes).toEqual([
      expect.objectContaining({ kind: 'renamed', from: 'email', to: 'mail' }),
      expect.objectContaining({ kind: 'added', path: 'tier', default: 'free' }),
    ]);
    expect(c.class).toBe('sideways');
  });
});
