/**
 * Side-by-side verify on real stores (memory, SQLite files, a real redis-server): equal sides
 * pass; tampered, missing and extra target documents and failing transforms are named with their
 * keys and paths; a write that lands during verify settles instead of being reported; bucket
 * summaries do not depend on either store's key order or partitioning.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Double } from 'bson';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { setStage, sideBySideState, Stage } from '../../src/engine/stages.js';
import {
  bucketOf,
  BucketSummary,
  verifySideBySide,
  type SideBySideVerifyReport,
} from '../../src/engine/verify-side-by-side.js';
import { lowercase, splitField } from '../../src/migration/index.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Migration } from '../../src/migration/migration.js';
import type { Collection, Store } from '../../src/store/contract.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { openStore } from '../../src/store/open-store.js';
import {
  NO_REDIS_REASON,
  redisServerPath,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import { contextFor, seedUsers, sqliteAt, tempDir, userDoc } from './backfill-fixtures.js';

const FAST = { rechecks: 2, recheckDelayMs: 10 };

function migration(targetStore?: string): Migration {
  return compileMigration({
    id: 'users-v2',
    collection: 'users',
    target: {
      collection: 'users_v2',
      ...(targetStore !== undefined ? { store: targetStore } : {}),
    },
    operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')],
    verify: { invariants: [(d) => typeof d.first === 'string' || 'first is missing'] },
  });
}

const key = (i: number) => `u${String(i).padStart(6, '0')}`;

/** what a finished backfill leaves: up(source) for every source document */
async function copyUp(m: Migration, from: Collection, to: Collection): Promise<void> {
  let cursor: string | null = null;
  do {
    const page = await from.scan({ cursor, limit: 1000 });
    await to.write(page.items.map((s) => ({ type: 'put' as const, key: s.key, doc: m.up(s.doc) })));
    cursor = page.cursor;
  } while (cursor !== null);
}

function pathsByKey(r: SideBySideVerifyReport): Record<string, string[]> {
  return Object.fromEntries(r.samples.mismatched.map((x) => [x.key, x.diffs.map((d) => d.path)]));
}

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-vsbs-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('side-by-side verify', () => {
  it('passes on equal sides (sqlite to another sqlite file), marks the migration verified and audits it', async () => {
    const source = sqliteAt(path.join(dir, 'app.db'));
    const targetFile = path.join(dir, 'target.db');
    await seedUsers(source, 3000);
    const m = migration(`sqlite:${targetFile}`);
    const ctx = contextFor(source);
    await setStage(ctx, m, Stage.dualWrite);
    expect((await backfill(ctx, m, { batchSize: 250 })).outcome).toBe('backfilled');

    const r = await verifySideBySide(ctx, m, FAST);
    expect(r).toMatchObject({
      kind: 'side-by-side',
      stage: 'dual-write',
      mode: 'full',
      ok: true,
      compared: 3000,
      matched: 3000,
      sourceDocs: 3000,
      targetDocs: 3000,
      mismatched: 0,
      missing: 0,
      extra: 0,
      transformErrors: 0,
      settled: 0,
      target: { collection: 'users_v2', store: `sqlite:${targetFile}` },
    });
    expect(r.ranges.total).toBeGreaterThan(10);
    expect(r.ranges).toMatchObject({ divergentTotal: 0, drilled: 0 });
    const entry = (await ctx.catalog.get(m.id))!;
    expect(entry.status).toBe('verified');
    expect(entry.lastVerify).toMatchObject({ kind: 'side-by-side', ok: true, compared: 3000 });
    expect(sideBySideState(entry).stage).toBe(Stage.dualWrite); // the stage is not touched
    const audit = (await ctx.audit.entries()).at(-1)!;
    expect(audit).toMatchObject({ command: 'verify', migration: m.id, outcome: 'ok' });
    expect(audit.params).toMatchObject({ compared: 3000, settled: 0 });
    await source.close();
  });

  it('names tampered target documents with exactly the changed paths, drilling only into their buckets', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 5000);
    const m = migration();
    const ctx = contextFor(store);
    await setStage(ctx, m, Stage.dualWrite);
    const users = store.collection('users');
    const target = store.collection('users_v2');
    await copyUp(m, users, target);
    await ctx.catalog.update(m.id, (e) => ({ ...e, status: 'backfilled' }));
    expect((await verifySideBySide(ctx, m, FAST)).ok).toBe(true);
    expect((await ctx.catalog.get(m.id))!.status).toBe('verified');

    const tamper = async (i: number, change: (d: Doc) => void) => {
      const doc = { ...(await target.get(key(i)))!.doc };
      change(doc);
      await target.write([{ type: 'put', key: key(i), doc }]);
    };
    await tamper(10, (d) => (d.email = 'someone@else.example'));
    await tamper(2500, (d) => delete d.last);
    await tamper(4999, (d) => {
      d.n = new Double(4999) as unknown as Doc[string]; // the same number as a double: a type change
      d.meta = { tags: ['x'] };
    });

    const r = await verifySideBySide(ctx, m, { ...FAST, maxSamples: 20 });
    expect(r).toMatchObject({ ok: false, compared: 5000, matched: 4997, mismatched: 3 });
    expect(r).toMatchObject({ missing: 0, extra: 0, transformErrors: 0, settled: 0 });
    expect(pathsByKey(r)).toEqual({
      [key(10)]: ['/email'],
      [key(2500)]: ['/last'],
      [key(4999)]: ['/n', '/meta'],
    });
    expect(r.paths).toEqual({ email: 1, last: 1, n: 1, meta: 1 });
    const email = r.samples.mismatched.find((x) => x.key === key(10))!.diffs[0]!;
    expect(email).toMatchObject({ expected: 'user10@example.com', actual: 'someone@else.example' });
    // the invariant runs on the target document too
    expect(r.invariantFailures).toBe(0);
    expect(r.ranges.divergentTotal).toBe(3);
    expect(r.ranges.divergent.map((d) => d.mismatched)).toEqual([1, 1, 1]);
    // only the three divergent buckets were looked into, on both sides
    expect(r.ranges.drilled).toBeLessThan(0.05 * 10_000);
    expect(r.ranges.drilled).toBeGreaterThanOrEqual(6);
    const entry = (await ctx.catalog.get(m.id))!;
    expect(entry.status).toBe('backfilled'); // drift after verified: no longer verified
    expect(entry.lastVerify).toMatchObject({ ok: false, mismatched: 3 });
    expect((await ctx.audit.entries()).at(-1)!.outcome).toBe('drift found');
  });

  it('finds missing and extra keys, documents up() refuses and invariant failures on the target', async () => {
    const source = sqliteAt(path.join(dir, 'app.db'));
    await seedUsers(source, 2000);
    const m = migration(`sqlite:${path.join(dir, 'target.db')}`);
    const targetStore = await openStore(`sqlite:${path.join(dir, 'target.db')}`);
    const users = source.collection('users');
    const target = targetStore.collection('users_v2');
    await copyUp(m, users, target);
    await target.write([
      { type: 'delete', key: key(7) },
      { type: 'delete', key: key(1999) },
      {
        type: 'put',
        key: 'zz-only-in-target',
        doc: { ...m.up(userDoc(1)), _id: 'zz-only-in-target' },
      },
      {
        type: 'put',
        key: 'a-only-in-target',
        doc: { ...m.up(userDoc(2)), _id: 'a-only-in-target' },
      },
      { type: 'put', key: key(300), doc: { ...m.up(userDoc(300)), first: 42 } },
    ]);
    // a source document at a version the migration does not start from: up() refuses it
    await users.write([{ type: 'put', key: key(400), doc: { ...userDoc(400), _sv: 7 } }]);
    await targetStore.close();

    const ctx = contextFor(source);
    const r = await verifySideBySide(ctx, m, FAST);
    expect(r).toMatchObject({
      ok: false,
      sourceDocs: 2000,
      targetDocs: 2000,
      compared: 2002,
      missing: 2,
      extra: 2,
      mismatched: 1,
      transformErrors: 1,
      invariantFailures: 1,
      matched: 2002 - 6,
    });
    expect([...r.samples.missing].sort()).toEqual([key(7), key(1999)]);
    expect([...r.samples.extra].sort()).toEqual(['a-only-in-target', 'zz-only-in-target']);
    expect(r.samples.transformErrors).toEqual([
      { key: key(400), error: expect.stringMatching(/version 7, expected 1/) },
    ]);
    expect(pathsByKey(r)).toEqual({ [key(300)]: ['/first'] });
    expect(r.samples.checks).toEqual([
      { key: key(300), failures: ['invariant 1: first is missing'] },
    ]);
    expect(await ctx.catalog.get(m.id)).toBeNull(); // never registered: nothing recorded but the audit
    expect((await ctx.audit.entries()).at(-1)!).toMatchObject({ outcome: 'drift found' });
    await source.close();
  });

  it('does not report a write that lands during verify: it settles', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 1000);
    const m = migration();
    const users = store.collection('users');
    const real = store.collection('users_v2');
    await copyUp(m, users, real);
    // the application's dual write of u000123: the old side has it, the new side not yet
    const v2 = { ...userDoc(123), name: 'Grace Hopper', note: 'changed' };
    await users.write([{ type: 'put', key: key(123), doc: v2 }]);
    // ... and it lands right after verify first reads the key from the target
    let landed = false;
    const landing: Collection = {
      name: real.name,
      capabilities: real.capabilities,
      get: (k) => real.get(k),
      scan: (o) => real.scan(o),
      split: (n) => real.split(n),
      write: (ops) => real.write(ops),
      count: (r) => real.count(r),
      getMany: async (keys) => {
        const found = await real.getMany(keys);
        if (!landed && keys.includes(key(123))) {
          landed = true;
          await real.write([{ type: 'put', key: key(123), doc: m.up(v2) }]);
        }
        return found;
      },
    };
    const wrapped: Store = {
      kind: store.kind,
      url: store.url,
      collection: (name) => (name === 'users_v2' ? landing : store.collection(name)),
      listCollections: (o) => store.listCollections(o),
      dropCollection: (n) => store.dropCollection(n),
      close: () => store.close(),
    };
    const r = await verifySideBySide(contextFor(wrapped, store), m, FAST);
    expect(landed).toBe(true);
    expect(r).toMatchObject({ ok: true, settled: 1, mismatched: 0, compared: 1000, matched: 1000 });
    expect(r.ranges.divergentTotal).toBe(1); // the summaries saw it ...
    expect(r.ranges.divergent[0]!.mismatched).toBe(0); // ... and the recheck settled it

    // with no recheck it is reported: the rechecks are what settles it
    landed = false;
    await real.write([{ type: 'put', key: key(123), doc: m.up(userDoc(123)) }]);
    const once = await verifySideBySide(contextFor(wrapped, store), m, { rechecks: 0 });
    expect(once).toMatchObject({ ok: false, mismatched: 1, settled: 0 });
  });

  it('samples: --sample n compares fresh reads of sampled keys of both sides', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 500);
    const m = migration();
    const ctx = contextFor(store);
    await copyUp(m, store.collection('users'), store.collection('users_v2'));
    await store.collection('users_v2').write([
      { type: 'put', key: key(5), doc: { ...m.up(userDoc(5)), last: 'X' } },
      { type: 'put', key: 'extra-1', doc: { ...m.up(userDoc(6)), _id: 'extra-1' } },
      { type: 'delete', key: key(9) },
    ]);
    // a sample as large as the collections: every key of both sides
    const r = await verifySideBySide(ctx, m, { ...FAST, sample: 1000, seed: 3 });
    expect(r).toMatchObject({
      mode: 'sample',
      ok: false,
      compared: 501,
      mismatched: 1,
      missing: 1,
      extra: 1,
    });
    expect(r.ranges.total).toBe(0);
    const small = await verifySideBySide(ctx, m, { ...FAST, sample: 50, seed: 3 });
    expect(small).toMatchObject({ mode: 'sample', sourceDocs: 50, targetDocs: 50 });
    expect(small.compared).toBeGreaterThanOrEqual(50);
  });

  it('refuses in-place migrations and bad options with a clear error (exit 2)', async () => {
    const store = new MemoryStore();
    const ctx = contextFor(store);
    const inPlace = compileMigration({
      id: 'p',
      collection: 'users',
      operations: [lowercase('email')],
    });
    await expect(verifySideBySide(ctx, inPlace)).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/no target/),
    });
    await expect(verifySideBySide(ctx, migration(), { rechecks: -1 })).rejects.toMatchObject({
      exitCode: 2,
      field: 'rechecks',
    });
  });
});

describe('bucket summaries', () => {
  it('do not depend on the order documents are added in', () => {
    const docs = Array.from({ length: 2000 }, (_, i) => [`k${i}`, `h${i % 17}`] as const);
    const a = new BucketSummary(97);
    const b = new BucketSummary(97);
    for (const [k, h] of docs) a.add(k, h);
    for (const [k, h] of [...docs].reverse()) b.add(k, h);
    expect(a.divergent(b)).toEqual([]);
    // swapping two documents' contents is seen (the key is part of each document's hash)
    const c = new BucketSummary(1);
    const d = new BucketSummary(1);
    c.add('x', 'h1');
    c.add('y', 'h2');
    d.add('x', 'h2');
    d.add('y', 'h1');
    expect(c.divergent(d)).toEqual([0]);
    // a document read twice does not cancel out
    const e = new BucketSummary(1);
    e.add('x', 'h1');
    e.add('x', 'h1');
    expect(e.divergent(new BucketSummary(1))).toEqual([0]);
    expect(new Set(docs.map(([k]) => bucketOf(k, 97))).size).toBe(97);
  });
});

describe.skipIf(redisServerPath() === null && process.env.CI === undefined)(
  `sqlite to redis${redisServerPath() === null ? ` (skipped: ${NO_REDIS_REASON})` : ''}`,
  () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedisServer();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('buckets agree across SQLite key ranges and Redis hash partitions; drift is found exactly', async () => {
      const source = sqliteAt(path.join(dir, 'app.db'));
      await seedUsers(source, 4000);
      const url = `${redis.url}/0?prefix=vs:`;
      const m = migration(url);
      const ctx = contextFor(source);
      await setStage(ctx, m, Stage.dualWrite);
      expect((await backfill(ctx, m, { batchSize: 300 })).outcome).toBe('backfilled');
      for (const partitions of [1, 3, 8]) {
        const r = await verifySideBySide(ctx, m, { ...FAST, partitions, concurrency: 3 });
        expect(r).toMatchObject({ ok: true, compared: 4000, sourceDocs: 4000, targetDocs: 4000 });
        expect(r.ranges).toMatchObject({ divergentTotal: 0, drilled: 0 });
      }

      const app = new Redis({ host: '127.0.0.1', port: redis.port });
      const raw = JSON.parse((await app.get(`vs:users_v2:${key(1234)}`))!) as Record<
        string,
        unknown
      >;
      await app.set(`vs:users_v2:${key(1234)}`, JSON.stringify({ ...raw, last: 'Tampered' }));
      await app.del(`vs:users_v2:${key(77)}`);
      await app.set(`vs:users_v2:ghost`, JSON.stringify({ ...raw, _id: 'ghost' }));
      app.disconnect();
      const r = await verifySideBySide(ctx, m, FAST);
      expect(r).toMatchObject({ ok: false, mismatched: 1, missing: 1, extra: 1, compared: 4001 });
      expect(pathsByKey(r)).toEqual({ [key(1234)]: ['/last'] });
      expect(r.samples.missing).toEqual([key(77)]);
      expect(r.samples.extra).toEqual(['ghost']);
      // the three keys' buckets (two may share one), each finding counted in its bucket
      expect(r.ranges.divergent.reduce((n, d) => n + d.mismatched, 0)).toBe(3);
      await source.close();
    });
  },
);
