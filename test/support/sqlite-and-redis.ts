/**
 * Run one suite against SQLite (a real file in a temp dir) and Redis (a real redis-server on a
 * free loopback port, a fresh key prefix per store): `suite(name, open)` is called once per store
 * with a function that opens a new, empty store. Redis is skipped with a visible reason where
 * redis-server is not installed, and fails under CI=true (redisOrFailInCi).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import {
  NO_REDIS_REASON,
  redisOrFailInCi,
  startRedisServer,
  type RedisServer,
} from './redis-server.js';

export function onSqliteAndRedis(
  name: string,
  suite: (name: string, open: () => Promise<Store>) => void,
): void {
  let dir: string;
  let files = 0;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-stores-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  suite(`${name} on SQLite`, async () => {
    const file = path.join(dir, `db${files++}.sqlite`);
    return new SqliteStore(file, `sqlite:${file}`);
  });

  const hasRedis = redisOrFailInCi();
  describe.skipIf(!hasRedis)(`on Redis${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`, () => {
    let server: RedisServer;
    let prefixes = 0;
    beforeAll(async () => {
      server = await startRedisServer();
    });
    afterAll(async () => server?.stop());
    suite(`${name} on Redis`, () => openStore(`${server.url}/0?prefix=p${prefixes++}:`));
  });
}
