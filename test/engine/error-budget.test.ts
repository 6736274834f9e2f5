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
import {
  budgetedLimits,
  budgetOf,
  DEFAULT_ERROR_BUDGET_THRESHOLD,
  errorBudgetThreshold,
  isErrorBudget,
} from '../../src/engine/error-budget.js';
import { parseGuards, parseMaxErrors } from '../../src/engine/runner/guards.js';
import {
  measure,
  measureNow,
  ThresholdWatch,
  type Threshold,
} from '../../src/engine/runner/thresholds.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Migration } from '../../src/migration/migration.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import type { Store } from '../../src/store/contract.js';
import { onSqliteAndRedis } from '../support/sqlite-and-redis.js';
import { runCli } from '../cli/run-cli.js';
import { allDocs, contextFor, seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';

/** up() throws for the documents `fails(n)` picks */
function failing(fails: (n: number) => boolean, target?: string, id?: string): Migration {
  return compileMigration({
    id: id ?? (target === undefined ? 'm-fail' : 'm-fail-copy'),
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

  it("is a threshold: the thresholds' own error budget sets its levels, or only alerts", async () => {
    // 5% of 1000 fail: over the default budget (10, 1%)
    const run = async (name: string, thresholds: Threshold[]) => {
      const store = sqliteAt(path.join(dir, `${name}.sqlite`));
      await seedUsers(store, 1000);
      const ctx = contextFor(store);
      const r = await backfill(
        ctx,
        failing((n) => n % 20 === 0),
        { ...RUN, thresholds },
      );
      const audit = (await ctx.audit.entries()).filter((e) => e.migration === 'm-fail');
      await store.close();
      return { r, audit };
    };
    // wider levels: more than 100 and 1%
    const wide = await run('wide', [errorBudgetThreshold({ deadLetters: 100, percent: 1 })]);
    expect(wide.r.outcome).toBe('backfilled');
    expect(wide.r.progress.deadLetters).toBe(50);

    // the default levels, action alert: the run goes on; the firing is audited once
    const alerting = await run('alerting', [
      { ...DEFAULT_ERROR_BUDGET_THRESHOLD, action: 'alert' },
    ]);
    expect(alerting.r.outcome).toBe('backfilled');
    const fired = alerting.audit.filter((e) => e.command === 'threshold');
    expect(fired.map((e) => [e.params!.metric, e.params!.above, e.outcome])).toEqual([
      ['deadLetters', 10, 'alerted'],
    ]);
    expect(fired[0]!.reason).toMatch(
      /deadLetters 1\d and deadLetterRate .*, above the threshold of 10 and 1%: alert/,
    );

    // tighter levels trip it as the guard error-budget, at its levels
    const tight = await run('tight', [errorBudgetThreshold({ deadLetters: 2, percent: 0.5 })]);
    expect(tight.r.outcome).toBe('guard-tripped');
    expect(tight.r.trip).toMatchObject({ guard: 'error-budget', limit: 2 });
    expect(tight.r.message).toMatch(/over the error budget of more than 2 and more than 0.5%/);
    const trips = tight.audit.filter((e) => e.command === 'guard.trip');
    expect(trips.map((e) => e.params!.guard)).toEqual(['error-budget']);
  });
});

describe('error budget: as a threshold', () => {
  it('--max-errors and the caller set, replace or remove the threshold', () => {
    const other = { metric: 'errorRate', above: 0.05, action: 'throttle' } as const;
    const budgets = (l: { thresholds: Threshold[] }) => l.thresholds.filter(isErrorBudget);
    // none given: the default
    expect(budgets(budgetedLimits(undefined, [other], undefined))).toEqual([
      DEFAULT_ERROR_BUDGET_THRESHOLD,
    ]);
    // --max-errors 20,2% (guards.budget) sets its levels, and leaves the guards
    const set = budgetedLimits(parseMaxErrors('20,2%'), [other], undefined);
    expect(set.guards).toBeUndefined();
    expect(budgets(set)).toEqual([errorBudgetThreshold({ deadLetters: 20, percent: 2 })]);
    expect(budgetOf(budgets(set)[0]!)).toEqual({ deadLetters: 20, percent: 2 });
    // a config's own entry is kept; its action too when --max-errors sets the levels
    const own = { ...DEFAULT_ERROR_BUDGET_THRESHOLD, above: 5, action: 'alert' as const };
    expect(budgets(budgetedLimits(undefined, [own], undefined))).toEqual([own]);
    expect(budgets(budgetedLimits(parseMaxErrors('20,2%'), [own], undefined))).toEqual([
      errorBudgetThreshold({ deadLetters: 20, percent: 2 }, 'alert'),
    ]);
    // a limit on failures of the caller replaces it; off removes it; other guards stay
    const rate = budgetedLimits(parseGuards('error-rate<1%,p99<500ms'), [own, other], undefined);
    expect(rate.thresholds).toEqual([other]);
    expect(rate.guards).toEqual({ errorRatePercent: 1, p99WriteMs: 500 });
    expect(budgetedLimits(undefined, [own, other], false).thresholds).toEqual([other]);
    const p99 = budgetedLimits(parseGuards('p99<500ms'), [], undefined);
    expect(budgets(p99)).toEqual([DEFAULT_ERROR_BUDGET_THRESHOLD]);
  });

  it('fires only when both its levels are exceeded, the rate judged from the first document', () => {
    const watch = new ThresholdWatch([DEFAULT_ERROR_BUDGET_THRESHOLD]);
    const at = (scanned: number, failed: number) => {
      const x = { scanned, errors: failed, conflicts: 0, deadLetters: failed };
      return watch.check(
        measure({ ...x, calls: 0, failedCalls: 0, writeLatencies: [], batchLatencies: [] }),
        measureNow(x),
      );
    };
    expect(at(50, 10)).toEqual([]); // not more than 10
    expect(at(5000, 11)).toEqual([]); // 0.22%: not more than 1%
    const [f, ...more] = at(50, 11); // 50 scanned: fewer than rates alone are judged from
    expect(more).toEqual([]);
    expect(f).toMatchObject({ metric: 'deadLetters', value: 11, guard: 'error-budget' });
    expect(f!.and).toEqual({ metric: 'deadLetterRate', value: 0.22, above: 0.01 });
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

  describe('under seeded chaos (store calls failing and retried), a budget in the config', () => {
    // a high rate: the adaptive back-off scales it down after failures, instead of pausing
    const CHAOS = [
      '--chaos',
      'error=20%',
      '--chaos-seed',
      '7',
      '--batch-size',
      '10',
      '--rate',
      '100000',
    ];
    const budget = (above: number) => ({
      metric: 'deadLetters',
      above,
      and: { metric: 'deadLetterRate', above: 0.01 },
      action: 'pause',
      guard: 'error-budget',
    });
    const withBudget = (above: number) =>
      fs.writeFileSync(
        path.join(cwd, 'switchyard.config.json'),
        JSON.stringify({ thresholds: [budget(above)] }),
      );

    it('fires once more than its count failed: at 3 of 8 failing documents', async () => {
      await project(400, 50); // 8 of 400 fail: 2%
      withBudget(3);
      const r = await cli(['backfill', 'flag', ...CHAOS]);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/chaos injected: \d+ calls, [1-9]\d* errors/);
      expect(r.stdout + r.stderr).toMatch(/over the error budget of more than 3 and more than 1%/);
      const { entries } = JSON.parse((await cli(['audit', '--json'])).stdout) as {
        entries: { command: string; params?: Record<string, unknown> }[];
      };
      const trips = entries.filter((e) => e.command === 'guard.trip');
      expect(trips.map((e) => [e.params!.guard, e.params!.limit])).toEqual([['error-budget', 3]]);
      expect(trips[0]!.params!.value as number).toBeGreaterThan(3);
      expect(trips[0]!.params!.value as number).toBeLessThanOrEqual(8);
    });

    it('does not fire at its count: 8 failing documents, a budget of more than 8', async () => {
      await project(400, 50);
      withBudget(8);
      const r = await cli(['backfill', 'flag', ...CHAOS]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/chaos injected: \d+ calls, [1-9]\d* errors/);
      expect(r.stdout + r.stderr).toMatch(/8 dead letters/);
      const { entries } = JSON.parse((await cli(['audit', '--json'])).stdout) as {
        entries: { command: string }[];
      };
      expect(entries.filter((e) => e.command === 'guard.trip')).toEqual([]);
    });
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
