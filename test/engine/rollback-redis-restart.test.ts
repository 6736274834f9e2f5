/**
 * A rollback on Redis while redis-server (append-only file, fsync always) is killed with kill -9
 * and started again on the same port and dir: the CLI rollback waits, says so, resumes when the
 * server is back and ends exact — every document as it was before the backfill, nothing lost.
 * The backfill through a restart is test/engine/backfill-redis-restart.test.ts; this is the other
 * half (issue 20). Skipped without redis-server (CI: fails).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import { spawnCli } from '../support/cli-process.js';
import {
  NO_REDIS_REASON,
  startRedisServer,
  type RestartableRedisServer,
  redisOrFailInCi,
} from '../support/redis-server.js';
import {
  allDocs,
  seedUsers,
  tempDir,
  userDoc,
  writeSplitMigrationFile,
} from './backfill-fixtures.js';

const hasRedis = redisOrFailInCi();

const N = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!hasRedis)(
  `rollback through a redis-server restart${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    let server: RestartableRedisServer;
    let dir: string;
    beforeAll(async () => {
      server = await startRedisServer({ appendonly: true });
      dir = tempDir('sy-rb-restart-');
    });
    afterAll(async () => {
      await server?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    // Found failing here (issue 20): rollback ended at its first failed read (exit 3). Since
    // rollback is a job on the runner it retries and waits like the backfill.
    // Found failing here too (stop 26): after the restart, the retried checkpoint found the
    // partition at the rev of its own write that applied before the kill, and the run ended
    // `aborted` with lease-lost about 1 run in 3 (test/engine/lease-lost-ack.test.ts).
    it(
      'redis-server killed (AOF) and restarted mid-rollback: the rollback waits, resumes and restores every document exactly',
      { timeout: 180_000 },
      async () => {
        const url = `redis://127.0.0.1:${server.port}/0?prefix=rb:`;
        writeSplitMigrationFile(dir);
        const store = await openStore(url);
        await seedUsers(store, N);
        await store.close();
        const sy = (args: string[]) =>
          spawnCli(['--store', url, '--migrations', path.join(dir, 'migrations'), ...args], dir);
        const backfill = sy(['backfill', 'split', '--batch-size', '500']);
        expect(await backfill.exited, backfill.stderr()).toBe(0);

        const rollback = sy([
          '--json',
          'rollback',
          'split',
          '--reason',
          'soak',
          '--batch-size',
          '100',
          '--rate',
          '4000',
        ]);
        // under way once it has restored something; then the server dies mid-rollback
        for (let i = 0; i < 3000; i++) {
          const probe = await openStore(url);
          const restored = [...(await allDocs(probe)).values()].filter(
            (d) => d._sv === undefined,
          ).length;
          await probe.close();
          if (restored > 0 || rollback.child.exitCode !== null) break;
          await sleep(20);
        }
        expect(rollback.child.exitCode).toBeNull(); // still running: the kill lands mid-rollback
        await server.kill9();
        await sleep(1500);
        await server.restart();
        const code = await rollback.exited;
        const stderr = rollback.stderr();
        expect({ code, stderr: stderr.slice(-2000) }).toMatchObject({ code: 0 });
        expect(rollback.stdout()).toMatch(/"outcome":"rolled-back"/);
        // the outage in words: what happened, and that the job waits
        const waiting = stderr
          .split('\n')
          .filter((l) => /the server is unreachable|the server restarted/.test(l));
        expect(waiting.length).toBeGreaterThan(0);
        for (const line of waiting.filter((l) => /unreachable/.test(l)))
          expect(line).toMatch(/waiting \d+( ms|\.\d s), then trying again/);

        const after = await openStore(url);
        const docs = await allDocs(after);
        expect(docs.size).toBe(N);
        let wrong = 0;
        for (let i = 0; i < N; i++)
          if (JSON.stringify(docs.get(userDoc(i)._id as string)) !== JSON.stringify(userDoc(i)))
            wrong += 1;
        expect(wrong).toBe(0);
        await after.close();
      },
    );
  },
);
