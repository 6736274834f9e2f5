/**
 * A table created inside a transaction that rolls back is not cached as existing (issue 13 B):
 * before the fix a backfill whose up() returned a BigInt failed the journal's first write (the
 * journal table and the data went in one transaction), the journal table was rolled back but
 * cached as created, and every retry failed with "no such table: _sy_journal_..." (23 retries).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { tempDir } from '../engine/backfill-fixtures.js';

let dir: string;
let store: SqliteStore;
beforeEach(() => {
  dir = tempDir('sy-sqlite-tx-');
  const file = path.join(dir, 'db.sqlite');
  store = new SqliteStore(file, `sqlite:${file}`);
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const unwritable = { _id: 'b', n: 10n } as unknown as Doc;

describe('sqlite: a table created in a rolled-back transaction', () => {
  it('writeAtomic: the next transaction creates it again and commits', async () => {
    const batch = (doc: Doc) => [
      { collection: '_sy_journal_m', ops: [{ type: 'put' as const, key: 'a', doc: { _id: 'a' } }] },
      { collection: 'users', ops: [{ type: 'put' as const, key: 'b', doc }] },
    ];
    await expect(store.writeAtomic(batch(unwritable))).rejects.toThrow(/BigInt/i);
    expect(await store.collection('_sy_journal_m').get('a')).toBeNull();
    const [journal, data] = await store.writeAtomic(batch({ _id: 'b', n: 10 }));
    expect(journal![0]!.ok && data![0]!.ok).toBe(true);
    expect((await store.collection('_sy_journal_m').get('a'))!.doc).toEqual({ _id: 'a' });
    expect((await store.collection('users').get('b'))!.doc).toEqual({ _id: 'b', n: 10 });
  });

  it('write: the same for one collection', async () => {
    const c = store.collection('items');
    await expect(
      c.write([
        { type: 'put', key: 'a', doc: { _id: 'a' } },
        { type: 'put', key: 'b', doc: unwritable },
      ]),
    ).rejects.toThrow(/BigInt/i);
    expect(await c.count()).toBe(0);
    expect((await c.write([{ type: 'put', key: 'a', doc: { _id: 'a' } }]))[0]!.ok).toBe(true);
    expect(await c.count()).toBe(1);
  });
});
