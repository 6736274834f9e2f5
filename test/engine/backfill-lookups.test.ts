/**
 * Lookups (issue 16 item 1): up(doc, ctx) receives the documents of other collections named by
 * the migration's `lookups`, read in ONE getMany per batch and looked-up collection (counted
 * here on the real store's collection), never one read per document. Rollback is exact. On
 * SQLite and on a real redis-server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import {
  NO_REDIS_REASON,
  redisOrFailInCi,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import { wrapCollection } from '../support/wrap-collection.js';
import { allDocs, contextFor, exportText, tempDir } from './backfill-fixtures.js';

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
const key = (i: number) => `doc${String(i).padStart(4, '0')}`;
/** every 5th document has no docOps document; two documents share each docOps key */
const docOf = (i: number): Doc => ({
  _id: key(i),
  doc_id: `op${Math.floor(i / 2)}`,
  title: `t${i}`,
});
const opOf = (j: number): Doc => ({ _id: `op${j}`, version: j * 10 });
const hasOp = (j: number) => j % 5 !== 0;

function migration() {
  return compileMigration({
    id: 'm-lookup',
    collection: 'docs',
    lookups: { docOps: { collection: 'docOps', by: 'doc_id' } },
    up: (d, ctx) => {
      d.version = (ctx.lookups.docOps?.version as number | undefined) ?? null;
    },
    down: (d) => {
      delete d.version;
    },
  });
}

/** counts the reads of `collection` on `store` from now on */
function countReads(
  store: Store,
  collection: string,
): { getMany: number; get: number; keys: number } {
  const n = { getMany: 0, get: 0, keys: 0 };
  const orig = store.collection.bind(store);
  (store as { collection: Store['collection'] }).collection = (name: string) => {
    const c = orig(name);
    if (name !== collection) return c;
    return wrapCollection(c, {
      getMany: (ks) => {
        n.getMany += 1;
        n.keys += ks.length;
        return c.getMany(ks);
      },
      get: (k) => {
        n.get += 1;
        return c.get(k);
      },
    });
  };
  return n;
}

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
          const docs = Array.from({ length: N }, (_, i) => docOf(i));
          await store
            .collection('docs')
            .write(docs.map((d) => ({ type: 'put' as const, key: d._id as string, doc: d })));
          const ops = Array.from({ length: N / 2 }, (_, j) => j)
            .filter(hasOp)
            .map(opOf);
          await store
            .collection('docOps')
            .write(ops.map((d) => ({ type: 'put' as const, key: d._id as string, doc: d })));
          const before = await exportText(store, 'docs');
          const opsBefore = await exportText(store, 'docOps');
          const reads = countReads(store, 'docOps');
          const ctx = contextFor(store);
          const m = migration();
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
          for (let i = 0; i < N; i++) {
            const j = Math.floor(i / 2);
            expect(after.get(key(i))).toMatchObject({ _sv: 2, version: hasOp(j) ? j * 10 : null });
          }
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
