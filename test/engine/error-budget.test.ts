/**
 * The error budget (issue 13 item 4): a backfill whose documents all fail never ends
 * "backfilled". By default a run stops (paused, outcome guard-tripped, exit 1) once more than 10
 * documents and more than 1% of the documents scanned are dead letters; a run in which every
 * document that needed a transform failed ends incomplete whatever the budget. In place and side
 * by side, on SQLite (a real file) and Redis (a real redis-server); the CLI's exit codes and words.
 * Before: 500 documents all failing ended "backfilled", exit 0.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Migration } from '../../src/migration/migration.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import type { Store } from '../../src/store/contract.js';
import { onSqliteAndRedis } from '../support/sqlite-and-redis.js';
import { runCli } from '../cli/run-cli.js';
import { allDocs, contextFor, seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';

/** up() throws for the documents `fails(n)` picks */
function failing(fails: (n: number) => boolean, target?: string): Migration {
  return compileMigration({
    id: target === undefined ? 'm-fail' : 'm-fail-copy',
    collection: 'users',
    up: (d) => {
      if (fails(d.n as number)) throw new Error(`no good: n=${String(d.n)}`);
      d.ok = true;
    },
    ...(target !== undefined ? { target: { collection: target } } : {}),
  });
}

const RUN = { batchSize: 50, partitions: 2, concurrency: 1, stageSettleMs: 0 };

function suite(name: string, open: () => Promise<Store>): void {
  describe(name, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => store.close());

    it('every document failing: the run stops early, paused, never backfilled', async () => {
      await seedUsers(store, 2000);
      const ctx = contextFor(store);
      const r = await backfill(
        ctx,
        failing(() => true),
        RUN,
      );
      expect(r.outcome).toBe('guard-tripped');
      expect(r.trip).toMatchObject({ guard: 'error-budget', limit: 10 });
      expect(r.message).toMatch(/over the error budget of more than 10 and more than 1%/);
      const entry = (await ctx.catalog.get('m-fail'))!;
      expect(entry.status).not.toBe('backfilled');
      expect(entry.status).toBe('paused');
      // it stopped within its first batches, not after trying all 2000
      expect(await new DeadLetters(store, 'm-fail').count()).toBeLessThan(200);
      expect([...(await allDocs(store)).values()].some((d) => d.ok === true)).toBe(false);
    });

    it('side by side: the copy stops the same way', async () => {
      await seedUsers(store, 500);
      const m = failing(() => true, 'users_v2');
      const ctx = contextFor(store);
      await setStage(ctx, m, Stage.dualWrite);
      const r = await backfill(ctx, m, RUN);
      expect(r.outcome).toBe('guard-tripped');
      expect(r.trip?.guard).toBe('error-budget');
    });

    it('a few failures within the budget: backfilled, the dead letters kept', async () => {
      await seedUsers(store, 1500);
      const ctx = contextFor(store);
      const r = await backfill(
        ctx,
        failing((n) => n % 200 === 0),
        RUN,
      );
      expect(r.outcome).toBe('backfilled');
      expect(r.progress.deadLetters).toBe(8);
    });
  });
}

onSqliteAndRedis('error budget', suite);

let dir: string;
beforeAll(() => {
  dir = tempDir('sy-budget-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('error budget: the rules', () => {
  it('a small collection whose documents all fail ends incomplete, whatever the budget', async () => {
    const store = sqliteAt(path.join(dir, 'small.sqlite'));
    await seedUsers(store, 5);
    const ctx = contextFor(store);
    for (const errorBudget of [undefined, false as const]) {
      const r = await backfill(
        ctx,
        failing(() => true),
        {
          ...RUN,
          ...(errorBudget !== undefined ? { errorBudget } : {}),
        },
      );
      expect(r.outcome).toBe('incomplete');
      expect(r.message).toMatch(/every document that needed a transform failed: 0 migrated/);
      expect((await ctx.catalog.get('m-fail'))!.status).toBe('backfilling');
    }
    await store.close();
  });

  it('a limit on failures of the caller replaces the default budget; false turns it off', async () => {
    const store = sqliteAt(path.join(dir, 'limits.sqlite'));
    await seedUsers(store, 1000);
    const ctx = contextFor(store);
    // 5% fail: over the default budget, under the caller's own dead-letters<100
    const m = failing((n) => n % 20 === 0);
    const r = await backfill(ctx, m, { ...RUN, guards: { deadLetters: 100 } });
    expect(r.outcome).toBe('backfilled');
    expect(r.progress.deadLetters).toBe(50);
    await store.close();
  });
});

describe('backfill CLI: the error budget', () => {
  let cwd: string;
  beforeEach(() => {
    cwd = tempDir('sy-budget-cli-');
  });
  afterEach(() => fs.rmSync(cwd, { recursive: true, force: true }));
  const cli = (args: string[]) =>
    runCli(
      [
        '--store',
        `sqlite:${path.join(cwd, 'data.db')}`,
        '--migrations',
        path.join(cwd, 'migrations'),
        ...args,
      ],
      { cwd, env: { SWITCHYARD_ACTOR: 'tester' } },
    );

  async function project(n: number, failsEvery: number): Promise<void> {
    const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ _id: `u${i}`, n: i }));
    fs.writeFileSync(path.join(cwd, 'users.ndjson'), lines.join('\n'));
    expect((await cli(['import', 'users', path.join(cwd, 'users.ndjson')])).code).toBe(0);
    fs.mkdirSync(path.join(cwd, 'migrations'));
    fs.writeFileSync(
      path.join(cwd, 'migrations', '20261201-flag.mjs'),
      `import { defineMigration } from 'switchyard';
export default defineMigration({
  collection: 'users',
  up: (d) => {
    if (d.n % ${failsEvery} === 0) throw new Error('no good: n=' + d.n);
    d.ok = true;
  },
});
`,
    );
  }

  it('every document failing: exit 1 with why; --help says the default', async () => {
    await project(300, 1);
    const r = await cli(['backfill', 'flag', '--batch-size', '50']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/error budget of more than 10 and more than 1%/);
    const help = await cli(['backfill', '--help']);
    expect(help.stdout).toMatch(/--max-errors <n\|p%\|n,p%\|off>[\s\S]*default 10,1%/);
  });

  it('--max-errors off lets 5% fail and exits 0; a bad --max-errors is exit 2, nothing changed', async () => {
    await project(400, 20);
    const bad = await cli(['backfill', 'flag', '--max-errors', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-errors takes a count/);
    const st = JSON.parse((await cli(['status', '--json'])).stdout);
    expect(st.migrations[0].status).toBe('pending');
    const r = await cli(['backfill', 'flag', '--batch-size', '50', '--max-errors', 'off']);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/20 dead letters/);
  });
});
