/**
 * The backfill's worker-died alert comes from its `lease` events: a partition taken over from a
 * worker whose lease lapsed (or whose process is gone) is a death; one a worker released when it
 * stopped is not.
 */
import path from 'node:path';
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfill, type BackfillEvent } from '../../src/engine/backfill.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { AlertSink, parseWebhookUrl } from '../../src/observe/alerts.js';
import { BackfillAlerts } from '../../src/observe/job-alerts.js';
import { Partitions } from '../../src/state/partitions.js';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { contextFor, seedUsers, sqliteAt, tempDir } from '../engine/backfill-fixtures.js';
import { startReceiver, type Receiver } from './alert-receiver.js';

let dir: string;
let store: SqliteStore;
let rcv: Receiver;
beforeEach(async () => {
  dir = tempDir('sy-bfalerts-');
  store = sqliteAt(path.join(dir, 'data.db'));
  await seedUsers(store, 3000);
  rcv = await startReceiver();
});
afterEach(async () => {
  await store.close();
  await rcv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const migration = () =>
  compileMigration({
    id: 'm-lease',
    collection: 'users',
    up: (d) => {
      d.seen = true;
    },
  });

/** Run a backfill that stops (and releases its leases) once it has done a few batches. */
async function stoppedRun(): Promise<void> {
  const controller = new AbortController();
  let batches = 0;
  const r = await backfill(contextFor(store), migration(), {
    batchSize: 50,
    partitions: 3,
    concurrency: 2,
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === 'batch' && ++batches === 4) controller.abort();
    },
  });
  expect(r.outcome).toBe('aborted');
}

/** A full run with alerts attached; returns its lease events. */
async function alertedRun(): Promise<Extract<BackfillEvent, { type: 'lease' }>[]> {
  const sink = new AlertSink({ url: parseWebhookUrl(rcv.url), source: { command: 'test' } });
  const alerts = new BackfillAlerts(sink, 'm-lease');
  const leases: Extract<BackfillEvent, { type: 'lease' }>[] = [];
  const r = await backfill(contextFor(store), migration(), {
    batchSize: 50,
    concurrency: 2,
    onEvent: (e) => {
      alerts.onEvent(e);
      if (e.type === 'lease') leases.push(e);
    },
  });
  expect(r.outcome).toBe('backfilled');
  expect(await sink.close()).toMatchObject({ failed: 0, dropped: 0 });
  return leases;
}

describe('worker-died', () => {
  it('is not sent for partitions a stopped worker released', async () => {
    await stoppedRun();
    const leases = await alertedRun();
    expect(leases.length).toBeGreaterThanOrEqual(3);
    expect(leases.filter((e) => e.takenOverFrom !== undefined)).toEqual([]);
    expect(rcv.events).toEqual([]);
  });

  it('is sent, once, for a worker on another host whose leases lapsed', async () => {
    await stoppedRun();
    // a worker on another machine takes two partitions and stalls: its leases lapse after 300 ms
    const partitions = new Partitions(store, { leaseTtlMs: 300 });
    const far = { id: 'far-away:77', host: 'far-away', pid: 77 };
    const ids = (await partitions.list('m-lease')).filter((p) => !p.done).map((p) => p.id);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    for (const id of ids.slice(0, 2)) expect(await partitions.tryAcquire(id, far)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 400));
    const leases = await alertedRun();
    const taken = leases.filter((e) => e.takenOverFrom !== undefined);
    expect(taken).toHaveLength(2);
    expect(taken[0]!.takenOverFrom).toMatchObject({
      worker: 'far-away:77',
      host: 'far-away',
      pid: 77,
    });
    expect(typeof taken[0]!.takenOverFrom!.expiresAt).toBe('number'); // not a bson Double
    const died = rcv.events.filter((e) => e.type === 'worker-died');
    expect(died).toHaveLength(1); // one dead worker, one alert
    expect(died[0]).toMatchObject({
      migration: 'm-lease',
      details: { previousWorker: 'far-away:77', previousHost: 'far-away', previousPid: 77 },
    });
    expect(Date.parse(died[0]!.details.leaseExpiresAt as string)).toBeLessThanOrEqual(Date.now());
  });
});

describe('threshold', () => {
  // one document in 100 fails its transform: 30 dead letters in 3,000
  const failing = () =>
    compileMigration({
      id: 'm-thresh',
      collection: 'users',
      up: (d) => {
        if ((d.n as number) % 100 === 0) throw new Error('bad document');
        d.seen = true;
      },
    });

  it('deadLetters: an alert is sent once the count is above it, none for a level never reached', async () => {
    const sink = new AlertSink({ url: parseWebhookUrl(rcv.url), source: { command: 'test' } });
    const alerts = new BackfillAlerts(sink, 'm-thresh');
    const ctx = contextFor(store);
    const r = await backfill(ctx, failing(), {
      batchSize: 100,
      errorBudget: false,
      thresholds: [
        { metric: 'deadLetters', above: 30, action: 'pause' },
        { metric: 'deadLetters', above: 5, action: 'alert' },
      ],
      onEvent: (e) => alerts.onEvent(e),
    });
    expect(r.outcome).toBe('backfilled');
    expect(await sink.close()).toMatchObject({ failed: 0, dropped: 0 });
    const fired = rcv.events.filter((e) => e.type === 'threshold');
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({
      severity: 'warning',
      migration: 'm-thresh',
      details: { metric: 'deadLetters', above: 5, action: 'alert', job: 'backfill' },
    });
    expect(fired[0]!.details.value as number).toBeGreaterThan(5);
    expect(fired[0]!.message).toMatch(
      /^threshold on m-thresh: deadLetters \d+, above the threshold of 5: alert$/,
    );
    const audited = (await ctx.audit.entries({ migration: 'm-thresh' })).filter(
      (e) => e.command === 'threshold',
    );
    expect(audited.map((e) => e.outcome)).toEqual(['alerted']);
  });

  it('deadLetters: a pause ends the run and pauses the migration', async () => {
    const ctx = contextFor(store);
    const r = await backfill(ctx, failing(), {
      batchSize: 100,
      errorBudget: false,
      thresholds: [{ metric: 'deadLetters', above: 10, action: 'pause' }],
    });
    expect(r.outcome).toBe('guard-tripped');
    expect(r.trip).toMatchObject({
      guard: 'threshold',
      metric: 'deadLetters',
      limit: 10,
      action: 'pause',
    });
    expect(r.message).toMatch(
      /^threshold reached: deadLetters \d+, above the threshold of 10: pause\./,
    );
    expect((await ctx.catalog.get('m-thresh'))?.status).toBe('paused');
    expect(r.progress.scanned).toBeLessThan(3000);
  });
});
