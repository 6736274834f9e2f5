/**
 * Rollback through down() is exact (issue 13 item 9): a document that had no version field before
 * the backfill has none after, and key order comes back on the stores that keep it (SQLite JSON
 * text and Redis JSON strings: compared here as the raw stored text). The paths that use down():
 * a backfill without the journal (every document), and, with the journal, a document the
 * application changed after the backfill wrote it.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toEJSON, type Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { copyField, renameField, wrapInArray } from '../../src/migration/index.js';
import type { Migration } from '../../src/migration/migration.js';
import type { Operation } from '../../src/migration/operation.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import { arbDoc } from '../support/arb-values.js';
import {
  NO_REDIS_REASON,
  redisServerPath,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import { contextFor, seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-rbx-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** rename in the middle of the document, and a copy: exact by construction */
const opsMigration = (): Migration =>
  compileMigration({
    id: 'x-ops',
    collection: 'users',
    operations: [renameField('name', 'fullName'), copyField('email', 'contact')],
  });

/** a custom up() with its down() */
const customMigration = (): Migration =>
  compileMigration({
    id: 'x-custom',
    collection: 'users',
    up: (d) => ({ ...d, n: (d.n as number) + 1000 }),
    down: (d) => ({ ...d, n: (d.n as number) - 1000 }),
  });

type RawExport = () => Promise<Map<string, string>>;

async function throughDown(store: Store, exportRaw: RawExport, changeAfter?: () => Promise<void>) {
  const ctx = contextFor(store);
  return {
    /** no journal: rollback applies down() to every document */
    async noJournal(m: Migration) {
      const before = await exportRaw();
      await backfill(ctx, m, { batchSize: 40, journal: false });
      expect(await exportRaw()).not.toEqual(before);
      const r = await rollback(ctx, m);
      expect(r).toMatchObject({ usedJournal: false, downcast: before.size, conflicts: 0 });
      return { before, after: await exportRaw() };
    },
    /** journal, but the application changed every document since: down() for each */
    async changedByApp(m: Migration) {
      await backfill(ctx, m, { batchSize: 40 });
      await changeAfter!();
      const r = await rollback(ctx, m);
      expect(r).toMatchObject({ usedJournal: true, restored: 0, conflicts: 0 });
      expect(r.downcast).toBeGreaterThan(0);
      return await exportRaw();
    },
  };
}

describe('rollback through down() on SQLite gives back the exported text byte for byte', () => {
  const raw = (store: ReturnType<typeof sqliteAt>) => async () =>
    new Map(
      (
        store.database.prepare('SELECT k, doc FROM users').all() as { k: string; doc: string }[]
      ).map((r) => [r.k, r.doc]),
    );

  it('without the journal: operations (a rename keeps its place); a custom down() is refused', async () => {
    for (const m of [opsMigration()]) {
      const store = sqliteAt(path.join(dir, `${m.id}.db`));
      await seedUsers(store, 100);
      const { before, after } = await (await throughDown(store, raw(store))).noJournal(m);
      expect(after).toEqual(before);
      expect([...after.values()].some((t) => t.includes('_sv'))).toBe(false);
      store.close();
    }
    // a hand-written inverse is trusted, not proven: --no-journal is refused for it (issue 13)
    const store = sqliteAt(path.join(dir, 'custom.db'));
    await seedUsers(store, 10);
    await expect(
      backfill(contextFor(store), customMigration(), { journal: false }),
    ).rejects.toThrow(/written by hand/);
    store.close();
  });

  it('with the journal, documents the application changed since are turned back in order', async () => {
    for (const m of [opsMigration(), customMigration()]) {
      const store = sqliteAt(path.join(dir, `${m.id}-app.db`));
      await seedUsers(store, 100);
      const exportRaw = raw(store);
      const before = await exportRaw();
      // the application edits the note of every document in the new shape, keeping its order
      const appEdit = async () => {
        store.database.prepare(`UPDATE users SET doc = json_set(doc, '$.note', 'edited')`).run();
      };
      const after = await (await throughDown(store, exportRaw, appEdit)).changedByApp(m);
      const expected = new Map(
        [...before].map(([k, t]) => [k, t.replace('"note":"initial"', '"note":"edited"')]),
      );
      expect(after).toEqual(expected);
      store.close();
    }
  });
});

describe.skipIf(redisServerPath() === null && process.env.CI !== 'true')(
  'rollback through down() on Redis (JSON strings keep key order)',
  () => {
    let server: RedisServer;
    beforeAll(async () => {
      if (redisServerPath() === null) throw new Error(NO_REDIS_REASON);
      server = await startRedisServer();
    });
    afterAll(async () => server?.stop());

    it('without the journal: the raw strings come back byte for byte', async () => {
      for (const [db, m] of [[1, opsMigration()]] as const) {
        const store = await openStore(`${server.url}/${db}`);
        const client = new Redis(server.port, '127.0.0.1', { db, lazyConnect: true });
        await seedUsers(store, 60);
        const exportRaw = async () => {
          const keys = await client.keys('sy:users:*');
          const vals = await client.mget(...keys);
          return new Map(keys.map((k, i) => [k, vals[i]!]));
        };
        try {
          const { before, after } = await (await throughDown(store, exportRaw)).noJournal(m);
          expect(before.size).toBe(60);
          expect(after).toEqual(before);
        } finally {
          client.disconnect();
          await store.close();
        }
      }
    });
  },
);

describe('rollback(backfill(doc)) is doc, in canonical EJSON with key order (property)', () => {
  /** random exact operations on the document's own keys: renames and copies to fresh names, wraps */
  const arbCase = arbDoc
    .filter((d) => Object.keys(d).length > 0 && !('_sv' in d))
    .chain((doc) => {
      const keys = Object.keys(doc);
      const step = fc.oneof(
        fc.record({ kind: fc.constant('rename' as const), i: fc.nat(keys.length - 1) }),
        fc.record({ kind: fc.constant('copy' as const), i: fc.nat(keys.length - 1) }),
        fc.record({ kind: fc.constant('wrap' as const), i: fc.nat(keys.length - 1) }),
      );
      return fc.tuple(fc.constant(doc), fc.array(step, { minLength: 1, maxLength: 4 }));
    });

  it('up then down through the operations and a custom down()', () => {
    fc.assert(
      fc.property(arbCase, ([doc, steps]) => {
        const taken = new Set(Object.keys(doc));
        const ops: Operation[] = [];
        const fresh = (i: number) => {
          let name = `f${i}`;
          while (taken.has(name)) name += '_';
          taken.add(name);
          return name;
        };
        const renamed = new Set<string>();
        steps.forEach((s, j) => {
          const keys = Object.keys(doc).filter((k) => !renamed.has(k) && /^[A-Za-z_]\w*$/.test(k));
          if (keys.length === 0) return;
          const k = keys[s.i % keys.length]!;
          renamed.add(k);
          if (s.kind === 'rename') ops.push(renameField(k, fresh(j)));
          else if (s.kind === 'copy') ops.push(copyField(k, fresh(j)));
          else ops.push(wrapInArray(k));
        });
        for (const m of [
          compileMigration({ id: 'p-ops', collection: 'c', operations: ops }),
          compileMigration({
            id: 'p-custom',
            collection: 'c',
            up: (d: Doc) => ({ ...d, added: 1 }),
            down: (d: Doc) => {
              const { added: _a, ...rest } = d;
              return rest;
            },
          }),
        ]) {
          const back = m.down(m.up(doc));
          expect(toEJSON(back)).toBe(toEJSON(doc));
        }
      }),
      { numRuns: 300 },
    );
  });
});
