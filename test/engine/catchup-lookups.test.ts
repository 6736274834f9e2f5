/**
 * Catch-up with lookups (issue 16 item 1), on real SQLite files (SQLite has a change feed; Redis
 * has none): the source documents the application changes are re-applied to the target with
 * up() seeing their looked-up documents, read in one getMany per batch and looked-up collection.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { catchup } from '../../src/engine/catchup.js';
import { allDocs, contextFor, sqliteAt, tempDir } from './backfill-fixtures.js';
import {
  countReads,
  docKey,
  docOf,
  expectedVersion,
  lookupMigration,
  seedDocsAndOps,
} from './lookups-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-catchup-lk-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const N = 200;

describe('catchup with lookups', () => {
  it('re-applies up() with the looked-up documents to the changed source documents', async () => {
    const source = sqliteAt(path.join(dir, 'source.db'));
    const targetFile = path.join(dir, 'target.db');
    try {
      await seedDocsAndOps(source, N);
      const m = lookupMigration({
        id: 'docs-v2',
        target: { collection: 'docs_v2', store: `sqlite:${targetFile}` },
      });
      const ctx = contextFor(source);
      await catchup(ctx, m, { mode: 'until-idle' }); // started first: the backfill may run at off
      expect((await backfill(ctx, m, { batchSize: 50 })).outcome).toBe('backfilled');

      // the application retitles 40 documents; catch-up carries them over with their lookups
      const changed = Array.from({ length: 40 }, (_, k) => k * 5);
      await source.collection('docs').write(
        changed.map((i) => ({
          type: 'put' as const,
          key: docKey(i),
          doc: { ...docOf(i), title: `changed ${i}` },
        })),
      );
      const reads = countReads(source, 'docOps');
      let batches = 0;
      const r = await catchup(ctx, m, {
        mode: 'until-idle',
        batchSize: 10,
        onEvent: (e) => {
          if (e.type === 'batch') batches += 1;
        },
      });
      expect(r.progress).toMatchObject({ changes: 40, applied: 40, errors: 0 });
      expect(reads.get).toBe(0);
      expect(reads.getMany).toBeGreaterThan(0);
      expect(reads.getMany).toBeLessThanOrEqual(batches);

      const target = sqliteAt(targetFile);
      try {
        const docs = await allDocs(target, 'docs_v2');
        for (const i of changed)
          expect(docs.get(docKey(i))).toMatchObject({
            title: `changed ${i}`,
            version: expectedVersion(i),
          });
      } finally {
        await target.close();
      }
    } finally {
      await source.close();
    }
  }, 60_000);
});
