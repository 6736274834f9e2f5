/**
 * Contingency thresholds from the config on `switchyard catchup`, as a real process, on SQLite
 * (its change feed): writes queued in the feed before catch-up runs put it behind, so a `lag`
 * threshold at 0 fires once (alert: audited, the run goes on and drains the feed; pause: exit 1,
 * catch-up paused), and one at ten minutes does not.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Threshold } from '../../src/engine/runner/thresholds.js';
import { Catalog } from '../../src/state/catalog.js';
import type { Store } from '../../src/store/contract.js';
import { allDocs, userDoc } from '../engine/backfill-fixtures.js';
import { runCli } from '../support/cli-process.js';
import { thresholdFirings, thresholdProject, writeThresholdConfig } from './thresholds-fixtures.js';

const N = 1000;
const ID = '20261120-users-v2';
// relative: the test opens it from the project's folder, as the CLI does
const URL = 'sqlite:./db.sqlite';
const MIGRATION = `import { defineMigration, renameField } from 'switchyard';
export default defineMigration({
  collection: 'users',
  target: { collection: 'users_v2' },
  operations: [renameField('name', 'fullName')],
});
`;

describe(
  'contingency thresholds on catch-up, through the CLI (SQLite)',
  { timeout: 120_000 },
  () => {
    let dir: string | undefined;
    let store: Store | undefined;
    afterEach(async () => {
      await store?.close();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    /** N users, catch-up started (its place in the feed saved), then N updates queued in the feed. */
    async function behind(thresholds: Threshold[]): Promise<{ dir: string; store: Store }> {
      ({ dir, store } = await thresholdProject(URL, thresholds, N, (d) => {
        fs.mkdirSync(path.join(d, 'migrations'));
        fs.writeFileSync(path.join(d, 'migrations', `${ID}.ts`), MIGRATION);
      }));
      const first = await runCli(dir, ['catchup', ID, '--once']);
      expect(first.code, first.out).toBe(0);
      const users = store.collection('users');
      const docs = Array.from({ length: N }, (_, i) => userDoc(i));
      await users.write(
        docs.map((doc) => ({
          type: 'put' as const,
          key: doc._id as string,
          doc: { ...doc, note: 'queued' },
        })),
      );
      return { dir, store };
    }
    const firings = (s: Store) => thresholdFirings(s, ID);
    const catchup = (d: string) =>
      runCli(d, ['catchup', ID, '--until-idle', '--batch-size', '20', '--rate', '2000']);

    it('alert: lag above 0 fires once and the run drains the feed; ten minutes does not', async () => {
      const b = await behind([
        { metric: 'lag', above: 600_000, action: 'pause' },
        { metric: 'lag', above: 0, action: 'alert', job: 'catch-up' },
        { metric: 'lag', above: 0, action: 'pause', job: 'backfill' },
      ]);
      const r = await catchup(b.dir);
      expect(r.code, r.out).toBe(0);
      const [f, ...more] = await firings(b.store);
      expect(more).toEqual([]);
      expect(f!.params).toMatchObject({
        metric: 'lag',
        above: 0,
        action: 'alert',
        job: 'catch-up',
      });
      expect(f!.params!.value as number).toBeGreaterThan(0);
      expect(f!.outcome).toBe('alerted');
      expect(r.out).toMatch(/threshold: lag \d+ ms, above the threshold of 0 ms: alert/);
      // it went on to the end: every queued update is in the target
      const target = await allDocs(b.store, 'users_v2');
      expect(target.size).toBe(N);
      for (const d of target.values()) expect(d.note).toBe('queued');
    });

    it('pause: lag above 0 pauses catch-up; exit 1, its control paused by the threshold', async () => {
      const b = await behind([{ metric: 'lag', above: 0, action: 'pause', job: 'catch-up' }]);
      const r = await catchup(b.dir);
      expect(r.code, r.out).toBe(1);
      const [f, ...more] = await firings(b.store);
      expect(more).toEqual([]);
      expect(f!.params).toMatchObject({ metric: 'lag', action: 'pause', job: 'catch-up' });
      expect(f!.outcome).toBe('paused');
      expect(r.out).toContain('threshold reached: lag');
      expect((await new Catalog(b.store).get(ID))?.catchupControl).toMatchObject({
        paused: true,
        by: 'threshold',
      });
    });

    it('a catch-up a threshold paused resumes where it stopped: every queued update arrives', async () => {
      const b = await behind([{ metric: 'lag', above: 0, action: 'pause', job: 'catch-up' }]);
      const paused = await catchup(b.dir);
      expect(paused.code, paused.out).toBe(1);
      // it stopped part of the way: not every queued update is in the target yet
      const midway = [...(await allDocs(b.store, 'users_v2')).values()];
      expect(midway.filter((d) => d.note === 'queued').length).toBeLessThan(N);
      // the documented way on: resume the job, then run catch-up again (here without the
      // threshold, which the backlog left would trip again at once)
      writeThresholdConfig(b.dir, URL);
      const resumed = await runCli(b.dir, ['resume', ID, '--job', 'catch-up']);
      expect(resumed.code, resumed.out).toBe(0);
      expect((await new Catalog(b.store).get(ID))?.catchupControl).toMatchObject({
        paused: false,
      });
      const again = await catchup(b.dir);
      expect(again.code, again.out).toBe(0);
      // nothing lost: every user is in the target with its queued update, and nothing else
      const target = await allDocs(b.store, 'users_v2');
      expect(target.size).toBe(N);
      for (let i = 0; i < N; i++) {
        const { name, ...rest } = userDoc(i);
        expect(target.get(rest._id as string)).toMatchObject({
          ...rest,
          fullName: name,
          note: 'queued',
        });
      }
      expect(await firings(b.store)).toHaveLength(1);
    });
  },
);
