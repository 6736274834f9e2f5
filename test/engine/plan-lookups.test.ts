/**
 * plan with lookups (issue 16 item 1), on SQLite and a real redis-server: the report lists the
 * lookups the migration reads with what the sample found, up() runs on the sample with the
 * looked-up documents (read in one getMany per looked-up collection, never per document), and
 * nothing is written.
 */
import { describe, expect, it } from 'vitest';
import { plan } from '../../src/engine/plan.js';
import { onSqliteAndRedis } from '../support/sqlite-and-redis.js';
import { exportText } from './backfill-fixtures.js';
import {
  countReads,
  docKey,
  expectedVersion,
  lookupMigration,
  seedDocsAndOps,
} from './lookups-fixtures.js';

const N = 400;

onSqliteAndRedis('plan with lookups', (name, open) => {
  describe(name, () => {
    it('shows the lookups and runs up() with them on the sample', async () => {
      const store = await open();
      try {
        await seedDocsAndOps(store, N);
        const before = [await exportText(store, 'docs'), await exportText(store, 'docOps')];
        const reads = countReads(store, 'docOps');
        const r = await plan(store, lookupMigration(), { sample: N, show: N });
        // every 5th docOps key (40 of 200) has no document: 80 of the 400 documents find none
        expect(r.lookups).toEqual([
          {
            name: 'docOps',
            collection: 'docOps',
            by: 'doc_id',
            found: 320,
            notFound: 80,
            noKey: 0,
          },
        ]);
        expect(reads).toMatchObject({ get: 0, getMany: 1 });
        expect(r).toMatchObject({ sampled: N, changed: N, failed: 0, nondeterministic: 0 });
        for (const d of r.documents) {
          const i = Number(d.key.slice(3));
          expect(d.key).toBe(docKey(i));
          expect(d.diff).toContainEqual(
            expect.objectContaining({ path: '/version', after: expectedVersion(i) }),
          );
        }
        expect([await exportText(store, 'docs'), await exportText(store, 'docOps')]).toEqual(
          before,
        );
      } finally {
        await store.close();
      }
    });
  });
});
