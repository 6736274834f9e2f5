/**
 * A merge side by side (issue 16 item 3) as real CLI processes: `users` + `profiles` (joined by
 * key) into `accounts`, while an application (a child process) writes BOTH sources.
 * - SQLite, stage off: the application writes through the store API; `switchyard backfill` is
 *   killed with SIGKILL twice mid-copy and `switchyard catchup` twice mid-catch-up (its one
 *   position covers both change feeds), both resumed.
 * - Redis (no change feed), stage dual-write: the application writes through `connect()`
 *   (yard.collection('users') and ('profiles')); the backfill is killed twice mid-copy.
 * Then the accounts hold exactly up(user, profile of now) for every user and nothing else,
 * verify is exact and counts the orphan profiles, a write to `profiles` alone reaches its
 * account, and rollback + drop-target remove `accounts`, leaving both sources byte-identical.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { catchupState } from '../../src/engine/catchup.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/contract.js';
import { NO_REDIS_REASON, redisOrFailInCi, useRedisServer } from '../support/redis-server.js';
import { allDocs, tempDir } from './backfill-fixtures.js';
import { appWriterScript, startAppWriter } from '../support/app-writer.js';
import { projectCli } from '../support/project-cli.js';
import {
  expectMergeExact,
  MERGE_ID,
  MERGE_MIGRATION_FILE,
  profileOf,
  seedMerge,
} from './merge-fixtures.js';

const N = 3000;
const ORPHANS = 10;
const hasRedis = redisOrFailInCi();
const redis = useRedisServer(hasRedis);

/**
 * The application: puts and deletes of users and profiles until SIGTERM — through the runtime
 * (`yard`) or the store API (`store`: what catch-up follows).
 */
const WRITER = appWriterScript({
  imports: ['connect', 'openStore'],
  setup: `const [how, url, migrations, n] = process.argv.slice(2);
let put, del, close;
if (how === 'yard') {
  const yard = await connect({ store: url, migrationsDir: migrations, refreshMs: 200 });
  put = (c, doc) => yard.collection(c).put(doc);
  del = (c, key) => yard.collection(c).delete(key);
  close = () => yard.close();
  process.stdout.write('ready ' + yard.stage('${MERGE_ID}').stage + '\\n');
} else {
  const store = await openStore(url);
  put = async (c, doc) => { await store.collection(c).write([{ type: 'put', key: doc._id, doc }]); };
  del = async (c, key) => { await store.collection(c).write([{ type: 'delete', key }]); };
  close = () => store.close();
  process.stdout.write('ready store\\n');
}
const id = (i) => 'u' + String(i).padStart(6, '0');`,
  step: `  const i = Math.floor(Math.random() * Number(n));
  const r = Math.random();
  if (r < 0.3) await put('users', { _id: id(i), name: 'app ' + seq, email: 'app' + seq + '@example.com' });
  else if (r < 0.7) await put('profiles', { _id: id(i), bio: 'app ' + seq, city: 'Town ' + (seq % 7) });
  else if (r < 0.8) await del('profiles', id(i));
  else if (r < 0.85) await del('users', id(i));
  else if (r < 0.95) await put('users', { _id: 'n' + String(seq).padStart(6, '0'), name: 'new ' + seq, email: 'n@x' });
  else await put('profiles', { _id: 'n' + String(seq - 1).padStart(6, '0'), bio: 'for a new user', city: 'Nowhere' });`,
  close: 'close()',
});

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-merge-');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(path.join(dir, 'migrations', `${MERGE_ID}.js`), MERGE_MIGRATION_FILE);
  fs.writeFileSync(path.join(dir, 'writer.mjs'), WRITER);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const { sy, exportOf, killMidway } = projectCli(() => dir);

const startWriter = (how: 'yard' | 'store', url: string) =>
  startAppWriter(dir, path.join(dir, 'writer.mjs'), [
    how,
    url,
    path.join(dir, 'migrations'),
    String(N),
  ]);

/** The copy, killed twice midway and resumed to the end. */
async function copyKilledTwice(url: string, store: Store): Promise<void> {
  for (let kill = 0; kill < 2; kill++) {
    const before = (await allDocs(store, 'accounts')).size;
    await killMidway(
      url,
      ['backfill', MERGE_ID, '--rate', '1500', '--batch-size', '100'],
      async () => (await allDocs(store, 'accounts')).size > before + 50,
    );
  }
  const killed = (await allDocs(store, 'accounts')).size;
  expect(killed).toBeGreaterThan(0);
  expect(killed).toBeLessThan(N); // really interrupted
  const done = sy(url, 'backfill', MERGE_ID, '--batch-size', '200');
  expect(done.code, done.out + done.err).toBe(0);
}

/** verify exact with the orphans counted; a tampered account is drift naming key and path. */
async function verifyExact(url: string, store: Store): Promise<void> {
  const { n, orphans } = await expectMergeExact(store);
  expect(orphans).toBeGreaterThanOrEqual(ORPHANS);
  const v = sy(url, 'verify', MERGE_ID, '--json');
  expect(v.code, v.out + v.err).toBe(0);
  expect(JSON.parse(v.out)).toMatchObject({
    ok: true,
    compared: n,
    matched: n,
    mismatched: 0,
    missing: 0,
    extra: 0,
    orphans,
  });
  const text = sy(url, 'verify', MERGE_ID);
  expect(text.out).toContain(`orphans: ${orphans} documents of the merged collections`);
}

/** A write to profiles alone reaches its account (`carry` runs whatever must carry it). */
async function secondaryOnly(
  store: Store,
  write: (key: string) => Promise<void>,
  carry: () => void,
): Promise<void> {
  const key = [...(await allDocs(store, 'users')).keys()].sort()[7]!;
  expect((await allDocs(store, 'accounts')).get(key)).not.toMatchObject({
    bio: 'only the profile changed',
  });
  await write(key);
  carry();
  expect((await allDocs(store, 'accounts')).get(key)).toMatchObject({
    bio: 'only the profile changed',
  });
}

/** rollback to off, drop-target: accounts gone, users and profiles byte-identical. */
function rollbackAndDrop(url: string, accounts: number): void {
  const users = exportOf(url, 'users');
  const profiles = exportOf(url, 'profiles');
  const rb = sy(url, 'rollback', MERGE_ID, '--reason', 'test');
  expect([0, 1, 2]).toContain(rb.code);
  const st = sy(url, 'stage', MERGE_ID, 'off');
  expect([0, 1, 2]).toContain(st.code);
  const dt = sy(url, 'drop-target', MERGE_ID, '--yes', '--json');
  expect(dt.code, dt.out + dt.err).toBe(0);
  expect(JSON.parse(dt.out)).toMatchObject({ collection: 'accounts', documents: accounts });
  const left = sy(url, 'collections');
  expect(left.code, left.err).toBe(0);
  expect(left.out).toMatch(/\busers\b/);
  expect(left.out).toMatch(/\bprofiles\b/);
  expect(left.out).not.toMatch(/\baccounts\b/);
  expect(exportOf(url, 'users')).toBe(users);
  expect(exportOf(url, 'profiles')).toBe(profiles);
}

describe('a merge side by side as processes', () => {
  it('sqlite: catch-up follows both sources; kill -9 twice mid-copy and twice mid-catch-up; verify exact; drop the target', async () => {
    const url = `sqlite:${path.join(dir, 'data.db')}`;
    const store = await openStore(url);
    try {
      await seedMerge(store, N, ORPHANS);
      const p = sy(url, 'plan', MERGE_ID, '--sample', '20', '--show', '1');
      expect(p.code, p.err).toBe(0);
      expect(p.out).toMatch(/looks up profile/);

      const start = sy(url, 'catchup', MERGE_ID, '--until-idle');
      expect(start.code, start.out + start.err).toBe(0);
      const writer = startWriter('store', url);
      await writer.ready('store');
      await copyKilledTwice(url, store);
      const changes = async () => (await catchupState(store, MERGE_ID))?.changes ?? 0;
      for (let kill = 0; kill < 2; kill++) {
        const before = await changes();
        await killMidway(
          url,
          ['catchup', MERGE_ID, '--batch-size', '20', '--rate', '400'],
          async () => (await changes()) > before + 40,
        );
      }
      await writer.stop();
      const idle = sy(url, 'catchup', MERGE_ID, '--until-idle');
      expect(idle.code, idle.out + idle.err).toBe(0);
      await verifyExact(url, store);

      const profiles = store.collection('profiles');
      await secondaryOnly(
        store,
        async (key) => {
          await profiles.write([
            { type: 'put', key, doc: { ...profileOf(key, 1), bio: 'only the profile changed' } },
          ]);
        },
        () => {
          const r = sy(url, 'catchup', MERGE_ID, '--until-idle');
          expect(r.code, r.out + r.err).toBe(0);
        },
      );
      await verifyExact(url, store);
      const rel = sy(url, 'catchup', MERGE_ID, '--release');
      expect(rel.code, rel.out + rel.err).toBe(0);
      rollbackAndDrop(url, (await allDocs(store, 'users')).size);
    } finally {
      await store.close();
    }
  }, 300_000);

  it.skipIf(!hasRedis)(
    `redis${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}: the application writes both sources through the runtime at dual-write; kill -9 twice mid-copy; verify exact; drop the target`,
    async () => {
      const url = `${redis().url}/0?prefix=mg${Date.now()}:`;
      const store = await openStore(url);
      try {
        await seedMerge(store, N, ORPHANS);
        const st = sy(url, 'stage', MERGE_ID, 'dual-write');
        expect(st.code, st.err).toBe(0);
        const writer = startWriter('yard', url);
        await writer.ready('dual-write');
        await copyKilledTwice(url, store);
        await writer.stop();
        await verifyExact(url, store);
        await secondaryOnly(
          store,
          async (key) => {
            const { connect } = await import('../../src/index.js');
            const yard = await connect({
              store: url,
              migrationsDir: path.join(dir, 'migrations'),
              refreshMs: 0,
            });
            try {
              await yard
                .collection('profiles')
                .put({ ...profileOf(key, 1), bio: 'only the profile changed' });
            } finally {
              await yard.close();
            }
          },
          () => {},
        );
        await verifyExact(url, store);
        rollbackAndDrop(url, (await allDocs(store, 'users')).size);
      } finally {
        await store.close();
      }
    },
    300_000,
  );
});
