/**
 * The must-show of issue 7 with real parts: a side-by-side migration from SQLite to a real
 * redis-server. The stage goes to dual-write; an application (a child process writing through
 * `connect()`) updates, creates and deletes documents while the side-by-side backfill runs as a
 * real CLI process; then the writer stops and `switchyard verify` (a CLI process) passes. The
 * test then reads both stores itself: the target holds exactly up(source) for every key and
 * nothing else. Finally one target document is changed with a plain ioredis SET, and verify
 * fails naming that key and path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalString, type Doc } from '../../src/core/values.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import type { SideBySideVerifyReport } from '../../src/engine/verify-side-by-side.js';
import { Project } from '../../src/project.js';
import { openStore } from '../../src/store/open-store.js';
import {
  NO_REDIS_REASON,
  redisServerPath,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import { appWriterScript } from '../support/app-writer.js';
import { allDocs, seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const N = 4000;
const PREFIX = 'e2e:';

/** The application: random updates, creations and deletes through the runtime until SIGTERM. */
const WRITER = appWriterScript({
  imports: ['connect'],
  setup: `const [db, migrations, n] = process.argv.slice(2);
const yard = await connect({ store: 'sqlite:' + db, migrationsDir: migrations, refreshMs: 200 });
const users = yard.collection('users');
const stage = yard.stage('20261201-users-v2').stage;
process.stdout.write('ready ' + stage + '\\n');
const id = (i) => 'u' + String(i).padStart(6, '0');`,
  step: `  const i = Math.floor(Math.random() * Number(n));
  const r = Math.random();
  if (r < 0.6) {
    await users.put({ _id: id(i), name: 'Upd' + seq + ' Name' + i, email: 'Changed' + seq + '@Example.COM', note: 'app-' + seq, n: i });
    counts.updates++;
  } else if (r < 0.8) {
    const k = 'n' + String(seq).padStart(6, '0');
    await users.put({ _id: k, name: 'New' + seq + ' Person', email: 'New' + seq + '@X.COM', note: 'created', n: seq });
    counts.creates++;
  } else {
    await users.delete(id(i));
    counts.deletes++;
  }`,
  counters: ['updates', 'creates', 'deletes'],
  close: 'yard.close()',
});

const hasRedis = redisServerPath() !== null;
let redis: RedisServer | undefined;
let dir: string;

beforeAll(async () => {
  dir = tempDir('sy-vsbs-e2e-');
  if (hasRedis) redis = await startRedisServer();
}, 60_000);
afterAll(async () => {
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
  exited: Promise<number | null>;
}

function start(args: string[]): Proc {
  const child = spawn(process.execPath, args, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p: Proc = {
    child,
    out: '',
    err: '',
    exited: new Promise((resolve) => child.once('close', (code) => resolve(code))),
  };
  child.stdout!.on('data', (b: Buffer) => (p.out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (p.err += b.toString()));
  return p;
}

async function cli(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const db = path.join(dir, 'app.db');
  const p = start([
    path.join(root, 'bin/switchyard.js'),
    '--store',
    `sqlite:${db}`,
    '--migrations',
    path.join(dir, 'migrations'),
    ...args,
  ]);
  const code = await p.exited;
  return { code, out: p.out, err: p.err };
}

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** the writer's last reported operation count */
function opsOf(p: Proc): number {
  const all = [...p.out.matchAll(/ops (\d+)\n/g)];
  return Number(all.at(-1)?.[1] ?? 0);
}

describe.skipIf(!hasRedis && process.env.CI === undefined)(
  `sqlite to redis, backfilled while the application writes, then verified${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    it('ends with the target equal to up(source), and verify names a key changed behind its back', async () => {
      const db = path.join(dir, 'app.db');
      const migrations = path.join(dir, 'migrations');
      const targetUrl = `${redis!.url}/0?prefix=${PREFIX}`;
      fs.mkdirSync(migrations);
      fs.writeFileSync(
        path.join(migrations, '20261201-users-v2.mjs'),
        `import { defineMigration, lowercase, splitField } from 'switchyard';
export default defineMigration({
  collection: 'users',
  target: { collection: 'users_v2', store: ${JSON.stringify(targetUrl)} },
  operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')],
});
`,
      );
      fs.writeFileSync(path.join(dir, 'writer.mjs'), WRITER);
      const seed = sqliteAt(db);
      await seedUsers(seed, N);
      await seed.close();

      const project = await Project.open({
        store: `sqlite:${db}`,
        migrationsDir: migrations,
        cwd: dir,
      });
      const m = await project.migration('users-v2');
      await setStage(project, m, Stage.dualWrite);
      await project.close();

      // the application starts writing through the runtime, in dual-write
      const writer = start([path.join(dir, 'writer.mjs'), db, migrations, String(N)]);
      await until('the writer', () => opsOf(writer) >= 20 || writer.child.exitCode !== null);
      expect(writer.out, writer.err).toMatch(/^ready dual-write\n/);

      // the side-by-side backfill, a real CLI process, slow enough to overlap the writer
      const opsBefore = opsOf(writer);
      const bf = await cli('backfill', 'users-v2', '--rate', '800', '--batch-size', '100');
      expect(bf.code, bf.err + bf.out).toBe(0);
      const opsDuring = opsOf(writer) - opsBefore;
      await until('a few more writes', () => opsOf(writer) >= opsBefore + opsDuring + 20);
      writer.child.kill('SIGTERM');
      expect(await writer.exited, writer.err).toBe(0);
      const summary = JSON.parse(writer.out.trim().split('\n').at(-1)!) as Record<string, number>;
      expect(opsDuring).toBeGreaterThan(10); // the application wrote while the backfill ran
      expect(summary.errors, writer.err).toBe(0);
      expect(summary.deletes).toBeGreaterThan(0);
      expect(summary.creates).toBeGreaterThan(0);

      // whatever a shadow write could not do waits in the repair queue: drain it, as an operator would
      const repair = await cli('repair', 'users-v2');
      expect(repair.code, repair.err).toBe(0);

      const v = await cli('verify', 'users-v2', '--json');
      expect(v.code, v.out + v.err).toBe(0);
      const report = JSON.parse(v.out) as SideBySideVerifyReport;

      // checked directly, without Switchyard's verify: target == up(source), key for key
      const source = sqliteAt(db);
      const sourceDocs = await allDocs(source);
      await source.close();
      const targetStore = await openStore(targetUrl);
      const targetDocs = await allDocs(targetStore, 'users_v2');
      await targetStore.close();
      expect(sourceDocs.size).toBeGreaterThan(N / 2);
      expect([...targetDocs.keys()].sort()).toEqual([...sourceDocs.keys()].sort());
      const wrong: string[] = [];
      for (const [key, doc] of sourceDocs) {
        if (canonicalString(m.up(doc)) !== canonicalString(targetDocs.get(key)!)) wrong.push(key);
      }
      expect(wrong).toEqual([]);
      // and nothing else in the target: no state, no journal, no leftovers
      const app = new Redis({ host: '127.0.0.1', port: redis!.port });
      const keys = await app.keys('*');
      expect(keys.length).toBe(sourceDocs.size);
      expect(keys.filter((k) => !k.startsWith(`${PREFIX}users_v2:`))).toEqual([]);

      expect(report).toMatchObject({
        ok: true,
        kind: 'side-by-side',
        compared: sourceDocs.size,
        matched: sourceDocs.size,
        sourceDocs: sourceDocs.size,
        targetDocs: sourceDocs.size,
      });
      const status = await cli('status', '--json');
      expect(JSON.parse(status.out).migrations[0]).toMatchObject({
        status: 'verified',
        stage: { stage: 'dual-write' },
      });

      // change one target document behind Switchyard's back
      const victim = [...sourceDocs.keys()].sort()[Math.floor(sourceDocs.size / 2)]!;
      const stored = JSON.parse((await app.get(`${PREFIX}users_v2:${victim}`))!) as Doc;
      await app.set(
        `${PREFIX}users_v2:${victim}`,
        JSON.stringify({ ...stored, email: 'tampered@example.com' }),
      );
      app.disconnect();
      const drift = await cli('verify', 'users-v2', '--rechecks', '1');
      expect(drift.code, drift.out + drift.err).toBe(1);
      expect(drift.out).toMatch(/DRIFT FOUND/);
      expect(drift.out).toContain(`${victim}: differs from up(source)`);
      expect(drift.out).toMatch(/\/email: expected "[^"]+", found "tampered@example\.com"/);
      const json = await cli('verify', 'users-v2', '--json', '--rechecks', '1');
      expect(json.code).toBe(1);
      const r = JSON.parse(json.out) as SideBySideVerifyReport;
      expect(r).toMatchObject({
        ok: false,
        mismatched: 1,
        missing: 0,
        extra: 0,
        paths: { email: 1 },
      });
      expect(r.samples.mismatched.map((x) => [x.key, x.diffs.map((d) => d.path)])).toEqual([
        [victim, ['/email']],
      ]);
      const after = await cli('status', '--json');
      expect(JSON.parse(after.out).migrations[0].status).toBe('backfilled');
    }, 180_000);
  },
);
