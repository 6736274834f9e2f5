/**
 * `switchyard import` into an SQLite file on a real 4 MiB file system (tmpfs) that fills up
 * part-way: exit code 3, and the error says how many documents were imported (they stay) and
 * the line to go on from. With room made (the tmpfs grown), the same import with --from-line
 * finishes it: the collection then equals the file. Needs root to mount; skipped with the reason
 * otherwise.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import { tempDir, userDoc } from '../engine/backfill-fixtures.js';
import { runCli } from './run-cli.js';
import { mountTmpfs, tmpfsUnavailable } from '../support/tmpfs.js';

const N = 20_000;
const cannot = tmpfsUnavailable();

describe.skipIf(cannot !== null)(
  `import onto a full disk${cannot !== null ? ` (skipped: ${cannot})` : ''}`,
  () => {
    let base: string;
    let mnt: string;
    let file: string;
    let store: string;
    beforeAll(() => {
      base = tempDir('sy-disk-full-');
      mnt = path.join(base, 'mnt');
      file = path.join(base, 'users.ndjson');
      store = `sqlite:${path.join(mnt, 'data.db')}`;
      fs.mkdirSync(mnt);
      expect(mountTmpfs(mnt, 'size=4m')).toBeNull();
      const lines = Array.from({ length: N }, (_, i) =>
        JSON.stringify({ ...userDoc(i), note: 'x'.repeat(150) }),
      );
      fs.writeFileSync(file, `${lines.join('\n')}\n`);
    });
    afterAll(() => {
      spawnSync('umount', [mnt]);
      fs.rmSync(base, { recursive: true, force: true });
    });

    it('exit 3 with how many were imported and the line to go on from; --from-line finishes it', async () => {
      const first = await runCli(['--store', store, 'import', 'users', file]);
      expect(first.code).toBe(3);
      const m =
        /the import stopped at line (\d+): writing to 'users' failed: .*(database or disk is full|no space left).* (\d+) of 20000 documents were imported \(up to line (\d+)\) and stay in 'users'; nothing after line \4 was written\. To go on where it stopped, run the same import with --from-line (\d+) /.exec(
          first.stderr,
        );
      expect(m, first.stderr).not.toBeNull();
      const [, stoppedAt, , imported, upTo, resumeLine] = m!;
      expect(Number(imported)).toBeGreaterThan(0);
      expect(Number(imported)).toBeLessThan(N);
      expect(Number(upTo)).toBe(Number(imported)); // one record per line
      expect(resumeLine).toBe(stoppedAt);
      // what the error says is what is there
      const s = await openStore(store);
      expect(await s.collection('users').count()).toBe(Number(imported));
      await s.close();

      // room made: the file system grows; the same import goes on from the line it named
      expect(spawnSync('mount', ['-o', 'remount,size=64m', mnt]).status).toBe(0);
      const rest = await runCli([
        '--store',
        store,
        'import',
        'users',
        file,
        '--from-line',
        resumeLine!,
      ]);
      expect({ code: rest.code, stderr: rest.stderr }).toEqual({ code: 0, stderr: '' });
      expect(rest.stdout).toContain(`imported ${N - Number(imported)} documents into users`);
      const after = await openStore(store);
      const c = after.collection('users');
      expect(await c.count()).toBe(N);
      for (const i of [0, Number(imported) - 1, Number(imported), N - 1])
        expect((await c.get(userDoc(i)._id as string))?.doc).toEqual({
          ...userDoc(i),
          note: 'x'.repeat(150),
        });
      await after.close();
    });
  },
);
