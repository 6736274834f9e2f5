/**
 * The final sweep of an in-place backfill (issue 21 item 1, engine/jobs/final-sweep.ts). A walk
 * that lost its place without anyone noticing (here: a collection whose partition scans silently
 * drop every 7th document, as a Redis SCAN cursor continued across a server restart does) must
 * never end "backfilled": the sweep walks the whole collection once more, and the run ends
 * `incomplete`, naming the documents left. The next run transforms only those. On Redis the sweep
 * is on by default (its cursors are tied to a server process); elsewhere it is asked for.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import type { ScanOptions, Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import { CursorInvalidatedError } from '../../src/store/store-errors.js';
import { NO_REDIS_REASON, redisOrFailInCi, useRedisServer } from '../support/redis-server.js';
import {
  allDocs,
  contextFor,
  overriding,
  seedUsers,
  splitNameMigration,
  sqliteAt,
  tempDir,
  userDoc,
} from './backfill-fixtures.js';

const hasRedis = redisOrFailInCi();
const N = 300;

/**
 * `store` whose `users` partition scans (those with a range) drop every 7th document; with
 * `disturbed`, the first continued partition scan is refused once as a restarted server refuses
 * it (the runner walks that partition again: a disturbance, after which a Redis run sweeps)
 */
function lossy(store: Store, disturbed = false): Store {
  let refused = !disturbed;
  return overriding(store, 'users', 'scan', (c) => async (o: ScanOptions) => {
    if (!refused && o.range !== undefined && o.cursor !== null && o.cursor !== undefined) {
      refused = true;
      throw new CursorInvalidatedError('the server restarted since this walk began (test)');
    }
    const page = await c.scan(o);
    return o.range !== undefined
      ? { ...page, items: page.items.filter((s) => Number(s.key.slice(1)) % 7 !== 3) }
      : page;
  });
}

const dropped = Array.from({ length: N }, (_, i) => i).filter((i) => i % 7 === 3).length;

async function oldVersion(store: Store): Promise<number> {
  return [...(await allDocs(store)).values()].filter((d) => d._sv !== 2).length;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('final sweep', () => {
  it('SQLite, asked for: a walk that skipped documents ends incomplete, naming them; the next run finishes', async () => {
    const dir = tempDir('sy-sweep-');
    dirs.push(dir);
    const store = sqliteAt(`${dir}/data.db`);
    await seedUsers(store, N);
    const m = splitNameMigration();
    const ctx = contextFor(lossy(store), store);
    const first = await backfill(ctx, m, { batchSize: 50, partitions: 2, finalSweep: true });
    expect(first.outcome).toBe('incomplete');
    expect(first.message).toMatch(
      new RegExp(`${dropped} of the ${N} documents of users are still at the old version`),
    );
    expect(first.message).toMatch(/u\d*3\b/);
    expect(await oldVersion(store)).toBe(dropped);

    // the next run (a walk that sees everything) transforms what is left and says backfilled
    const second = await backfill(contextFor(store), m, { batchSize: 50, partitions: 2 });
    expect(second.outcome).toBe('backfilled');
    expect(await oldVersion(store)).toBe(0);
    await store.close();
  });

  it('SQLite, by default: no sweep (a cursor there is a key, the walk cannot lose its place)', async () => {
    const dir = tempDir('sy-sweep-');
    dirs.push(dir);
    const store = sqliteAt(`${dir}/data.db`);
    await seedUsers(store, N);
    const result = await backfill(contextFor(lossy(store), store), splitNameMigration(), {
      batchSize: 50,
      partitions: 2,
    });
    // what the sweep exists to catch: without it the lossy walk says backfilled
    expect(result.outcome).toBe('backfilled');
    expect(await oldVersion(store)).toBe(dropped);
    await store.close();
  });
});

/** backfill (a sound walk), then roll back through a walk that skips documents, then soundly */
async function rollbackThroughLossyWalk(
  store: Store,
  o: { finalSweep?: boolean; disturbed?: boolean },
): Promise<void> {
  await seedUsers(store, N);
  const m = splitNameMigration();
  expect((await backfill(contextFor(store), m, { batchSize: 50 })).outcome).toBe('backfilled');
  const first = await rollback(contextFor(lossy(store, o.disturbed), store), m, {
    batchSize: 50,
    partitions: 2,
    ...(o.finalSweep !== undefined ? { finalSweep: o.finalSweep } : {}),
  });
  expect(first.outcome).toBe('incomplete');
  expect(first.message).toMatch(
    new RegExp(`${dropped} of the ${N} documents of users are still at v2`),
  );
  expect(N - (await oldVersion(store))).toBe(dropped); // still at v2
  // the journal was kept: the next (sound) run restores them exactly
  const second = await rollback(contextFor(store), m, { batchSize: 50, partitions: 2 });
  expect(second.outcome).toBe('rolled-back');
  const docs = await allDocs(store);
  let wrong = 0;
  for (let i = 0; i < N; i++)
    if (JSON.stringify(docs.get(userDoc(i)._id as string)) !== JSON.stringify(userDoc(i)))
      wrong += 1;
  expect(wrong).toBe(0);
}

describe('final sweep of a rollback', () => {
  it('SQLite, asked for: a walk that skipped documents ends incomplete, the journal kept; the next run restores them', async () => {
    const dir = tempDir('sy-sweep-');
    dirs.push(dir);
    const store = sqliteAt(`${dir}/data.db`);
    await rollbackThroughLossyWalk(store, { finalSweep: true });
    await store.close();
  });
});

describe.skipIf(!hasRedis)(
  `final sweep on Redis (by default after a disturbance)${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    const server = useRedisServer();

    it('a disturbed walk (a cursor refused, walked again) that still skipped documents: incomplete; a sound walk: backfilled', async () => {
      const store = await openStore(`redis://127.0.0.1:${server().port}/0?prefix=sweep:`);
      await seedUsers(store, N);
      const m = splitNameMigration();
      const first = await backfill(contextFor(lossy(store, true), store), m, {
        batchSize: 50,
        partitions: 2,
      });
      expect(first.outcome).toBe('incomplete');
      expect(first.message).toMatch(/still at the old version/);
      expect(await oldVersion(store)).toBe(dropped);

      const second = await backfill(contextFor(store), m, { batchSize: 50, partitions: 2 });
      expect(second.outcome).toBe('backfilled');
      expect(await oldVersion(store)).toBe(0);
      await store.close();
    });

    it('rollback: a disturbed walk that skipped documents ends incomplete; the next run restores them', async () => {
      const store = await openStore(`redis://127.0.0.1:${server().port}/0?prefix=rbsweep:`);
      await rollbackThroughLossyWalk(store, { disturbed: true });
      await store.close();
    });

    it('an undisturbed run is not swept by default (every SCAN call checked the run id)', async () => {
      const store = await openStore(`redis://127.0.0.1:${server().port}/0?prefix=quiet:`);
      await seedUsers(store, N);
      const result = await backfill(contextFor(lossy(store), store), splitNameMigration(), {
        batchSize: 50,
        partitions: 2,
      });
      // the price of not reading everything twice: a loss no error announced is not looked for
      expect(result.outcome).toBe('backfilled');
      expect(await oldVersion(store)).toBe(dropped);
      await store.close();
    });

    it('--no-final-sweep (finalSweep: false) turns it off, even after a disturbance', async () => {
      const store = await openStore(`redis://127.0.0.1:${server().port}/0?prefix=nosweep:`);
      await seedUsers(store, N);
      const result = await backfill(contextFor(lossy(store, true), store), splitNameMigration(), {
        batchSize: 50,
        partitions: 2,
        finalSweep: false,
      });
      expect(result.outcome).toBe('backfilled');
      expect(await oldVersion(store)).toBe(dropped);
      await store.close();
    });
  },
);
