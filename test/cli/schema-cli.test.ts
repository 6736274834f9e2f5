/**
 * The change-control commands through the CLI, on a real SQLite file: `schema` and
 * `schema infer`, `check` (exit 1 on a breaking change, a consumer named, nothing written),
 * `approve` with the config's rules, backfill refused until approved, and `manifest`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-schema-cli-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[], actor = 'alice') =>
  runCli(args, { cwd: dir, env: { SWITCHYARD_ACTOR: actor } });

function config(extra: string): void {
  fs.writeFileSync(
    path.join(dir, 'switchyard.config.ts'),
    `export default { store: 'sqlite:./app.db', migrationsDir: './migrations', ${extra} };\n`,
  );
  fs.mkdirSync(path.join(dir, 'migrations'), { recursive: true });
}

function migrationFile(name: string, body: string): string {
  const file = path.join(dir, 'migrations', `${name}.ts`);
  fs.writeFileSync(
    file,
    `import { defineMigration, renameField, addField, removeField, coerceType } from 'switchyard';\nexport default defineMigration({\n  collection: 'users',\n${body}\n});\n`,
  );
  return file;
}

async function seed(n = 50): Promise<void> {
  const file = path.join(dir, 'users.ndjson');
  fs.writeFileSync(
    file,
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({
        _id: `u${String(i).padStart(3, '0')}`,
        name: `Ada ${i}`,
        email: `a${i}@x.org`,
        age: i % 5 === 0 ? String(i) : i,
        ...(i % 2 === 0 ? { nick: `n${i}` } : {}),
        password: `secret-${i}`,
      }),
    ).join('\n'),
  );
  expect((await cli(['import', 'users', file])).code).toBe(0);
}

const digest = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('schema', () => {
  it('infer prints every path with its types and presence, no secret examples; --save records it', async () => {
    config('');
    await seed();
    const r = await cli(['schema', 'infer', 'users', '--json']);
    expect(r.code).toBe(0);
    const [s] = JSON.parse(r.stdout).schemas;
    const by = Object.fromEntries(s.paths.map((p: { path: string }) => [p.path, p]));
    expect(by.age).toMatchObject({ types: ['int', 'string'], required: true });
    expect(by.nick).toMatchObject({ presence: 0.5, required: false });
    expect(by.password.examples).toBeUndefined();
    expect(r.stdout).not.toMatch(/secret-/);
    // nothing recorded yet
    const none = await cli(['schema', 'users']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /the schema registry has nothing for users.*schema infer users --save/,
    );
    expect((await cli(['schema', 'infer', 'users', '--save'])).code).toBe(0);
    const shown = await cli(['schema', 'users', '1']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/users v1: inferred from 50 documents \(recorded .* by alice\)/);
    expect(shown.stdout).toMatch(/age\s+int 40 \| string 10\s+100%/);
    const js = JSON.parse((await cli(['schema', 'users', '--json-schema'])).stdout);
    expect(js).toMatchObject({ bsonType: 'object', additionalProperties: false });
    expect(js.properties.age.bsonType).toEqual(['int', 'string']);
    expect((await cli(['schema', 'users', 'two'])).code).toBe(2);
    expect((await cli(['schema', 'users', '7'])).stderr).toMatch(/no v7 of users \(it has v1\)/);
    const audit = JSON.parse((await cli(['audit', '--json'])).stdout).entries;
    expect(audit.map((e: { command: string }) => e.command)).toEqual(['schema.infer']);
  });

  it('a backfill records the schemas of its versions when it starts', async () => {
    config('');
    await seed();
    migrationFile('20260101-tier', "  operations: [addField('tier', 'free')],");
    expect((await cli(['backfill', 'tier', '-q'])).code).toBe(0);
    const v1 = JSON.parse((await cli(['schema', 'users', '1', '--json'])).stdout);
    expect(v1.recorded.inferred).toMatchObject({ by: 'alice', migration: '20260101-tier' });
    const v2 = JSON.parse((await cli(['schema', 'users', '2', '--json'])).stdout);
    expect(v2.predicted.paths.find((p: { path: string }) => p.path === 'tier')).toMatchObject({
      types: ['string'],
      required: true,
    });
  });
});

describe('check', () => {
  it('exit 1 on a breaking change, naming the consumer; exit 0 when compatible; writes nothing', async () => {
    config(
      `collections: { users: { compatibility: 'FULL', consumers: { analytics: ['email'] } } }`,
    );
    await seed();
    migrationFile('20260101-tier', "  operations: [addField('tier', 'free')],");
    const db = path.join(dir, 'app.db');
    const before = digest(db);
    const ok = await cli(['check']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /20260101-tier: users v1 -> v2 is full; mode FULL \(from the collection\): pass/,
    );
    migrationFile(
      '20260102-mail',
      "  from: 2, to: 3,\n  operations: [renameField('email', 'mail')],",
    );
    const bad = await cli(['check']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/20260102-mail: users v2 -> v3 is sideways; mode FULL .*: FAIL/);
    expect(bad.stdout).toMatch(/v2 schema from the migration before it \(predicted\)/);
    expect(bad.stdout).toMatch(
      /error\s+renames 'email' to 'mail', which consumer 'analytics' reads/,
    );
    expect(bad.stdout).toMatch(/nothing was written/);
    const json = JSON.parse((await cli(['check', 'mail', '--json'])).stdout);
    expect(json.migrations.map((m: { migration: string }) => m.migration)).toEqual([
      '20260102-mail',
    ]);
    expect(digest(db)).toBe(before);
    expect(fs.existsSync(`${db}-wal`) ? fs.statSync(`${db}-wal`).size : 0).toBe(0);
  });

  it('offline (and with no database file) it opens no store and creates none', async () => {
    config('');
    migrationFile('20260101-drop', "  operations: [removeField('email')],");
    const schemas = path.join(dir, 'schemas');
    fs.mkdirSync(schemas);
    fs.writeFileSync(
      path.join(schemas, 'users.v1.schema.json'),
      JSON.stringify({
        type: 'object',
        required: ['email'],
        properties: { email: { type: 'string' } },
      }),
    );
    const r = await cli(['check', '--schemas', 'schemas']);
    expect(r.stdout).toMatch(/offline: no store opened/);
    expect(r.stdout).toMatch(/v1 schema from the --schemas file/);
    expect(r.code).toBe(0); // BACKWARD: new readers do not miss a removed field
    expect(fs.existsSync(path.join(dir, 'app.db'))).toBe(false);
    fs.writeFileSync(
      path.join(schemas, 'users.v1.schema.json'),
      '{"properties": {"email": {"bsonType": "text"}}}',
    );
    const bad = await cli(['check', '--offline', '--schemas', 'schemas']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /users\.v1\.schema\.json, field '\/properties\/email\/bsonType': at \/properties\/email\/bsonType: unknown bsonType "text"/,
    );
  });
});

describe('approvals', () => {
  it('the author cannot approve where the config forbids it: exit 2, nothing recorded', async () => {
    config(`approvals: { required: 2, forbidAuthor: true }`);
    await seed(10);
    migrationFile('20260101-tier', "  author: 'alice',\n  operations: [addField('tier', 'free')],");
    const auditBefore = (await cli(['audit', '--json'])).stdout;
    const own = await cli(['approve', 'tier'], 'alice');
    expect(own.code).toBe(2);
    expect(own.stderr).toMatch(
      /alice wrote 20260101-tier and the config forbids authors approving their own migrations/,
    );
    expect((await cli(['audit', '--json'])).stdout).toBe(auditBefore);
  });

  it('a backfill waits for N approvals by distinct actors of the file as it is now', async () => {
    config(`approvals: { required: 2, forbidAuthor: true, for: ['backfill'] }`);
    await seed(10);
    const file = migrationFile(
      '20260101-tier',
      "  author: 'alice',\n  operations: [addField('tier', 'free')],",
    );
    const db = path.join(dir, 'app.db');
    const refused = await cli(['backfill', 'tier'], 'carol');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /backfill of 20260101-tier needs 2 approvals by distinct actors .* it has none/,
    );
    expect((await cli(['status', '--json'])).stdout).not.toMatch(/backfilling/);
    const a = await cli(['approve', 'tier', '--reason', 'reviewed'], 'bob');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(
      /approved by bob .*\n\s+approvals of this file: 1 of 2 required \(bob\)/,
    );
    expect((await cli(['approve', 'tier'], 'bob')).code).toBe(0); // the same actor twice counts once
    expect((await cli(['backfill', 'tier'], 'carol')).stderr).toMatch(/it has 1 \(bob\)/);
    // an edit after an approval: the approvals of the old file do not count
    expect((await cli(['approve', 'tier'], 'dave')).code).toBe(0);
    fs.appendFileSync(file, '// edited\n');
    const stale = await cli(['backfill', 'tier'], 'carol');
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(
      /it has none, and 3 approval\(s\) of an earlier version of the file, which do not count/,
    );
    expect((await cli(['approve', 'tier'], 'bob')).code).toBe(0);
    expect((await cli(['approve', 'tier'], 'dave')).code).toBe(0);
    const run = await cli(['backfill', 'tier', '-q'], 'carol');
    expect(run.code).toBe(0);
    expect(fs.existsSync(db)).toBe(true);
    const manifest = JSON.parse((await cli(['manifest', '--json'])).stdout).migrations[0];
    expect(manifest).toMatchObject({
      id: '20260101-tier',
      author: 'alice',
      status: 'backfilled',
      approvals: { required: 2, approvers: ['bob', 'dave'] },
      targets: [{ collection: 'users', store: 'sqlite:./app.db' }],
      compatibility: { judged: true, class: 'full', mode: 'BACKWARD', ok: true },
    });
  });
});

describe('approvals before a cut-over', () => {
  it('stage live, cutover and advance wait for approvals; the stages before do not', async () => {
    config(`approvals: { required: 1, for: ['cutover'] }`);
    fs.writeFileSync(
      path.join(dir, 'migrations', '20260101-users-v2.ts'),
      `import { defineMigration, renameField } from 'switchyard';\nexport default defineMigration({ collection: 'users', target: { collection: 'users_v2' }, operations: [renameField('name', 'fullName')] });\n`,
    );
    expect((await cli(['stage', 'users-v2', 'dual-write'])).code).toBe(0);
    expect((await cli(['stage', 'users-v2', 'shadow'])).code).toBe(0);
    for (const args of [
      ['stage', 'users-v2', 'live', '--percent', '5'],
      ['cutover', 'users-v2', '--percent', '5'],
      ['advance', 'users-v2', '--steps', '5'],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/cutover of 20260101-users-v2 needs 1 approval by distinct actors/);
    }
    expect((await cli(['status', '--json'])).stdout).toMatch(/"stage": "shadow"/);
    expect((await cli(['approve', 'users-v2'], 'bob')).code).toBe(0);
    const live = await cli(['cutover', 'users-v2', '--percent', '5']);
    expect(live.code).toBe(0);
    expect(live.stdout).toMatch(/shadow -> live 5%/);
  }, 120_000);
});

describe('manifest', () => {
  it('lists every change with rationale, owner, targets and compatibility, writing nothing', async () => {
    config('');
    migrationFile(
      '20260101-mail',
      "  rationale: 'the mail service calls it mail',\n  owner: 'team-identity',\n  target: { collection: 'users_v2', store: 'redis://u:hunter2@127.0.0.1:1/0' },\n  operations: [renameField('email', 'mail')],",
    );
    const r = await cli(['manifest']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/20260101-mail\s+users v1 -> v2 \(side-by-side\), new/);
    expect(r.stdout).toMatch(/rationale\s+the mail service calls it mail/);
    expect(r.stdout).toMatch(/owner\s+team-identity/);
    expect(r.stdout).toMatch(/writes\s+users_v2 in redis:\/\/u:\*\*\*@127\.0\.0\.1:1\/0/);
    expect(r.stdout).toMatch(/compatibility\s+not judged: .*sideways; mode BACKWARD: FAILS/);
    expect(r.stdout).not.toMatch(/hunter2/);
    expect(fs.existsSync(path.join(dir, 'app.db'))).toBe(false);
  });

  it('refuses migration fields of the wrong shape, naming the file and field', async () => {
    config('');
    migrationFile('20260101-x', "  compatibility: 'SIDEWAYS',\n  operations: [removeField('a')],");
    const r = await cli(['manifest']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/20260101-x\.ts, field 'compatibility': must be one of BACKWARD/);
  });
});
