/**
 * Fencing of a worker's writes by its lease (engine/runner/fencing.ts), deterministic and on one
 * host: worker A reads a page; before its write reaches the store, its lease is taken over (the
 * lease document changed behind it, as when its link was cut past the TTL), and worker B runs the
 * whole backfill while an application changes one document. Then A's write arrives, late. It must
 * land nothing: neither its journal entries (stale before-images over B's) nor its data; A
 * reports lease-lost; the data, the journal and the rollback end exact. On SQLite and on a real
 * redis-server (the stores whose writeAtomic carries the lease as a guard).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { contentHash, type Doc } from '../../src/core/values.js';
import { backfill, type BackfillEvent } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import { verify } from '../../src/engine/verify.js';
import { Journal } from '../../src/state/journal.js';
import { PARTITIONS_COLLECTION, type PartitionState } from '../../src/state/partitions.js';
import type { Store, WriteGuard, WriteOp } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import { WriteGuardError } from '../../src/store/store-errors.js';
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
import { redisOrFailInCi, startRedisServer, type RedisServer } from '../support/redis-server.js';

const N = 120;
const hasRedis = redisOrFailInCi();

/** The application's write of u000001, at the old version, through the store as it is. */
const APP_DOC: Doc = { ...userDoc(1), note: 'app' };

/** Take every open partition's lease away from its holder: the token goes up, the lease lapses. */
async function takeOver(store: Store): Promise<void> {
  const c = store.collection(PARTITIONS_COLLECTION);
  for (let cursor: string | null = null; ;) {
    const page = await c.scan({ cursor, limit: 100 });
    for (const s of page.items) {
      const p = s.doc as unknown as PartitionState;
      if (p.owner === undefined || p.done) continue;
      const next = { ...p, owner: 'elsewhere', host: 'elsewhere', pid: 1, expiresAt: 0 };
      next.token = Number(p.token) + 1;
      const [r] = await c.write([
        { type: 'put', key: s.key, doc: next as unknown as Doc, ifRev: s.rev },
      ]);
      expect(r!.ok).toBe(true);
    }
    cursor = page.cursor;
    if (cursor === null) return;
  }
}

/**
 * `inner` as worker A sees it: its first data write is held back while the lease is taken over,
 * the application writes, and worker B (on `inner` itself) backfills everything; then it goes on.
 */
function lateWriter(
  inner: Store,
  meanwhile: () => Promise<void>,
  outcome: (late: unknown) => void,
): Store {
  let held = false;
  const late = async (
    batches: readonly { collection: string; ops: readonly WriteOp[] }[],
    guard?: WriteGuard,
  ) => {
    if (held || !batches.some((b) => b.collection === 'users'))
      return inner.writeAtomic!(batches, guard);
    held = true;
    await meanwhile();
    try {
      const results = await inner.writeAtomic!(batches, guard);
      outcome(results);
      return results;
    } catch (err) {
      outcome(err);
      throw err;
    }
  };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'writeAtomic') return late;
      if (prop === 'close') return async () => undefined;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** writeAtomic with a guard: applied whole while the guard holds, refused whole once it does not. */
async function guardedWrites(store: Store): Promise<void> {
  const lease = store.collection('_sy_leases');
  const [l] = await lease.write([{ type: 'put', key: 'p1', doc: { token: 1 } }]);
  const guard = { collection: '_sy_leases', key: 'p1', rev: (l as { rev: string }).rev };
  const put = (k: string, v: number) => ({ type: 'put' as const, key: k, doc: { v } });
  const done = await store.writeAtomic!([{ collection: 'things', ops: [put('a', 1)] }], guard);
  expect(done[0]?.[0]).toMatchObject({ ok: true });
  await lease.write([{ type: 'put', key: 'p1', doc: { token: 2 } }]);
  const refused = store.writeAtomic!(
    [
      { collection: 'journal', ops: [put('a', 9)] },
      { collection: 'things', ops: [put('a', 2), put('b', 2)] },
    ],
    guard,
  );
  await expect(refused).rejects.toBeInstanceOf(WriteGuardError);
  expect((await store.collection('things').get('a'))?.doc).toEqual({ v: 1 });
  expect(await store.collection('things').get('b')).toBeNull();
  expect(await store.collection('journal').get('a')).toBeNull();
  await lease.write([{ type: 'delete', key: 'p1' }]);
  await expect(
    store.writeAtomic!([{ collection: 'things', ops: [put('c', 3)] }], guard),
  ).rejects.toBeInstanceOf(WriteGuardError);
}

async function scenario(inner: Store): Promise<void> {
  await seedUsers(inner, N);
  const m = splitNameMigration();
  const events: BackfillEvent[] = [];
  let b: Awaited<ReturnType<typeof backfill>> | undefined;
  let lateWrite: unknown;
  const a = lateWriter(
    inner,
    async () => {
      await takeOver(inner);
      await inner.collection('users').write([{ type: 'put', key: 'u000001', doc: APP_DOC }]);
      b = await backfill(contextFor(inner), m, { batchSize: 50, workerId: 'B' });
    },
    (late) => (lateWrite = late),
  );
  const resultA = await backfill(contextFor(a), m, {
    batchSize: 50,
    partitions: 1,
    workerId: 'A',
    onEvent: (e) => events.push(e),
  });

  expect(b?.outcome).toBe('backfilled');
  expect(events.filter((e) => e.type === 'lease-lost')).toHaveLength(1);
  // A's late write was refused whole (before the fix: its journal entries landed)
  expect(lateWrite).toBeInstanceOf(WriteGuardError);
  expect(resultA.outcome).toBe('backfilled');

  // the data: every document transformed once, the application's write kept
  const docs = await allDocs(inner);
  expect(docs.size).toBe(N);
  for (let i = 0; i < N; i++)
    expect(docs.get(userDoc(i)._id as string)).toEqual(
      expectedSplit(i, i === 1 ? 'app' : 'initial'),
    );

  // the journal: B's entries, each matching what is stored (A's stale ones did not land)
  const journal = new Journal(inner, m.id);
  const keys = [...docs.keys()];
  const entries = await journal.get(keys);
  entries.forEach((e, i) => expect(e?.afterHash).toBe(contentHash(docs.get(keys[i]!)!)));
  expect(JSON.parse(entries[keys.indexOf('u000001')]!.before)).toMatchObject({ note: 'app' });

  const v = await verify(contextFor(inner), m);
  expect(v).toMatchObject({ ok: true, mismatched: 0, missing: 0, oldVersion: 0 });

  const r = await rollback(contextFor(inner), m);
  expect(r).toMatchObject({ outcome: 'rolled-back', conflicts: 0 });
  const back = await allDocs(inner);
  for (let i = 0; i < N; i++)
    expect(back.get(userDoc(i)._id as string)).toEqual(i === 1 ? APP_DOC : userDoc(i));
}

describe('a worker whose lease was taken over lands none of its writes', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('sy-fence-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('SQLite: writeAtomic with a guard applies nothing once the guard document changed', async () => {
    const store = sqliteAt(path.join(dir, 'g.db'));
    try {
      await guardedWrites(store);
    } finally {
      await store.close();
    }
  });

  it('SQLite: the journal and data write carries the lease check in its transaction', async () => {
    const store = sqliteAt(path.join(dir, 'f.db'));
    try {
      await scenario(store);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!hasRedis)('on redis-server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => server?.stop());

  it.each(['redis', 'redis+hash'])(
    '%s: writeAtomic with a guard applies nothing once the guard document changed',
    async (scheme) => {
      const store = await openStore(`${server.url.replace('redis', scheme)}/1`);
      try {
        await guardedWrites(store);
      } finally {
        await store.dropCollection('things');
        await store.dropCollection('_sy_leases');
        await store.close();
      }
    },
  );

  it('Redis: the write script checks the lease document before it writes anything', async () => {
    const store = await openStore(`${server.url}/0`);
    try {
      await scenario(store);
    } finally {
      await store.close();
    }
  });
});
