/**
 * Catch-up as real processes, across stores: the source is an SQLite file written by a plain-SQL
 * application process (inserts, updates, deletes through its own better-sqlite3 connection —
 * not the runtime, not Switchyard); `node bin/switchyard.js catchup` follows it into a target in
 * a real redis-server and is killed with SIGKILL several times and restarted; a side-by-side
 * `backfill` process copies the rest meanwhile, with the stage off. At the end the target holds
 * exactly up(source) for every key: nothing missing, nothing stale, nothing deleted left over.
 * Also the CLI's refusals (exit 2), --until-idle, --once and --release.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CatchupState } from '../../src/engine/catchup.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { renameField } from '../../src/migration/index.js';
import { openStore } from '../../src/store/open-store.js';
import {
  NO_REDIS_REASON,
  redisServerPath,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import { allDocs, seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ID = '20261120-users-v2';

function migrationFile(targetUrl: string): string {
  return `import { defineMigration, renameField } from 'switchyard';
export default defineMigration({
  collection: 'users',
  target: { collection: 'users_v2', store: ${JSON.stringify(targetUrl)} },
  operations: [renameField('name', 'fullName')],
});
`;
}

/** the application: plain SQL on its own connection until the stop file appears */
const WRITER = `
import { createRequire } from 'node:module';
import fs from 'node:fs';
const require = createRequire(process.env.REPO_ROOT + '/package.json');
const Database = require('better-sqlite3');
const db = new Database(process.env.DB);
db.pragma('busy_timeout = 10000');
const upsert = db.prepare(\`INSERT INTO users (k, doc) VALUES (?, ?)
  ON CONFLICT(k) DO UPDATE SET doc = json_set(doc, '$.note', json_extract(excluded.doc, '$.note'))\`);
const update = db.prepare(\`UPDATE users SET doc = json_set(doc, '$.note', ?) WHERE k = ?\`);
const del = db.prepare('DELETE FROM users WHERE k = ?');
const counts = { upserts: 0, updates: 0, deletes: 0 };
const keys = Number(process.env.KEYS);
let seq = 0;
while (!fs.existsSync(process.env.STOP)) {
  const i = Math.floor(Math.random() * keys);
  const k = 'u' + String(i).padStart(6, '0');
  const note = 'app-' + seq++;
  const r = Math.random();
  if (r < 0.4) {
    upsert.run(k, JSON.stringify({ _id: k, name: 'New' + i + ' Person' + i, email: 'n' + i + '@x.org', note, n: i }));
    counts.upserts++;
  } else if (r < 0.75) {
    update.run(note, k);
    counts.updates++;
  } else {
    del.run(k);
    counts.deletes++;
  }
  await new Promise((res) => setTimeout(res, 1));
}
db.close();
console.log(JSON.stringify(counts));
`;

let dir: string;
let db: string;
let redis: RedisServer | undefined;

const hasRedis = redisServerPath() !== null;

beforeAll(async () => {
  if (hasRedis) redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});
beforeEach(() => {
  dir = tempDir('sy-catchup-proc-');
  db = path.join(dir, 'data.db');
  fs.mkdirSync(path.join(dir, 'migrations'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

type Child = ChildProcess & { output: string };

function spawnNode(args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, args, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as Child;
  child.output = '';
  child.stdout!.on('data', (b: Buffer) => (child.output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (child.output += b.toString()));
  return child;
}

function cli(...args: string[]): Child {
  return spawnNode([
    path.join(root, 'bin/switchyard.js'),
    '--store',
    `sqlite:${db}`,
    '--migrations',
    path.join(dir, 'migrations'),
    '--json',
    ...args,
  ]);
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** the catch-up state as the catchup processes left it (read through a plain connection) */
function readState(): CatchupState | null {
  if (!fs.existsSync(db)) return null;
  let conn: Database.Database | undefined;
  try {
    conn = new Database(db, { readonly: true });
    const text = conn.prepare(`SELECT doc FROM _sy_catchup WHERE k = ?`).pluck().get(ID) as
      string | undefined;
    return text === undefined ? null : (JSON.parse(text) as CatchupState);
  } catch {
    return null; // the table does not exist yet
  } finally {
    conn?.close();
  }
}

/** wait until `probe` holds; fail at once (with its output) if `child` exits first */
async function waitFor(what: string, probe: () => boolean, child: Child, ms = 60_000) {
  const until = Date.now() + ms;
  for (;;) {
    if (probe()) return;
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${what}: the process exited (${child.exitCode}): ${child.output}`);
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${child.output}`);
    await sleep(25);
  }
}

describe.skipIf(!hasRedis)(
  `catchup processes, sqlite -> redis${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    it('a plain-SQL application writes while catch-up (killed with SIGKILL and restarted) and a backfill run: the redis target ends as up(source), deletes included', async () => {
      const targetUrl = `${redis!.url}/0?prefix=${encodeURIComponent(`t${Date.now()}:`)}`;
      fs.writeFileSync(path.join(dir, 'migrations', `${ID}.mjs`), migrationFile(targetUrl));
      const N = 4000;
      const seed = sqliteAt(db);
      await seedUsers(seed, N);
      await seed.close();

      let catchupChild = cli('catchup', ID, '--poll-ms', '50', '--batch-size', '100');
      await waitFor('catch-up to start', () => readState()?.running === true, catchupChild);

      const stop = path.join(dir, 'stop');
      fs.writeFileSync(path.join(dir, 'writer.mjs'), WRITER);
      const writer = spawnNode([path.join(dir, 'writer.mjs')], {
        REPO_ROOT: root,
        DB: db,
        STOP: stop,
        KEYS: String(N + 1000),
      });
      const backfillChild = cli('backfill', ID, '--batch-size', '100', '--rate', '800');

      // kill -9 catch-up at random moments while both write; each restart resumes at once
      let kills = 0;
      while (kills < 4) {
        await sleep(700 + Math.random() * 800);
        const before = readState();
        expect(before?.pid).toBe(catchupChild.pid); // it holds the lease: killed mid-run
        catchupChild.kill('SIGKILL');
        await exited(catchupChild);
        kills += 1;
        catchupChild = cli('catchup', ID, '--poll-ms', '50', '--batch-size', '100');
        await waitFor(
          'the restarted catch-up to take over',
          () => {
            const s = readState();
            return s?.running === true && s.pid === catchupChild.pid;
          },
          catchupChild,
        );
      }

      expect(await exited(backfillChild)).toBe(0);
      expect(backfillChild.output).toMatch(/"outcome":"backfilled"/);
      await sleep(500); // the application keeps writing after the backfill
      fs.writeFileSync(stop, '');
      expect(await exited(writer)).toBe(0);
      const ops = JSON.parse(writer.output.trim()) as {
        upserts: number;
        updates: number;
        deletes: number;
      };
      expect(ops.deletes).toBeGreaterThan(50);
      expect(ops.upserts).toBeGreaterThan(50);
      expect(ops.updates).toBeGreaterThan(50);

      // Ctrl-C (SIGINT) stops the follower cleanly; a last run drains what is left
      catchupChild.kill('SIGINT');
      expect(await exited(catchupChild)).toBe(0);
      expect(catchupChild.output).toMatch(/"outcome":"stopped"/);
      const last = cli('catchup', ID, '--until-idle');
      expect(await exited(last)).toBe(0);
      expect(last.output).toMatch(/"outcome":"idle"/);

      const m = compileMigration({
        id: ID,
        collection: 'users',
        target: { collection: 'users_v2', store: targetUrl },
        operations: [renameField('name', 'fullName')],
      });
      const source = sqliteAt(db);
      const target = await openStore(targetUrl);
      try {
        const src = await allDocs(source);
        const tgt = await allDocs(target, 'users_v2');
        const missing = [...src.keys()].filter((k) => !tgt.has(k));
        const extra = [...tgt.keys()].filter((k) => !src.has(k));
        const stale = [...src].filter(([k, d]) => tgt.has(k) && !sameDoc(tgt.get(k), m.up(d)));
        expect({ missing, extra, stale: stale.map(([k]) => k) }).toEqual({
          missing: [],
          extra: [],
          stale: [],
        });
        expect(src.size).toBeGreaterThan(N / 2);
        const state = readState()!;
        expect(state).toMatchObject({ running: false, owner: null, lagMs: 0 });
        expect(state.changes).toBeGreaterThan(ops.deletes);
        const starts = source.database
          .prepare(
            `SELECT count(*) FROM _sy_audit WHERE json_extract(doc, '$.command') = 'catchup' AND json_extract(doc, '$.outcome') = 'started'`,
          )
          .pluck()
          .get() as number;
        expect(starts).toBe(kills + 2);
      } finally {
        await source.close();
        await target.close();
      }
    }, 240_000);
  },
);

function sameDoc(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}

describe('catchup CLI', () => {
  function write(name: string, body: string) {
    fs.writeFileSync(path.join(dir, 'migrations', name), body);
  }
  /** the real CLI in a child process (dist/), with the exit code and what it printed */
  async function run(...args: string[]): Promise<{ code: number | null; out: string }> {
    const child = spawnNode([
      path.join(root, 'bin/switchyard.js'),
      ...(args[0] === '--store' ? [] : ['--store', `sqlite:${db}`]),
      '--migrations',
      path.join(dir, 'migrations'),
      ...args,
    ]);
    const code = await exited(child);
    return { code, out: child.output };
  }

  it('refuses bad input with exit 2 and a reason; --until-idle, --once and --release work', async () => {
    write(
      '20261120-in-place.mjs',
      `import { defineMigration, renameField } from 'switchyard';
export default defineMigration({ collection: 'orders', operations: [renameField('name', 'fullName')] });
`,
    );
    write('20261121-users-v2.mjs', migrationFile(`sqlite:${path.join(dir, 'target.db')}`));
    const [both, inPlace, memory, never] = await Promise.all([
      run('catchup', 'users-v2', '--once', '--until-idle'),
      run('catchup', 'in-place', '--until-idle'),
      run('--store', 'memory:', 'catchup', 'users-v2'),
      run('catchup', 'users-v2', '--release'),
    ]);
    expect(both).toMatchObject({
      code: 2,
      out: expect.stringMatching(/--once and --until-idle cannot be used together/),
    });
    expect(inPlace).toMatchObject({
      code: 2,
      out: expect.stringMatching(/is an in-place migration/),
    });
    expect(memory).toMatchObject({
      code: 2,
      out: expect.stringMatching(/memory: memory:\) has no change feed/),
    });
    expect(never).toMatchObject({ code: 2, out: expect.stringMatching(/was never started/) });

    const seed = sqliteAt(db);
    await seedUsers(seed, 10);
    const first = await run('--json', 'catchup', 'users-v2', '--until-idle');
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/"event":"done","outcome":"idle"/);
    await seed.collection('users').write([{ type: 'delete', key: 'u000001' }]);
    const second = await run('catchup', 'users-v2', '--once');
    expect(second.code).toBe(0);
    expect(second.out).toMatch(/one batch: 1 changes read, 0 documents written, 1 deleted/);

    const released = await run('catchup', 'users-v2', '--release', '--reason', 'not needed');
    expect(released).toMatchObject({ code: 0, out: expect.stringMatching(/released its place/) });
    const triggers = seed.database
      .prepare(`SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%sy_chg%'`)
      .pluck()
      .get();
    expect(triggers).toBe(0);
    const audit = await run('--json', 'audit');
    expect(audit.out).toMatch(/"command": "catchup.release"/);
    await seed.close();
  });
});
