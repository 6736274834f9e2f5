/**
 * Canary in place (issue 13 item 15): `backfill --limit N` / `--filter` migrates a subset first;
 * status says canary, verify checks the subset only (the rest is not drift), rollback restores
 * exactly the canary's documents, and a plain backfill afterwards migrates the rest and ends
 * backfilled with a clean full verify. On SQLite and on a real redis-server.
 */
import { describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import { verify } from '../../src/engine/verify.js';
import { Journal } from '../../src/state/journal.js';
import type { Store } from '../../src/store/contract.js';
import { onSqliteAndRedis } from '../support/sqlite-and-redis.js';
import {
  allDocs,
  contextFor,
  exportText,
  seedUsers,
  splitNameMigration,
} from './backfill-fixtures.js';

const migrated = (docs: Map<string, Record<string, unknown>>) =>
  [...docs.values()].filter((d) => d._sv === 2).length;

onSqliteAndRedis('canary', (name, open) => {
  describe(name, () => {
    it('a canary of 50 of 500: exactly 50 migrated, status canary, verify OK on the subset, rollback exact, then the rest', async () => {
      const store: Store = await open();
      try {
        await seedUsers(store, 500);
        const ctx = contextFor(store);
        const m = splitNameMigration();
        const before = await exportText(store, 'users');

        const r = await backfill(ctx, m, { canary: { limit: 50 }, batchSize: 20 });
        expect(r.outcome).toBe('canary');
        expect(migrated(await allDocs(store))).toBe(50);
        expect(await new Journal(store, m.id).count()).toBe(50);
        const entry = await ctx.catalog.get(m.id);
        expect(entry).toMatchObject({
          status: 'canary',
          canary: { limit: 50, documents: 50, of: 500 },
        });

        // verify checks the 50, and the 450 still at v1 are not drift
        const v = await verify(ctx, m);
        expect(v.ok).toBe(true);
        expect(v).toMatchObject({ compared: 50, matched: 50, oldVersion: 0 });
        expect(v.canary).toMatchObject({ documents: 50, of: 500 });
        expect((await ctx.catalog.get(m.id))?.status).toBe('canary');

        // a wider canary goes on: 50 more
        const wider = await backfill(ctx, m, { canary: { limit: 100 }, batchSize: 30 });
        expect(wider.outcome).toBe('canary');
        expect(migrated(await allDocs(store))).toBe(100);

        // rollback restores exactly the canary's documents
        const rb = await rollback(ctx, m);
        expect(rb).toMatchObject({ outcome: 'rolled-back', restored: 100, conflicts: 0 });
        expect(await exportText(store, 'users')).toBe(before);
        expect((await ctx.catalog.get(m.id))?.canary).toBeUndefined();

        // canary again, then the rest: every document once, backfilled, full verify OK
        await backfill(ctx, m, { canary: { limit: 50 }, batchSize: 20 });
        const rest = await backfill(ctx, m, { batchSize: 100 });
        expect(rest.outcome).toBe('backfilled');
        expect(rest.progress.migrated).toBe(450);
        expect(rest.progress.skipped).toBe(50);
        expect(migrated(await allDocs(store))).toBe(500);
        const full = await verify(ctx, m);
        expect(full.ok).toBe(true);
        expect(full.canary).toBeUndefined();
        expect(full).toMatchObject({ compared: 500, matched: 500 });
        expect((await ctx.catalog.get(m.id))?.status).toBe('verified');
      } finally {
        await store.close();
      }
    });

    it('a filter canary migrates only the matching documents; the limit holds with a filter', async () => {
      const store: Store = await open();
      try {
        await seedUsers(store, 200);
        const ctx = contextFor(store);
        const m = splitNameMigration();
        // keys u000000..u000199: u0000* is the first 100
        const r = await backfill(ctx, m, {
          canary: { filter: '@key~u0000', limit: 30 },
          batchSize: 7,
          concurrency: 3,
        });
        expect(r.outcome).toBe('canary');
        const docs = await allDocs(store);
        const done = [...docs].filter(([, d]) => d._sv === 2).map(([k]) => k);
        expect(done).toHaveLength(30);
        expect(done.every((k) => k.startsWith('u0000'))).toBe(true);

        const byField = await backfill(ctx, m, { canary: { filter: 'n=150' } });
        expect(byField.outcome).toBe('canary');
        // n=150 is outside the first filter: one more
        expect((await allDocs(store)).get('u000150')?._sv).toBe(2);
        expect(migrated(await allDocs(store))).toBe(31);
        const v = await verify(ctx, m);
        expect(v.ok).toBe(true);
        expect(v.canary?.documents).toBe(31);
      } finally {
        await store.close();
      }
    });
  });
});

describe('a canary that cannot run is refused, nothing changed', () => {
  onSqliteAndRedis('refusals', (name, open) => {
    it(`${name}: bad limit, bad filter, no journal, after a full backfill`, async () => {
      const store: Store = await open();
      try {
        await seedUsers(store, 20);
        const ctx = contextFor(store);
        const m = splitNameMigration();
        for (const [canary, why] of [
          [{ limit: 0 }, /--limit must be a positive integer/],
          [{ limit: 2.5 }, /--limit must be a positive integer/],
          [{ filter: 'no operator' }, /--filter 'no operator': no '=' or '~'/],
          [{ filter: 'a..b=1' }, /--filter 'a\.\.b=1'.*segment 2 is empty/],
          [{ filter: 'name~' }, /the prefix is empty/],
        ] as const) {
          await expect(backfill(ctx, m, { canary })).rejects.toMatchObject({
            exitCode: 2,
            message: expect.stringMatching(why),
          });
        }
        await expect(backfill(ctx, m, { canary: { limit: 5 }, journal: false })).rejects.toThrow(
          /needs the undo journal/,
        );
        expect(await ctx.catalog.get(m.id)).toBeNull();
        expect(migrated(await allDocs(store))).toBe(0);
        await backfill(ctx, m);
        await expect(backfill(ctx, m, { canary: { limit: 5 } })).rejects.toMatchObject({
          exitCode: 2,
          message: expect.stringMatching(
            /is backfilled: a canary .* runs before the full backfill/,
          ),
        });
      } finally {
        await store.close();
      }
    });
  });
});
