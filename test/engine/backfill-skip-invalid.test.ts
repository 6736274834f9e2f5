/**
 * `onInvalid: 'skip'` in the engine (issue 16 item 6): a document an operation refuses with
 * SkippedDocumentError is left as it is by the backfill — not written, not dead-lettered,
 * counted as skipped — verify counts it as left as it is (not drift), and rollback is exact.
 * On SQLite and on a real redis-server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalString, type Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import { verify } from '../../src/engine/verify.js';
import { objectToArray } from '../../src/migration/index.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import { openStore } from '../../src/store/open-store.js';
import {
  redisOrFailInCi,
  NO_REDIS_REASON,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import { allDocs, contextFor, exportText, tempDir } from './backfill-fixtures.js';

const hasRedis = redisOrFailInCi();
let dir: string;
let redis: RedisServer | undefined;
beforeAll(async () => {
  dir = tempDir('sy-skip-');
  if (hasRedis) redis = await startRedisServer();
}, 60_000);
afterAll(async () => {
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const N = 300;
/** every 7th document has a string where objectToArray wants an object */
function doc(i: number): Doc {
  const _id = `d${String(i).padStart(4, '0')}`;
  return i % 7 === 0 ? { _id, scores: `n/a ${i}` } : { _id, scores: { math: i, art: i % 3 } };
}
const bad = Array.from({ length: N }, (_, i) => i).filter((i) => i % 7 === 0).length;

function migration() {
  return compileMigration({
    id: 'm-entries',
    collection: 'grades',
    operations: [objectToArray('scores', { onInvalid: 'skip' })],
  });
}

const stores: [string, () => string, boolean][] = [
  ['sqlite', () => `sqlite:${path.join(dir, 'skip.db')}`, true],
  ['redis', () => `${redis!.url}/0`, hasRedis],
];

describe("backfill with onInvalid 'skip'", () => {
  for (const [name, url, available] of stores) {
    it.skipIf(!available)(
      `${name}${available ? '' : ` (skipped: ${NO_REDIS_REASON})`}: leaves refused documents as they are, verify and rollback exact`,
      async () => {
        const store = await openStore(url());
        try {
          const c = store.collection('grades');
          const seeded = Array.from({ length: N }, (_, i) => doc(i));
          await c.write(
            seeded.map((d) => ({ type: 'put' as const, key: d._id as string, doc: d })),
          );
          const before = await exportText(store, 'grades');
          const ctx = contextFor(store);
          const m = migration();

          const r = await backfill(ctx, m, { batchSize: 40, partitions: 3 });
          expect(r.outcome).toBe('backfilled');
          expect(r.progress).toMatchObject({ migrated: N - bad, skipped: bad, errors: 0 });
          expect(r.progress.deadLetters).toBe(0);
          expect(await new DeadLetters(store, m.id).count()).toBe(0);
          expect(r.message).toContain('left as they are');
          const after = await allDocs(store, 'grades');
          for (let i = 0; i < N; i++) {
            const got = after.get(doc(i)._id as string)!;
            if (i % 7 === 0) expect(canonicalString(got)).toBe(canonicalString(doc(i)));
            else
              expect(got).toMatchObject({
                _sv: 2,
                scores: [
                  { k: 'math', v: i },
                  { k: 'art', v: i % 3 },
                ],
              });
          }

          // verify: the refused documents are not drift, and they are counted
          const v = await verify(ctx, m);
          expect(v).toMatchObject({ ok: true, oldVersion: 0, leftAsIs: bad, matched: N - bad });

          // a second run leaves them as they are again, still no dead letters
          const again = await backfill(ctx, m, { batchSize: 40 });
          expect(again.outcome).toBe('backfilled');
          expect(await new DeadLetters(store, m.id).count()).toBe(0);

          const rb = await rollback(ctx, m, { reason: 'test' });
          expect(rb.outcome).toBe('rolled-back');
          expect(await exportText(store, 'grades')).toBe(before);
        } finally {
          await store.close();
        }
      },
      60_000,
    );
  }
});
