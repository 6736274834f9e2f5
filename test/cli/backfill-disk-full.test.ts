/**
 * `switchyard backfill` on an SQLite file whose disk fills up mid-run (a real tmpfs, shrunk to a
 * little more than the seeded data): exit code 3 at once (a full disk is not retried), an error
 * that names the database file and says to free space and run again; the database intact
 * (PRAGMA integrity_check, no half batch: every migrated document has its journal entry and no
 * entry is without its document). With room made (the tmpfs grown) the same command finishes:
 * every document transformed exactly once (the migration counts), the journal complete. Needs
 * root to mount; skipped with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalCollectionName } from '../../src/state/journal.js';
import { sqliteAt, tempDir } from '../engine/backfill-fixtures.js';
import { runCli } from '../support/cli-process.js';
import { mountTmpfs, tmpfsUnavailable } from '../support/tmpfs.js';

const N = 6000;
const MIGRATION = `import { defineMigration, splitField } from 'switchyard';
export default defineMigration({
  collection: 'users',
  operations: [splitField('name', ['first', 'last'], ' ')],
  // counts transformations: a document transformed twice would show n + 2
  up: (d) => { d.n = d.n + 1; },
});
`;

function remount(dir: string, size: string): void {
  const r = spawnSync('mount', ['-o', `remount,size=${size}`, dir], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}
/** KiB used on the file system at `dir` */
function usedKib(dir: string): number {
  const r = spawnSync('df', ['--output=used', '-k', dir], { encoding: 'utf8' });
  return Number(r.stdout.trim().split('\n').pop());
}

const cannot = tmpfsUnavailable();

describe.skipIf(cannot !== null)(
  `backfill onto a full disk${cannot !== null ? ` (skipped: ${cannot})` : ''}`,
  () => {
    let base: string;
    let mnt: string;
    let db: string;
    let args: string[];
    beforeAll(async () => {
      base = tempDir('sy-bf-full-');
      mnt = path.join(base, 'mnt');
      db = path.join(mnt, 'data.db');
      fs.mkdirSync(mnt);
      fs.mkdirSync(path.join(base, 'migrations'));
      fs.writeFileSync(path.join(base, 'migrations', '20261120-split.mjs'), MIGRATION);
      expect(mountTmpfs(mnt, 'size=64m')).toBeNull();
      const store = sqliteAt(db);
      await store.collection('users').write(
        Array.from({ length: N }, (_, i) => {
          const key = `u${String(i).padStart(6, '0')}`;
          const doc = { _id: key, name: `First${i} Last${i}`, n: 0, note: 'x'.repeat(300) };
          return { type: 'put' as const, key, doc };
        }),
      );
      store.database.pragma('wal_checkpoint(TRUNCATE)');
      await store.close();
      // room for a part of the journal and the new documents, not for all of them
      remount(mnt, `${usedKib(mnt) + 768}k`);
      args = ['--store', `sqlite:${db}`, '--migrations', path.join(base, 'migrations')];
    });
    afterAll(() => {
      spawnSync('umount', [mnt]);
      fs.rmSync(base, { recursive: true, force: true });
    });

    it(
      'exit 3 naming the database file, the database intact; with room made it finishes exact',
      { timeout: 120_000 },
      async () => {
        // a real process: what a user runs, and nothing of it stays open on the file system
        const first = await runCli(base, [...args, 'backfill', 'split', '--batch-size', '200']);
        expect(first.code, first.out).toBe(3);
        expect(first.out).toContain(`the disk holding ${db} is full`);
        expect(first.out).toMatch(/free space on that disk, then run the same command again/i);

        const check = sqliteAt(db);
        expect(check.database.pragma('integrity_check', { simple: true })).toBe('ok');
        const migrated = check.database
          .prepare(`SELECT k FROM users WHERE json_extract(doc, '$._sv') = 2 ORDER BY k`)
          .pluck()
          .all() as string[];
        const journaled = check.database
          .prepare(`SELECT k FROM "${journalCollectionName('20261120-split')}" ORDER BY k`)
          .pluck()
          .all() as string[];
        await check.close();
        expect(migrated.length).toBeGreaterThan(0);
        expect(migrated.length).toBeLessThan(N);
        // journal and data go in one transaction: no half batch
        expect(journaled).toEqual(migrated);

        remount(mnt, '64m');
        const rest = await runCli(base, [...args, 'backfill', 'split', '--batch-size', '200']);
        expect(rest.code, rest.out).toBe(0);
        const after = sqliteAt(db);
        const rows = after.database
          .prepare(
            `SELECT json_extract(doc, '$._sv') AS sv, json_extract(doc, '$.n') AS n FROM users`,
          )
          .all() as { sv: number; n: number }[];
        expect(rows).toHaveLength(N);
        expect(rows.filter((r) => r.sv !== 2 || r.n !== 1)).toEqual([]);
        expect(
          after.database
            .prepare(`SELECT count(*) FROM "${journalCollectionName('20261120-split')}"`)
            .pluck()
            .get(),
        ).toBe(N);
        await after.close();
      },
    );
  },
);
