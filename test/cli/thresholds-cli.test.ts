/**
 * Contingency thresholds from the config, through the CLI as a real process, under seeded chaos
 * (`--chaos error=20%`: about one store call in five fails and is retried), on SQLite and on a
 * real redis-server: each action fires at its threshold and not before — a threshold at 0.05
 * fires, one at 0.3 does not — with the exit code, the audit entry naming the metric, its value,
 * the threshold and the action, and its effect: the status `paused`, a lower rate, the original
 * data back after `rollback`.
 */
import fs from 'node:fs';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Threshold } from '../../src/engine/runner/thresholds.js';
import { AuditLog, type AuditEntry } from '../../src/state/audit-log.js';
import { Catalog } from '../../src/state/catalog.js';
import type { Store } from '../../src/store/contract.js';
import { allDocs, userDoc } from '../engine/backfill-fixtures.js';
import { runCli } from '../support/cli-process.js';
import {
  chaosArgs,
  onThresholdStores,
  SPLIT_ID as ID,
  thresholdProject,
  writeThresholdConfig,
} from './thresholds-fixtures.js';

// enough documents for errorRate to be judged (100 data calls) and then watched for a while
const N = 300;
const CHAOS = [...chaosArgs(), '--max-errors', 'off'];
// the chaos makes errorRate about 0.1-0.2 once judged: a threshold at LOW fires, one at HIGH does not
const LOW = 0.05;
const HIGH = 0.3;

interface Run {
  code: number | null;
  out: string;
  entries: AuditEntry[];
  status: string | undefined;
  control: Record<string, unknown> | undefined;
  store: Store;
}

function suite(name: string, url: () => string): void {
  describe(name, { timeout: 60_000 }, () => {
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
      const p = await thresholdProject(url(), thresholds, N);
      dir = p.dir;
      const store = p.store;
      opened.push(store);
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

    it('pause: fires at LOW and not at HIGH; exit 1, status paused, resumable', async () => {
      const r = await backfillWith([
        { metric: 'errorRate', above: HIGH, action: 'pause' },
        { metric: 'errorRate', above: LOW, action: 'pause' },
      ]);
      expect(r.out).toContain('chaos: error=20%');
      expect(r.code).toBe(1);
      const [f, ...more] = firings(r);
      expect(more).toEqual([]);
      expect(f!.params).toMatchObject({
        metric: 'errorRate',
        above: LOW,
        action: 'pause',
        job: 'backfill',
      });
      expect(f!.params!.value as number).toBeGreaterThan(LOW);
      expect(f!.params!.value as number).toBeLessThanOrEqual(HIGH);
      expect(f!.outcome).toBe('paused');
      expect(r.status).toBe('paused');
      expect(r.control).toMatchObject({ paused: true, by: 'threshold' });
      expect(r.out).toMatch(
        /threshold reached: errorRate \d+(\.\d+)?%, above the threshold of 5%: pause/,
      );
      // paused the way `switchyard pause` does: resume and run again, without the threshold
      writeThresholdConfig(dir, url());
      expect((await runCli(dir, ['resume', ID])).code).toBe(0);
      const again = await runCli(dir, ['backfill', ID, '--batch-size', '100']);
      expect(again.code).toBe(0);
      expect((await new Catalog(r.store).get(ID))?.status).toBe('backfilled');
    });

    it('throttle: halves the rate for every worker and goes on; exit 0', async () => {
      const r = await backfillWith(
        [
          { metric: 'errorRate', above: LOW, action: 'throttle' },
          { metric: 'errorRate', above: HIGH, action: 'throttle' },
        ],
        ['--rate', '40000'],
      );
      expect(r.code).toBe(0);
      const [f, ...more] = firings(r);
      expect(more).toEqual([]);
      expect(f!.params).toMatchObject({
        metric: 'errorRate',
        above: LOW,
        action: 'throttle',
        rate: 20000,
      });
      expect(f!.outcome).toBe('throttled to 20000 docs/s');
      expect(r.entries.find((e) => e.command === 'throttle')?.params).toMatchObject({
        rate: 20000,
      });
      expect(r.control).toMatchObject({ rate: 20000 });
      expect(r.status).toBe('backfilled');
    });

    it('alert: said and audited once; the run goes on; what is not reached does not fire or stop it', async () => {
      const r = await backfillWith([
        { metric: 'errorRate', above: HIGH, action: 'alert' },
        { metric: 'errorRate', above: HIGH, action: 'rollback' },
        { metric: 'deadLetters', above: 0, action: 'pause' },
        { metric: 'p99LatencyMs', above: 60_000, action: 'alert' },
        { metric: 'errorRate', above: LOW, action: 'alert' },
      ]);
      expect(r.code).toBe(0);
      expect(firings(r).map((e) => [e.params!.metric, e.params!.above, e.outcome])).toEqual([
        ['errorRate', LOW, 'alerted'],
      ]);
      expect(r.out).toMatch(/threshold: errorRate \d+(\.\d+)?%, above the threshold of 5%: alert/);
      expect(r.status).toBe('backfilled');
    });

    it('rollback: pauses, then rolls the migration back: the original data is back; exit 1', async () => {
      const r = await backfillWith([
        { metric: 'errorRate', above: HIGH, action: 'rollback' },
        { metric: 'errorRate', above: LOW, action: 'rollback' },
      ]);
      expect(r.code).toBe(1);
      const [f, ...more] = firings(r);
      expect(more).toEqual([]);
      expect(f!.params).toMatchObject({ metric: 'errorRate', above: LOW, action: 'rollback' });
      expect(f!.outcome).toBe('paused; rolling back');
      expect(r.entries.some((e) => e.command === 'rollback')).toBe(true);
      expect(r.status).toBe('rolled-back');
      const docs = await allDocs(r.store);
      expect(docs.size).toBe(N);
      for (let i = 0; i < N; i++) expect(docs.get(userDoc(i)._id as string)).toEqual(userDoc(i));
    });
  });
}

describe('contingency thresholds under chaos, through the CLI', () => {
  onThresholdStores(suite);
});
