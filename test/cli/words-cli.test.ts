/**
 * What the CLI says, tried as a user would: verify of a migration that never ran, verify -q,
 * status with rate/ETA and no stale "last verify", throttle in words, resume of what is not
 * paused, export into a missing folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/state/catalog.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { runCli } from './run-cli.js';

const ID = '20261120-rename-note';
let dir: string;
let db: string;

const cli = (...args: string[]) =>
  runCli(['--store', `sqlite:${db}`, '--migrations', path.join(dir, 'migrations'), ...args], {
    cwd: dir,
    env: { SWITCHYARD_ACTOR: 'tester' },
  });

/** the catalog, opened for a moment (the CLI opens and closes the file for each command) */
async function withCatalog<T>(fn: (c: Catalog, s: SqliteStore) => Promise<T>): Promise<T> {
  const store = new SqliteStore(db, `sqlite:${db}`);
  try {
    return await fn(new Catalog(store), store);
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-words-'));
  db = path.join(dir, 'data.db');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(
    path.join(dir, 'migrations', `${ID}.mjs`),
    `import { defineMigration, renameField } from 'switchyard';\nexport default defineMigration({ collection: 'users', operations: [renameField('note', 'remark')] });\n`,
  );
  const lines = Array.from({ length: 50 }, (_, i) =>
    JSON.stringify({ _id: `u${i}`, note: `n${i}` }),
  );
  fs.writeFileSync(path.join(dir, 'users.ndjson'), lines.join('\n'));
  expect((await cli('import', 'users', path.join(dir, 'users.ndjson'))).code).toBe(0);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the words of the CLI', () => {
  it('verify of a migration that never ran says "not started", exit 2', async () => {
    const r = await cli('verify', 'rename');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      new RegExp(
        `migration ${ID} has not started: there is nothing to verify yet. Run 'switchyard backfill ${ID}' first`,
      ),
    );
    expect(r.stderr).not.toMatch(/DRIFT/);
  });

  it('resume of a migration that is not paused is refused, exit 2', async () => {
    const never = await cli('resume', 'rename');
    expect(never.code).toBe(2);
    expect(never.stderr).toMatch(/has not started: there is nothing to resume/);
  });

  it('verify -q prints nothing on success and still reports drift', async () => {
    expect((await cli('-q', 'backfill', 'rename')).code).toBe(0);
    expect(await cli('-q', 'verify', 'rename')).toEqual({ code: 0, stdout: '', stderr: '' });
    const notPaused = await cli('resume', 'rename', '--reason', 'try');
    expect(notPaused.code).toBe(2);
    expect(notPaused.stderr).toMatch(
      new RegExp(`migration ${ID} is verified, not paused: there is nothing to resume`),
    );
    const status = await cli('status');
    expect(status.stdout).toMatch(/verified, last verify ok/);
    await withCatalog(async (_c, store) => {
      store.database
        .prepare(`UPDATE users SET doc = json_set(doc, '$.remark', 'changed') WHERE k = 'u7'`)
        .run();
    });
    const drift = await cli('-q', 'verify', 'rename');
    expect(drift.code).toBe(1);
    expect(drift.stdout).toMatch(/DRIFT FOUND/);
    expect(drift.stdout).toMatch(/u7: differs/);
  });

  it('status shows rate and ETA of a running backfill, and no stale last verify', async () => {
    const now = new Date().toISOString();
    const progress = { done: 1200, total: 5000, rate: 2000, etaSeconds: 2, updatedAt: now };
    await withCatalog((c) => c.setStatus(ID, 'backfilling', { progress }));
    const running = await cli('status');
    expect(running.stdout).toMatch(/backfilling\s+1,200\/5,000 \(24\.0%\), 2,000 docs\/s, ETA 2s/);
    // the last verify (drift, from before this run) is not shown next to the running backfill
    expect(running.stdout).not.toMatch(/last verify/);
    const json = JSON.parse((await cli('status', '--json')).stdout);
    expect(json.migrations[0]).toMatchObject({ lastVerifyCurrent: false });

    const old = new Date(Date.now() - 5 * 60_000).toISOString();
    await withCatalog((c) =>
      c.setStatus(ID, 'backfilling', { progress: { ...progress, updatedAt: old } }),
    );
    const stalled = await cli('status');
    expect(stalled.stdout).toMatch(
      /1,200\/5,000 \(24\.0%\), no progress for 5m00s \(is a worker running\?\)/,
    );
    expect(stalled.stdout).not.toMatch(/docs\/s/);
  });

  it('throttle prints words, not JSON', async () => {
    const r = await cli('throttle', 'rename', '--rate', '1500', '--batch-size', '200');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `${ID}: rate 1,500 docs/s per worker process, batch size 200; every running worker picks it up before its next batch\n`,
    );
    await withCatalog((c) => c.setStatus(ID, 'rolled-back'));
    const later = await cli('throttle', 'rename', '--rate', '10');
    expect(later.stdout).toMatch(
      /rate 10 docs\/s per worker process; the migration is rolled-back: kept for its next backfill run/,
    );
    expect((await cli('status')).stdout).not.toMatch(/last verify/);
  });

  it('export --out into a missing folder: exit 2, clear, nothing written', async () => {
    const r = await cli('export', 'users', '--out', 'no/such/folder/users.ndjson');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /field '--out': the folder .*no\/such\/folder does not exist: create it first \(nothing was exported\)/,
    );
    expect(fs.existsSync(path.join(dir, 'no'))).toBe(false);
    const intoFolder = await cli('export', 'users', '--out', 'migrations');
    expect(intoFolder.code).toBe(2);
    expect(intoFolder.stderr).toMatch(/migrations is a folder: give a file name/);
  });
});
