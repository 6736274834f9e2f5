/**
 * The canary from the CLI (issue 13 item 15): bad --limit/--filter values exit 2 naming the flag
 * with nothing changed; `status` says "canary: 10 of 50 documents migrated"; `verify` says it
 * checked the canary's documents only; a plain backfill migrates the rest.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** how many documents are at v2 (the rename done) */
async function migrated(): Promise<number> {
  const store = new SqliteStore(db, `sqlite:${db}`);
  try {
    const rows = store.database.prepare('SELECT doc FROM users').all() as { doc: string }[];
    return rows.filter((r) => (JSON.parse(r.doc) as { remark?: string }).remark !== undefined)
      .length;
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-canary-cli-'));
  db = path.join(dir, 'data.db');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(
    path.join(dir, 'migrations', `${ID}.mjs`),
    `import { defineMigration, renameField } from 'switchyard';\nexport default defineMigration({ collection: 'users', operations: [renameField('note', 'remark')] });\n`,
  );
  const lines = Array.from({ length: 50 }, (_, i) =>
    JSON.stringify({
      _id: `u${String(i).padStart(2, '0')}`,
      note: `n${i}`,
      tier: i % 5 === 0 ? 'gold' : 'free',
    }),
  );
  fs.writeFileSync(path.join(dir, 'users.ndjson'), lines.join('\n'));
  expect((await cli('import', 'users', path.join(dir, 'users.ndjson'))).code).toBe(0);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('backfill --limit / --filter from the CLI', () => {
  it('bad values exit 2 naming the flag, and change nothing', async () => {
    for (const [args, why] of [
      [['--limit', 'abc'], /--limit must be a positive integer, got 'abc'/],
      [['--limit', '0'], /--limit must be a positive integer, got '0'/],
      [['--filter', 'tier'], /--filter 'tier': no '=' or '~'/],
      [['--filter', 'a[b=1'], /--filter 'a\[b=1'/],
      [['--limit', '5', '--retry-dead'], /--retry-dead/],
    ] as const) {
      const r = await cli('backfill', ID, ...args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(why);
    }
    expect(await migrated()).toBe(0);
    const s = await cli('status');
    expect(s.stdout).toMatch(/pending/);
  });

  it('a canary: status and verify say so; then the rest', async () => {
    const c = await cli('backfill', ID, '--limit', '10', '--batch-size', '4');
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout + c.stderr).toMatch(/canary of users: 10 of 50 documents migrated/);
    expect(await migrated()).toBe(10);
    const s = await cli('status');
    expect(s.stdout).toMatch(
      /canary, canary: 10 of 50 documents migrated \(the first 10 documents in scan order\)/,
    );
    const v = await cli('verify', ID);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/OK/);
    expect(v.stdout).toMatch(/canary: checked the 10 documents the canary migrated/);
    // a filter canary on top: the gold tier (every fifth document)
    const f = await cli('backfill', ID, '--filter', 'tier=gold');
    expect(f.code, f.stderr).toBe(0);
    expect(await migrated()).toBe(18); // u00..u09 (2 gold among them) + 8 more gold
    const rest = await cli('backfill', ID);
    expect(rest.code, rest.stderr).toBe(0);
    expect(await migrated()).toBe(50);
    const full = await cli('verify', ID);
    expect(full.code).toBe(0);
    expect(full.stdout).not.toMatch(/canary/);
    expect((await cli('status')).stdout).toMatch(/verified/);
  });
});
