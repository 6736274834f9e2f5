/**
 * Verify and rollback through the real CLI: a lossy migration (removeField) backfilled, verified,
 * tampered with, verified again, then rolled back while the rollback itself is killed with
 * SIGKILL midway (twice) and re-run: the export after equals the export before, byte for byte.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir: string;
let db: string;
beforeEach(() => {
  dir = tempDir('sy-rbproc-');
  db = path.join(dir, 'data.db');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(
    path.join(dir, 'migrations', '20261120-drop-note.ts'),
    `import { defineMigration, removeField } from 'switchyard';\nexport default defineMigration({ collection: 'users', operations: [removeField('note')] });\n`,
  );
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const args = (rest: string[]) => [
  path.join(root, 'bin/switchyard.js'),
  '--store',
  `sqlite:${db}`,
  '--migrations',
  path.join(dir, 'migrations'),
  ...rest,
];
const env = { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' };
function sy(...rest: string[]) {
  const r = spawnSync(process.execPath, args(rest), {
    cwd: dir,
    env,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function start(...rest: string[]): ChildProcess {
  return spawn(process.execPath, args(rest), { cwd: dir, env, stdio: 'ignore' });
}
const exited = (c: ChildProcess) =>
  new Promise<void>((r) =>
    c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()),
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('verify and rollback as processes', () => {
  it('verify exits 0 when clean and 1 naming the tampered keys; rollback killed twice still restores exactly', async () => {
    const seed = sqliteAt(db);
    await seedUsers(seed, 20_000);
    await seed.close();
    const before = sy('export', 'users');
    expect(before.code).toBe(0);

    expect(sy('backfill', 'drop-note', '--batch-size', '1000').code).toBe(0);
    const clean = sy('verify', 'drop-note', '--full');
    expect(clean.code).toBe(0);
    expect(clean.out).toMatch(/OK/);

    const s = sqliteAt(db);
    s.database
      .prepare(
        `UPDATE users SET doc = json_set(doc, '$.email', 'tampered@x') WHERE k IN ('u000123', 'u019000')`,
      )
      .run();
    await s.close();
    const drift = sy('verify', 'drop-note', '--json');
    expect(drift.code).toBe(1);
    const report = JSON.parse(drift.out);
    expect(report.samples.mismatched.map((m: { key: string }) => m.key).sort()).toEqual([
      'u000123',
      'u019000',
    ]);
    expect(report.paths).toEqual({ email: 2 });

    // put the tampered documents back as the migration wrote them, so the export must match exactly
    const fix = sqliteAt(db);
    for (const [k, i] of [
      ['u000123', 123],
      ['u019000', 19000],
    ] as const) {
      fix.database
        .prepare(`UPDATE users SET doc = json_set(doc, '$.email', ?) WHERE k = ?`)
        .run(`User${i}@Example.COM`, k);
    }
    await fix.close();

    const restoredSoFar = () => {
      const s = sqliteAt(db);
      const n = s.database
        .prepare(`SELECT count(*) FROM users WHERE json_extract(doc, '$.note') IS NOT NULL`)
        .pluck()
        .get() as number;
      void s.close();
      return n;
    };
    for (let kill = 0; kill < 2; kill++) {
      const child = start('rollback', 'drop-note', '--rate', '4000', '--batch-size', '200');
      // killed once it is working (a loaded machine may take a while to start node)
      const before = restoredSoFar();
      for (let i = 0; i < 300 && restoredSoFar() === before && child.exitCode === null; i++)
        await sleep(50);
      await sleep(Math.random() * 500);
      expect(child.exitCode).toBeNull(); // still running when killed
      child.kill('SIGKILL');
      await exited(child);
    }
    const killedRuns = restoredSoFar();
    expect(killedRuns).toBeGreaterThan(0); // the killed runs restored some ...
    expect(killedRuns).toBeLessThan(20_000); // ... and were really interrupted
    const done = sy('rollback', 'drop-note', '--reason', 'test', '--json');
    expect(done.code).toBe(0);
    const result = JSON.parse(done.out.trim().split('\n').pop()!);
    expect(result).toMatchObject({ outcome: 'rolled-back', conflicts: 0 });
    // the report is the whole rollback's (its partitions' counts): a document restored by a killed
    // run after its last checkpoint is found restored by the run that redoes the batch (untouched)
    expect(result.restored + result.untouched).toBe(20_000);
    expect(result.untouched).toBeLessThanOrEqual(2 * 200);

    const after = sy('export', 'users');
    expect(after.out).toBe(before.out);
    const status = JSON.parse(sy('status', '--json').out);
    expect(status.migrations[0].status).toBe('rolled-back');
    const audit = sy('audit', '--verify');
    expect(audit.code).toBe(0);
  }, 120_000);
});
