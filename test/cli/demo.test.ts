/**
 * `switchyard demo`: in-process (every number of the summary), as a real process, and the
 * directory rules. The demo asserts its own claims (exit 1 when one fails); these tests check
 * that the numbers it reports are the right ones, independently of its own checks.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { DemoSummary } from '../../src/demo/run-demo.js';
import type { SideBySideDemoSummary } from '../../src/demo/run-side-by-side-demo.js';
import { generateUsers } from '../../src/demo/generate-users.js';
import { canonicalString } from '../../src/core/values.js';
import { runCli } from './run-cli.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(tmpdir(), 'sy-demo-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const DOCS = 2000;
const EDITED = 25;

describe('switchyard demo (in-process)', () => {
  const dir = path.join(tmp, 'demo');

  it(`runs end to end on ${DOCS} documents and reports the right numbers (--json)`, async () => {
    const res = await runCli(['demo', '--docs', String(DOCS), '--dir', dir, '--json'], {
      cwd: tmp,
      env: { SWITCHYARD_ACTOR: 'demo-tester' },
    });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const s = JSON.parse(res.stdout) as DemoSummary;
    expect(s.ok).toBe(true);
    expect(s.failure).toBeUndefined();
    expect(s.docs).toBe(DOCS);
    expect(s.steps.map((x) => x.step.split('.')[0])).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
    ]);

    expect(s.plan).toMatchObject({ sampled: 500, changed: 500, failed: 0, checkFailures: 0 });
    expect(s.plan!.lossy).toHaveLength(1);
    expect(s.plan!.lossy[0]).toContain('email');
    expect(s.backfill).toMatchObject({ outcome: 'backfilled', migrated: DOCS, errors: 0 });

    // verify: clean, then drift naming exactly the edited keys
    expect(s.verifyClean).toEqual({ ok: true, compared: DOCS, matched: DOCS, mismatched: 0 });
    expect(s.edited!.count).toBe(EDITED);
    const edited = [...s.edited!.keys].sort();
    expect(new Set(edited).size).toBe(EDITED);
    expect(s.verifyDrift).toMatchObject({
      ok: false,
      compared: DOCS,
      matched: DOCS - EDITED,
      mismatched: EDITED,
    });
    expect([...s.verifyDrift!.keys].sort()).toEqual(edited);
    const fields = Object.values(s.edited!.paths)
      .flat()
      .map((p) => p.slice(1).replace(/\//g, '.'));
    for (const f of new Set(fields))
      expect(s.verifyDrift!.paths[f]).toBe(fields.filter((x) => x === f).length);

    // rollback: N - edited restored exactly, the edited ones kept as conflicts
    expect(s.rollback).toMatchObject({
      restored: DOCS - EDITED,
      conflicts: EDITED,
      downcast: 0,
      untouched: 0,
    });
    expect([...s.rollback!.conflictKeys].sort()).toEqual(edited);
    expect(s.comparison).toEqual({
      lines: DOCS,
      identical: DOCS - EDITED,
      differing: EDITED,
      differingKeys: edited,
      asExpected: true,
    });
    expect(s.audit).toEqual({ ok: true, entries: 6 });

    // the files
    for (const f of [
      'users.ndjson',
      'demo.db',
      'switchyard.config.ts',
      'export-before.ndjson',
      'export-after.ndjson',
      'verify-drift.json',
      '.switchyard-demo',
    ])
      expect(fs.existsSync(path.join(dir, f)), f).toBe(true);
    expect(fs.readdirSync(path.join(dir, 'migrations'))).toEqual([`${s.migration}.ts`]);
    expect(s.migration).toMatch(/^\d{8}-split-name$/);
    const migration = fs.readFileSync(path.join(dir, 'migrations', `${s.migration}.ts`), 'utf8');
    expect(migration).toContain("splitField('name', ['first', 'last'], ' ')");
    expect(migration).toContain("lowercase('email')");
    expect(migration).toContain("renameField('address.zip', 'address.postalCode')");
    expect(fs.readFileSync(path.join(dir, 'users.ndjson'), 'utf8').split('\n')).toHaveLength(
      DOCS + 1,
    );
  });

  it('leaves files the other commands work on, as the demo suggests', async () => {
    // (uses the directory of the previous test)
    const status = await runCli(['status', '--json'], { cwd: dir });
    expect(status.code).toBe(0);
    const { migrations } = JSON.parse(status.stdout) as {
      migrations: { id: string; status: string; changed: boolean }[];
    };
    expect(migrations).toHaveLength(1);
    expect(migrations[0]).toMatchObject({ status: 'rolled-back', changed: false });

    const store = `sqlite:${path.join(dir, 'demo.db')}`;
    expect((await runCli(['--store', store, 'count', 'users'])).stdout).toBe(`${DOCS}\n`);
    const audit = await runCli(['--store', store, 'audit', '--verify']);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toContain('hash chain verified');
    const entries = await runCli(['--store', store, 'audit', '--json']);
    const log = JSON.parse(entries.stdout) as { entries: { actor: string; command: string }[] };
    expect(new Set(log.entries.map((e) => e.actor))).toEqual(new Set(['demo-tester']));
    expect(log.entries.map((e) => e.command)).toEqual([
      'backfill',
      'backfill',
      'verify',
      'verify',
      'rollback',
      'rollback',
    ]);

    // the suggested next steps: run it again (the conflicts stay as the application left them)
    const again = await runCli(['backfill', 'split-name', '--json'], { cwd: dir });
    expect(again.code).toBe(0);
    const done = JSON.parse(again.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(done).toMatchObject({ outcome: 'backfilled', migrated: DOCS - EDITED, skipped: EDITED });
    expect((await runCli(['verify', 'split-name', '--full'], { cwd: dir })).code).toBe(0);
  });

  it('narrates each step, shows live progress on a terminal, and reuses its own directory', async () => {
    const res = await runCli(['demo', '--docs', '500', '--dir', dir], { cwd: tmp, tty: true });
    expect(res.code).toBe(0);
    const out = res.stdout;
    expect(out).toContain("demo is a previous demo's directory: wiped it and started again.");
    for (let i = 1; i <= 8; i++) expect(out).toContain(`[${i}/8] `);
    expect(out).toContain('Lossy step:');
    expect(out).toMatch(/~ \/email: ".*[A-Z].*" -> ".*"/);
    expect(out).toContain('DRIFT');
    expect(out).toContain('Exactly the 25 edited keys and their paths; nothing else.');
    expect(out).toContain('475 restored exactly, 25 conflicts kept');
    expect(out).toContain('475 of 500 documents are identical byte for byte');
    expect(out).toContain('audit --verify: OK');
    expect(out).toMatch(/STEP +RESULT +TIME/);
    expect(out).toContain('Everything held.');
    expect(out).toContain(`--store sqlite:${path.join('demo', 'demo.db')} audit`);
    // the live line goes to stderr, rewritten in place, and is cleared
    expect(res.stderr).toContain('\r\x1b[Kbackfill [');
    expect(res.stderr.endsWith('\r\x1b[K')).toBe(true);
  });

  it('prints plain progress lines, not a live line, without a terminal; -q prints nothing', async () => {
    const res = await runCli(['demo', '--docs', '50', '--dir', dir], { cwd: tmp });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    expect(res.stdout).not.toContain('\x1b');
    const quiet = await runCli(['demo', '--docs', '50', '--dir', dir, '-q'], { cwd: tmp });
    expect(quiet).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('refuses a non-empty directory it did not make, and changes nothing', async () => {
    const other = path.join(tmp, 'mine');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'notes.txt'), 'keep me');
    const res = await runCli(['demo', '--docs', '10', '--dir', other], { cwd: tmp });
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('not empty and was not made by switchyard demo');
    expect(fs.readdirSync(other)).toEqual(['notes.txt']);

    const store = await runCli(['--store', 'memory:', 'demo', '--docs', '10'], { cwd: tmp });
    expect(store.code).toBe(2);
    expect(store.stderr).toContain(
      'demo does not take --store: the demo always works on its own SQLite file',
    );
    // its help and page say the same, never that every global option applies
    const help = await runCli(['demo', '--help']);
    expect(help.stdout).toContain(
      'Global options --actor, --json and --quiet apply too; --store, --config and --migrations are refused (exit 2)',
    );
    const page = fs.readFileSync(new URL('../../docs/cli/demo.md', import.meta.url), 'utf8');
    expect(page).toContain(
      'Global options `--actor`, `--json` and `--quiet` apply too; `--store`, `--config` and `--migrations` are refused (exit 2)',
    );
    expect(page).not.toMatch(/\(`--store`[^)]*\) apply too/);
  });
});

describe('the demo data', () => {
  it('is deterministic and has the shapes a real users collection has', () => {
    const a = [...generateUsers(3000, 7)];
    const b = [...generateUsers(3000, 7)];
    expect(a.map((d) => canonicalString(d))).toEqual(b.map((d) => canonicalString(d)));
    expect(canonicalString(a[0]!)).not.toBe(canonicalString([...generateUsers(1, 8)][0]!));
    const names = a.map((d) => d.name as string);
    const words = (s: string) => s.split(' ').length;
    expect(names.filter((s) => words(s) === 1).length).toBeGreaterThan(5);
    expect(names.filter((s) => words(s) >= 3).length).toBeGreaterThan(50);
    const emails = a.map((d) => d.email as string);
    expect(emails.filter((e) => e !== e.toLowerCase()).length).toBeGreaterThan(2000);
    expect(emails.some((e) => e === e.toLowerCase())).toBe(true);
    const ids = a.map((d) => String(d._id));
    expect(new Set(ids).size).toBe(3000);
    expect([...ids].sort()).toEqual(ids); // _id order is signup order
    for (const d of a.slice(0, 50)) {
      expect(d.signedUp).toBeInstanceOf(Date);
      expect(Number.isInteger(d.visits)).toBe(true);
      expect(Array.isArray(d.tags)).toBe(true);
      expect(Object.keys(d.address as object)).toEqual(['street', 'city', 'zip']);
      expect((d.address as { zip: string }).zip).toMatch(/^\d{5}$/);
    }
  });
});

describe('node bin/switchyard.js demo', () => {
  it('runs as a real process and exits 0', () => {
    const dir = path.join(tmp, 'bin-demo');
    const res = spawnSync(
      process.execPath,
      [path.join(root, 'bin/switchyard.js'), 'demo', '--docs', '1000', '--dir', dir],
      { cwd: tmp, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } },
    );
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('975 restored exactly, 25 conflicts kept');
    expect(res.stdout).toContain('975 of 1,000 documents are identical byte for byte');
    expect(res.stdout).toContain('Everything held.');
    expect(fs.existsSync(path.join(dir, 'demo.db'))).toBe(true);
  });
});

describe('switchyard demo --side-by-side (a real process)', () => {
  it('moves users to a new collection under a live application: tampering caught, nothing lost', () => {
    const dir = path.join(tmp, 'sbs');
    const res = spawnSync(
      process.execPath,
      [
        path.join(root, 'bin/switchyard.js'),
        'demo',
        '--side-by-side',
        '--docs',
        '3000',
        '--dir',
        dir,
        '--json',
      ],
      { cwd: tmp, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' } },
    );
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const s = JSON.parse(res.stdout) as SideBySideDemoSummary;
    expect(s.ok).toBe(true);
    expect(s.steps).toHaveLength(8);
    expect(s.tampered).toEqual({ count: 90, paths: ['fullName'] });
    expect(s.app!.errors + s.app!.badReads).toBe(0);
    expect(s.app!.writes).toBeGreaterThan(100);
    // what the demo claims, checked from outside: the target has every user, in the new shape
    const ids = JSON.parse(
      spawnSync(
        process.execPath,
        [
          path.join(root, 'bin/switchyard.js'),
          '--store',
          `sqlite:${path.join(dir, 'demo.db')}`,
          'count',
          'users_v2',
          '--json',
        ],
        { cwd: tmp, encoding: 'utf8' },
      ).stdout,
    ) as { count: number };
    expect(ids.count).toBe(3000);
  }, 120_000);
});
