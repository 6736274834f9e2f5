/**
 * Reviewed plans through the CLI on a real SQLite file: `plan --out` writes the file a reviewer
 * signs off; `backfill --plan` refuses (exit 2, nothing written) a file that is not a plan, a
 * plan for another migration, a migration file changed since, data whose schema changed since —
 * each naming what — and runs when nothing changed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allDocs, seedUsers, sqliteAt, tempDir } from '../engine/backfill-fixtures.js';
import { runCli } from './run-cli.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-reviewed-plan-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { cwd: dir, env: { SWITCHYARD_ACTOR: 'alice' } });
const MIGRATION = `import { defineMigration, splitField } from 'switchyard';\nexport default defineMigration({ collection: 'users', operations: [splitField('name', ['first', 'last'], ' ')] });\n`;

async function migratedCount(): Promise<number> {
  const store = sqliteAt(path.join(dir, 'data.db'));
  try {
    return [...(await allDocs(store)).values()].filter((d) => d._sv === 2).length;
  } finally {
    await store.close();
  }
}

describe('plan --out and backfill --plan', () => {
  it('writes the reviewed plan, refuses what changed since (naming it), runs what did not', async () => {
    fs.writeFileSync(
      path.join(dir, 'switchyard.config.json'),
      JSON.stringify({ store: 'sqlite:./data.db' }),
    );
    fs.mkdirSync(path.join(dir, 'migrations'));
    const migrationFile = path.join(dir, 'migrations', '20261120-split.mjs');
    fs.writeFileSync(migrationFile, MIGRATION);
    const store = sqliteAt(path.join(dir, 'data.db'));
    await seedUsers(store, 200);

    const planned = await cli([
      'plan',
      'split',
      '--sample',
      '50',
      '--seed',
      '7',
      '--out',
      'plan.json',
    ]);
    expect(planned.code).toBe(0);
    const plan = JSON.parse(fs.readFileSync(path.join(dir, 'plan.json'), 'utf8'));
    expect(plan).toMatchObject({
      format: 'switchyard.plan',
      version: 1,
      createdBy: 'alice',
      migration: { id: '20261120-split', collection: 'users', from: 1, to: 2 },
      sample: { size: 50, seed: 7 },
      schema: { sampled: 50 },
      compatibility: { mode: 'BACKWARD' },
      estimates: { documents: 200, toChange: 200, toFail: 0 },
      report: { sampled: 50, changed: 50 },
    });
    expect(plan.migration.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.schema.fields.map((f: { path: string }) => f.path)).toEqual(
      expect.arrayContaining(['name', 'email', 'n']),
    );
    expect((plan.report.documents as { diff?: unknown[] }[])[0]!.diff!.length).toBeGreaterThan(0);

    const refused = async (file: string, message: RegExp) => {
      const r = await cli(['backfill', 'split', '--plan', file]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(await migratedCount()).toBe(0);
    };
    // not a plan file
    fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ ...plan, version: 9 }));
    await refused('bad.json', /bad\.json.*version|version.*bad\.json/s);
    // a plan for another migration
    fs.writeFileSync(
      path.join(dir, 'other.json'),
      JSON.stringify({ ...plan, migration: { ...plan.migration, id: '20261119-other' } }),
    );
    await refused('other.json', /the plan is for migration 20261119-other, not 20261120-split/);
    // the migration file changed since
    fs.writeFileSync(migrationFile, `${MIGRATION}// reviewed? no\n`);
    await refused('plan.json', /the migration file changed since the plan was made/);
    fs.writeFileSync(migrationFile, MIGRATION);
    // the data's schema changed since: a new field, and a field of another type
    const c = store.collection('users');
    const page = await c.scan({ cursor: null, limit: 1000 });
    await c.write(
      page.items.map((s) => ({
        type: 'put' as const,
        key: s.key,
        doc: { ...s.doc, phone: '555', n: String(s.doc.n) },
      })),
    );
    await refused('plan.json', /field 'n' was int, now string; field 'phone' is new \(string\)/);
    // back as it was: the reviewed plan runs
    await seedUsers(store, 200);
    await store.close();
    const ran = await cli(['backfill', 'split', '--plan', 'plan.json']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(await migratedCount()).toBe(200);
  }, 240_000);
});
