/**
 * Shadow comparisons under an application that reads, modifies and writes back (get -> modify ->
 * put, changing the object it was given, as most applications do): no difference caused by a
 * write after the read is counted as a mismatch, and documents changed in the target behind
 * Switchyard's back are still found, on exactly their path. SQLite -> SQLite (also with a target
 * whose calls take a random 0-4 ms, so candidate reads land after later writes), SQLite -> a real
 * redis-server, and a property over random schedules.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { evaluateGates, parseGates } from '../../src/engine/gates.js';
import { Stage } from '../../src/engine/stages.js';
import { renameField } from '../../src/migration/index.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Migration } from '../../src/migration/migration.js';
import { readRuntimeWindow } from '../../src/runtime/counters.js';
import type { YardOptions } from '../../src/runtime/yard.js';
import type { Store } from '../../src/store/contract.js';
import { FaultyStore } from '../../src/store/faulty-store.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { openStore } from '../../src/store/open-store.js';
import { redisServerPath, startRedisServer, type RedisServer } from '../support/redis-server.js';
import {
  closeAfterEach,
  docsOf,
  fixture,
  moveTo,
  newStore,
  oldDoc,
  yardFor,
} from './yard-fixtures.js';

const open = closeAfterEach();

const HOT = 10; // keys the application reads, modifies and writes back
const TAMPERED = ['t0', 't1', 't2']; // keys it only reads; changed in the target behind its back

function migrationTo(store?: string): Migration {
  return compileMigration({
    id: 'm-rmw',
    collection: 'users',
    target: { collection: 'users_v2', ...(store !== undefined ? { store } : {}) },
    operations: [renameField('name', 'fullName')],
  });
}

/**
 * `workers` tasks each doing `rounds` get -> n++ (on the object read) -> put over its own share
 * of the hot keys, while one task reads each tampered key `tamperedReads` times. Returns the
 * reads of each kind. (Workers do not share keys: two concurrent puts of one key may reach a
 * target with variable latency in the other order, a real difference this test is not about.)
 */
async function application(
  users: { get(k: string): Promise<Doc | null>; put(d: Doc): Promise<void> },
  workers: number,
  rounds: number,
  tamperedReads: number,
): Promise<{ hotReads: number; tamperedReads: number }> {
  const rmw = Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; i < rounds; i++) {
      const mine = Math.ceil((HOT - w) / workers); // keys w, w + workers, ... below HOT
      const doc = (await users.get(`u${w + workers * (i % mine)}`))!;
      doc.n = (doc.n as number) + 1;
      await users.put(doc);
    }
  });
  const reader = (async () => {
    for (let i = 0; i < tamperedReads; i++)
      for (const k of TAMPERED) expect((await users.get(k))!.name).toBe(`N-${k}`);
  })();
  await Promise.all([...rmw, reader]);
  return { hotReads: workers * rounds, tamperedReads: tamperedReads * TAMPERED.length };
}

/** Seed the hot and tampered keys in dual-write, change the tampered ones in the target. */
async function seed(
  f: ReturnType<typeof fixture>,
  target: Store,
  options: YardOptions = {},
): Promise<void> {
  await moveTo(f, Stage.dualWrite);
  const writer = await yardFor(f, options);
  for (let i = 0; i < HOT; i++) await writer.collection('users').put(oldDoc(i, { n: 0 }));
  for (const k of TAMPERED) await writer.collection('users').put({ _id: k, name: `N-${k}`, n: 0 });
  await writer.close();
  await target.collection('users_v2').write(
    TAMPERED.map((k) => ({
      type: 'put' as const,
      key: k,
      doc: { _id: k, fullName: `N-${k}`, n: 0, _sv: 2, tampered: true },
    })),
  );
}

/** The target holds up(source) for every hot key: what the discarded comparisons looked at was faithful. */
async function expectHotFaithful(f: ReturnType<typeof fixture>, target: Store): Promise<void> {
  const source = (await docsOf(f.store, 'users')).filter(
    (d) => !TAMPERED.includes(d._id as string),
  );
  const copied = (await docsOf(target, 'users_v2')).filter(
    (d) => !TAMPERED.includes(d._id as string),
  );
  expect(copied).toEqual(source.map((d) => f.migration.up(d)));
}

// in CI redis-server is installed: a missing one fails there instead of skipping
const TARGETS = (['sqlite', 'sqlite, 0-4 ms per target call', 'redis'] as const).filter(
  (t) => t !== 'redis' || redisServerPath() !== null || process.env.CI !== undefined,
);

describe.each(TARGETS)('a get -> modify -> put application, SQLite -> %s', (kind) => {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    if (kind === 'redis') redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('0 false mismatches; the tampered documents are found on their path, every time they are read', async () => {
    const inner = newStore('sqlite');
    const url = redis !== undefined ? `${redis.url}/0?prefix=rmw:` : undefined;
    const slow = kind === 'sqlite, 0-4 ms per target call';
    const store = slow
      ? new FaultyStore(inner, { latencyMs: [0, 4], seed: 7, affects: (n) => n === 'users_v2' })
      : inner;
    const f = fixture(store, migrationTo(url), inner);
    const target = url !== undefined ? await openStore(url) : inner;
    open.push({ store: inner }, ...(url !== undefined ? [{ store: target }] : []));
    await seed(f, target);
    await moveTo(f, Stage.shadow);
    const yard = await yardFor(f, { publishMs: 0 });
    open.push({ yard });

    const reads = await application(yard.collection('users'), 6, 60, 4);
    await yard.idle();
    const s = yard.stats()[f.migration.id]!;
    expect(s.errors).toBe(0);
    expect(s.mismatched).toBe(reads.tamperedReads);
    expect(s.byPath).toEqual([{ name: 'tampered', count: reads.tamperedReads }]);
    expect(s.matched + s.discarded).toBe(reads.hotReads);
    if (slow) expect(s.discarded).toBeGreaterThan(0); // the rev recheck did its work
    await expectHotFaithful(f, target);

    // published apart from the comparisons: the gate's mismatch rate is the tampered reads only
    await yard.publish();
    const w = await readRuntimeWindow(inner, f.migration.id, 60_000);
    expect(w).toMatchObject({
      compared: s.matched + s.mismatched,
      mismatched: reads.tamperedReads,
      discarded: s.discarded,
    });
  });
});

describe('rechecks', () => {
  /** `targetMs`: how long every call on the target takes */
  async function shadowOf(options: YardOptions, targetMs = 0) {
    const store = newStore('memory');
    const wrapped =
      targetMs > 0
        ? new FaultyStore(store, { latencyMs: targetMs, affects: (n) => n === 'users_v2' })
        : store;
    const f = fixture(wrapped, undefined, store);
    await seed(f, store);
    await moveTo(f, Stage.shadow);
    const yard = await yardFor(f, { publishMs: 0, ...options });
    open.push({ yard, store });
    return { f, store, yard, users: yard.collection('users') };
  }

  it('a dual write on its way between the sides is discarded; a target that stays behind is a mismatch', async () => {
    const { f, store, yard, users } = await shadowOf({ recheckDelayMs: 40 });
    // another instance's write: the old side has it, the new side not yet
    await store.collection('users').write([{ type: 'put', key: 'u1', doc: oldDoc(1, { n: 5 }) }]);
    await store.collection('users').write([{ type: 'put', key: 'u2', doc: oldDoc(2, { n: 5 }) }]);
    await users.getMany(['u1', 'u2']);
    // u1's new side arrives before the first recheck; u2's never does (a lost shadow write)
    await store
      .collection('users_v2')
      .write([{ type: 'put', key: 'u1', doc: f.migration.up(oldDoc(1, { n: 5 })) }]);
    await yard.idle();
    expect(yard.stats()[f.migration.id]).toMatchObject({
      total: 2,
      matched: 0,
      mismatched: 1,
      discarded: 1,
      byPath: [{ name: 'n', count: 1 }],
    });
  });

  it('rechecks: 0 still discards a difference whose old document was written after the read', async () => {
    const { f, store, yard, users } = await shadowOf({ rechecks: 0 }, 30);
    // both differ in the target; t0 is written by another writer while its candidate is read
    const t0 = (await users.get('t0'))!;
    await store.collection('users').write([{ type: 'put', key: 't0', doc: { ...t0, n: 1 } }]);
    await users.get('t1');
    await yard.idle();
    expect(yard.stats()[f.migration.id]).toMatchObject({
      total: 2,
      mismatched: 1,
      discarded: 1,
      byPath: [{ name: 'tampered', count: 1 }],
    });
    // published, named in the gate's mismatch check and counted for the application's /metrics
    await yard.publish();
    const w = await readRuntimeWindow(store, f.migration.id, 60_000);
    expect(w).toMatchObject({ compared: 1, mismatched: 1, discarded: 1 });
    const report = evaluateGates(f.migration.id, parseGates('mismatch<0.1%'), w, { minSamples: 1 });
    expect(report.checks[0]).toMatchObject({
      result: 'fail',
      note: '1 discarded (written after the read)',
    });
    expect(await yard.metricsRegistry().metrics()).toContain(
      'switchyard_runtime_discarded_total{migration="m-rename",stage="shadow"} 1',
    );
  });

  it('property: over random schedules and latencies, mismatches are exactly the reads of tampered keys', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 15 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        async (workers, rounds, tamperedReads, rngSeed) => {
          const inner = new MemoryStore();
          const store = new FaultyStore(inner, {
            latencyMs: [0, 3],
            seed: rngSeed,
            affects: (n) => n === 'users_v2',
          });
          const f = fixture(store, undefined, inner);
          await seed(f, inner);
          await moveTo(f, Stage.shadow);
          const yard = await yardFor(f, { publishMs: 0, recheckDelayMs: 5 });
          try {
            const reads = await application(
              yard.collection('users'),
              workers,
              rounds,
              tamperedReads,
            );
            await yard.idle();
            const s = yard.stats()[f.migration.id]!;
            expect(s.mismatched).toBe(reads.tamperedReads);
            expect(s.matched + s.discarded).toBe(reads.hotReads);
          } finally {
            await yard.close();
          }
        },
      ),
      { numRuns: 20 },
    );
  });
});
