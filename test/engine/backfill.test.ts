import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalString } from '../../src/core/values.js';
import { backfill, setPaused, setThrottle, type BackfillEvent } from '../../src/engine/backfill.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { Journal } from '../../src/state/journal.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import { Partitions } from '../../src/state/partitions.js';
import { FaultyStore } from '../../src/store/faulty-store.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import {
  allDocs,
  contextFor,
  expectedSplit,
  seedUsers,
  splitNameMigration,
  sqliteAt,
  tempDir,
  userDoc,
} from './backfill-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('backfill', () => {
  it('transforms every document, journals before-images, and records it all', async () => {
    const store = sqliteAt(path.join(dir, 'a.db'));
    await seedUsers(store, 3000);
    const ctx = contextFor(store);
    const events: BackfillEvent['type'][] = [];
    const r = await backfill(ctx, splitNameMigration(), {
      batchSize: 200,
      partitions: 8,
      onEvent: (e) => events.push(e.type),
    });
    expect(r.outcome).toBe('backfilled');
    expect(r.progress).toMatchObject({
      done: 3000,
      total: 3000,
      migrated: 3000,
      skipped: 0,
      errors: 0,
      partitions: 8,
      partitionsDone: 8,
      etaSeconds: 0,
    });
    const docs = await allDocs(store);
    expect(docs.size).toBe(3000);
    for (let i = 0; i < 3000; i += 1)
      expect(canonicalString(docs.get(`u${String(i).padStart(6, '0')}`)!)).toBe(
        canonicalString(expectedSplit(i)),
      );
    expect(await new Journal(store, 'm-split').count()).toBe(3000);
    expect((await ctx.catalog.get('m-split'))!.status).toBe('backfilled');
    expect((await ctx.audit.entries()).map((e) => `${e.command}:${e.outcome}`)).toEqual([
      'backfill:started',
      'backfill:backfilled',
    ]);
    expect(events).toContain('start');
    expect(events.at(-1)).toBe('done');
    expect(await ctx.audit.verify()).toMatchObject({ ok: true });
    // run again: nothing left to do, nothing transformed twice
    const again = await backfill(ctx, splitNameMigration(), {});
    expect(again.outcome).toBe('backfilled');
    await store.close();
  });

  it('a second run after completion transforms nothing (version gating)', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 500);
    let calls = 0;
    const m = compileMigration({
      id: 'count',
      collection: 'users',
      up: (d) => {
        calls += 1;
        d.n = (d.n as number) + 1;
      },
    });
    const ctx = contextFor(store);
    await backfill(ctx, m, { batchSize: 100, journal: true });
    expect(calls).toBe(500);
    await new Partitions(store).clear('count');
    await ctx.catalog.setStatus('count', 'pending');
    const r = await backfill(ctx, m, { batchSize: 100 });
    expect(calls).toBe(500);
    expect(r.progress.skipped).toBe(500);
    const docs = await allDocs(store);
    expect(docs.get('u000007')!.n).toBe(8);
  });

  it('never loses a concurrent write (a racing writer on another connection)', async () => {
    const file = path.join(dir, 'race.db');
    const store = sqliteAt(file);
    const app = sqliteAt(file);
    await seedUsers(store, 4000);
    const acknowledged = new Map<string, string>();
    let stop = false;
    let writes = 0;
    const writer = (async () => {
      let seq = 0;
      while (!stop) {
        const i = Math.floor(Math.random() * 4000);
        const key = `u${String(i).padStart(6, '0')}`;
        const current = (await app.collection('users').get(key))!;
        const note = `app-${seq++}`;
        // the application changes a field the migration keeps, whatever version the doc is at
        const [r] = await app
          .collection('users')
          .write([{ type: 'put', key, doc: { ...current.doc, note }, ifRev: current.rev }]);
        if (r?.ok) {
          acknowledged.set(key, note);
          writes += 1;
        }
        await new Promise((res) => setImmediate(res));
      }
    })();
    const r = await backfill(contextFor(store), splitNameMigration(), {
      batchSize: 50,
      partitions: 8,
      concurrency: 3,
    });
    stop = true;
    await writer;
    expect(r.outcome).toBe('backfilled');
    expect(writes).toBeGreaterThan(100);
    const docs = await allDocs(store);
    for (let i = 0; i < 4000; i++) {
      const key = `u${String(i).padStart(6, '0')}`;
      expect(docs.get(key)).toEqual(expectedSplit(i, acknowledged.get(key) ?? 'initial'));
    }
    await store.close();
    await app.close();
  });

  it('finishes exactly through injected faults: failures, lost acknowledgements, throttling, latency', async () => {
    const inner = sqliteAt(path.join(dir, 'faults.db'));
    await seedUsers(inner, 1000);
    const faulty = new FaultyStore(inner, {
      failRate: 0.15,
      lostAckRate: 0.25,
      throttleRate: 0.05,
      latencyMs: [0, 3],
      seed: 42,
    });
    let retries = 0;
    const r = await backfill(contextFor(faulty, inner), splitNameMigration(), {
      batchSize: 25, // ~40 data writes: a lost acknowledgement is all but certain (0.75^40)
      partitions: 4,
      onEvent: (e) => {
        if (e.type === 'retry') retries += 1;
      },
    });
    expect(r.outcome).toBe('backfilled');
    const injected = faulty.stats.failures + faulty.stats.lostAcks + faulty.stats.throttled;
    expect(injected).toBeGreaterThan(5);
    expect(faulty.stats.lostAcks).toBeGreaterThan(0);
    expect(retries).toBe(injected); // every fault was met by a retry, none escaped
    const docs = await allDocs(inner);
    for (let i = 0; i < 1000; i++)
      expect(docs.get(`u${String(i).padStart(6, '0')}`)).toEqual(expectedSplit(i));
    await inner.close();
  }, 120_000); // back-off after consecutive injected failures can add seconds

  it('a state store failing its partition reads and writes: every call retried, the run finishes (the per-batch threshold check read them unretried: exit 3)', async () => {
    const data = sqliteAt(path.join(dir, 'data.db'));
    await seedUsers(data, 600);
    const stateInner = sqliteAt(path.join(dir, 'state.db'));
    const state = new FaultyStore(stateInner, {
      failRate: 0.2,
      affects: (collection) => collection === '_sy_partitions',
      seed: 11,
    });
    let retries = 0;
    const r = await backfill(contextFor(data, state), splitNameMigration(), {
      batchSize: 20,
      partitions: 2,
      progressIntervalMs: 60_000, // no timed publish: its failures are ignored, not retried
      onEvent: (e) => {
        if (e.type === 'retry') retries += 1;
      },
    });
    expect(r.outcome).toBe('backfilled');
    expect(state.stats.failures).toBeGreaterThan(5);
    expect(retries).toBe(state.stats.failures); // none escaped
    const docs = await allDocs(data);
    for (let i = 0; i < 600; i++)
      expect(docs.get(`u${String(i).padStart(6, '0')}`)).toEqual(expectedSplit(i));
    await data.close();
    await stateInner.close();
  }, 120_000);

  it('sends failing documents to dead letters, pauses when the dead-letter guard trips, retries them later', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 1000);
    let broken = true;
    const m = compileMigration({
      id: 'flaky',
      collection: 'users',
      up: (d) => {
        if (broken && (d.n as number) % 10 === 0) throw new Error(`cannot handle n=${String(d.n)}`);
        d.ok = true;
      },
    });
    const ctx = contextFor(store);
    const r = await backfill(ctx, m, {
      batchSize: 50,
      partitions: 2,
      concurrency: 1,
      guards: { deadLetters: 20 },
    });
    expect(r.outcome).toBe('guard-tripped');
    expect(r.message).toMatch(/guard tripped: 2\d dead letters, more than 20/);
    expect(r.trip).toMatchObject({ guard: 'dead-letters', limit: 20 });
    expect((await ctx.catalog.get('flaky'))!.status).toBe('paused');
    expect((await ctx.audit.entries()).some((e) => e.command === 'guard.trip')).toBe(true);
    const dead = new DeadLetters(store, 'flaky');
    expect(await dead.count()).toBeGreaterThan(20);
    expect((await dead.list(1))[0]).toMatchObject({
      error: expect.stringMatching(/cannot handle n=\d*0\b/),
      version: 1,
      attempts: 1,
    });
    // without the guard and the error budget the rest completes; dead letters stay
    const r2 = await backfill(ctx, m, { batchSize: 50, errorBudget: false });
    expect(r2.outcome).toBe('backfilled');
    expect(await dead.count()).toBe(100);
    // fixed: --retry-dead clears them
    broken = false;
    const r3 = await backfill(ctx, m, { retryDead: true });
    expect(r3.outcome).toBe('backfilled');
    expect(await dead.count()).toBe(0);
    const docs = await allDocs(store);
    expect([...docs.values()].every((d) => d.ok === true && d._sv === 2)).toBe(true);
  });

  it('pauses within one batch and resumes; a rate change is picked up while running', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 600);
    const ctx = contextFor(store);
    let batchesWhilePaused = 0;
    let paused = false;
    let resumedSeen = false;
    const run = backfill(ctx, splitNameMigration(), {
      batchSize: 20,
      partitions: 2,
      concurrency: 1,
      rate: 400,
      onEvent: (e) => {
        if (e.type === 'batch' && paused) batchesWhilePaused += 1;
        if (e.type === 'resumed') resumedSeen = true;
      },
    });
    await new Promise((r) => setTimeout(r, 300));
    await setPaused(ctx, 'm-split', true, 'testing');
    paused = true;
    await new Promise((r) => setTimeout(r, 300));
    const during = (await allDocs(store)).size;
    const migratedAtPause = [...(await allDocs(store)).values()].filter((d) => d._sv === 2).length;
    await new Promise((r) => setTimeout(r, 600));
    const migratedLater = [...(await allDocs(store)).values()].filter((d) => d._sv === 2).length;
    expect(migratedLater).toBe(migratedAtPause); // nothing moved while paused
    expect(batchesWhilePaused).toBeLessThanOrEqual(1); // at most the batch in flight
    expect((await ctx.catalog.get('m-split'))!.status).toBe('paused');
    await setThrottle(ctx, 'm-split', { rate: 5000 });
    paused = false;
    await setPaused(ctx, 'm-split', false);
    const r = await run;
    expect(r.outcome).toBe('backfilled');
    expect(resumedSeen).toBe(true);
    expect(r.progress.throttle.rate).toBe(5000);
    expect(during).toBe(600);
    expect((await ctx.audit.entries()).map((e) => e.command)).toEqual([
      'backfill',
      'pause',
      'throttle',
      'resume',
      'backfill',
    ]);
  });

  it('a worker whose lease is taken over stops writing that partition (fencing), and takes it back when it expires', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 400);
    const ctx = contextFor(store);
    const partitions = new Partitions(store, { leaseTtlMs: 60_000 });
    let stolenUntil = 0;
    const timeline: { type: string; at: number }[] = [];
    const r = await backfill(ctx, splitNameMigration(), {
      batchSize: 10,
      partitions: 1,
      concurrency: 1,
      leaseTtlMs: 60_000,
      workerId: 'victim',
      onEvent: (e) => {
        timeline.push({ type: e.type, at: Date.now() });
        if (e.type === 'batch' && stolenUntil === 0) {
          stolenUntil = Date.now() + 800;
          // another worker (another host) takes the lease, as if ours had expired, for 800 ms
          void (async () => {
            const [p] = await partitions.list('m-split');
            await store.collection('_sy_partitions').write([
              {
                type: 'put',
                key: p!.id,
                doc: {
                  ...p!,
                  owner: 'thief',
                  host: 'elsewhere',
                  pid: 1,
                  token: p!.token + 1,
                  expiresAt: stolenUntil,
                } as never,
              },
            ]);
          })();
        }
      },
    });
    expect(r.outcome).toBe('backfilled');
    const lostAt = timeline.findIndex((e) => e.type === 'lease-lost');
    expect(lostAt).toBeGreaterThan(0);
    const retaken = timeline.findIndex((e, i) => i > lostAt && e.type === 'lease');
    expect(timeline[retaken]!.at).toBeGreaterThanOrEqual(stolenUntil);
    // not one batch between losing the lease and taking it back
    expect(timeline.slice(lostAt, retaken).filter((e) => e.type === 'batch')).toEqual([]);
    const docs = await allDocs(store);
    for (let i = 0; i < 400; i++)
      expect(docs.get(`u${String(i).padStart(6, '0')}`)).toEqual(expectedSplit(i));
  });

  it('refuses --no-journal for a lossy migration, before writing anything', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 10);
    await expect(
      backfill(contextFor(store), splitNameMigration(), { journal: false }),
    ).rejects.toThrow(/--no-journal needs an exactly invertible migration.*lower-case/);
    expect([...(await allDocs(store)).values()].every((d) => d._sv === undefined)).toBe(true);
    expect(await store.listCollections({ includeReserved: true })).toEqual(['users']);
  });
});

describe('backfill run again after it finished', () => {
  it('sweeps again: picks up documents the application wrote in the old shape since', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 300);
    const ctx = contextFor(store);
    await backfill(ctx, splitNameMigration(), { batchSize: 50 });
    // the application (old code still deployed) inserts a document in the old shape
    await store.collection('users').write([{ type: 'put', key: 'u000300', doc: userDoc(300) }]);
    const again = await backfill(ctx, splitNameMigration(), { batchSize: 50 });
    expect(again.outcome).toBe('backfilled');
    expect(again.progress).toMatchObject({ migrated: 1, skipped: 300, total: 301 });
    expect((await store.collection('users').get('u000300'))!.doc).toEqual(expectedSplit(300));
  });
});
