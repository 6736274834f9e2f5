/**
 * plan names what a backfill could not do right, by key and path, instead of crashing or
 * passing: values up() cannot store, an up() that changes the key, an up() that is not
 * deterministic.
 */
import { ObjectId } from 'bson';
import { describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { plan } from '../../src/engine/plan.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Transform } from '../../src/migration/define-migration.js';
import { lowercase } from '../../src/migration/index.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';

async function storeWith(docs: [string, Doc][], collection = 'users'): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store
    .collection(collection)
    .write(docs.map(([key, doc]) => ({ type: 'put' as const, key, doc })));
  return store;
}

const users = (n: number): [string, Doc][] =>
  Array.from({ length: n }, (_, i) => [`u${i}`, { _id: `u${i}`, name: `Ada ${i}`, n: i }]);

const withUp = (up: Transform, id = 'm') => compileMigration({ id, collection: 'users', up });

describe('plan: values up() cannot store', () => {
  const cases: [string, Transform, string, RegExp][] = [
    ['a function', (d) => ({ ...d, f: (() => 1) as never }), '/f', /a function/],
    ['a Map', (d) => ({ ...d, m: new Map() as never }), '/m', /a Map \(use a plain object\)/],
    ['a BigInt', (d) => ({ ...d, big: 10n as never }), '/big', /a BigInt/],
    [
      'undefined in an array',
      (d) => ({ ...d, a: [1, undefined as never] }),
      '/a/1',
      /undefined in an array/,
    ],
    [
      'a circular object',
      (d) => {
        const o: Doc = { x: 1 };
        o.self = o;
        return { ...d, o };
      },
      '/o/self',
      /a circular reference \(to \/o\)/,
    ],
  ];
  it.each(cases)(
    '%s: every document fails, named by key and path',
    async (_n, up, path, reason) => {
      const store = await storeWith(users(5));
      const r = await plan(store, withUp(up), { sample: 5 });
      expect(r).toMatchObject({ sampled: 5, failed: 5, unstorable: 5, changed: 0 });
      const doc = r.documents.find((d) => d.key === 'u3')!;
      expect(doc.status).toBe('failed');
      expect(doc.unstorable![0]!.path).toBe(path);
      expect(doc.unstorable![0]!.reason).toMatch(reason);
      expect(doc.error).toContain(`${path}: `);
      expect(Object.keys(r.errors)).toHaveLength(1);
      expect(Object.keys(r.errors)[0]).toMatch(/^up\(\) returns a value that cannot be stored: /);
    },
  );
});

describe('plan: an up() that changes the key', () => {
  it('flags a changed or removed _id', async () => {
    const store = await storeWith(users(4));
    const r = await plan(
      store,
      withUp((d) => ({ ...d, _id: String(d._id).toUpperCase() })),
      { sample: 4 },
    );
    expect(r).toMatchObject({ failed: 4, keyChanges: 4, changed: 0 });
    const u1 = r.documents.find((d) => d.key === 'u1')!;
    expect(u1.keyChange).toEqual({ field: '_id', before: 'u1', after: 'U1' });
    expect(u1.error).toMatch(
      /up\(\) changes the key field '_id' from 'u1' to 'U1': the document would stay stored under 'u1'/,
    );
    const removed = await plan(
      store,
      withUp((d) => {
        delete d._id;
      }),
      { sample: 4 },
    );
    expect(removed.keyChanges).toBe(4);
    expect(removed.documents[0]!.keyChange!.after).toBeUndefined();
  });

  it("flags a change of the field a collection is keyed by (import --key, a table's key attributes)", async () => {
    // keyed by e-mail, as `import --key email` or a DynamoDB table with partition key `email` does
    const store = await storeWith([
      ['Ada@X.org', { email: 'Ada@X.org', name: 'Ada' }],
      ['bob@x.org', { email: 'bob@x.org', name: 'Bob' }],
    ]);
    const m = compileMigration({ id: 'm', collection: 'users', operations: [lowercase('email')] });
    const r = await plan(store, m, { sample: 2 });
    expect(r).toMatchObject({ keyChanges: 1, failed: 1, changed: 1 });
    expect(r.documents.find((d) => d.key === 'Ada@X.org')!.keyChange).toEqual({
      field: 'email',
      before: 'Ada@X.org',
      after: 'ada@x.org',
    });
    // a composite key [partition, sort]: either part
    const composite = await storeWith([
      ['["acme","2024"]', { org: 'acme', year: '2024', total: 1 }],
    ]);
    const r2 = await plan(
      composite,
      withUp((d) => ({ ...d, year: '24' })),
      { sample: 1 },
    );
    expect(r2.documents[0]!.keyChange).toEqual({ field: 'year', before: '2024', after: '24' });
  });

  it('a copy of the key in another field is not the key when _id is', async () => {
    const store = await storeWith([['a@x.org', { _id: 'a@x.org', email: 'a@x.org' }]]);
    const r = await plan(
      store,
      withUp((d) => ({ ...d, email: 'A@X.ORG' })),
      { sample: 1 },
    );
    expect(r).toMatchObject({ keyChanges: 0, changed: 1 });
  });
});

describe('plan: an up() that is not deterministic', () => {
  it('says so for new ObjectId() and for the clock, with the paths', async () => {
    const store = await storeWith(users(6));
    const oid = await plan(
      store,
      withUp((d) => ({ ...d, token: new ObjectId() })),
      { sample: 6 },
    );
    expect(oid).toMatchObject({ changed: 6, nondeterministic: 6, failed: 0 });
    expect(oid.documents[0]!.nondeterministic).toEqual(['/token']);
    const clock = await plan(
      store,
      withUp((d) => ({ ...d, migratedAt: new Date() })),
      { sample: 6 },
    );
    expect(clock.nondeterministic).toBe(6);
    const fine = await plan(
      store,
      withUp((d) => ({ ...d, upper: String(d.name).toUpperCase() })),
      { sample: 6 },
    );
    expect(fine.nondeterministic).toBe(0);
    expect(fine.documents.every((d) => d.nondeterministic === undefined)).toBe(true);
  });
});
