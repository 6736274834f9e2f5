/**
 * Side-by-side backfill: up(source) is copied into the target (here on another SQLite store),
 * only once dual writes are on, never over a write the application makes meanwhile; in dual-write
 * and shadow a stale or orphaned target document is repaired; in live an existing one is left
 * alone; the source is never touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/contract.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { backfill } from '../../src/engine/backfill.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { renameField } from '../../src/migration/index.js';
import {
  allDocs,
  contextFor,
  overriding,
  seedUsers,
  sqliteAt,
  tempDir,
  userDoc,
} from './backfill-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-sbs-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('side-by-side backfill', () => {
  const migration = (targetFile?: string) =>
    compileMigration({
      id: 'users-v2',
      collection: 'users',
      target: {
        collection: 'users_v2',
        ...(targetFile !== undefined ? { store: `sqlite:${targetFile}` } : {}),
      },
      operations: [renameField('name', 'fullName')],
    });

  it('copies up(source) into a target on another store once dual writes are on, and repairs stale and orphaned target documents', async () => {
    const source = sqliteAt(path.join(dir, 'source.db'));
    const targetFile = path.join(dir, 'target.db');
    await seedUsers(source, 1000);
    const before = await allDocs(source);
    const m = migration(targetFile);
    const ctx = contextFor(source);
    await expect(backfill(ctx, m)).rejects.toThrow(
      /stage is off: start the application's dual writes first/,
    );
    expect((await ctx.audit.entries()).at(-1)!.outcome).toMatch(/^refused/);

    await setStage(ctx, m, Stage.dualWrite);
    // left over from before a rollback to off: one stale copy, one whose source is gone
    const target = sqliteAt(targetFile);
    await target.collection('users_v2').write([
      { type: 'put', key: 'u000005', doc: { ...m.up(userDoc(5)), fullName: 'stale' } },
      { type: 'put', key: 'gone', doc: { _id: 'gone', fullName: 'x', _sv: 2 } },
    ]);
    await target.close();

    const r = await backfill(ctx, m, { batchSize: 100 });
    expect(r.outcome).toBe('backfilled');
    expect(r.progress).toMatchObject({ migrated: 1000, skipped: 0, conflicts: 0 });
    expect(r.message).toMatch(/1 target documents without a source removed/);
    expect(await allDocs(source)).toEqual(before); // the source is untouched
    const t = sqliteAt(targetFile);
    const copied = await allDocs(t, 'users_v2');
    expect(copied.size).toBe(1000);
    for (const [k, d] of before) expect(copied.get(k)).toEqual(m.up(d));
    expect(await t.listCollections({ includeReserved: true })).toEqual(['users_v2']); // no journal, no state there
    await t.close();
    await source.close();
  });

  it('in live, a target document the application wrote is left as it is', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 50);
    const m = migration();
    const ctx = contextFor(store);
    for (const s of [Stage.dualWrite, Stage.shadow]) await setStage(ctx, m, s);
    await setStage(ctx, m, Stage.live, { percent: 10 });
    const appDoc = { ...m.up(userDoc(7)), note: 'the new side is authoritative for this key' };
    await store.collection('users_v2').write([{ type: 'put', key: 'u000007', doc: appDoc }]);
    const r = await backfill(ctx, m, { batchSize: 10 });
    expect(r.progress).toMatchObject({ migrated: 49, skipped: 1 });
    expect((await allDocs(store, 'users_v2')).get('u000007')).toEqual(appDoc);
  });

  it('never overwrites a dual write made between its reads (target read first, write conditional on its rev)', async () => {
    const inner = new MemoryStore();
    await seedUsers(inner, 20);
    const m = migration();
    // a stale copy of u000003 in the target; the application writes u000003 (source, then
    // target) right after the backfill read the source: a copy made from that read is older
    await inner
      .collection('users_v2')
      .write([{ type: 'put', key: 'u000003', doc: { ...m.up(userDoc(3)), fullName: 'stale' } }]);
    let raced = false;
    const appDoc = { ...userDoc(3), name: 'Written By The App' };
    const store = withHook(inner, 'users', async () => {
      if (raced) return;
      raced = true;
      await inner.collection('users').write([{ type: 'put', key: 'u000003', doc: appDoc }]);
      await inner
        .collection('users_v2')
        .write([{ type: 'put', key: 'u000003', doc: m.up(appDoc) }]);
    });
    const ctx = contextFor(store);
    await setStage(ctx, m, Stage.dualWrite);
    const r = await backfill(ctx, m, { batchSize: 100 });
    expect(raced).toBe(true);
    expect(r.outcome).toBe('backfilled');
    const copied = await allDocs(inner, 'users_v2');
    expect(copied.get('u000003')).toEqual(m.up(appDoc));
    for (const [k, d] of await allDocs(inner)) expect(copied.get(k)).toEqual(m.up(d));
    // a rerun finds everything right and writes nothing
    const again = await backfill(ctx, m, { batchSize: 100 });
    expect(again.progress.migrated).toBe(0);
  });
});

/** `store`, with `hook` run after every getMany on `collection` (before it returns). */
function withHook(store: Store, collection: string, hook: () => Promise<void>): Store {
  return overriding(store, collection, 'getMany', (c) => async (keys: readonly string[]) => {
    const got = await c.getMany(keys);
    await hook();
    return got;
  });
}
