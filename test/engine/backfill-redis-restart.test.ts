/**
 * A backfill on Redis while redis-server is killed (kill -9, append-only file on) and started
 * again on the same port and dir: the data and the migration state both live on that server.
 * Before #21 a backfill went on with SCAN cursors of the dead process and ended "backfilled"
 * with thousands of documents still at the old version. Now the adapter refuses those cursors,
 * the backfill walks the refused partition again, and every document ends transformed.
 * In-process with the restart after a set batch, and as a child process with the kill at a
 * random moment. Skipped without redis-server (CI: fails).
 *
 * Today's engine restarts the partition in BackfillRun.#batch; the job runner that replaces it
 * must keep these tests passing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfill, type BackfillEvent } from '../../src/engine/backfill.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/contract.js';
import { spawnCli } from '../support/cli-process.js';
import {
  NO_REDIS_REASON,
  startRedisServer,
  type RestartableRedisServer,
  redisOrFailInCi,
} from '../support/redis-server.js';
import {
  allDocs,
  contextFor,
  expectedSplit,
  seedUsers,
  splitNameMigration,
  tempDir,
  writeSplitMigrationFile,
} from './backfill-fixtures.js';

const hasRedis = redisOrFailInCi();

const N = 20_000;

/** documents not as the migration leaves them (still at v1, or wrong) */
async function leftBehind(store: Store): Promise<number> {
  const docs = await allDocs(store);
  expect(docs.size).toBe(N);
  let wrong = 0;
  for (const [key, doc] of docs) {
    const i = Number(key.slice(1));
    if (JSON.stringify(doc) !== JSON.stringify(expectedSplit(i))) wrong += 1;
  }
  return wrong;
}

describe.skipIf(!hasRedis)(
  `backfill through a redis-server restart${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    let server: RestartableRedisServer;
    let n = 0;
    const url = () => `redis://127.0.0.1:${server.port}/0?prefix=b${n}:`;
    beforeAll(async () => {
      server = await startRedisServer({ appendonly: true });
    });
    afterAll(async () => server?.stop());

    it('restart after a few batches: every partition walked again, every document transformed', async () => {
      n += 1;
      const store = await openStore(url());
      await seedUsers(store, N);
      let batches = 0;
      let restarting: Promise<void> | undefined;
      const events: BackfillEvent[] = [];
      const result = await backfill(contextFor(store), splitNameMigration(), {
        batchSize: 500,
        partitions: 4,
        concurrency: 2,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'batch' && ++batches === 6) restarting = server.restart();
        },
      });
      await restarting;
      expect(result.outcome).toBe('backfilled');
      expect(await leftBehind(store)).toBe(0);
      // not vacuous: the restart was seen, as a refused cursor
      const walkedAgain = events.filter(
        (e) => e.type === 'restart' && /the server restarted or failed over/.test(e.reason),
      );
      expect(walkedAgain.length).toBeGreaterThan(0);
      await store.close();
    });

    it('as a process, redis-server killed at a random moment and restarted: backfilled, nothing left behind', async () => {
      n += 1;
      const dir = tempDir('sy-bf-restart-');
      try {
        writeSplitMigrationFile(dir);
        const store = await openStore(url());
        await seedUsers(store, N);
        await store.close();
        const cli = spawnCli(
          [
            '--store',
            url(),
            '--migrations',
            path.join(dir, 'migrations'),
            '--json',
            'backfill',
            'split',
            '--batch-size',
            '250',
            '--partitions',
            '4',
            // a few seconds long, so the kill lands mid-run (unthrottled it can end in one)
            '--rate',
            '4000',
          ],
          dir,
        );
        // under way once the first progress line is out; then a random moment
        for (let i = 0; i < 2000 && !/"event":"progress"/.test(cli.stdout()); i++)
          await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => setTimeout(r, Math.random() * 300));
        await server.kill9();
        await new Promise((r) => setTimeout(r, Math.random() * 2000));
        await server.restart();
        const code = await cli.exited;
        const stderr = cli.stderr();
        expect({ code, stderr: stderr.slice(-2000) }).toMatchObject({ code: 0 });
        expect(cli.stdout()).toMatch(/"event":"done","outcome":"backfilled"/);
        const after = await openStore(url());
        expect(await leftBehind(after)).toBe(0);
        await after.close();
        // not vacuous, and what the outage looked like to an operator: what happened, in words
        // (a walk started again is a JSON line on stdout with --json; a wait is a log line on stderr)
        expect(`${cli.stdout()}${stderr}`).toMatch(
          /the server restarted or failed over|the server is unreachable/,
        );
        expect(stderr).not.toMatch(/max retries|Connection is closed/);
        // each call that failed while the server was away says the job waits
        for (const line of stderr.split('\n').filter((l) => /the server is unreachable/.test(l)))
          expect(line).toMatch(/store call failed; waiting \d+( ms|\.\d s), then trying again/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
