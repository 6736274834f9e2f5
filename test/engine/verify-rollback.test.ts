import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalString, toStorageJSON, type Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import { verify } from '../../src/engine/verify.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { addField, renameField } from '../../src/migration/index.js';
import { Journal } from '../../src/state/journal.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import {
  allDocs,
  contextFor,
  removeNoteMigration,
  seedUsers,
  splitNameMigration,
  sqliteAt,
  tempDir,
  userDoc,
} from './backfill-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-vr-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const snapshot = async (store: Parameters<typeof allDocs>[0]) =>
  new Map([...(await allDocs(store))].map(([k, d]) => [k, canonicalString(d)]));

describe('verify', () => {
  it("a clean backfill verifies; edits behind Switchyard's back are named by key and path", async () => {
    const file = path.join(dir, 'v.db');
    const store = sqliteAt(file);
    await seedUsers(store, 2000);
    const ctx = contextFor(store);
    const m = splitNameMigration();
    await backfill(ctx, m, { batchSize: 250 });
    const clean = await verify(ctx, m);
    expect(clean).toMatchObject({
      ok: true,
      mode: 'full',
      compared: 2000,
      matched: 2000,
      mismatched: 0,
      missing: 0,
      oldVersion: 0,
    });
    expect((await ctx.catalog.get(m.id))!.status).toBe('verified');

    // behind our back: plain SQL edits, a delete, and a document put back at the old version
    store.database
      .prepare(
        `UPDATE users SET doc = json_set(doc, '$.first', 'Mallory') WHERE k IN ('u000010', 'u000500')`,
      )
      .run();
    store.database
      .prepare(
        `UPDATE users SET doc = json_set(doc, '$.email', 'x@y.z', '$.n', 9) WHERE k = 'u001999'`,
      )
      .run();
    store.database.prepare(`DELETE FROM users WHERE k = 'u000777'`).run();
    store.database
      .prepare(`UPDATE users SET doc = ? WHERE k = 'u000042'`)
      .run(toStorageJSON(userDoc(42)));
    const r = await verify(ctx, m);
    expect(r.ok).toBe(false);
    expect(r).toMatchObject({
      compared: 1999,
      mismatched: 3,
      missing: 1,
      oldVersion: 1,
      matched: 1995,
    });
    expect(r.samples.mismatched.map((x) => x.key).sort()).toEqual([
      'u000010',
      'u000500',
      'u001999',
    ]);
    const m10 = r.samples.mismatched.find((x) => x.key === 'u000010')!;
    expect(m10.diffs).toEqual([
      { path: '/first', field: 'first', expected: 'First10', actual: 'Mallory' },
    ]);
    expect(
      r.samples.mismatched
        .find((x) => x.key === 'u001999')!
        .diffs.map((d) => d.path)
        .sort(),
    ).toEqual(['/email', '/n']);
    expect(r.paths).toEqual({ first: 2, email: 1, n: 1 });
    expect(r.samples.missing).toEqual(['u000777']);
    expect(r.samples.oldVersion).toEqual([{ key: 'u000042', version: 1 }]);
    expect(r.ranges.divergent.length).toBeGreaterThan(0);
    expect(r.ranges.divergent.length).toBeLessThan(r.ranges.total);
    // a sample run sees the same kinds of problems in proportion
    const s = await verify(ctx, m, { sample: 2000, seed: 1 });
    expect(s).toMatchObject({ mode: 'sample', compared: 1999, mismatched: 3, oldVersion: 1 });
    expect(
      (await ctx.audit.entries()).filter((e) => e.command === 'verify').map((e) => e.outcome),
    ).toEqual(['ok', 'drift found', 'drift found']);
    await store.close();
  });

  it('without a journal, checks versions, invariants and the schema', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 300);
    const m = compileMigration({
      id: 'exact',
      collection: 'users',
      operations: [renameField('note', 'remark')],
      verify: {
        invariants: [(d) => d.remark !== 'bad' || 'remark is bad'],
        schema: { type: 'object', required: ['remark'] },
      },
    });
    const ctx = contextFor(store);
    await backfill(ctx, m, { journal: false });
    expect(await verify(ctx, m)).toMatchObject({ ok: true, compared: 300 });
    store.collection('users').tamper('u000003', {
      ...(await store.collection('users').get('u000003'))!.doc,
      remark: 'bad',
    });
    const { remark: _r, ...noRemark } = (await store.collection('users').get('u000004'))!.doc;
    store.collection('users').tamper('u000004', noRemark as Doc);
    const r = await verify(ctx, m);
    expect(r).toMatchObject({ ok: false, invariantFailures: 1, schemaFailures: 1, mismatched: 0 });
    expect(r.samples.checks).toEqual([
      { key: 'u000003', failures: ['invariant 1: remark is bad'] },
      { key: 'u000004', failures: ["schema: / must have required property 'remark'"] },
    ]);
  });
});

describe('rollback', () => {
  it('restores a lossy migration exactly (export before == after) and lets backfill run again', async () => {
    const store = sqliteAt(path.join(dir, 'r.db'));
    await seedUsers(store, 3000);
    const before = await snapshot(store);
    const ctx = contextFor(store);
    const m = removeNoteMigration();
    await backfill(ctx, m, { batchSize: 200 });
    expect([...(await allDocs(store)).values()].every((d) => d.note === undefined)).toBe(true);
    const r = await rollback(ctx, m, { reason: 'testing' });
    expect(r).toMatchObject({
      outcome: 'rolled-back',
      usedJournal: true,
      restored: 3000,
      downcast: 0,
      conflicts: 0,
    });
    expect(await snapshot(store)).toEqual(before);
    expect((await ctx.catalog.get(m.id))!.status).toBe('rolled-back');
    expect(await new Journal(store, m.id).count()).toBe(0);
    const again = await backfill(ctx, m, {});
    expect(again.outcome).toBe('backfilled');
    expect(again.progress.migrated).toBe(3000);
    await store.close();
  });

  it('never overwrites what the application wrote after the backfill', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 500);
    const ctx = contextFor(store);
    // exact migration: app-changed documents are turned back with down()
    const exact = compileMigration({
      id: 'ren',
      collection: 'users',
      operations: [renameField('note', 'remark')],
    });
    await backfill(ctx, exact, {});
    const c = store.collection('users');
    const d7 = (await c.get('u000007'))!;
    await c.write([
      {
        type: 'put',
        key: 'u000007',
        doc: { ...d7.doc, remark: 'written by the app' },
        ifRev: d7.rev,
      },
    ]);
    await c.write([
      { type: 'put', key: 'new-one', doc: { _id: 'new-one', remark: 'app, new shape', _sv: 2 } },
    ]);
    const r = await rollback(ctx, exact, {});
    expect(r).toMatchObject({ restored: 499, downcast: 2, conflicts: 0 });
    expect((await c.get('u000007'))!.doc).toEqual({
      ...userDoc(7),
      note: 'written by the app',
    });
    expect((await c.get('new-one'))!.doc).toEqual({
      _id: 'new-one',
      note: 'app, new shape',
    });

    // lossy migration: an app-changed document is kept as the app wrote it, reported as a conflict
    const lossy = compileMigration({
      id: 'tier',
      collection: 'users',
      from: 1,
      to: 2,
      operations: [addField('tier', 'free')],
    });
    await c.write([{ type: 'delete', key: 'new-one' }]);
    await backfill(ctx, lossy, {});
    const d9 = (await c.get('u000009'))!;
    const appDoc = { ...d9.doc, tier: 'gold', note: 'upgraded by the app' };
    await c.write([{ type: 'put', key: 'u000009', doc: appDoc, ifRev: d9.rev }]);
    const r2 = await rollback(ctx, lossy, {});
    expect(r2).toMatchObject({ restored: 499, conflicts: 1 });
    expect(r2.conflictSamples[0]).toMatchObject({
      key: 'u000009',
      reason: expect.stringMatching(/no exact inverse/),
    });
    expect((await c.get('u000009'))!.doc).toEqual(appDoc);
    expect((await c.get('u000010'))!.doc).toEqual(userDoc(10));
  });

  it('refuses what it cannot do exactly, and says why', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 10);
    const ctx = contextFor(store);
    await expect(rollback(ctx, removeNoteMigration(), {})).rejects.toThrow(/has not started/);
    const m = splitNameMigration();
    await backfill(ctx, m, {});
    await ctx.catalog.setStatus(m.id, 'complete');
    await expect(rollback(ctx, m, {})).rejects.toThrow(/complete: its journal was deleted/);
  });

  it('auto-rollback when a guard trips', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 1000);
    const before = await snapshot(store);
    const ctx = contextFor(store);
    const m = compileMigration({
      id: 'boom',
      collection: 'users',
      up: (d) => {
        if ((d.n as number) % 5 === 0) throw new Error('bad row');
        delete d.note;
      },
    });
    const r = await backfill(ctx, m, {
      batchSize: 50,
      concurrency: 1,
      guards: { errorRatePercent: 5 },
      autoRollback: true,
    });
    expect(r.outcome).toBe('rolled-back');
    expect(r.trip).toMatchObject({ guard: 'error-rate', limit: 5 });
    expect(r.rollback?.restored).toBeGreaterThan(0);
    expect(await snapshot(store)).toEqual(before);
    const commands = (await ctx.audit.entries()).map((e) => `${e.command}:${e.outcome}`);
    expect(commands).toEqual(
      expect.arrayContaining(['guard.trip:paused; rolling back', 'rollback:rolled back']),
    );
    expect((await ctx.catalog.get('boom'))!.status).toBe('rolled-back');
  });
});

describe('complete', () => {
  it('refuses an unverified migration, finalises a verified one, and rollback is impossible after', async () => {
    const { complete } = await import('../../src/engine/complete.js');
    const store = new MemoryStore();
    await seedUsers(store, 200);
    const ctx = contextFor(store);
    const m = splitNameMigration();
    await expect(complete(ctx, m)).rejects.toThrow(/has not started/);
    await backfill(ctx, m, {});
    await expect(complete(ctx, m)).rejects.toThrow(/not verified: run verify first/);
    await verify(ctx, m);
    const done = await complete(ctx, m, { reason: 'all good' });
    expect(done.status).toBe('complete');
    expect(await new Journal(store, m.id).count()).toBe(0);
    await expect(rollback(ctx, m)).rejects.toThrow(/complete: its journal was deleted/);
    await expect(backfill(ctx, m)).rejects.toThrow(/is complete/);
    const audit = (await ctx.audit.entries())
      .filter((e) => e.command === 'complete')
      .map((e) => e.outcome);
    expect(audit).toEqual([
      expect.stringMatching(/^refused/),
      expect.stringMatching(/^refused/),
      'complete',
    ]);
  });
});

describe('verify resumes', () => {
  it('an interrupted full verify, run again, continues and reports exactly what a single run does', async () => {
    const store = sqliteAt(path.join(dir, 'resume.db'));
    await seedUsers(store, 3000);
    const ctx = contextFor(store);
    const m = splitNameMigration();
    await backfill(ctx, m, { batchSize: 250 });
    store.database
      .prepare(
        `UPDATE users SET doc = json_set(doc, '$.first', 'X') WHERE k IN ('u000100', 'u001500', 'u002900')`,
      )
      .run();
    const controller = new AbortController();
    let pages = 0;
    await expect(
      verify(ctx, m, {
        partitions: 6,
        signal: controller.signal,
        onProgress: () => {
          pages += 1;
          if (pages === 3) controller.abort(new Error('stopped by the test'));
        },
      }),
    ).rejects.toThrow(/stopped by the test/);
    const { Partitions } = await import('../../src/state/partitions.js');
    const states = await new Partitions(store).list(`${m.id}#verify`);
    const scannedBefore = states.reduce((n, s) => n + s.counts.scanned, 0);
    expect(scannedBefore).toBeGreaterThan(0);
    expect(scannedBefore).toBeLessThan(3000);
    let resumedPages = 0;
    const resumed = await verify(ctx, m, { partitions: 6, onProgress: () => (resumedPages += 1) });
    expect(resumed).toMatchObject({ ok: false, compared: 3000, mismatched: 3, matched: 2997 });
    expect(resumed.samples.mismatched.map((x) => x.key).sort()).toEqual([
      'u000100',
      'u001500',
      'u002900',
    ]);
    // finished: the next verify starts afresh and agrees
    let fullPages = 0;
    const again = await verify(ctx, m, { partitions: 6, onProgress: () => (fullPages += 1) });
    expect(again).toMatchObject({ compared: 3000, mismatched: 3 });
    // the resumed run did only what the interrupted one had not: each page is checkpointed
    expect(resumedPages + 3).toBe(fullPages);
    await store.close();
  });
});
