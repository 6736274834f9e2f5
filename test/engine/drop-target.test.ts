/**
 * drop-target: the target collection of a side-by-side migration rolled back to off is deleted,
 * audited; refused (nothing changed, audited) while reads or writes could still go to it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dropTarget } from '../../src/engine/drop-target.js';
import { rollbackTarget, setStage, Stage } from '../../src/engine/stages.js';
import { renameField } from '../../src/migration/index.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import { redisOrFailInCi, startRedisServer, type RedisServer } from '../support/redis-server.js';
import {
  contextFor,
  seedUsers,
  sqliteAt,
  splitNameMigration,
  tempDir,
} from './backfill-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-drop-target-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const migration = (targetStore?: string) =>
  compileMigration({
    id: 'users-v2',
    collection: 'users',
    target: {
      collection: 'users_v2',
      ...(targetStore !== undefined ? { store: targetStore } : {}),
    },
    operations: [renameField('name', 'fullName')],
  });

/** Walk the migration to shadow, refuse the drop at each stage, roll back to off, drop. */
async function scenario(source: Store, target: Store, targetUrl?: string): Promise<void> {
  await seedUsers(source, 20);
  const m = migration(targetUrl);
  const ctx = contextFor(source);
  await expect(dropTarget(ctx, m)).rejects.toMatchObject({
    code: 'E_DROP_TARGET_REFUSED',
    message: 'migration users-v2 has not started: it has no target to drop',
  });
  await setStage(ctx, m, Stage.dualWrite);
  await seedUsers(target, 7, 'users_v2');
  for (const stage of [Stage.dualWrite, Stage.shadow]) {
    if (stage !== Stage.dualWrite) await setStage(ctx, m, stage);
    const before = (await ctx.catalog.get(m.id))!.updatedAt;
    await expect(dropTarget(ctx, m, { reason: 'too soon' })).rejects.toMatchObject({
      code: 'E_DROP_TARGET_REFUSED',
      exitCode: 2,
      message: expect.stringContaining(
        `is at stage ${stage}: the application may still read or write users_v2`,
      ),
    });
    expect(await target.collection('users_v2').count()).toBe(7);
    expect((await ctx.catalog.get(m.id))!.updatedAt).toBe(before);
    expect((await ctx.audit.entries()).at(-1)).toMatchObject({
      command: 'drop-target',
      reason: 'too soon',
      outcome: expect.stringMatching(/^refused: /),
    });
  }
  // step back to off, one stage at a time, as rollback does
  for (;;) {
    const t = rollbackTarget((await ctx.catalog.get(m.id))!.sideBySide as never);
    if (!t.ok) break;
    await setStage(ctx, m, t.stage);
  }
  const r = await dropTarget(ctx, m, { reason: 'abandoned' });
  expect(r).toMatchObject({ migration: 'users-v2', collection: 'users_v2', documents: 7 });
  expect(await target.collection('users_v2').count()).toBe(0);
  expect(await source.collection('users').count()).toBe(20);
  expect((await ctx.audit.entries()).at(-1)).toMatchObject({
    command: 'drop-target',
    reason: 'abandoned',
    outcome: 'dropped users_v2 (7 documents)',
  });
}

describe('drop-target', () => {
  it('SQLite: refused before off and at every stage past it, then drops the target, audited', async () => {
    const store = sqliteAt(path.join(dir, 'a.db'));
    try {
      await scenario(store, store);
    } finally {
      await store.close();
    }
  });

  it('refuses an in-place migration (nothing to drop)', async () => {
    const store = sqliteAt(path.join(dir, 'b.db'));
    try {
      await expect(dropTarget(contextFor(store), splitNameMigration())).rejects.toMatchObject({
        code: 'E_DROP_TARGET_REFUSED',
        message: 'migration m-split is in place: it has no target collection to drop',
      });
    } finally {
      await store.close();
    }
  });

  describe.skipIf(!redisOrFailInCi())('on a Redis target', () => {
    let server: RedisServer;
    beforeAll(async () => {
      server = await startRedisServer();
    }, 60_000);
    afterAll(async () => server?.stop());

    it('drops the target on its own store, the URL redacted in the audit log', async () => {
      const source = sqliteAt(path.join(dir, 'c.db'));
      const url = `${server.url}/0?prefix=drop:`;
      const target = await openStore(url);
      try {
        await scenario(source, target, url);
      } finally {
        await target.close();
        await source.close();
      }
    });
  });
});
