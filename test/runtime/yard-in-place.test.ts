/**
 * Lazy upcasting in place (runtime/version-chain.ts): `readAs` through the yard casts documents
 * of a collection with in-place migrations to one version, whatever version each is stored at —
 * while a real in-place backfill runs and the application keeps writing, and along a chain of
 * two migrations (a property over documents stored at every version).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import type { Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { renameField, splitField } from '../../src/migration/index.js';
import { compileMigration, checkMigrationSet } from '../../src/migration/load-migrations.js';
import { TransformError, type Migration } from '../../src/migration/migration.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { contextFor, seedUsers, userDoc } from '../engine/backfill-fixtures.js';
import { closeAfterEach, fixture, newStore, yardFor } from './yard-fixtures.js';

const open = closeAfterEach();

/** users 1 -> 2 (split name) -> 3 (email renamed to mail), both exact, in place */
function chain(): [Migration, Migration] {
  const m1 = compileMigration({
    id: 'm1-split',
    collection: 'users',
    operations: [splitField('name', ['first', 'last'], ' ')],
  });
  const m2 = compileMigration({
    id: 'm2-mail',
    collection: 'users',
    from: 2,
    to: 3,
    operations: [renameField('email', 'mail')],
  });
  checkMigrationSet([m1, m2]); // the loader's check: sets the chain's base version
  return [m1, m2];
}

/** a document at version 1 compared without its version field (absent and 1 are the same) */
const atV1 = (d: Doc | null): Doc | null => {
  if (d === null) return null;
  const { _sv, ...rest } = d;
  expect(_sv ?? 1).toBe(1);
  return rest;
};

describe('readAs on a collection migrated in place', () => {
  it('during a real in-place backfill, with the application writing, every read is at the version asked', async () => {
    const store = newStore('sqlite');
    const [m1] = chain();
    const f = { ...fixture(store, m1), migrations: async () => [m1] };
    const N = 400;
    await seedUsers(store, N);
    const keys = Array.from({ length: N }, (_, i) => userDoc(i)._id as string);
    const yard = await yardFor(f);
    open.push({ yard, store });
    const users = yard.collection('users');
    // what the application last wrote, at version 1
    const truth = new Map(keys.map((k, i) => [k, userDoc(i)]));

    const seen = { checks: 0, mixed: 0 };
    const check = async (writeKey: string) => {
      // the stored versions right now
      const stored = await users.getMany(keys);
      const at = new Set(stored.map((d) => m1.versionOf(d!)));
      // the application: read at version 1, change, write back (the old shape)
      const mine = (await users.get(writeKey, { readAs: 1 }))!;
      mine.note = `changed ${seen.checks}`;
      await users.put(mine);
      truth.set(writeKey, atV1(mine)!);
      const v1 = await users.getMany(keys, { readAs: 1 });
      const v2 = await users.getMany(keys, { readAs: 2 });
      keys.forEach((k, i) => {
        expect(atV1(v1[i]!), k).toEqual(truth.get(k));
        expect(v2[i], k).toEqual(m1.up(truth.get(k)!));
      });
      seen.checks++;
      if (at.size > 1) seen.mixed++;
    };
    // one check at a time (the backfill goes on meanwhile), so each knows what the last write was
    let checks = Promise.resolve();
    let n = 0;
    const result = await backfill(contextFor(store), m1, {
      batchSize: 25,
      partitions: 2,
      rate: 1000, // a backfill of about 0.4 s, so reads keep landing while it runs
      onEvent: (e) => {
        if (e.type === 'batch') {
          const key = keys[(n++ * 37) % N]!;
          checks = checks.then(() => check(key));
        }
      },
    });
    await checks;
    expect(result.outcome).toBe('backfilled');
    expect(seen.checks).toBeGreaterThan(5);
    expect(seen.mixed).toBeGreaterThan(0); // reads did land while versions 1 and 2 were mixed
    await check(keys[0]!); // and after it
  });

  it('property: a document stored at any version of a chain reads the same at every version', async () => {
    const [m1, m2] = chain();
    const word = fc.stringMatching(/^[A-Za-z]{1,8}$/);
    const user = fc.record({
      _id: fc.stringMatching(/^u[0-9]{1,4}$/),
      name: fc.tuple(word, word).map(([a, b]) => `${a} ${b}`),
      email: fc.emailAddress(),
      n: fc.integer(),
    });
    const store = new MemoryStore();
    const f = { ...fixture(store, m1), migrations: async () => [m1, m2] };
    const yard = await yardFor(f);
    open.push({ yard, store });
    const users = yard.collection('users');
    const up = [(d: Doc) => d, (d: Doc) => m1.up(d), (d: Doc) => m2.up(m1.up(d))];
    await fc.assert(
      fc.asyncProperty(user, fc.integer({ min: 1, max: 3 }), async (doc, storedAt) => {
        await users.put(up[storedAt - 1]!(doc));
        expect(atV1(await users.get(doc._id, { readAs: 1 }))).toEqual(doc);
        expect(await users.get(doc._id, { readAs: 2 })).toEqual(up[1]!(doc));
        expect(await users.get(doc._id, { readAs: 3 })).toEqual(up[2]!(doc));
        const [q] = await users.query({ n: doc.n, _id: doc._id }, { version: 3, readAs: 3 });
        expect(q).toEqual(up[2]!(doc));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses what it cannot cast, naming readAs, the versions and the step', async () => {
    const [m1] = chain();
    const lossy = compileMigration({
      id: 'm2-lossy',
      collection: 'users',
      from: 2,
      to: 3,
      up: (d) => ({ ...d, tier: 'free' }),
    });
    checkMigrationSet([m1, lossy]);
    const store = new MemoryStore();
    const yard = await yardFor({ ...fixture(store, m1), migrations: async () => [m1, lossy] });
    open.push({ yard, store });
    const users = yard.collection('users');
    await users.put({ _id: 'a', name: 'Ada Lovelace', email: 'a@x', _sv: 3 });
    await users.put({ _id: 'b', name: 'Bob Stone', email: 'b@x', _sv: 9 });
    await expect(users.get('a', { readAs: 4 })).rejects.toThrow(
      /readAs 4: the migrations of 'users' know versions 1, 2, 3/,
    );
    await expect(users.get('a', { readAs: 1 })).rejects.toBeInstanceOf(TransformError);
    await expect(users.get('a', { readAs: 1 })).rejects.toThrow(/m2-lossy down: no exact inverse/);
    await expect(users.get('b', { readAs: 2 })).rejects.toThrow(/is at version 9/);
    await expect(yard.collection('orders').get('x', { readAs: 1 })).resolves.toBeNull();
    await yard.collection('orders').put({ _id: 'x' });
    const err = await yard
      .collection('orders')
      .get('x', { readAs: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toMatch(/collection 'orders' has no migration/);
  });
});
