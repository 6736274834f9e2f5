/**
 * The SQLite change feed on real files: what Switchyard writes and what plain SQL writes through
 * a second connection (another "application") both reach the feed, once per change; positions
 * resume across connections; the changelog is pruned to what some reader still needs; triggers
 * exist only while someone tails the collection.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toStorageJSON } from '../../src/core/values.js';
import type { Change } from '../../src/store/contract.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { changelogTable } from '../../src/store/sqlite/sqlite-change-feed.js';

let dir: string;
let file: string;
const open: { close(): unknown }[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-feed-'));
  file = path.join(dir, 'data.db');
});
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function store(options: ConstructorParameters<typeof SqliteStore>[2] = {}): SqliteStore {
  const s = new SqliteStore(file, `sqlite:${file}`, options);
  open.push(s);
  return s;
}

/** another application: its own connection, plain SQL, no revs */
function plainSql(): Database.Database {
  const db = new Database(file);
  db.pragma('busy_timeout = 10000');
  open.push(db);
  return db;
}

async function readAll(
  s: SqliteStore,
  position: string,
  limit = 1000,
): Promise<{ changes: Change[]; position: string }> {
  const all: Change[] = [];
  let at = position;
  for (;;) {
    const r = await s.collection('users').changes(at, limit);
    all.push(...r.changes);
    at = r.position;
    if (r.changes.length < limit) return { changes: all, position: at };
  }
}

function triggerNames(db: Database.Database): string[] {
  return (
    db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name`)
      .pluck()
      .all() as string[]
  ).filter((n) => n.includes('__sy_chg_'));
}

describe('sqlite change feed', () => {
  it('starts from now and reports Switchyard writes in commit order, with the current document', async () => {
    const s = store();
    const users = s.collection('users');
    expect(users.capabilities.changeFeed).toBe(true);
    await users.write([{ type: 'put', key: 'a', doc: { v: 1 } }]);
    const start = await users.changes(null, 100);
    expect(start.changes).toEqual([]);

    await users.write([
      { type: 'put', key: 'b', doc: { v: 1 } },
      { type: 'put', key: 'a', doc: { v: 2 } },
    ]);
    await users.write([{ type: 'delete', key: 'b' }]);
    await users.write([{ type: 'put', key: 'c', doc: { v: 1 }, ifRev: null }]);
    await users.write([{ type: 'put', key: 'c', doc: { v: 9 }, ifRev: 'stale' }]); // conflicts: no change

    const r = await readAll(s, start.position);
    expect(r.changes.map((c) => c.key)).toEqual(['b', 'a', 'b', 'c']);
    // the document as it is now (b is gone by the time it is read)
    expect(r.changes.map((c) => c.doc)).toEqual([null, { v: 2 }, null, { v: 1 }]);
    expect((await users.changes(r.position, 100)).changes).toEqual([]);
  });

  it('sees plain SQL from another connection: insert, update, key change, delete, replace — one entry each', async () => {
    const s = store();
    const users = s.collection('users');
    await users.write([{ type: 'put', key: 'a', doc: { v: 1 } }]);
    const start = await users.changes(null, 10);
    const app = plainSql();
    const doc = (v: number) => toStorageJSON({ v });
    app.prepare(`INSERT INTO users (k, doc) VALUES (?, ?)`).run('x', doc(1));
    app.prepare(`UPDATE users SET doc = ? WHERE k = ?`).run(doc(2), 'x');
    app.prepare(`UPDATE users SET doc = ?, rev = 'mine-1' WHERE k = ?`).run(doc(3), 'a');
    app.prepare(`UPDATE users SET k = 'y' WHERE k = 'x'`).run();
    app.prepare(`INSERT OR REPLACE INTO users (k, doc) VALUES (?, ?)`).run('a', doc(4));
    app.prepare(`DELETE FROM users WHERE k = ?`).run('y');
    app.prepare(`UPDATE users SET doc = doc WHERE k = 'nobody'`).run(); // no row: no change

    const r = await readAll(s, start.position, 2);
    expect(r.changes.map((c) => c.key)).toEqual(['x', 'x', 'a', 'x', 'y', 'a', 'y']);
    expect(r.changes.at(-2)!.doc).toEqual({ v: 4 });
    // revs still see the foreign writes (the feed's triggers do not disturb the rev triggers)
    const a = (await users.get('a'))!;
    expect(a.rev).toMatch(/^x[0-9a-f]{16}$/);
  });

  it('resumes from a saved position in another connection, and refuses positions it cannot continue from', async () => {
    const first = store();
    const users = first.collection('users');
    const start = await users.changes(null, 10);
    for (let i = 0; i < 25; i++)
      await users.write([{ type: 'put', key: `k${String(i).padStart(2, '0')}`, doc: { i } }]);
    const page = await users.changes(start.position, 10);
    expect(page.changes.map((c) => c.key)).toEqual(
      Array.from({ length: 10 }, (_, i) => `k${String(i).padStart(2, '0')}`),
    );
    expect(page.changes.at(-1)!.position).toBe(page.position);
    await first.close();

    const second = store();
    const rest = await readAll(second, page.position, 4);
    expect(rest.changes.map((c) => c.key)).toEqual(
      Array.from({ length: 15 }, (_, i) => `k${String(i + 10).padStart(2, '0')}`),
    );
    const c = second.collection('users');
    expect((await c.changes(rest.position, 100)).changes).toEqual([]);
    // asking for changes acknowledged what came before: they are pruned, and going back is refused
    await expect(c.changes(page.position, 100)).rejects.toThrow(/no longer holds position/);
    await expect(c.changes('nonsense', 10)).rejects.toMatchObject({ code: 'E_CHANGE_POSITION' });
    const [feed, reader] = rest.position.split('.');
    await expect(c.changes(`${feed}.${reader}.999999`, 10)).rejects.toThrow(/ahead of the change/);
    await expect(c.changes(`00000000.${reader}.1`, 10)).rejects.toThrow(/earlier change feed/);
  });

  it('prunes what every reader has passed, keeps what the slowest still needs, and forgets a reader past its TTL', async () => {
    const s = store({ changeReaderTtlMs: 60_000 });
    const users = s.collection('users');
    const fast = await users.changes(null, 10);
    const slow = await users.changes(null, 10);
    for (let i = 0; i < 50; i++) await users.write([{ type: 'put', key: `k${i}`, doc: { i } }]);
    const feed = users.changeFeed;
    expect(feed.size()).toBe(50);

    const f1 = await readAll(s, fast.position);
    expect(f1.changes).toHaveLength(50);
    await users.changes(f1.position, 10); // acknowledges all 50 for the fast reader
    expect(feed.size()).toBe(50); // the slow reader has read nothing yet

    const s1 = await users.changes(slow.position, 20);
    await users.changes(s1.position, 0); // the slow reader passed 20
    expect(feed.size()).toBe(30);

    // a reader unseen for longer than the TTL is forgotten; the rest is pruned without it
    const later = new SqliteStore(file, `sqlite:${file}`, { changeReaderTtlMs: 1 });
    open.push(later);
    await new Promise((r) => setTimeout(r, 20));
    await later.collection('users').changes(f1.position, 10);
    expect(feed.size()).toBe(0);
    await expect(later.collection('users').changes(s1.position, 10)).rejects.toThrow(
      /no longer holds position/,
    );
  });

  it('has triggers only while someone tails the collection; release drops them with the changelog', async () => {
    const s = store();
    const users = s.collection('users');
    await users.write([{ type: 'put', key: 'a', doc: { v: 1 } }]);
    const db = s.database;
    expect(triggerNames(db)).toEqual([]); // the default path: no feed, nothing extra per write
    const r1 = await users.changes(null, 10);
    const r2 = await users.changes(null, 10);
    expect(triggerNames(db)).toEqual([
      'users__sy_chg_delete',
      'users__sy_chg_insert',
      'users__sy_chg_rekey',
      'users__sy_chg_update',
    ]);
    users.enableChanges(); // idempotent
    await users.releaseChanges(r1.position);
    expect(triggerNames(db)).toHaveLength(4); // r2 still reads
    await users.releaseChanges(r2.position);
    expect(triggerNames(db)).toEqual([]);
    expect(
      db.prepare(`SELECT name FROM sqlite_master WHERE name = ?`).get(changelogTable('users')),
    ).toBeUndefined();
    await expect(users.changes(r2.position, 10)).rejects.toThrow(/earlier change feed/);
    expect(await s.listCollections()).toEqual(['users']);
  });

  it('dropping a tailed collection through the store reports every key as deleted, and the feed follows the new table', async () => {
    const s = store();
    const users = s.collection('users');
    await users.write(['a', 'b', 'c'].map((key) => ({ type: 'put' as const, key, doc: { key } })));
    const start = await users.changes(null, 10);
    await s.dropCollection('users');
    await users.write([{ type: 'put', key: 'd', doc: { key: 'd' } }]);
    const other = plainSql();
    other.prepare(`INSERT INTO users (k, doc) VALUES ('e', '{}')`).run();
    const r = await readAll(s, start.position);
    expect(r.changes.map((c) => [c.key, c.doc])).toEqual([
      ['a', null],
      ['b', null],
      ['c', null],
      ['d', { key: 'd' }],
      ['e', {}],
    ]);
  });
});
