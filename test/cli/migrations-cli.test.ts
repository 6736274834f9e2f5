/**
 * The migration workflow through the CLI: init, create, status, plan (a dry run that changes no
 * stored byte), and the audit log with its tamper check.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { AuditLog, auditKey } from '../../src/state/audit-log.js';
import { runCli } from './run-cli.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-mcli-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { cwd: dir, env: { SWITCHYARD_ACTOR: 'tester', ...env } });

function seedUsers(n: number): string {
  const file = path.join(dir, 'users.ndjson');
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      _id: `u${String(i).padStart(4, '0')}`,
      name: i % 10 === 0 ? 'Prince' : `Ada${i} Lovelace${i}`,
      email: `A${i}@X.org`,
    }),
  );
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

describe('init and create', () => {
  it('init writes a config and a migrations dir, and refuses to overwrite', async () => {
    const r = await cli(['init']);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'switchyard.config.ts'), 'utf8')).toContain(
      'store: "sqlite:./switchyard.db"',
    );
    expect(fs.statSync(path.join(dir, 'migrations')).isDirectory()).toBe(true);
    const again = await cli(['init']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
  });

  it('create writes a template that loads, continues the version chain, and refuses bad names', async () => {
    await cli(['init']);
    const a = await cli(['create', 'split-name', '--collection', 'users', '--json']);
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ collection: 'users', from: 1, to: 2 });
    const b = await cli(['create', 'add-tier', '--collection', 'users', '--json']);
    expect(JSON.parse(b.stdout)).toMatchObject({ from: 2, to: 3 });
    const st = await cli(['status', '--json']);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout).migrations.map((m: { status: string }) => m.status)).toEqual([
      'pending',
      'pending',
    ]);
    expect((await cli(['create', 'bad name!', '--collection', 'users'])).code).toBe(2);
    expect((await cli(['create', 'nocoll'])).code).toBe(2);
  });
});

describe('plan', () => {
  async function setup(migration: string): Promise<void> {
    await cli(['init']);
    expect((await cli(['import', 'users', seedUsers(200)])).code).toBe(0);
    fs.writeFileSync(path.join(dir, 'migrations', '20261120-split-name.ts'), migration);
  }

  const SPLIT = `import { defineMigration, splitField, lowercase } from 'switchyard';
export default defineMigration({
  collection: 'users',
  operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')],
  verify: { invariants: [(d) => typeof d.last === 'string' || 'last name is missing'] },
});
`;

  it('--json prints the counts and changes no stored byte', async () => {
    await setup(SPLIT);
    const before = await cli(['export', 'users']);
    const r = await cli(['plan', 'split-name', '--sample', '50', '--json', '--seed', '7']);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ sampled: 50, total: 200 });
    expect(report.changed + report.unchanged + report.failed).toBe(50);
    expect(report.checkFailures).toBeGreaterThan(0); // 'Prince' has no last name
    const prince = report.documents.find((d: { checks?: string[] }) => d.checks !== undefined);
    expect(prince.checks).toEqual(['invariant 1: last name is missing']);
    expect(report.reversible).toBe(false);
    expect(report.lossy.map((l: { step: string }) => l.step).join()).toMatch(/lower-case 'email'/);
    expect(r.code).toBe(1); // failing checks make the plan fail
    const after = await cli(['export', 'users']);
    expect(after.stdout).toBe(before.stdout);
    // the plan wrote nothing to the state either
    const store = new SqliteStore(path.join(dir, 'switchyard.db'), 'sqlite:x');
    expect(await store.listCollections({ includeReserved: true })).toEqual(['users']);
    await store.close();
  });

  it('shows diffs and proves the round trip of an exact migration', async () => {
    await setup(`import { defineMigration, renameField } from 'switchyard';
export default defineMigration({ collection: 'users', operations: [renameField('email', 'contact.email')] });
`);
    const r = await cli(['plan', '20261120-split-name', '--sample', '20']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/- \/email: "A\d+@X.org"/);
    expect(r.stdout).toMatch(/\+ \/contact: \{"email":"A\d+@X.org"\}/);
    expect(r.stdout).toMatch(/reversible: yes — round trip checked on 20: 20 exact/);
    expect(r.stdout).toMatch(/nothing was written/);
  });

  it('an invalid migration file is exit 2 naming file and field', async () => {
    await setup(
      `import { defineMigration } from 'switchyard';\nexport default defineMigration({ collection: 'users', from: 2, to: 1, up: (d) => d });\n`,
    );
    const r = await cli(['plan', 'split-name']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/20261120-split-name\.ts.*field 'to'/);
  });

  it('an unknown migration id is exit 2 listing the known ones', async () => {
    await setup(SPLIT);
    const r = await cli(['plan', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no migration 'nope'. Known: 20261120-split-name/);
  });

  it('--show 0 prints the counts only; a side-by-side plan promises no journal', async () => {
    await setup(`import { defineMigration, lowercase } from 'switchyard';
export default defineMigration({ collection: 'users', operations: [lowercase('email')], target: { collection: 'users_v2' } });
`);
    const r = await cli(['plan', 'split-name', '--sample', '10', '--show', '0']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/^ {2}u\d+: /m); // no document shown
    expect(r.stdout).toMatch(/changed 10, unchanged 0/);
    expect(r.stdout).not.toMatch(/journal/);
    expect(r.stdout).toMatch(
      /reversible: no — lossy steps \(no rampdown, .*rollback steps the stage back/,
    );
    expect(r.stdout).toMatch(/lower-case 'email': the original letter case is not kept/);
  });

  it('names a non-deterministic up() and exits 1', async () => {
    await setup(`import { defineMigration } from 'switchyard';
export default defineMigration({ collection: 'users', up: (d) => ({ ...d, token: Math.random() }), down: (d) => { delete d.token; } });
`);
    const r = await cli(['plan', 'split-name', '--sample', '10', '--show', '1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/not deterministic: a second run of up\(\) differs at \/token/);
    expect(r.stdout).toMatch(
      /NOT DETERMINISTIC: up\(\) gave a different result when run again on 10 of 10 documents/,
    );
  });

  it('takes any unambiguous part of an id, and lists the matches of an ambiguous one', async () => {
    await setup(SPLIT);
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261121-split-email.ts'),
      `import { defineMigration, splitField } from 'switchyard';
export default defineMigration({ collection: 'users', from: 2, to: 3, operations: [splitField('email', ['user', 'domain'], '@')] });
`,
    );
    // a part from the middle of the id: neither a prefix nor a suffix
    const middle = await cli(['plan', 'split-na', '--sample', '5', '--json']);
    expect(JSON.parse(middle.stdout).migration).toBe('20261120-split-name');
    const ambiguous = await cli(['plan', 'split']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(
      /'split' is ambiguous: it matches 2 migrations \(20261120-split-name, 20261121-split-email\); give more of the id/,
    );
  });
});

describe('audit', () => {
  it('lists entries, verifies the chain, and fails on an edited entry', async () => {
    await cli(['init']);
    const file = path.join(dir, 'switchyard.db');
    const store = new SqliteStore(file, 'sqlite:x');
    const log = new AuditLog(store);
    for (const command of ['backfill', 'pause', 'resume'])
      await log.append({ actor: 'tester', command, migration: 'm1', outcome: 'ok' });
    const list = await cli(['audit', '--json']);
    expect(JSON.parse(list.stdout).entries.map((e: { command: string }) => e.command)).toEqual([
      'backfill',
      'pause',
      'resume',
    ]);
    const ok = await cli(['audit', '--verify']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/intact: 3 entries/);
    store.database
      .prepare(`UPDATE _sy_audit SET doc = json_set(doc, '$.outcome', 'failed') WHERE k = ?`)
      .run(auditKey(2));
    const bad = await cli(['audit', '--verify']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/BROKEN at entry 2/);
    await store.close();
  });

  it('--migration takes a part of the id, as every command does', async () => {
    await cli(['init']);
    const store = new SqliteStore(path.join(dir, 'switchyard.db'), 'sqlite:x');
    const log = new AuditLog(store);
    for (const migration of ['20261120-split-name', '20261121-split-email', '20261120-split-name'])
      await log.append({ actor: 'tester', command: 'backfill', migration, outcome: 'ok' });
    await store.close();
    const part = await cli(['audit', '--migration', 'split-na', '--json']);
    expect(part.code).toBe(0);
    expect(JSON.parse(part.stdout).entries.map((e: { migration: string }) => e.migration)).toEqual([
      '20261120-split-name',
      '20261120-split-name',
    ]);
    const ambiguous = await cli(['audit', '--migration', 'split']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(
      /'split' is ambiguous.*20261120-split-name, 20261121-split-email/,
    );
    const unknown = await cli(['audit', '--migration', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no migration 'nope'/);
  });
});

describe('a migration file changed after it started', () => {
  it('is refused (exit 2) unless --force; complete needs --yes without a terminal', async () => {
    await cli(['init']);
    expect((await cli(['import', 'users', seedUsers(50)])).code).toBe(0);
    const file = path.join(dir, 'migrations', '20261120-rename.ts');
    fs.writeFileSync(
      file,
      `import { defineMigration, renameField } from 'switchyard';\nexport default defineMigration({ collection: 'users', operations: [renameField('email', 'mail')] });\n`,
    );
    expect((await cli(['backfill', 'rename'])).code).toBe(0);
    fs.appendFileSync(file, '// edited after the backfill\n');
    const refused = await cli(['backfill', 'rename']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/was changed after it started.*--force/);
    expect((await cli(['backfill', 'rename', '--force'])).code).toBe(0);
    expect((await cli(['verify', 'rename'])).code).toBe(0);
    const unconfirmed = await cli(['complete', 'rename']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/last moment|--yes/);
    const st = JSON.parse((await cli(['status', '--json'])).stdout);
    expect(st.migrations[0].status).toBe('verified');
    expect((await cli(['complete', 'rename', '--yes'])).code).toBe(0);
    expect(JSON.parse((await cli(['status', '--json'])).stdout).migrations[0].status).toBe(
      'complete',
    );
  }, 120_000); // nine commands in-process, each loading the migration through jiti from src
});
