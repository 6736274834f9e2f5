/**
 * Unique fields (issue 13 item 13): `unique: ['email']` in a migration. A transform that
 * lower-cases e-mails makes `User5@Example.COM` and `user5@example.com` one value: `plan` names the
 * collision in its sample, a full verify after the backfill names it over the whole collection
 * (SQLite and a real redis-server) and is not OK (exit 1 from the CLI); without a collision the
 * verify is OK; an ill-formed `unique` entry is exit 2 naming the file and the field. A sampled
 * verify checks its sample (and says so); a side-by-side verify checks the target collection.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { plan } from '../../src/engine/plan.js';
import { verify } from '../../src/engine/verify.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { lowercase, splitField } from '../../src/migration/index.js';
import type { Store } from '../../src/store/contract.js';
import { runCli } from '../cli/run-cli.js';
import { onSqliteAndRedis } from '../support/sqlite-and-redis.js';
import { contextFor, seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';

const N = 200;

const lowercaseEmails = (unique: (string | string[])[] = ['email']) =>
  compileMigration({
    id: 'm-lower',
    collection: 'users',
    unique,
    operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')],
  });

/** N users (User<i>@Example.COM) and one more whose e-mail is u000005's, lower-cased */
async function seedWithTwin(store: Store): Promise<void> {
  await seedUsers(store, N);
  await store.collection('users').write([
    {
      type: 'put',
      key: 'twin',
      doc: { _id: 'twin', name: 'Twin Five', email: 'user5@example.com' },
    },
  ]);
}

onSqliteAndRedis('unique fields', (name, open) => {
  describe(name, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => store.close());

    it('plan names the values its sample would share; verify names them over the collection, not OK', async () => {
      await seedWithTwin(store);
      const m = lowercaseEmails();
      const p = await plan(store, m, { sample: N + 1 });
      expect(p.collisions).toEqual([
        { field: 'email', value: '"user5@example.com"', count: 2, keys: ['twin', 'u000005'] },
      ]);

      const ctx = contextFor(store);
      const r = await backfill(ctx, m, { batchSize: 50 });
      expect(r.outcome).toBe('backfilled');
      const report = await verify(ctx, m);
      expect(report.mismatched).toBe(0);
      expect(report.ok).toBe(false);
      expect(report.unique).toEqual({
        fields: ['email'],
        sources: ['declared'],
        documents: N + 1,
        collisions: 1,
        samples: [
          { field: 'email', value: '"user5@example.com"', count: 2, keys: ['twin', 'u000005'] },
        ],
      });
    });

    it('a sampled verify checks its sample and says it is a sample', async () => {
      await seedWithTwin(store);
      const m = lowercaseEmails();
      const ctx = contextFor(store);
      await backfill(ctx, m, { batchSize: 50 });
      const report = await verify(ctx, m, { sample: N + 1 });
      expect(report.mode).toBe('sample');
      expect(report.ok).toBe(false);
      expect(report.unique).toMatchObject({ sample: true, documents: N + 1, collisions: 1 });
      expect(report.unique!.samples[0]).toMatchObject({
        field: 'email',
        keys: ['twin', 'u000005'],
      });
    });

    it('side by side: verify checks the target collection (full and sampled)', async () => {
      await seedWithTwin(store);
      const m = compileMigration({
        id: 'm-lower-v2',
        collection: 'users',
        target: { collection: 'users_v2' },
        unique: ['email'],
        operations: [lowercase('email')],
      });
      const ctx = contextFor(store);
      await setStage(ctx, m, Stage.dualWrite);
      expect((await backfill(ctx, m, { batchSize: 50, stageSettleMs: 0 })).outcome).toBe(
        'backfilled',
      );
      for (const sample of [undefined, N + 1]) {
        const report = await verify(ctx, m, sample !== undefined ? { sample } : {});
        expect(report.mismatched + report.missing + report.extra).toBe(0);
        expect(report.ok).toBe(false);
        expect(report.unique).toMatchObject({
          fields: ['email'],
          collisions: 1,
          ...(sample !== undefined ? { sample: true } : { documents: N + 1 }),
        });
        expect(report.unique!.samples[0]).toMatchObject({ keys: ['twin', 'u000005'] });
      }
      // the source is not what is checked: without the twin in the target, OK
      await store.collection('users_v2').write([{ type: 'delete', key: 'twin' }]);
      await store.collection('users').write([{ type: 'delete', key: 'twin' }]);
      expect((await verify(ctx, m)).ok).toBe(true);
    });

    it('no collision: verify is OK; a compound constraint is the values together', async () => {
      await seedUsers(store, N);
      const m = lowercaseEmails(['email', ['note', 'email']]);
      const p = await plan(store, m, { sample: 50 });
      expect(p.collisions).toEqual([]);
      const ctx = contextFor(store);
      await backfill(ctx, m, { batchSize: 50 });
      const report = await verify(ctx, m);
      expect(report.ok).toBe(true);
      expect(report.unique).toMatchObject({ fields: ['email', 'note+email'], collisions: 0 });
    });
  });
});

describe('unique fields through the CLI (SQLite)', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('sy-unique-');
    fs.mkdirSync(path.join(dir, 'migrations'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const migrationFile = (unique: string) =>
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261120-lower.ts'),
      `import { defineMigration, lowercase } from 'switchyard';
export default defineMigration({
  collection: 'users',
  unique: ${unique},
  operations: [lowercase('email')],
});
`,
    );

  it('plan and verify exit 1 naming the value and the keys', async () => {
    const file = path.join(dir, 'data.db');
    const store = sqliteAt(file);
    await seedWithTwin(store);
    await store.close();
    migrationFile("['email']");
    const cli = (...args: string[]) => runCli(['--store', `sqlite:${file}`, ...args], { cwd: dir });

    const p = await cli('plan', 'lower', '--sample', '500');
    expect(p.code).toBe(1);
    expect(p.stdout).toMatch(
      /2 documents would share email 'user5@example.com': keys twin, u000005/,
    );
    expect(p.stdout).toMatch(/unique constraints checked: email \(declared\)/);
    expect((await cli('backfill', 'lower')).code).toBe(0);
    const sampled = await cli('verify', 'lower', '--sample', '500');
    expect(sampled.code).toBe(1);
    expect(sampled.stdout).toMatch(
      /UNIQUE FIELDS \(email \[declared\]\): 1 value shared by several of the 201 sampled documents \(a sample: only collisions within it\)/,
    );
    const v = await cli('verify', 'lower', '--full');
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/DRIFT FOUND/);
    expect(v.stdout).toMatch(/2 documents share email 'user5@example.com': keys twin, u000005/);
    const st = await cli('status');
    expect(st.stdout).toMatch(/last verify: drift \(0 documents differ, 1 unique value shared\)/);
  });

  it.each([
    ["['items[].sku']", /field 'unique\[0\]': .*one value per document/],
    ['[42]', /field 'unique\[0\]': .*must be a field path/],
    ["'email'", /field 'unique': must be an array/],
    ["[['a', 'a']]", /field 'unique\[0\]': .*names the same field twice/],
  ])('unique: %s is exit 2 naming the file and the field', async (unique, why) => {
    const file = path.join(dir, 'data.db');
    migrationFile(unique);
    const r = await runCli(['--store', `sqlite:${file}`, 'plan', 'lower'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/20261120-lower\.ts/);
    expect(r.stderr).toMatch(why);
  });
});
