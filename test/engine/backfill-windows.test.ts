/**
 * A backfill in change windows, on a real SQLite file, with an injected clock (no real window is
 * waited for): a run that crosses a window's end stops within one batch per lane, waits with its
 * leases kept and says so in its published progress, and goes on from its checkpoints when the
 * next window opens; a run started outside every window writes nothing until one opens.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { progressView } from '../../src/dashboard/snapshot.js';
import { backfill, type BackfillEvent } from '../../src/engine/backfill.js';
import { WindowSchedule } from '../../src/engine/runner/windows.js';
import { Partitions } from '../../src/state/partitions.js';
import type { Store } from '../../src/store/contract.js';
import { waitFor } from '../dashboard/dashboard-fixtures.js';
import {
  allDocs,
  contextFor,
  seedUsers,
  splitNameMigration,
  sqliteAt,
  tempDir,
} from './backfill-fixtures.js';

const WEEKNIGHTS = new WindowSchedule([
  { days: 'mon-fri', start: '01:00', end: '05:00', tz: 'UTC' },
]);

let dir: string;
let store: Store;
/** a run a failed test left waiting is stopped before its store closes */
let stop: AbortController;
let run: Promise<unknown> | undefined;

beforeEach(async () => {
  dir = tempDir('sy-bf-windows-');
  store = sqliteAt(path.join(dir, 'a.db'));
  await seedUsers(store, 600);
  stop = new AbortController();
  run = undefined;
});

afterEach(async () => {
  stop.abort();
  await run?.catch(() => undefined);
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function migrated(): Promise<number> {
  return [...(await allDocs(store)).values()].filter((d) => d._sv === 2).length;
}

describe('backfill in change windows', () => {
  it('pauses within one batch of the window end, keeps its leases, and resumes in the next window', async () => {
    const ctx = contextFor(store);
    let now = Date.UTC(2026, 2, 26, 4, 0); // Thursday 04:00 UTC: open until 05:00
    let batches = 0;
    let scanned = 0;
    let afterClose = -1;
    const said: string[] = [];
    const running = backfill(ctx, splitNameMigration(), {
      signal: stop.signal,
      batchSize: 25,
      partitions: 4,
      concurrency: 2,
      windows: WEEKNIGHTS,
      clock: () => now,
      progressIntervalMs: 50,
      onEvent: (e: BackfillEvent) => {
        if (e.type === 'batch') {
          batches += 1;
          scanned += e.counts.scanned;
          if (afterClose >= 0) afterClose += 1;
          if (batches === 4) {
            now = Date.UTC(2026, 2, 26, 5, 0); // the window ends
            afterClose = 0;
          }
        }
        if (e.type === 'paused') said.push(`paused: ${e.reason}`);
        if (e.type === 'resumed') said.push('resumed');
      },
    });
    run = running;
    // every lane stops before its next batch: at most the other lane's batch in flight ends
    const progress = await waitFor('the published wait', async () => {
      const p = (await ctx.catalog.get('m-split'))?.progress as Record<string, unknown>;
      return p?.paused === true ? p : undefined;
    });
    expect(progress.window).toEqual({ open: false, until: '2026-03-27T01:00:00.000Z' });
    // as the dashboard shows it
    expect(progressView(progress).window).toEqual(progress.window);
    expect(said[0]).toBe(
      'paused: outside the change windows: waiting until 2026-03-27T01:00:00.000Z',
    );
    expect(afterClose).toBeLessThanOrEqual(1);
    const done = await migrated();
    expect(done).toBe(scanned);
    expect(done).toBeLessThan(600);
    // waiting is not an operator's pause: the status stays, the leases are kept alive
    expect((await ctx.catalog.get('m-split'))?.status).toBe('backfilling');
    const held = (await new Partitions(ctx.stateStore).list('m-split')).filter(
      (s) => !s.done && s.owner !== null && Number(s.expiresAt) > Date.now(),
    );
    expect(held.length).toBeGreaterThan(0);
    expect(await migrated()).toBe(done);

    now = Date.UTC(2026, 2, 27, 1, 0); // Friday 01:00: the next window
    const result = await running;
    expect(result.outcome).toBe('backfilled');
    expect(await migrated()).toBe(600);
    expect(said.filter((s) => s === 'resumed').length).toBeGreaterThan(0);
    // nothing was read twice: the workers went on from where they stopped
    expect(scanned).toBe(600);
  });

  it('started outside every window, writes nothing until one opens', async () => {
    const ctx = contextFor(store);
    let now = Date.UTC(2026, 2, 28, 12, 0); // Saturday noon
    let batches = 0;
    let paused = false;
    const running = backfill(ctx, splitNameMigration(), {
      signal: stop.signal,
      batchSize: 100,
      partitions: 2,
      windows: WEEKNIGHTS,
      clock: () => now,
      onEvent: (e: BackfillEvent) => {
        if (e.type === 'batch') batches += 1;
        if (e.type === 'paused') paused = true;
      },
    });
    run = running;
    await waitFor('the wait', () => paused);
    expect(batches).toBe(0);
    expect(await migrated()).toBe(0);
    now = Date.UTC(2026, 2, 30, 1, 30); // Monday 01:30
    expect((await running).outcome).toBe('backfilled');
    expect(await migrated()).toBe(600);
  });
});
