/**
 * Shared set-up for the contingency-threshold CLI tests (thresholds-*-cli.test.ts): a project
 * with `thresholds` in its config and generated users, the seeded chaos the tests run under, the
 * audit entries a firing leaves, and the SQLite + real redis-server pair the suites run on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe } from 'vitest';
import type { Threshold } from '../../src/engine/runner/thresholds.js';
import { AuditLog, type AuditEntry } from '../../src/state/audit-log.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import { seedUsers, tempDir, writeSplitNameMigration } from '../engine/backfill-fixtures.js';
import {
  NO_REDIS_REASON,
  redisOrFailInCi,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';

/** the split-name migration writeSplitNameMigration writes */
export const SPLIT_ID = '20261120-split-name';

/**
 * `--chaos error=20%`, seeded: about one store call in five fails and is retried; errorRate is
 * judged from the 100th data call, so small batches make enough calls from a few hundred
 * documents. A high rate keeps the adaptive back-off (which scales the rate down to 2% of it
 * after failures) from being what the test waits on.
 */
export function chaosArgs(batchSize = 5): string[] {
  return [
    '--rate',
    '100000',
    '--chaos',
    'error=20%',
    '--chaos-seed',
    '7',
    '--batch-size',
    String(batchSize),
  ];
}

/** `<dir>/switchyard.config.json` with this store and these thresholds (none: no field). */
export function writeThresholdConfig(dir: string, url: string, thresholds?: Threshold[]): void {
  fs.writeFileSync(
    path.join(dir, 'switchyard.config.json'),
    JSON.stringify({ store: url, ...(thresholds !== undefined ? { thresholds } : {}) }),
  );
}

export interface ThresholdProject {
  dir: string;
  store: Store;
  url: string;
}

/**
 * A temp project on `url` (a relative SQLite path resolves in it): `n` users, the config with
 * `thresholds`, and the split-name migration unless `migration` writes another one.
 */
export async function thresholdProject(
  url: string,
  thresholds: Threshold[],
  n: number,
  migration: (dir: string) => void = writeSplitNameMigration,
): Promise<ThresholdProject> {
  const dir = tempDir('sy-thresh-');
  const store = await openStore(url, { baseDir: dir });
  await seedUsers(store, n);
  writeThresholdConfig(dir, url, thresholds);
  migration(dir);
  return { dir, store, url };
}

/** The `threshold` audit entries of a migration, oldest first. */
export async function thresholdFirings(store: Store, id: string): Promise<AuditEntry[]> {
  return (await new AuditLog(store).entries()).filter(
    (e) => e.migration === id && e.command === 'threshold',
  );
}

/**
 * `suite(name, url)` once on SQLite and once on a real redis-server; `url()` is a fresh, empty
 * store for each test (a new file, a new key prefix). Redis is skipped with a visible reason
 * where redis-server is not installed, and fails under CI=true.
 */
export function onThresholdStores(suite: (name: string, url: () => string) => void): void {
  let sqliteDir: string;
  let n = 0;
  beforeAll(() => {
    sqliteDir = tempDir('sy-thresh-db-');
  });
  afterAll(() => fs.rmSync(sqliteDir, { recursive: true, force: true }));
  beforeEach(() => {
    n++;
  });
  suite('on SQLite', () => `sqlite:${path.join(sqliteDir, `db${n}.sqlite`)}`);

  const hasRedis = redisOrFailInCi();
  describe.skipIf(!hasRedis)(`on Redis${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`, () => {
    let server: RedisServer;
    beforeAll(async () => {
      server = await startRedisServer();
    });
    afterAll(async () => server?.stop());
    suite('on Redis', () => `${server.url}/0?prefix=t${n}:`);
  });
}
