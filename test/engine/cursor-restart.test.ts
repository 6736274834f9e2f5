/**
 * A scan cursor that lost its meaning (a Redis server restarted mid-run: `CursorInvalidatedError`)
 * is never continued: the runner walks that partition again from its beginning, with what the job
 * counted for it reset, and says so (`restart` event). Shown for the backfill, verify and rollback
 * with a store wrapper that throws it from `scan` on a saved cursor, on a real SQLite file; each
 * result must equal an uninterrupted run's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import type { RunnerEvent } from '../../src/engine/runner/job.js';
import { verify } from '../../src/engine/verify.js';
import type { ScanOptions, Store } from '../../src/store/contract.js';
import { CursorInvalidatedError } from '../../src/store/store-errors.js';
import {
  allDocs,
  contextFor,
  expectedSplit,
  overriding,
  removeNoteMigration,
  seedUsers,
  splitNameMigration,
  sqliteAt,
  tempDir,
} from './backfill-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-cursor-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * The store as the runner sees it, with `users` throwing CursorInvalidatedError from the
 * `every`-th scan that continues a saved cursor, `times` times (as after a server restart).
 */
function restarting(inner: Store, every: number, times: number) {
  let continued = 0;
  let thrown = 0;
  const store = overriding(inner, 'users', 'scan', (c) => async (o: ScanOptions) => {
    if (o.cursor != null && ++continued % every === 0 && thrown < times) {
      thrown += 1;
      throw new CursorInvalidatedError(
        `scan of '${c.name}': the server restarted (run id changed); the cursor means nothing now`,
      );
    }
    return c.scan(o);
  });
  return { store, thrown: () => thrown };
}

const restarts = (events: RunnerEvent[]) => events.filter((e) => e.type === 'restart');

describe('a scan cursor that lost its meaning', () => {
  it('backfill: the partition is walked again; every document migrated; counts as if walked once', async () => {
    const file = path.join(dir, 'b.db');
    const inner = sqliteAt(file);
    await seedUsers(inner, 3000);
    const { store, thrown } = restarting(inner, 4, 2);
    const events: RunnerEvent[] = [];
    const r = await backfill(contextFor(store, inner), splitNameMigration(), {
      batchSize: 100,
      partitions: 4,
      concurrency: 2,
      onEvent: (e) => {
        if (e.type !== 'done') events.push(e);
      },
    });
    expect(thrown()).toBe(2);
    expect(restarts(events)).toHaveLength(2);
    expect(restarts(events)[0]).toMatchObject({ reason: expect.stringMatching(/restarted/) });
    expect(r.outcome).toBe('backfilled');
    // each restarted partition was counted from its beginning again: every document once
    expect(r.progress).toMatchObject({ scanned: 3000, errors: 0, partitionsDone: 4 });
    expect(r.progress.migrated + r.progress.skipped).toBe(3000);
    expect(r.progress.skipped).toBeGreaterThan(0); // what the first walk migrated, seen again
    const docs = await allDocs(inner);
    for (let i = 0; i < 3000; i++)
      expect(docs.get(`u${String(i).padStart(6, '0')}`)).toEqual(expectedSplit(i));
    await inner.close();
  });

  it('verify: the report equals an uninterrupted run (the partition accumulators are reset)', async () => {
    const file = path.join(dir, 'v.db');
    const inner = sqliteAt(file);
    await seedUsers(inner, 3000);
    const m = splitNameMigration();
    await backfill(contextFor(inner), m, { batchSize: 500 });
    inner.database
      .prepare(
        `UPDATE users SET doc = json_set(doc, '$.first', 'X') WHERE k IN ('u000100', 'u001500', 'u002900')`,
      )
      .run();
    const clean = await verify(contextFor(inner), m, { partitions: 4, batchSize: 100 });
    const { store, thrown } = restarting(inner, 3, 3);
    const events: RunnerEvent[] = [];
    const again = await verify(contextFor(store, inner), m, {
      partitions: 4,
      batchSize: 100,
      onEvent: (e) => events.push(e),
    });
    expect(thrown()).toBe(3);
    expect(restarts(events)).toHaveLength(3);
    const { elapsedSeconds: _a, ...want } = clean;
    const { elapsedSeconds: _b, ...got } = again;
    expect(got).toEqual(want);
    expect(got).toMatchObject({ compared: 3000, mismatched: 3, ok: false });
    await inner.close();
  });

  it('rollback: every document restored exactly, the counts of a walk from the beginning', async () => {
    const file = path.join(dir, 'r.db');
    const inner = sqliteAt(file);
    await seedUsers(inner, 2000);
    const before = await allDocs(inner);
    const m = removeNoteMigration();
    await backfill(contextFor(inner), m, { batchSize: 500 });
    const { store, thrown } = restarting(inner, 3, 2);
    const events: RunnerEvent[] = [];
    const r = await rollback(contextFor(store, inner), m, {
      partitions: 4,
      batchSize: 100,
      onEvent: (e) => events.push(e),
    });
    expect(thrown()).toBe(2);
    expect(restarts(events)).toHaveLength(2);
    expect(r).toMatchObject({ outcome: 'rolled-back', conflicts: 0 });
    // a restarted partition finds what its first walk restored at `from`: untouched the second time
    expect(r.restored + r.untouched).toBe(2000);
    expect(await allDocs(inner)).toEqual(before);
    await inner.close();
  });
});
