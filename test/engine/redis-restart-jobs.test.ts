/**
 * redis-server killed (kill -9, append-only file on) and started again on the same port and dir
 * in the middle of the jobs issue 21 item 2 names beyond backfill and rollback (those are in
 * backfill-redis-restart and rollback-redis-restart): a full verify, a side-by-side copy and a
 * catch-up, each a real CLI process. The job waits through the outage, walks again what the new
 * server's cursors no longer continue, and ends complete: verify compares every document, the
 * copy's target holds up(source) for every key, catch-up carries every later write.
 * Skipped without redis-server (CI: fails).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { VerifyReport } from '../../src/engine/verify.js';
import { canonicalEquals } from '../../src/index.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { renameField } from '../../src/migration/index.js';
import { openStore } from '../../src/store/open-store.js';
import { spawnCli, type CliProcess } from '../support/cli-process.js';
import {
  NO_REDIS_REASON,
  redisOrFailInCi,
  startRedisServer,
  type RestartableRedisServer,
} from '../support/redis-server.js';
import {
  allDocs,
  seedUsers,
  sqliteAt,
  tempDir,
  writeSplitMigrationFile,
} from './backfill-fixtures.js';

const hasRedis = redisOrFailInCi();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const COPY_ID = '20261206-users-v2';
const copyMigration = (targetUrl?: string) =>
  `import { defineMigration, renameField } from 'switchyard';
export default defineMigration({
  collection: 'users',
  target: { collection: 'users_v2'${targetUrl !== undefined ? `, store: ${JSON.stringify(targetUrl)}` : ''} },
  operations: [renameField('name', 'fullName')],
});
`;
const copyUp = (targetUrl?: string) =>
  compileMigration({
    id: COPY_ID,
    collection: 'users',
    target: {
      collection: 'users_v2',
      ...(targetUrl !== undefined ? { store: targetUrl } : {}),
    },
    operations: [renameField('name', 'fullName')],
  });

/** once the process has made progress (its first batch), wait a random moment more */
async function underWay(p: CliProcess, probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000 && !(await probe()); i++) {
    if (p.child.exitCode !== null) break;
    await sleep(20);
  }
  expect(p.child.exitCode, p.stderr().slice(-1500)).toBeNull();
  await sleep(100 + Math.random() * 300);
}

/** whether a catch-up process holds the migration's catch-up (its state in the source file) */
function catchupRunning(db: string): boolean {
  if (!fs.existsSync(db)) return false;
  let conn: Database.Database | undefined;
  try {
    conn = new Database(db, { readonly: true });
    const text = conn.prepare(`SELECT doc FROM _sy_catchup WHERE k = ?`).pluck().get(COPY_ID) as
      string | undefined;
    return text !== undefined && (JSON.parse(text) as { running?: boolean }).running === true;
  } catch {
    return false; // the table does not exist yet
  } finally {
    conn?.close();
  }
}

/** the outage, in words: the server unreachable or restarted, and the job waiting */
function expectWaited(stderr: string): void {
  const lines = stderr
    .split('\n')
    .filter((l) => /the server is unreachable|the server restarted/.test(l));
  expect(lines.length, stderr.slice(-2000)).toBeGreaterThan(0);
}

/** keys of the target that are missing, extra or not up(source) */
async function targetProblems(
  sourceUrl: string,
  targetUrl: string,
  up: (d: Record<string, unknown>) => unknown,
): Promise<{ missing: string[]; extra: string[]; stale: string[] }> {
  const source = await openStore(sourceUrl);
  const target = await openStore(targetUrl);
  try {
    const src = await allDocs(source);
    const tgt = await allDocs(target, 'users_v2');
    return {
      missing: [...src.keys()].filter((k) => !tgt.has(k)),
      extra: [...tgt.keys()].filter((k) => !src.has(k)),
      stale: [...src]
        .filter(([k, d]) => tgt.has(k) && !canonicalEquals(tgt.get(k)!, up(d) as never))
        .map(([k]) => k),
    };
  } finally {
    await source.close();
    await target.close();
  }
}

describe.skipIf(!hasRedis)(
  `verify, side-by-side copy and catch-up through a redis-server restart${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    let server: RestartableRedisServer;
    let dir: string;
    let n = 0;
    beforeAll(async () => {
      server = await startRedisServer({ appendonly: true });
    });
    afterAll(async () => {
      await server?.stop();
    });
    beforeEach(() => {
      dir = tempDir('sy-redis-restart-jobs-');
      n += 1;
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const redisUrl = () => `redis://127.0.0.1:${server.port}/0?prefix=j${n}:`;
    const cli = (store: string, ...args: string[]) =>
      spawnCli(['--store', store, '--migrations', path.join(dir, 'migrations'), ...args], dir);

    // down for longer than the client's own reconnection attempts (200 + 400 + 600 ms): a
    // shorter outage is absorbed by ioredis's offline queue without an error, so nothing is
    // waited for or said (a CI failure of the catch-up case, when the draw was near 1 s)
    async function outage(): Promise<void> {
      await server.kill9();
      await sleep(2500 + Math.random() * 1000);
      await server.restart();
    }

    it('verify --full: waits, walks again, compares every document and says OK', async () => {
      const N = 6000;
      const url = redisUrl();
      const store = await openStore(url);
      await seedUsers(store, N);
      await store.close();
      writeSplitMigrationFile(dir);
      const first = cli(url, 'backfill', '20261120-split', '--batch-size', '500');
      expect(await first.exited, first.stderr().slice(-1500)).toBe(0);

      const p = cli(
        url,
        '--json',
        'verify',
        'split',
        '--full',
        '--batch-size',
        '200',
        '--rate',
        '1500',
      );
      // started (its log line), then a moment into the walk
      await underWay(p, async () => /verify started/.test(p.stderr() + p.stdout()));
      await sleep(500);
      await outage();
      const code = await p.exited;
      const out = p.stdout();
      expect(code, p.stderr().slice(-2500)).toBe(0);
      const report = JSON.parse(out.slice(out.search(/^\{/m))) as VerifyReport;
      expect(report).toMatchObject({ ok: true, compared: N, missing: 0, mismatched: 0 });
      expectWaited(p.stderr());
    }, 180_000);

    // this case exited 3 about once in 15 runs under load (once in CI): the check of the
    // thresholds after every batch read the partitions' counts without retrying, so an outage
    // that began just then failed the run (runner.ts #checkGuards; test/engine/backfill.test.ts
    // "a state store failing its partition reads")
    it(
      'side-by-side copy: waits, walks again, every key of the target is up(source)',
      { timeout: 180_000 },
      async () => {
        const N = 6000;
        const url = redisUrl();
        const store = await openStore(url);
        await seedUsers(store, N);
        await store.close();
        fs.mkdirSync(path.join(dir, 'migrations'), { recursive: true });
        fs.writeFileSync(path.join(dir, 'migrations', `${COPY_ID}.mjs`), copyMigration());
        // the application's dual writes are on (the stage a copy needs); none happen here
        const stage = cli(url, 'stage', COPY_ID, 'dual-write');
        expect(await stage.exited, stage.stderr().slice(-1500)).toBe(0);

        const p = cli(url, '--json', 'backfill', COPY_ID, '--batch-size', '100', '--rate', '1500');
        const probe = await openStore(url);
        await underWay(p, async () => (await probe.collection('users_v2').count()) > 0);
        await probe.close();
        await outage();
        const code = await p.exited;
        expect(code, p.stderr().slice(-2500)).toBe(0);
        expect(p.stdout()).toMatch(/"outcome":"backfilled"/);
        expectWaited(p.stderr());
        const m = copyUp();
        expect(await targetProblems(url, url, (d) => m.up(d as never))).toEqual({
          missing: [],
          extra: [],
          stale: [],
        });
      },
    );

    it('catch-up (SQLite source, Redis target): waits through the outage and carries every later write', async () => {
      const N = 2000;
      const db = path.join(dir, 'data.db');
      const source = sqliteAt(db);
      await seedUsers(source, N);
      await source.close();
      const targetUrl = redisUrl();
      fs.mkdirSync(path.join(dir, 'migrations'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'migrations', `${COPY_ID}.mjs`), copyMigration(targetUrl));
      const sourceUrl = `sqlite:${db}`;

      const follower = cli(
        sourceUrl,
        '--json',
        'catchup',
        COPY_ID,
        '--poll-ms',
        '50',
        '--batch-size',
        '50',
      );
      await underWay(follower, async () => catchupRunning(db));
      const copy = cli(sourceUrl, '--json', 'backfill', COPY_ID, '--batch-size', '500');
      expect(await copy.exited, copy.stderr().slice(-1500)).toBe(0);

      // the application writes through its own connection, before, during and after the outage
      const app = new Database(db);
      app.pragma('busy_timeout = 10000');
      const update = app.prepare(`UPDATE users SET doc = json_set(doc, '$.note', ?) WHERE k = ?`);
      let writing = true;
      let writes = 0;
      const writer = (async () => {
        for (let seq = 0; writing; seq++) {
          const k = `u${String(Math.floor(Math.random() * N)).padStart(6, '0')}`;
          update.run(`app-${seq}`, k);
          writes += 1;
          await sleep(2);
        }
      })();
      await sleep(800);
      await outage();
      await sleep(1500);
      writing = false;
      await writer;
      app.close();
      expect(writes).toBeGreaterThan(100);
      expect(follower.child.exitCode, follower.stderr().slice(-1500)).toBeNull(); // it waited

      // the follower drains what is left, then stops on Ctrl-C; a last run finds nothing to do
      await sleep(3000);
      follower.child.kill('SIGINT');
      expect(await follower.exited, follower.stderr().slice(-1500)).toBe(0);
      expectWaited(follower.stderr());
      const last = cli(sourceUrl, '--json', 'catchup', COPY_ID, '--until-idle');
      expect(await last.exited, last.stderr().slice(-1500)).toBe(0);
      const m = copyUp(targetUrl);
      expect(await targetProblems(sourceUrl, targetUrl, (d) => m.up(d as never))).toEqual({
        missing: [],
        extra: [],
        stale: [],
      });
    }, 180_000);
  },
);
