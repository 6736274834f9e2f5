/**
 * A merge side by side (issue 16 item 3), in process: `users` + `profiles` (joined by key) into
 * `accounts`. The definition's errors name the file and the field (exit 2 from the CLI, nothing
 * changed); catch-up follows BOTH change feeds — plain-SQL writes to users and profiles during
 * the copy, then writes to profiles alone, are carried into accounts, and verify is exact with
 * the orphan profiles counted; the runtime re-derives an account when its profile is put or
 * deleted through yard.collection('profiles'), on SQLite and a real redis-server, in dual-write
 * (from the user) and in rampdown (from down(account)).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCliSync } from '../support/cli-process.js';
import { toStorageJSON, type Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { catchup, catchupState, releaseCatchup } from '../../src/engine/catchup.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { verifySideBySide } from '../../src/engine/verify-side-by-side.js';
import { compileMigration, loadMigrations } from '../../src/migration/load-migrations.js';
import type { MigrationDefinition } from '../../src/migration/define-migration.js';
import { REFUSAL_FILE, refusalText } from '../support/compile-refusal.js';
import { connect, drainRepairs } from '../../src/index.js';
import { Catalog } from '../../src/state/catalog.js';
import type { Store } from '../../src/store/contract.js';
import { onSqliteAndRedis } from '../support/sqlite-and-redis.js';
import { wrapCollection } from '../support/wrap-collection.js';
import { allDocs, contextFor, sqliteAt, tempDir } from './backfill-fixtures.js';
import {
  accountOf,
  expectMergeExact,
  MERGE_ID,
  MERGE_MIGRATION_FILE,
  orphanKey,
  profileOf,
  seedMerge,
  userKey,
  userOf,
} from './merge-fixtures.js';

let dir: string;
const closing: { close(): unknown }[] = [];
beforeEach(() => {
  dir = tempDir('sy-merge1-');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(path.join(dir, 'migrations', `${MERGE_ID}.js`), MERGE_MIGRATION_FILE);
});
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The tables whose SQLite change feed is on (its triggers exist). */
function feedTriggers(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db
      .prepare(
        `SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger' AND instr(name, '__sy_chg_') > 0 ORDER BY 1`,
      )
      .all() as { tbl_name: string }[];
    return rows.map((t) => t.tbl_name);
  } finally {
    db.close();
  }
}

describe('the merge definition', () => {
  const up = (d: Doc) => d;
  const target = { collection: 'accounts' };
  const merge = { profile: { collection: 'profiles' } };
  const bad: [string, Partial<MigrationDefinition>, string, RegExp][] = [
    ['a merge in place', { up, merge }, 'merge', /side by side only/],
    [
      'a merge with targets',
      {
        merge,
        targets: [
          { collection: 'a', up },
          { collection: 'b', up },
        ],
      },
      'merge',
      /cannot be used with targets/,
    ],
    [
      'the source as secondary',
      { up, target, merge: { profile: { collection: 'users' } } },
      'merge.profile.collection',
      /is the source collection/,
    ],
    [
      'the target as secondary',
      { up, target, merge: { profile: { collection: 'accounts' } } },
      'merge.profile.collection',
      /is the target collection/,
    ],
    [
      'a name that is a lookup too',
      { up, target, merge, lookups: { profile: { collection: 'x', by: 'y' } } },
      'merge.profile',
      /is also a lookup/,
    ],
    [
      'a target on another store',
      { up, target: { collection: 'accounts', store: 'sqlite:other.db' }, merge },
      'target.store',
      /data store/,
    ],
    [
      'no collection',
      { up, target, merge: { profile: {} as never } },
      'merge.profile.collection',
      /secondary source/,
    ],
    [
      'a misspelt field',
      { up, target, merge: { profile: { collection: 'profiles', by: '_id' } as never } },
      'merge.profile.by',
      /by/,
    ],
  ];
  for (const [name, def, field, message] of bad)
    it(`refuses ${name}, naming the file and ${field}`, () => {
      const text = refusalText('users', def);
      expect(text).toMatch(message);
      expect(text).toContain(REFUSAL_FILE);
      expect(text).toContain(field);
    });

  it('compiles a merge as a lookup by _id', () => {
    const m = compileMigration({ id: 'x', collection: 'users', up, target, merge });
    expect(m.merge).toEqual([{ name: 'profile', collection: 'profiles' }]);
    expect(m.lookups).toEqual({ profile: { collection: 'profiles', by: '_id' } });
  });

  it('the CLI exits 2 naming the file and field, and changes nothing', () => {
    fs.writeFileSync(
      path.join(dir, 'migrations', `${MERGE_ID}.js`),
      MERGE_MIGRATION_FILE.replace("collection: 'profiles'", "collection: 'users'"),
    );
    const db = path.join(dir, 'data.db');
    const r = runCliSync(dir, [
      '--store',
      `sqlite:${db}`,
      '--migrations',
      path.join(dir, 'migrations'),
      'backfill',
      MERGE_ID,
    ]);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err).toContain(`${MERGE_ID}.js`);
    expect(r.err).toContain('merge.profile.collection');
    expect(fs.existsSync(db) ? fs.statSync(db).size : 0).toBeLessThan(100_000);
  });
});

describe('a merge with catch-up (SQLite change feeds)', () => {
  it('follows both sources: plain-SQL writes to users and profiles during the copy, then to profiles alone; verify exact, orphans counted', async () => {
    const file = path.join(dir, 'data.db');
    const store = sqliteAt(file);
    closing.push(store);
    const N = 1500;
    await seedMerge(store, N, 7);
    const [m] = await loadMigrations(path.join(dir, 'migrations'));
    const ctx = contextFor(store);
    expect((await catchup(ctx, m!, { mode: 'until-idle' })).outcome).toBe('idle');
    // one position covering both feeds: the source's, then the secondary's
    const position = JSON.parse((await catchupState(store, MERGE_ID))!.position);
    expect(position).toHaveLength(2);

    // the application: its own connection, plain SQL on both sources while the copy runs
    const app = new Database(file);
    app.pragma('busy_timeout = 10000');
    closing.push(app);
    const put = (c: string) => app.prepare(`INSERT OR REPLACE INTO ${c} (k, doc) VALUES (?, ?)`);
    const del = (c: string) => app.prepare(`DELETE FROM ${c} WHERE k = ?`);
    const putUser = put('users');
    const putProfile = put('profiles');
    const delUser = del('users');
    const delProfile = del('profiles');
    let stop = false;
    let writes = 0;
    const writer = (async () => {
      for (let seq = 0; !stop; seq++) {
        const i = Math.floor(Math.random() * N);
        const k = userKey(i);
        const r = seq % 10;
        if (r < 3) putUser.run(k, toStorageJSON({ ...userOf(i), name: `app ${seq}` }));
        else if (r < 7)
          putProfile.run(k, toStorageJSON({ ...profileOf(k, seq), bio: `app ${seq}` }));
        else if (r < 8) delProfile.run(k);
        else if (r < 9) delUser.run(k);
        else
          putProfile.run(
            orphanKey(1000 + seq),
            toStorageJSON(profileOf(orphanKey(1000 + seq), seq)),
          );
        writes++;
        await new Promise((res) => setTimeout(res, 1));
      }
    })();
    const bf = await backfill(ctx, m!, { batchSize: 25, rate: 600 });
    stop = true;
    await writer;
    expect(bf.outcome).toBe('backfilled');
    expect(writes).toBeGreaterThan(20);
    const cu = await catchup(ctx, m!, { mode: 'until-idle' });
    expect(cu.outcome).toBe('idle');
    await expectMergeExact(store);

    // after the copy, writes to profiles ALONE: each re-derives its account
    const users = await allDocs(store, 'users');
    const [a, b, c] = [...users.keys()].filter((k) => k !== userKey(0)).slice(0, 3);
    putProfile.run(a, toStorageJSON({ ...profileOf(a!, 1), bio: 'changed later' }));
    delProfile.run(b);
    putProfile.run(c, toStorageJSON({ ...profileOf(c!, 2), city: 'Quito' }));
    putProfile.run(orphanKey(999_999), toStorageJSON(profileOf(orphanKey(999_999), 3)));
    const cu2 = await catchup(ctx, m!, { mode: 'until-idle' });
    expect(cu2.outcome).toBe('idle');
    const { n, orphans } = await expectMergeExact(store);
    const accounts = await allDocs(store, 'accounts');
    expect(accounts.get(a!)).toMatchObject({ bio: 'changed later' });
    expect(accounts.get(b!)).toMatchObject({ bio: null, city: null });
    expect(accounts.get(c!)).toMatchObject({ city: 'Quito' });
    expect(accounts.has(orphanKey(999_999))).toBe(false);

    const v = await verifySideBySide(ctx, m!, { rechecks: 1 });
    expect(v).toMatchObject({ ok: true, compared: n, matched: n, mismatched: 0, extra: 0 });
    expect(v.orphans).toBe(orphans);
    expect(orphans).toBeGreaterThanOrEqual(8);
    expect(v.samples.orphans).toContain(`profiles/${orphanKey(0)}`);
    // release gives both feeds' places back
    expect(feedTriggers(file)).toEqual(['profiles', 'users']);
    expect(await releaseCatchup(ctx, m!)).toBe(true);
    expect(feedTriggers(file)).toEqual([]);
  }, 120_000);
});

describe('a catch-up started before merge was declared', () => {
  it('fails with its position lost (one feed, not both), and --release gives the source feed back', async () => {
    const file = path.join(dir, 'data.db');
    const store = sqliteAt(file);
    closing.push(store);
    await seedMerge(store, 20, 0);
    // the same migration, reading profiles as a plain lookup: catch-up follows users only
    fs.writeFileSync(
      path.join(dir, 'migrations', `${MERGE_ID}.js`),
      MERGE_MIGRATION_FILE.replace(
        "merge: { profile: { collection: 'profiles' } },",
        "lookups: { profile: { collection: 'profiles', by: '_id' } },",
      ),
    );
    const [before] = await loadMigrations(path.join(dir, 'migrations'));
    const ctx = contextFor(store);
    expect((await catchup(ctx, before!, { mode: 'until-idle' })).outcome).toBe('idle');
    fs.writeFileSync(path.join(dir, 'migrations', `${MERGE_ID}.js`), MERGE_MIGRATION_FILE);
    const [merged] = await loadMigrations(path.join(dir, 'migrations'));
    await expect(catchup(ctx, merged!, { mode: 'until-idle' })).rejects.toMatchObject({
      code: 'E_CATCHUP_POSITION_LOST',
      message: expect.stringMatching(/not one of a merge of users and profiles.*--release/),
    });
    expect(feedTriggers(file)).toContain('users');
    expect(await releaseCatchup(ctx, merged!)).toBe(true);
    expect(feedTriggers(file)).not.toContain('users'); // the source feed's place given back
    // started again from now, on both feeds
    expect((await catchup(ctx, merged!, { mode: 'until-idle' })).outcome).toBe('idle');
    expect(JSON.parse((await catchupState(store, MERGE_ID))!.position)).toHaveLength(2);
  }, 60_000);
});

onSqliteAndRedis('a merge through the runtime', (name, open) => {
  it(`${name}: a put or delete of a profile re-derives the account (dual-write from the user, rampdown from down(account)); orphans stay out`, async () => {
    const store: Store = await open();
    closing.push(store);
    await seedMerge(store, 40, 2);
    const migrations = await loadMigrations(path.join(dir, 'migrations'));
    const m = migrations[0]!;
    const ctx = contextFor(store);
    await setStage(ctx, m, Stage.dualWrite);
    expect((await backfill(ctx, m)).outcome).toBe('backfilled');
    const yard = await connect({
      project: {
        store,
        stateStore: store,
        catalog: new Catalog(store),
        migrations: async () => migrations,
      },
      refreshMs: 0,
    });
    closing.push({ close: () => yard.close() });
    const profiles = yard.collection('profiles');
    const users = yard.collection('users');
    await profiles.put({ ...profileOf(userKey(1), 1), bio: 'from the app' });
    await profiles.delete(userKey(2));
    await profiles.put(profileOf(userKey(5), 5)); // user 5 had no profile
    await profiles.put(profileOf(orphanKey(50), 50)); // no user: no account
    await users.put({ ...userOf(3), name: 'renamed' });
    let accounts = await allDocs(store, 'accounts');
    expect(accounts.get(userKey(1))).toMatchObject({ bio: 'from the app' });
    expect(accounts.get(userKey(2))).toMatchObject({ bio: null, city: null });
    expect(accounts.get(userKey(5))).toEqual(accountOf(userOf(5), profileOf(userKey(5), 5)));
    expect(accounts.get(userKey(3))).toMatchObject({ name: 'renamed' });
    expect(accounts.has(orphanKey(50))).toBe(false);
    const { n, orphans } = await expectMergeExact(store);
    expect(orphans).toBe(3);
    const v = await verifySideBySide(ctx, m, { rechecks: 0 });
    expect(v).toMatchObject({ ok: true, matched: n, orphans: 3 });

    // rampdown: the account is the truth; a profile write re-derives up(down(account), profile)
    for (const s of [Stage.shadow, Stage.live, Stage.rampdown])
      await setStage(ctx, m, s, s === Stage.live ? { percent: 100 } : {});
    await yard.refresh();
    await users.put(accountOf({ ...userOf(7), name: 'new shape' }, profileOf(userKey(7), 7)));
    await profiles.put({ ...profileOf(userKey(7), 7), bio: 'rampdown bio' });
    await profiles.delete(userKey(8));
    accounts = await allDocs(store, 'accounts');
    expect(accounts.get(userKey(7))).toMatchObject({ name: 'new shape', bio: 'rampdown bio' });
    expect(accounts.get(userKey(8))).toMatchObject({ bio: null });
    await expectMergeExact(store);
    // every re-derivation was proven: nothing waits in the repair queue
    expect((await allDocs(store, `_sy_repair_${MERGE_ID}`)).size).toBe(0);
  }, 60_000);

  it(`${name}: a re-derivation whose target write fails queues the key for repair, never failing the profile write; the drain derives it`, async () => {
    const store: Store = await open();
    closing.push(store);
    await seedMerge(store, 10, 0);
    const migrations = await loadMigrations(path.join(dir, 'migrations'));
    const m = migrations[0]!;
    const ctx = contextFor(store);
    await setStage(ctx, m, Stage.dualWrite);
    expect((await backfill(ctx, m)).outcome).toBe('backfilled');
    // the application's view of the store: writes to accounts fail while `failing` is set
    let failing = false;
    const flaky = new Proxy(store, {
      get(t, p) {
        if (p === 'collection')
          return (c: string) => {
            const inner = t.collection(c);
            if (c !== 'accounts') return inner;
            return wrapCollection(inner, {
              write: (ops) =>
                failing ? Promise.reject(new Error('accounts unavailable')) : inner.write(ops),
            });
          };
        const v = Reflect.get(t, p) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    const yard = await connect({
      project: {
        store: flaky,
        stateStore: store,
        catalog: new Catalog(store),
        migrations: async () => migrations,
      },
      refreshMs: 0,
    });
    closing.push({ close: () => yard.close() });
    failing = true;
    await yard.collection('profiles').put({ ...profileOf(userKey(1), 1), bio: 'queued' });
    failing = false;
    expect((await allDocs(store, 'profiles')).get(userKey(1))).toMatchObject({ bio: 'queued' });
    expect((await allDocs(store, 'accounts')).get(userKey(1))).toMatchObject({ bio: 'bio 1' });
    const queued = await allDocs(store, `_sy_repair_${MERGE_ID}`);
    expect([...queued.values()]).toMatchObject([
      { key: userKey(1), side: 'new', error: expect.stringContaining('accounts unavailable') },
    ]);
    const drained = await drainRepairs(
      { store, stateStore: store, catalog: new Catalog(store) },
      m,
    );
    expect(drained).toMatchObject({ repaired: 1, failed: 0 });
    expect((await allDocs(store, 'accounts')).get(userKey(1))).toMatchObject({ bio: 'queued' });
    await expectMergeExact(store);
  }, 60_000);
});
