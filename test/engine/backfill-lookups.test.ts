/**
 * Lookups (issue 16 item 1): up(doc, ctx) receives the documents of other collections named by
 * the migration's `lookups`, read in ONE getMany per batch and looked-up collection (counted
 * here on the real store's collection), never one read per document. Rollback is exact. On
 * SQLite and on a real redis-server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import { openStore } from '../../src/store/open-store.js';
import {
  NO_REDIS_REASON,
  redisOrFailInCi,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import { allDocs, contextFor, exportText, tempDir } from './backfill-fixtures.js';
import {
  countReads,
  docKey,
  expectedVersion,
  lookupMigration,
  seedDocsAndOps,
} from './lookups-fixtures.js';

const hasRedis = redisOrFailInCi();
let dir: string;
let redis: RedisServer | undefined;
beforeAll(async () => {
  dir = tempDir('sy-lookups-');
  if (hasRedis) redis = await startRedisServer();
}, 60_000);
afterAll(async () => {
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const N = 400;
const BATCH = 50;

const stores: [string, () => string, boolean][] = [
  ['sqlite', () => `sqlite:${path.join(dir, 'lookups.db')}`, true],
  ['redis', () => `${redis!.url}/0`, hasRedis],
];

describe('backfill with lookups', () => {
  for (const [name, url, available] of stores) {
    it.skipIf(!available)(
      `${name}${available ? '' : ` (skipped: ${NO_REDIS_REASON})`}: up() sees the looked-up document, one getMany per batch, rollback exact`,
      async () => {
        const store = await openStore(url());
        try {
          await seedDocsAndOps(store, N);
          const before = await exportText(store, 'docs');
          const opsBefore = await exportText(store, 'docOps');
          const reads = countReads(store, 'docOps');
          const ctx = contextFor(store);
          const m = lookupMigration();
          let batches = 0;
          const r = await backfill(ctx, m, {
            batchSize: BATCH,
            partitions: 2,
            onEvent: (e) => {
              if (e.type === 'batch') batches += 1;
            },
          });
          expect(r.outcome).toBe('backfilled');
          expect(r.progress).toMatchObject({ migrated: N, errors: 0 });
          // one getMany per batch (no conflicts here), never a read per document
          expect(reads.get).toBe(0);
          expect(batches).toBeGreaterThan(0);
          expect(reads.getMany).toBeLessThanOrEqual(batches);
          expect(reads.keys).toBeLessThanOrEqual(N); // a key is read once per batch, however many documents share it
          const after = await allDocs(store, 'docs');
          for (let i = 0; i < N; i++)
            expect(after.get(docKey(i))).toMatchObject({ _sv: 2, version: expectedVersion(i) });
          expect(await exportText(store, 'docOps')).toBe(opsBefore);

          const rb = await rollback(ctx, m, { reason: 'test' });
          expect(rb.outcome).toBe('rolled-back');
          expect(await exportText(store, 'docs')).toBe(before);
        } finally {
          await store.close();
        }
      },
      60_000,
    );
  }
});
