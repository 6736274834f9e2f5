/**
 * Contingency thresholds from the config on `switchyard verify`, as a real process, on SQLite:
 * `verifyMismatches` is published as the verify goes, so an alert at 0 fires once when documents
 * were changed behind the migration's back, one far above does not, and a pause without `job`
 * is not applied to a verify (a verify only alerts); a threshold for job `verify` whose action is
 * not `alert` is refused at config load (exit 2, naming the file and field).
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Threshold } from '../../src/engine/runner/thresholds.js';
import { Catalog } from '../../src/state/catalog.js';
import type { Store } from '../../src/store/contract.js';
import { allDocs } from '../engine/backfill-fixtures.js';
import { startReceiver } from '../observe/alert-receiver.js';
import { runCli } from '../support/cli-process.js';
import { SPLIT_ID as ID, thresholdFirings, thresholdProject } from './thresholds-fixtures.js';

const N = 1000;
const TAMPERED = 5;

describe('contingency thresholds on verify, through the CLI (SQLite)', { timeout: 120_000 }, () => {
  let dir: string | undefined;
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function project(thresholds: Threshold[]): Promise<{ dir: string; store: Store }> {
    ({ dir, store } = await thresholdProject('sqlite:./db.sqlite', thresholds, N));
    return { dir, store };
  }

  it('alert on verifyMismatches above 0 fires once; far above and a job-less pause do not', async () => {
    const p = await project([
      { metric: 'verifyMismatches', above: 100_000, action: 'alert' },
      { metric: 'verifyMismatches', above: 0, action: 'pause' },
      { metric: 'verifyMismatches', above: 0, action: 'alert', job: 'verify' },
    ]);
    expect((await runCli(p.dir, ['backfill', ID, '--batch-size', '100'])).code).toBe(0);
    // documents changed behind the migration's back: not what it should have produced
    const docs = [...(await allDocs(p.store)).values()].slice(0, TAMPERED);
    await p.store.collection('users').write(
      docs.map((d) => ({
        type: 'put' as const,
        key: d._id as string,
        doc: { ...d, email: 'changed@example.org' },
      })),
    );
    const receiver = await startReceiver();
    const r = await runCli(p.dir, [
      'verify',
      ID,
      '--full',
      '--batch-size',
      '50',
      '--alert-webhook',
      `${receiver.url}/hook`,
    ]).finally(() => receiver.close());
    expect(r.code, r.out).toBe(1); // drift
    // the webhook got the threshold alert (beside the verify-drift one)
    const posted = receiver.requests.map((q) => JSON.parse(q.body) as Record<string, unknown>);
    expect(posted.filter((a) => a.type === 'threshold')).toEqual([
      expect.objectContaining({ type: 'threshold', migration: ID, severity: 'warning' }),
    ]);
    const entries = await thresholdFirings(p.store, ID);
    expect(
      entries.map((e) => [e.params!.metric, e.params!.above, e.params!.job, e.outcome]),
    ).toEqual([['verifyMismatches', 0, 'verify', 'alerted']]);
    expect(entries[0]!.params!.value as number).toBeGreaterThan(0);
    expect(entries[0]!.params!.value as number).toBeLessThanOrEqual(TAMPERED);
    expect(r.out).toMatch(/threshold: verifyMismatches \d+, above the threshold of 0: alert/);
    const entry = await new Catalog(p.store).get(ID);
    expect((entry?.verifyControl as { paused?: boolean } | undefined)?.paused ?? false).toBe(false);
  });

  it('a threshold for job verify that does not alert is refused at config load: exit 2', async () => {
    const p = await project([
      { metric: 'errorRate', above: 0.1, action: 'alert' },
      { metric: 'verifyMismatches', above: 0, action: 'pause', job: 'verify' },
    ]);
    const r = await runCli(p.dir, ['verify', ID, '--full']);
    expect(r.code).toBe(2);
    expect(r.out).toContain('switchyard.config.json');
    expect(r.out).toContain('thresholds[1].action');
    expect(r.out).toContain('can only alert');
    expect(await new Catalog(p.store).get(ID)).toBeNull();
  });
});
