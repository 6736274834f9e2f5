/**
 * Verify with lookups (issue 16 item 1), on SQLite and a real redis-server: verify recomputes
 * up() with the looked-up documents read in one getMany per page and looked-up collection; a
 * looked-up document changed after the backfill is reported as `lookupChanged` (naming the key
 * and the lookup), not as drift, and does not fail verify; drift of the document itself still
 * does. Side by side: the copy and its verify pass the lookups too.
 */
import { describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { verify } from '../../src/engine/verify.js';
import type { Store } from '../../src/store/contract.js';
import { onSqliteAndRedis } from '../support/sqlite-and-redis.js';
import { allDocs, contextFor } from './backfill-fixtures.js';
import {
  countReads,
  docKey,
  expectedVersion,
  lookupMigration,
  opOf,
  seedDocsAndOps,
} from './lookups-fixtures.js';

const N = 400;
const BATCH = 50;

async function put(store: Store, collection: string, key: string, doc: Doc): Promise<void> {
  const [r] = await store.collection(collection).write([{ type: 'put', key, doc }]);
  expect(r!.ok).toBe(true);
}

onSqliteAndRedis('verify with lookups', (name, open) => {
  describe(name, () => {
    it('in place: exact with one getMany per page; a changed lookup is lookupChanged, not drift; drift of the document still fails', async () => {
      const store = await open();
      try {
        await seedDocsAndOps(store, N);
        const ctx = contextFor(store);
        const m = lookupMigration();
        const bf = await backfill(ctx, m, { batchSize: BATCH, partitions: 2 });
        expect(bf.outcome).toBe('backfilled');

        // exact, and the lookups are read per page, never per document
        const reads = countReads(store, 'docOps');
        let pages = 0;
        const clean = await verify(ctx, m, {
          batchSize: BATCH,
          partitions: 2,
          onEvent: (e) => {
            if (e.type === 'batch') pages += 1;
          },
        });
        expect(clean).toMatchObject({
          ok: true,
          compared: N,
          matched: N,
          mismatched: 0,
          lookupChanged: 0,
        });
        expect(reads.get).toBe(0);
        expect(reads.getMany).toBeGreaterThan(0);
        expect(reads.getMany).toBeLessThanOrEqual(pages);
        expect(reads.keys).toBeLessThanOrEqual(N);

        // after the backfill: docOps op1 (read by doc0002, doc0003) gets a new version; op3
        // (doc0006, doc0007) a field up() does not use; the application changes doc0002's title
        // too, and doc0012's title alone (real drift)
        await put(store, 'docOps', 'op1', { ...opOf(1), version: 999 });
        await put(store, 'docOps', 'op3', { ...opOf(3), note: 'not used by up()' });
        const stored = await allDocs(store, 'docs');
        await put(store, 'docs', docKey(2), { ...stored.get(docKey(2))!, title: 'by the app' });
        const drifted = stored.get(docKey(12))!;
        await put(store, 'docs', docKey(12), { ...drifted, title: 'by the app' });

        const r = await verify(ctx, m, { batchSize: BATCH, partitions: 2 });
        expect(r).toMatchObject({
          ok: false,
          compared: N,
          matched: N - 3,
          mismatched: 1,
          lookupChanged: 2,
        });
        // the drift names only the document's own change, not the looked-up field
        expect(r.samples.mismatched).toEqual([
          {
            key: docKey(12),
            diffs: [{ path: '/title', field: 'title', expected: 't12', actual: 'by the app' }],
          },
        ]);
        // (scan order is the store's: Redis does not sort keys)
        const changed = [...r.samples.lookupChanged!].sort((a, b) => (a.key < b.key ? -1 : 1));
        expect(changed.map((c) => [c.key, c.lookups])).toEqual([
          [docKey(2), ['docOps']],
          [docKey(3), ['docOps']],
        ]);
        expect(changed[1]!.diffs).toEqual([
          { path: '/version', field: 'version', expected: 999, actual: 10 },
        ]);
        expect(r.ranges.divergent).toHaveLength(1); // doc0012's range only

        // the drift undone: a changed lookup alone does not fail verify
        await put(store, 'docs', docKey(12), drifted);
        const again = await verify(ctx, m, { batchSize: BATCH, partitions: 2 });
        expect(again).toMatchObject({ ok: true, mismatched: 0, lookupChanged: 2 });
        expect((await ctx.catalog.get(m.id))!).toMatchObject({
          status: 'verified',
          lastVerify: { ok: true, lookupChanged: 2 },
        });
        // a sample verify recomputes with the lookups the same way
        const sampled = await verify(ctx, m, { sample: N });
        expect(sampled).toMatchObject({ ok: true, matched: N - 2, lookupChanged: 2 });
      } finally {
        await store.close();
      }
    }, 90_000);

    it('side by side: the copy passes the lookups (one getMany per batch) and verifies exact; a lookup changed since is a mismatch there', async () => {
      const store = await open();
      try {
        await seedDocsAndOps(store, N);
        const ctx = contextFor(store);
        const m = lookupMigration({ id: 'm-lookup-v2', target: { collection: 'docs_v2' } });
        await setStage(ctx, m, Stage.dualWrite);
        const reads = countReads(store, 'docOps');
        let batches = 0;
        const bf = await backfill(ctx, m, {
          batchSize: BATCH,
          partitions: 2,
          onEvent: (e) => {
            if (e.type === 'batch') batches += 1;
          },
        });
        expect(bf.outcome).toBe('backfilled');
        expect(reads.get).toBe(0);
        expect(reads.getMany).toBeLessThanOrEqual(batches);
        const target = await allDocs(store, 'docs_v2');
        expect(target.size).toBe(N);
        for (let i = 0; i < N; i++)
          expect(target.get(docKey(i))).toMatchObject({
            title: `t${i}`,
            version: expectedVersion(i),
          });

        const fast = { rechecks: 1, recheckDelayMs: 5 };
        const r = await verify(ctx, m, { ...fast, batchSize: BATCH });
        expect(r).toMatchObject({ ok: true, compared: N, matched: N, mismatched: 0 });
        const sampled = await verify(ctx, m, { ...fast, sample: 50 });
        expect(sampled).toMatchObject({ ok: true, mismatched: 0 });

        // side by side there is no journal: a lookup changed since the copy is a mismatch
        await put(store, 'docOps', 'op1', { ...opOf(1), version: 999 });
        const after = await verify(ctx, m, { ...fast, batchSize: BATCH });
        expect(after).toMatchObject({ ok: false, mismatched: 2 });
        expect(after.samples.mismatched.map((x) => x.key).sort()).toEqual([docKey(2), docKey(3)]);
      } finally {
        await store.close();
      }
    }, 90_000);
  });
});
