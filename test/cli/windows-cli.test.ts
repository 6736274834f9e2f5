/**
 * Change windows through the CLI, as a real process: with the config's only window closed now, a
 * `switchyard backfill` waits (it says so, writes nothing) and `switchyard status` says it is
 * waiting for a change window and when one opens; SIGTERM stops it cleanly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnCli, tempDir, type CliChild } from '../dashboard/dashboard-fixtures.js';
import { allDocs, seedUsers, sqliteAt } from '../engine/backfill-fixtures.js';
import { runCli } from './run-cli.js';

let dir: string;
let child: CliChild | undefined;

beforeEach(() => {
  dir = tempDir('sy-windows-cli-');
});
afterEach(async () => {
  await child?.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

const hhmm = (m: number) =>
  `${String(Math.floor(m / 60) % 24).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

describe('backfill in change windows, on the CLI', () => {
  it('waits outside the windows, and status says until when', async () => {
    // a daily window that opens in two hours and lasts one: closed now
    const d = new Date();
    const start = (d.getUTCHours() * 60 + d.getUTCMinutes() + 120) % 1440;
    const window = { days: 'daily', start: hhmm(start), end: hhmm((start + 60) % 1440), tz: 'UTC' };
    fs.writeFileSync(
      path.join(dir, 'switchyard.config.json'),
      JSON.stringify({ store: 'sqlite:./data.db', windows: [window] }),
    );
    fs.mkdirSync(path.join(dir, 'migrations'));
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261120-split.mjs'),
      `import { defineMigration, splitField } from 'switchyard';\nexport default defineMigration({ collection: 'users', operations: [splitField('name', ['first', 'last'], ' ')] });\n`,
    );
    const store = sqliteAt(path.join(dir, 'data.db'));
    await seedUsers(store, 200);
    await store.close();

    child = spawnCli(['backfill', 'split', '--json', '--batch-size', '50'], dir);
    const paused = await child.waitForJson('the wait', (v) => v.event === 'paused');
    expect(paused.reason).toMatch(
      /^outside the change windows: waiting until \d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/,
    );
    // the worker publishes its progress to the catalog on its own beat, just after the event:
    // ask status until it shows it (or give up after 15 s)
    const waiting =
      /backfilling.*0\/200 \(0\.0%\), waiting for a change window \(opens \d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z\)/;
    let status = await runCli(['status'], { cwd: dir });
    for (const until = Date.now() + 15_000; !waiting.test(status.stdout) && Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 250));
      status = await runCli(['status'], { cwd: dir });
    }
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(waiting);
    child.child.kill('SIGTERM');
    expect(await child.exited()).toBe(0);
    const check = sqliteAt(path.join(dir, 'data.db'));
    expect([...(await allDocs(check)).values()].filter((x) => x._sv === 2)).toEqual([]);
    await check.close();
  });
});
