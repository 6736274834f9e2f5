import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Catalog, CatalogDamagedError, ChecksumChangedError } from '../../src/state/catalog.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { runCli } from '../cli/run-cli.js';

const input = {
  id: '20261120-split-name',
  collection: 'users',
  kind: 'in-place' as const,
  from: 1,
  to: 2,
  checksum: 'aaa',
};

describe('catalog', () => {
  it('registers once, then returns the existing entry', async () => {
    const cat = new Catalog(new MemoryStore());
    const first = await cat.register(input);
    expect(first.created).toBe(true);
    expect(first.entry.status).toBe('pending');
    const again = await cat.register(input);
    expect(again.created).toBe(false);
    expect((await cat.list()).map((e) => e.id)).toEqual([input.id]);
  });

  it('refuses a file changed after it started unless forced', async () => {
    const cat = new Catalog(new MemoryStore());
    await cat.register(input);
    // still pending: a changed file is simply re-registered
    expect((await cat.register({ ...input, checksum: 'bbb' })).entry.checksum).toBe('bbb');
    await cat.setStatus(input.id, 'backfilling');
    await expect(cat.register({ ...input, checksum: 'ccc' })).rejects.toBeInstanceOf(
      ChecksumChangedError,
    );
    await expect(cat.register({ ...input, checksum: 'ccc' })).rejects.toThrow(/--force/);
    expect(
      (await cat.register({ ...input, checksum: 'ccc' }, { force: true })).entry.checksum,
    ).toBe('ccc');
  });

  it('concurrent updates are not lost', async () => {
    const cat = new Catalog(new MemoryStore());
    await cat.register(input);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        cat.update(input.id, (e) => ({
          ...e,
          seen: [...((e.seen as number[] | undefined) ?? []), i],
        })),
      ),
    );
    expect(((await cat.get(input.id))!.seen as number[]).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    );
  });
});

describe('a damaged catalog row', () => {
  it('that is not JSON: named by state collection and key, on get, update and list', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-cat-'));
    const file = path.join(dir, 'state.db');
    try {
      const store = new SqliteStore(file, `sqlite:${file}`);
      const cat = new Catalog(store);
      await cat.register({ ...input, id: '0-first' });
      await cat.register(input);
      await cat.register({ ...input, id: 'z-last' });
      store.database
        .prepare(`UPDATE _sy_migrations SET doc = '{not json' WHERE k = ?`)
        .run(input.id);
      const named = new RegExp(
        `the catalog is damaged: row '${input.id}' of the state collection '_sy_migrations' cannot be read \\(`,
      );
      await expect(cat.get(input.id)).rejects.toThrow(named);
      await expect(cat.get(input.id)).rejects.toBeInstanceOf(CatalogDamagedError);
      await expect(cat.setStatus(input.id, 'paused')).rejects.toThrow(named);
      // the store names the row a scan cannot read (ScanPage.unreadable), so list names it too
      await expect(cat.list()).rejects.toThrow(named);
      // the others still read
      expect((await cat.get('z-last'))?.status).toBe('pending');
      await store.close();
      // and the CLI says it, exit 3, not a raw SyntaxError
      const r = await runCli(['--store', `sqlite:${file}`, '--migrations', dir, 'status']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(named);
      expect(r.stderr).not.toMatch(/SyntaxError/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with an unknown status or a missing field is refused, naming key and field', async () => {
    const store = new MemoryStore();
    const cat = new Catalog(store);
    const { entry } = await cat.register(input);
    store.collection('_sy_migrations').tamper(input.id, { ...entry, status: 'banana' } as never);
    await expect(cat.get(input.id)).rejects.toThrow(
      `the catalog is damaged: row '${input.id}' of the state collection '_sy_migrations' is not a catalog entry: field 'status': unknown status "banana" (known: pending, backfilling, paused, canary, backfilled, verified, complete, rolling-back, rolled-back, failed)`,
    );
    await expect(cat.list()).rejects.toBeInstanceOf(CatalogDamagedError);
    const { from: _f, ...noFrom } = entry;
    store.collection('_sy_migrations').tamper(input.id, noFrom as never);
    await expect(cat.get(input.id)).rejects.toThrow(/is not a catalog entry: field 'from': /);
    store.collection('_sy_migrations').tamper(input.id, { ...entry, id: 'other' } as never);
    await expect(cat.get(input.id)).rejects.toThrow(/field 'id' is 'other', not its key/);
  });

  it('an unknown status is never written', async () => {
    const cat = new Catalog(new MemoryStore());
    await cat.register(input);
    await expect(cat.setStatus(input.id, 'banana' as never)).rejects.toThrow(
      /unknown migration status "banana"/,
    );
    expect((await cat.get(input.id))?.status).toBe('pending');
  });
});
