/**
 * The undo journal's seals (issue 13 E): a before-image edited in the journal behind
 * Switchyard's back — in the SQLite table, in Redis — is never restored. Rollback checks every
 * entry first and refuses, naming the keys, with nothing restored; an entry edited while a
 * rollback is under way is kept as a conflict. Found failing: rollback restored an edited
 * before-image as if it were genuine.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalString, fromStorageJSON, toStorageJSON } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { rollback, RollbackRefusedError } from '../../src/engine/rollback.js';
import { Journal, journalCollectionName, journalSeal } from '../../src/state/journal.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import type { RedisCollection } from '../../src/store/redis/redis-collection.js';
import { NO_REDIS_REASON, redisOrFailInCi, useRedisServer } from '../support/redis-server.js';
import {
  allDocs,
  contextFor,
  seedUsers,
  splitNameMigration,
  sqliteAt,
  tempDir,
  writeSplitMigrationFile,
} from './backfill-fixtures.js';
import { spawnCli } from '../support/cli-process.js';

const hasRedis = redisOrFailInCi();
const JOURNAL = journalCollectionName('m-split');

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-ji-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const snapshot = async (store: Store) =>
  new Map([...(await allDocs(store))].map(([k, d]) => [k, canonicalString(d)]));

/** the before-image of u000003 with its email changed, as journal text */
const forged = (before: string) =>
  toStorageJSON({ ...(fromStorageJSON(before) as object), email: 'mallory@evil.example' });

/** Backfill 40 users, tamper with the journal, and check that rollback refuses and restores nothing. */
async function refusedAfter(store: Store, tamper: () => Promise<void>, keys: RegExp) {
  await seedUsers(store, 40);
  const ctx = contextFor(store);
  const m = splitNameMigration();
  expect((await backfill(ctx, m, { batchSize: 10 })).outcome).toBe('backfilled');
  expect(await new Journal(store, m.id).verify()).toEqual({ entries: 40, bad: 0, samples: [] });
  await tamper();
  const migrated = await snapshot(store);
  const err = await rollback(ctx, m).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(RollbackRefusedError);
  expect((err as RollbackRefusedError).exitCode).toBe(2);
  expect((err as Error).message).toMatch(/undo journal of m-split does not verify/);
  expect((err as Error).message).toMatch(keys);
  expect((err as Error).message).toMatch(/Nothing was restored/);
  expect(await snapshot(store)).toEqual(migrated); // not one document restored
  expect((await ctx.catalog.get(m.id))!.status).toBe('backfilled');
  const last = (await ctx.audit.entries()).at(-1)!;
  expect(last).toMatchObject({ command: 'rollback', outcome: expect.stringMatching(/^refused: /) });
  return ctx;
}

describe('undo journal integrity (SQLite)', () => {
  it('a before-image edited in the journal table is refused, naming the key; nothing restored', async () => {
    const store = sqliteAt(path.join(dir, 'j.db'));
    await refusedAfter(
      store,
      async () => {
        const row = store.database
          .prepare(`SELECT doc FROM "${JOURNAL}" WHERE k = 'u000003'`)
          .get() as { doc: string };
        const before = (JSON.parse(row.doc) as { before: string }).before;
        store.database
          .prepare(`UPDATE "${JOURNAL}" SET doc = json_set(doc, '$.before', ?) WHERE k = 'u000003'`)
          .run(forged(before));
      },
      /1 of 40 entries .*u000003 \(its content does not match its seal \(edited\)\)/,
    );
    await store.close();
  });

  it('an entry moved to another key, or stripped of its seal, does not verify either', async () => {
    const store = sqliteAt(path.join(dir, 'j.db'));
    await refusedAfter(
      store,
      async () => {
        const db = store.database;
        const doc = (k: string) =>
          (db.prepare(`SELECT doc FROM "${JOURNAL}" WHERE k = ?`).get(k) as { doc: string }).doc;
        // u000004's genuine entry (seal and all) copied over u000005's, key field rewritten
        const moved = { ...JSON.parse(doc('u000004')), key: 'u000005' };
        db.prepare(`UPDATE "${JOURNAL}" SET doc = ? WHERE k = 'u000005'`).run(
          JSON.stringify(moved),
        );
        db.prepare(
          `UPDATE "${JOURNAL}" SET doc = json_remove(doc, '$.seal') WHERE k = 'u000007'`,
        ).run();
      },
      /2 of 40 entries.*u000005 \(its content does not match its seal \(edited\)\), u000007 \(it has no seal\)/,
    );
    await store.close();
  });

  it('an untouched journal rolls back exactly; the seal binds migration, key and both images', async () => {
    const store = sqliteAt(path.join(dir, 'j.db'));
    await seedUsers(store, 30);
    const before = await snapshot(store);
    const ctx = contextFor(store);
    const m = splitNameMigration();
    await backfill(ctx, m, { batchSize: 7 });
    const [entry] = await new Journal(store, m.id).get(['u000001']);
    expect(entry!.seal).toBe(journalSeal(m.id, entry!));
    expect(journalSeal('other', entry!)).not.toBe(entry!.seal);
    const r = await rollback(ctx, m);
    expect(r).toMatchObject({ outcome: 'rolled-back', restored: 30, conflicts: 0 });
    expect(await snapshot(store)).toEqual(before);
    await store.close();
  });

  it('an entry edited while a rollback is under way is not restored: a conflict, the document kept', async () => {
    const store = sqliteAt(path.join(dir, 'j.db'));
    await seedUsers(store, 20);
    const ctx = contextFor(store);
    const m = splitNameMigration();
    await backfill(ctx, m, { batchSize: 5 });
    // a rollback that was interrupted (status rolling-back): its resumption does not re-check
    // the whole journal up front, the job checks each entry it is about to restore
    await ctx.catalog.update(m.id, (e) => ({ ...e, status: 'rolling-back' }));
    const migrated = (await allDocs(store)).get('u000002');
    store.database
      .prepare(
        `UPDATE "${JOURNAL}" SET doc = json_set(doc, '$.afterHash', 'x') WHERE k = 'u000002'`,
      )
      .run();
    const r = await rollback(ctx, m);
    expect(r).toMatchObject({ outcome: 'rolled-back', restored: 19, conflicts: 1 });
    expect(r.conflictSamples).toEqual([
      {
        key: 'u000002',
        reason: 'its journal entry does not verify: its content does not match its seal (edited)',
      },
    ]);
    expect((await allDocs(store)).get('u000002')).toEqual(migrated);
    await store.close();
  });

  it('the CLI refuses with exit 2, naming the key, and changes nothing', async () => {
    const db = path.join(dir, 'cli.db');
    writeSplitMigrationFile(dir);
    const store = sqliteAt(db);
    await seedUsers(store, 25);
    await store.close();
    const cli = async (args: string[]) => {
      const p = spawnCli(['--store', `sqlite:${db}`, ...args], dir);
      return { code: await p.exited, stderr: p.stderr() };
    };
    expect((await cli(['backfill', 'split', '--quiet'])).code).toBe(0);
    const s = sqliteAt(db);
    s.database
      .prepare(
        `UPDATE "_sy_journal_20261120-split" SET doc = json_set(doc, '$.before', '{"_id":"u000009","name":"X Y"}') WHERE k = 'u000009'`,
      )
      .run();
    const migrated = await snapshot(s);
    await s.close();
    const r = await cli(['rollback', 'split']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not verify: 1 of 25 entries.*u000009/);
    const after = sqliteAt(db);
    expect(await snapshot(after)).toEqual(migrated);
    await after.close();
  });
});

describe.skipIf(!hasRedis)(
  `undo journal integrity (Redis)${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    const server = useRedisServer();

    it('a before-image edited in Redis is refused, naming the key; nothing restored', async () => {
      const store = await openStore(`redis://127.0.0.1:${server().port}/0?prefix=ji:`);
      const raw = new Redis(server().port, '127.0.0.1', { lazyConnect: true });
      try {
        await refusedAfter(
          store,
          async () => {
            const key = (store.collection(JOURNAL) as unknown as RedisCollection).redisKey(
              'u000003',
            );
            const entry = JSON.parse((await raw.get(key))!) as { before: string };
            await raw.set(key, JSON.stringify({ ...entry, before: forged(entry.before) }));
          },
          /1 of 40 entries .*u000003 \(its content does not match its seal \(edited\)\)/,
        );
      } finally {
        raw.disconnect();
        await store.close();
      }
    });
  },
);
