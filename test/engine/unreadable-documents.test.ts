/**
 * A stored document that cannot be read (issue 13 item A): an SQLite row whose text is not JSON,
 * a Redis value that is not JSON or is a JSON array. Backfill sends it to the dead letters naming
 * its key and goes on (no retries); verify reports it by key (not ok) and goes on; export leaves
 * it out, names it and goes on (exit 1). A damaged SQLite file fails at once with words saying
 * so, not after a minute of retries. On SQLite (real files) and Redis (a real redis-server).
 * Before: backfill retried the parse error for ~90 s, then aborted (exit 3) after partial
 * progress; every rerun, verify and export died the same way.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfill, type BackfillEvent } from '../../src/engine/backfill.js';
import { verify } from '../../src/engine/verify.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import type { Store } from '../../src/store/contract.js';
import type { RedisCollection } from '../../src/store/redis/redis-collection.js';
import { RedisStore } from '../../src/store/redis/redis-adapter.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { exportDocuments } from '../../src/io/export-documents.js';
import { Capture, runCli } from '../cli/run-cli.js';
import { onSqliteAndRedis } from '../support/sqlite-and-redis.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { renameField } from '../../src/migration/index.js';
import {
  allDocs,
  contextFor,
  expectedSplit,
  overriding,
  seedUsers,
  splitNameMigration,
  tempDir,
  userDoc,
} from './backfill-fixtures.js';

const N = 300;
const key = (i: number) => `u${String(i).padStart(6, '0')}`;
/** what another tool wrote over three documents */
const DAMAGE: [number, string, RegExp][] = [
  [10, '{"_id": "u000010", "name": oops', /not JSON/],
  [20, '[1, 2, 3]', /array/],
  [30, 'plain text', /not JSON/],
];

async function damage(store: Store, i: number, text: string, collection = 'users'): Promise<void> {
  if (store instanceof SqliteStore)
    store.database.prepare(`UPDATE ${collection} SET doc = ? WHERE k = ?`).run(text, key(i));
  else if (store instanceof RedisStore) {
    const c = store.collection(collection) as RedisCollection;
    await store.connection.call('SET', [c.redisKey(key(i)), text]);
  } else throw new Error(`no way to damage a ${store.kind} document here`);
}

function suite(name: string, open: () => Promise<Store>): void {
  describe(name, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
      await seedUsers(store, N);
      for (const [i, text] of DAMAGE) await damage(store, i, text);
    });
    afterEach(async () => store.close());

    it('backfill: a dead letter naming the key, no retries; the rest migrated; verify and export go on', async () => {
      const ctx = contextFor(store);
      const m = splitNameMigration();
      const events: BackfillEvent[] = [];
      const r = await backfill(ctx, m, {
        batchSize: 50,
        partitions: 2,
        concurrency: 1,
        onEvent: (e) => events.push(e),
      });
      expect(r.outcome).toBe('backfilled');
      expect(events.filter((e) => e.type === 'retry')).toEqual([]);
      const dead = new Map(
        (await new DeadLetters(store, m.id).list(100)).map((d) => [d.key, d.error]),
      );
      expect([...dead.keys()].sort()).toEqual(DAMAGE.map(([i]) => key(i)));
      for (const [i, , why] of DAMAGE) {
        expect(dead.get(key(i))).toMatch(/the stored document cannot be read/);
        expect(dead.get(key(i))).toMatch(why);
      }
      const docs = await allDocs(store);
      expect(docs.size).toBe(N - DAMAGE.length); // the damaged ones are unreadable, still there
      for (let i = 0; i < N; i++)
        if (!DAMAGE.some(([d]) => d === i)) expect(docs.get(key(i))).toEqual(expectedSplit(i));

      const report = await verify(ctx, m);
      expect(report.ok).toBe(false);
      expect(report.unreadable).toBe(DAMAGE.length);
      expect(report.compared).toBe(N - DAMAGE.length);
      expect(report.samples.checks.map((c) => c.key).sort()).toEqual(DAMAGE.map(([i]) => key(i)));

      const out = new Capture();
      const left: string[] = [];
      const n = await exportDocuments(store.collection('users'), out, {
        pageSize: 40,
        onUnreadable: (u) => left.push(u.key),
      });
      expect(n).toBe(N - DAMAGE.length);
      expect(left.sort()).toEqual(DAMAGE.map(([i]) => key(i)));
      expect(out.text.trim().split('\n')).toHaveLength(N - DAMAGE.length);
    });

    it('a document made unreadable between the read and the write: the conflict re-read makes it a dead letter and the batch goes on', async () => {
      const m = splitNameMigration();
      let struck = false;
      // the application overwrites u000042 with text that is not JSON just after the page was read
      const racing = overriding(store, 'users', 'scan', (c) => async (o) => {
        const page = await c.scan(o);
        // (the backfill's own pages, of 50; the schema sample before it reads pages of 32)
        if (!struck && o.limit === 50 && page.items.some((d) => d.key === key(42))) {
          struck = true;
          await damage(store, 42, 'not json {');
        }
        return page;
      });
      const r = await backfill(contextFor(racing, store), m, { batchSize: 50, partitions: 1 });
      expect(struck).toBe(true);
      expect(r.outcome).toBe('backfilled');
      expect(r.progress.conflicts).toBe(1);
      const dead = await new DeadLetters(store, m.id).list(100);
      expect(dead.map((d) => d.key).sort()).toEqual(
        [...DAMAGE.map(([i]) => key(i)), key(42)].sort(),
      );
      expect(dead.find((d) => d.key === key(42))!.error).toMatch(/cannot be read.*not JSON/);
      const docs = await allDocs(store);
      expect(docs.size).toBe(N - DAMAGE.length - 1);
      expect(docs.get(key(43))).toEqual(expectedSplit(43));
    });

    it('a side-by-side copy: an unreadable source document is a dead letter naming its key, the rest is copied', async () => {
      const m = compileMigration({
        id: 'users-v2',
        collection: 'users',
        target: { collection: 'users_v2' },
        operations: [renameField('name', 'fullName')],
      });
      const ctx = contextFor(store);
      await setStage(ctx, m, Stage.dualWrite);
      const r = await backfill(ctx, m, { batchSize: 40, stageSettleMs: 0 });
      expect(r.outcome).toBe('backfilled');
      const dead = new Map(
        (await new DeadLetters(store, m.id).list(100)).map((d) => [d.key, d.error]),
      );
      expect([...dead.keys()].sort()).toEqual(DAMAGE.map(([i]) => key(i)));
      for (const [i, , why] of DAMAGE) expect(dead.get(key(i))).toMatch(why);
      const copied = await allDocs(store, 'users_v2');
      expect(copied.size).toBe(N - DAMAGE.length);
      expect(copied.get(key(1))).toEqual(m.up(userDoc(1)));

      // a target document that cannot be read: a dead letter naming its key, the rest goes on
      await damage(store, 7, '[7]', 'users_v2');
      const again = await backfill(ctx, m, { batchSize: 40, stageSettleMs: 0 });
      // the run goes on to the end; every document it had to write failed: incomplete, not aborted
      expect(again.outcome).toBe('incomplete');
      const dead2 = await new DeadLetters(store, m.id).list(100);
      expect(dead2.find((d) => d.key === key(7))?.error).toMatch(
        /the target document cannot be read .*array/,
      );
    });

    it('getMany of an unreadable document says which key, and is not retried', async () => {
      await expect(store.collection('users').getMany([key(1), key(20)])).rejects.toMatchObject({
        code: 'E_STORE_UNREADABLE',
        key: key(20),
        permanent: true,
      });
    });
  });
}

onSqliteAndRedis('unreadable documents', suite);

describe('a damaged SQLite file', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('sy-damaged-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('fails at once with words saying so (no retries), exit 3 from the CLI', async () => {
    const file = path.join(dir, 'data.db');
    const store = new SqliteStore(file, `sqlite:${file}`);
    await seedUsers(store, 50);
    await store.close();
    // the first two pages (header, schema) survive; the data pages after them are overwritten
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(
      file,
      Buffer.concat([bytes.subarray(0, 8192), Buffer.alloc(bytes.length - 8192, 0x5a)]),
    );
    const damaged = new SqliteStore(file, `sqlite:${file}`);
    const events: BackfillEvent[] = [];
    const started = Date.now();
    await expect(
      backfill(contextFor(damaged), splitNameMigration(), { onEvent: (e) => events.push(e) }),
    ).rejects.toThrow(/the SQLite database file is damaged \(SQLITE_CORRUPT/);
    expect(events.filter((e) => e.type === 'retry')).toEqual([]);
    expect(Date.now() - started).toBeLessThan(30_000); // before: 12 retries over 43 s
    await damaged.close();

    fs.writeFileSync(path.join(dir, 'garbage.db'), Buffer.alloc(8192, 0x41));
    const r = await runCli(
      ['--store', `sqlite:${path.join(dir, 'garbage.db')}`, 'export', 'users'],
      {
        cwd: dir,
      },
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not a database/);
  });
});

/**
 * Side-by-side verify (issue 13 item A): a document that cannot be read in the source or in the
 * target is named by key and side, the report is not ok (exit 1), and the rest is compared.
 * Before: the unreadable source row was skipped by the scan, and the drill's getMany of it threw
 * (verify failed without a report); the sample died on the same getMany.
 */
onSqliteAndRedis('side-by-side verify of unreadable documents', (name, open) => {
  describe(name, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
      await seedUsers(store, N);
    });
    afterEach(async () => store.close());

    it('names the unreadable source and target documents (full and sample), not ok', async () => {
      const m = compileMigration({
        id: 'users-v2',
        collection: 'users',
        target: { collection: 'users_v2' },
        operations: [renameField('name', 'fullName')],
      });
      const ctx = contextFor(store);
      await setStage(ctx, m, Stage.dualWrite);
      expect((await backfill(ctx, m, { batchSize: 40, stageSettleMs: 0 })).outcome).toBe(
        'backfilled',
      );
      expect((await verify(ctx, m, { recheckDelayMs: 0 } as object)).ok).toBe(true);
      await damage(store, 10, '{"_id": "u000010", oops');
      await damage(store, 7, '[7]', 'users_v2');
      for (const sample of [undefined, N]) {
        const r = await verify(ctx, m, {
          recheckDelayMs: 0,
          ...(sample !== undefined ? { sample } : {}),
        } as object);
        expect(r.ok).toBe(false);
        expect(r.unreadable).toBe(2);
        const named = Object.fromEntries(r.samples.checks.map((c) => [c.key, c.failures[0]]));
        expect(named[key(10)]).toMatch(/the source document cannot be read: .*not JSON/);
        expect(named[key(7)]).toMatch(/the target document cannot be read: .*array/);
        // nothing else is reported: the two keys are not also missing or different
        expect(r.mismatched + r.missing + r.extra).toBe(0);
      }
    });
  });
});
