/**
 * Contingency thresholds from the config, through the CLI as a real process, under seeded chaos
 * (`--chaos error=20%`: about one store call in five fails and is retried), on SQLite and on a
 * real redis-server: each action fires at its threshold and not before — a threshold at 0.1
 * fires, one at 0.3 does not — with the exit code, the audit entry naming the metric, its value,
 * the threshold and the action, and its effect: the status `paused`, a lower rate, the original
 * data back after `rollback`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Threshold } from '../../src/engine/runner/thresholds.js';
import { AuditLog, type AuditEntry } from '../../src/state/audit-log.js';
import { Catalog } from '../../src/state/catalog.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import {
  allDocs,
  seedUsers,
  tempDir,
  userDoc,
  writeSplitNameMigration,
} from '../engine/backfill-fixtures.js';
import { runCli } from '../support/cli-process.js';
import {
  NO_REDIS_REASON,
  redisOrFailInCi,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';

const N = 2000;
const ID = '20261120-split-name';
// with a rate the adaptive back-off slows the rate down, instead of pausing between batches
const CHAOS = [
  '--rate',
  '5000',
  '--chaos',
  'error=20%',
  '--chaos-seed',
  '7',
  '--batch-size',
  '20',
  '--max-errors',
  'off',
];

interface Run {
  code: number | null;
  out: string;
  entries: AuditEntry[];
  status: string | undefined;
  control: Record<string, unknown> | undefined;
  store: Store;
}

function suite(name: string, url: () => string): void {
  describe(name, { timeout: 150_000 }, () => {
    let dir: string;
    let opened: Store[] = [];
    beforeEach(async () => {
      for (const s of opened) await s.close();
      opened = [];
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });
    afterAll(async () => {
      for (const s of opened) await s.close();
    });

    /** A project with `thresholds` in its config and N users, then `backfill` under chaos. */
    async function backfillWith(thresholds: Threshold[], extra: string[] = []): Promise<Run> {
      dir = tempDir('sy-thresh-');
      const store = await openStore(url(), { baseDir: dir });
      opened.push(store);
      await seedUsers(store, N);
      fs.writeFileSync(
        path.join(dir, 'switchyard.config.json'),
        JSON.stringify({ store: url(), thresholds }),
      );
      writeSplitNameMigration(dir);
      const r = await runCli(dir, ['backfill', ID, ...CHAOS, ...extra]);
      const entries = (await new AuditLog(store).entries()).filter((e) => e.migration === ID);
      const entry = await new Catalog(store).get(ID);
      return {
        code: r.code,
        out: r.out,
        entries,
        status: entry?.status,
        control: entry?.control as Record<string, unknown> | undefined,
        store,
      };
    }
    const firings = (r: Run) => r.entries.filter((e) => e.command === 'threshold');

    it('pause: fires at 0.1 and not at 0.3; exit 1, status paused, resumable', async () => {
      const r = await backfillWith([
        { metric: 'errorRate', above: 0.3, action: 'pause' },
        { metric: 'errorRate', above: 0.1, action: 'pause' },
      ]);
      expect(r.out).toContain('chaos: error=20%');
      expect(r.code).toBe(1);
      const [f, ...more] = firings(r);
      expect(more).toEqual([]);
      expect(f!.params).toMatchObject({
        metric: 'errorRate',
        above: 0.1,
        action: 'pause',
        job: 'backfill',
      });
      expect(f!.params!.value as number).toBeGreaterThan(0.1);
      expect(f!.params!.value as number).toBeLessThanOrEqual(0.3);
      expect(f!.outcome).toBe('paused');
      expect(r.status).toBe('paused');
      expect(r.control).toMatchObject({ paused: true, by: 'threshold' });
      expect(r.out).toMatch(
        /threshold reached: errorRate \d+(\.\d+)?%, above the threshold of 10%: pause/,
      );
      // paused the way `switchyard pause` does: resume and run again, without the threshold
      fs.writeFileSync(path.join(dir, 'switchyard.config.json'), JSON.stringify({ store: url() }));
      expect((await runCli(dir, ['resume', ID])).code).toBe(0);
      const again = await runCli(dir, ['backfill', ID, '--batch-size', '100']);
      expect(again.code).toBe(0);
      expect((await new Catalog(r.store).get(ID))?.status).toBe('backfilled');
    });

    it('throttle: halves the rate for every worker and goes on; exit 0', async () => {
      const r = await backfillWith(
        [
          { metric: 'errorRate', above: 0.1, action: 'throttle' },
          { metric: 'errorRate', above: 0.3, action: 'throttle' },
        ],
        ['--rate', '4000'],
      );
      expect(r.code).toBe(0);
      const [f, ...more] = firings(r);
      expect(more).toEqual([]);
      expect(f!.params).toMatchObject({
        metric: 'errorRate',
        above: 0.1,
        action: 'throttle',
        rate: 2000,
      });
      expect(f!.outcome).toBe('throttled to 2000 docs/s');
      expect(r.entries.find((e) => e.command === 'throttle')?.params).toMatchObject({ rate: 2000 });
      expect(r.control).toMatchObject({ rate: 2000 });
      expect(r.status).toBe('backfilled');
    });

    it('alert: said and audited once; the run goes on; a p99 far above is not reached', async () => {
      const r = await backfillWith([
        { metric: 'errorRate', above: 0.3, action: 'alert' },
        { metric: 'p99LatencyMs', above: 60_000, action: 'alert' },
        { metric: 'errorRate', above: 0.1, action: 'alert' },
      ]);
      expect(r.code).toBe(0);
      expect(firings(r).map((e) => [e.params!.metric, e.params!.above, e.outcome])).toEqual([
        ['errorRate', 0.1, 'alerted'],
      ]);
      expect(r.out).toMatch(/threshold: errorRate \d+(\.\d+)?%, above the threshold of 10%: alert/);
      expect(r.status).toBe('backfilled');
    });

    it('rollback: pauses, then rolls the migration back: the original data is back; exit 1', async () => {
      const r = await backfillWith([
        { metric: 'errorRate', above: 0.3, action: 'rollback' },
        { metric: 'errorRate', above: 0.1, action: 'rollback' },
      ]);
      expect(r.code).toBe(1);
      const [f, ...more] = firings(r);
      expect(more).toEqual([]);
      expect(f!.params).toMatchObject({ metric: 'errorRate', above: 0.1, action: 'rollback' });
      expect(f!.outcome).toBe('paused; rolling back');
      expect(r.entries.some((e) => e.command === 'rollback')).toBe(true);
      expect(r.status).toBe('rolled-back');
      const docs = await allDocs(r.store);
      expect(docs.size).toBe(N);
      for (let i = 0; i < N; i++) expect(docs.get(userDoc(i)._id as string)).toEqual(userDoc(i));
    });

    it('no threshold reached: nothing fires, exit 0', async () => {
      const r = await backfillWith([
        { metric: 'errorRate', above: 0.3, action: 'rollback' },
        { metric: 'deadLetters', above: 0, action: 'pause' },
      ]);
      expect(r.code).toBe(0);
      expect(firings(r)).toEqual([]);
      expect(r.status).toBe('backfilled');
    });
  });
}

describe('contingency thresholds under chaos, through the CLI', () => {
  let sqliteDir: string;
  let files = 0;
  beforeAll(() => {
    sqliteDir = tempDir('sy-thresh-db-');
  });
  afterAll(() => fs.rmSync(sqliteDir, { recursive: true, force: true }));
  suite('on SQLite', () => `sqlite:${path.join(sqliteDir, `db${files}.sqlite`)}`);

  const hasRedis = redisOrFailInCi();
  describe.skipIf(!hasRedis)(`on Redis${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`, () => {
    let server: RedisServer;
    beforeAll(async () => {
      server = await startRedisServer();
    });
    afterAll(async () => server?.stop());
    suite('on Redis', () => `${server.url}/0?prefix=t${files}:`);
  });
  // a fresh store per test
  beforeEach(() => {
    files++;
  });
});
