/**
 * Contingency thresholds from the config on `switchyard rollback`, as a real process, under
 * seeded chaos (`--chaos error=20%`), on SQLite and on a real redis-server: a threshold for the
 * rollback at 0.1 pauses it (exit 1, the audit entry naming the job `rollback`), one at 0.3 and
 * one for the backfill only do not fire; the paused rollback, run again, ends rolled-back with
 * every document exactly as it was.
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Threshold } from '../../src/engine/runner/thresholds.js';
import { Catalog } from '../../src/state/catalog.js';
import type { Store } from '../../src/store/contract.js';
import { allDocs, userDoc } from '../engine/backfill-fixtures.js';
import { startReceiver } from '../observe/alert-receiver.js';
import { runCli } from '../support/cli-process.js';
import {
  onThresholdStores,
  SPLIT_ID as ID,
  thresholdFirings,
  thresholdProject,
} from './thresholds-fixtures.js';

const N = 1000;
const CHAOS = ['--rate', '5000', '--chaos', 'error=20%', '--chaos-seed', '7', '--batch-size', '10'];

function suite(name: string, url: () => string): void {
  describe(name, { timeout: 150_000 }, () => {
    let dir: string | undefined;
    let store: Store | undefined;
    afterAll(async () => {
      await store?.close();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('pause at 0.1 fires on the rollback (exit 1, resumable); 0.3 and a backfill-only one do not', async () => {
      const thresholds: Threshold[] = [
        { metric: 'errorRate', above: 0.05, action: 'pause', job: 'backfill' },
        { metric: 'errorRate', above: 0.3, action: 'pause' },
        { metric: 'errorRate', above: 0.1, action: 'pause', job: 'rollback' },
      ];
      ({ dir, store } = await thresholdProject(url(), thresholds, N));
      expect((await runCli(dir, ['backfill', ID, '--batch-size', '100'])).code).toBe(0);

      const receiver = await startReceiver();
      const r = await runCli(dir, [
        'rollback',
        ID,
        ...CHAOS,
        '--alert-webhook',
        `${receiver.url}/hook`,
      ]).finally(() => receiver.close());
      const posted = receiver.requests.map((q) => JSON.parse(q.body) as Record<string, unknown>);
      expect(posted.filter((a) => a.type === 'threshold')).toEqual([
        expect.objectContaining({ type: 'threshold', migration: ID, severity: 'critical' }),
      ]);
      expect(r.out).toContain('chaos: error=20%');
      expect(r.code).toBe(1);
      const [f, ...more] = await thresholdFirings(store, ID);
      expect(more).toEqual([]);
      expect(f!.params).toMatchObject({
        metric: 'errorRate',
        above: 0.1,
        action: 'pause',
        job: 'rollback',
      });
      expect(f!.params!.value as number).toBeGreaterThan(0.1);
      expect(f!.params!.value as number).toBeLessThanOrEqual(0.3);
      expect(f!.outcome).toBe('paused');
      expect(r.out).toMatch(
        /threshold reached: errorRate \d+(\.\d+)?%, above the threshold of 10%/,
      );
      const entry = await new Catalog(store).get(ID);
      expect(entry?.status).toBe('rolling-back');
      expect(entry?.rollbackControl).toMatchObject({ paused: true, by: 'threshold' });
      // it stopped part of the way: some documents are still migrated
      const midway = await allDocs(store);
      expect([...midway.values()].some((d) => d._sv === 2)).toBe(true);

      // run again (without chaos): the rollback clears its pause and continues to the end
      const again = await runCli(dir, ['rollback', ID, '--batch-size', '100']);
      expect(again.code).toBe(0);
      expect((await new Catalog(store).get(ID))?.status).toBe('rolled-back');
      const docs = await allDocs(store);
      expect(docs.size).toBe(N);
      for (let i = 0; i < N; i++) expect(docs.get(userDoc(i)._id as string)).toEqual(userDoc(i));
    });
  });
}

describe('contingency thresholds on rollback under chaos, through the CLI', () => {
  onThresholdStores(suite);
});
