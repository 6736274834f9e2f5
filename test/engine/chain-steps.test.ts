/**
 * A collection's chain of in-place steps (1->2, 2->3): rolling back a step that is not the last
 * applied one is refused and changes nothing; verifying an earlier step after a later one is not
 * false drift (issue 13 items 2 and 3).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalString } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { rollback, RollbackRefusedError } from '../../src/engine/rollback.js';
import { verify } from '../../src/engine/verify.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { addField, renameField } from '../../src/migration/index.js';
import type { Migration } from '../../src/migration/migration.js';
import { allDocs, contextFor, seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-chain-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function chain(): [Migration, Migration] {
  const m1 = compileMigration({
    id: 'c1-rename',
    collection: 'users',
    from: 1,
    to: 2,
    operations: [renameField('note', 'remark')],
  });
  const m2 = compileMigration({
    id: 'c2-tier',
    collection: 'users',
    from: 2,
    to: 3,
    operations: [addField('tier', 'free')],
  });
  for (const m of [m1, m2]) m.setBaseVersion(1);
  return [m1, m2];
}

const snapshot = async (store: Parameters<typeof allDocs>[0]) =>
  new Map([...(await allDocs(store))].map(([k, d]) => [k, canonicalString(d)]));

describe('rollback of a step that is not the last', () => {
  it('is refused, names the step to roll back first, and changes nothing', async () => {
    const store = sqliteAt(path.join(dir, 'c.db'));
    await seedUsers(store, 120);
    const ctx = contextFor(store);
    const [m1, m2] = chain();
    await backfill(ctx, m1, { batchSize: 50 });
    await backfill(ctx, m2, { batchSize: 50 });
    const before = await snapshot(store);
    const auditBefore = (await ctx.audit.entries()).length;

    const refusal = await rollback(ctx, m1, { reason: 'oops' }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(RollbackRefusedError);
    expect((refusal as RollbackRefusedError).exitCode).toBe(2);
    expect((refusal as Error).message).toContain('Roll back c2-tier first');
    expect(await snapshot(store)).toEqual(before);
    expect((await ctx.catalog.get(m1.id))!.status).toBe('backfilled');
    const audit = (await ctx.audit.entries()).slice(auditBefore);
    expect(audit.map((a) => a.outcome)).toEqual([expect.stringMatching(/^refused: /)]);

    // in order, both roll back and the documents are back at version 1
    await rollback(ctx, m2);
    await rollback(ctx, m1);
    const docs = await allDocs(store);
    expect([...docs.values()].every((d) => d.note === 'initial' && d.tier === undefined)).toBe(
      true,
    );
    expect((await ctx.catalog.get(m1.id))!.status).toBe('rolled-back');
  });
});

describe('verify of a superseded step', () => {
  it('counts documents at a later version as newer, not as drift, and still finds old ones', async () => {
    const store = sqliteAt(path.join(dir, 'v.db'));
    await seedUsers(store, 120);
    const ctx = contextFor(store);
    const [m1, m2] = chain();
    await backfill(ctx, m1, { batchSize: 50 });
    await backfill(ctx, m2, { batchSize: 50 });

    const r = await verify(ctx, m1);
    expect(r).toMatchObject({ ok: true, compared: 120, oldVersion: 0, newer: 120 });
    expect(r.superseded).toEqual(['c2-tier']);
    const sampled = await verify(ctx, m1, { sample: 30, seed: 7 });
    expect(sampled).toMatchObject({ ok: true, oldVersion: 0, newer: 30 });

    // a document put back at version 1 behind Switchyard's back is still drift for step one
    store.database
      .prepare(`UPDATE users SET doc = json_remove(doc, '$._sv') WHERE k = 'u000007'`)
      .run();
    const drift = await verify(ctx, m1);
    expect(drift).toMatchObject({ ok: false, oldVersion: 1, newer: 119 });
    expect(drift.samples.oldVersion).toEqual([{ key: 'u000007', version: 1 }]);
  });
});
