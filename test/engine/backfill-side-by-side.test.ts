/**
 * Side-by-side backfill: up(source) is copied into the target (here on another SQLite store),
 * only once dual writes are on, never over a document the application's dual writes put there,
 * and the source is never touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { verify } from '../../src/engine/verify.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { renameField } from '../../src/migration/index.js';
import { allDocs, contextFor, seedUsers, sqliteAt, tempDir, userDoc } from './backfill-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-sbs-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('side-by-side backfill', () => {
  it('copies up(source) into a target on another store, after dual writes start, keeping newer target documents', async () => {
    const source = sqliteAt(path.join(dir, 'source.db'));
    const targetFile = path.join(dir, 'target.db');
    await seedUsers(source, 1000);
    const before = await allDocs(source);
    const m = compileMigration({
      id: 'users-v2',
      collection: 'users',
      target: { collection: 'users_v2', store: `sqlite:${targetFile}` },
      operations: [renameField('name', 'fullName')],
    });
    const ctx = contextFor(source);
    await expect(backfill(ctx, m)).rejects.toThrow(
      /stage is off: start the application's dual writes first/,
    );
    expect((await ctx.audit.entries()).at(-1)!.outcome).toMatch(/^refused/);

    await setStage(ctx, m, Stage.dualWrite);
    // the application's dual writes already put two documents in the new shape
    const target = sqliteAt(targetFile);
    const appDoc = { ...m.up(userDoc(5)), note: 'written by the app' };
    await target.collection('users_v2').write([{ type: 'put', key: 'u000005', doc: appDoc }]);
    await target.close();

    const r = await backfill(ctx, m, { batchSize: 100 });
    expect(r.outcome).toBe('backfilled');
    expect(r.progress).toMatchObject({ migrated: 999, skipped: 1, conflicts: 0 });
    expect(await allDocs(source)).toEqual(before); // the source is untouched
    const t = sqliteAt(targetFile);
    const copied = await allDocs(t, 'users_v2');
    expect(copied.size).toBe(1000);
    expect(copied.get('u000005')).toEqual(appDoc); // not overwritten
    expect(copied.get('u000006')).toEqual(m.up(userDoc(6)));
    expect(await t.listCollections({ includeReserved: true })).toEqual(['users_v2']); // no journal, no state there
    await t.close();
    await expect(verify(ctx, m)).rejects.toThrow(/not built yet/);
    await source.close();
  });
});
