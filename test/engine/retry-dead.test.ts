/**
 * `backfill --retry-dead` reports what that run did — dead letters retried, fixed, gone, still
 * dead — not the backfill's totals (issue 13 item 18). Found failing: a retry pass over 10 dead
 * letters said "backfilled users: 90 migrated, ... 10 dead letters" whatever it did.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import { spawnCli } from '../support/cli-process.js';
import { NO_REDIS_REASON, redisOrFailInCi, useRedisServer } from '../support/redis-server.js';
import { contextFor, seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';

const hasRedis = redisOrFailInCi();

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-rd-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** 100 users, n % 10 == 0 fails (10 dead); then n % 20 == 0 still fails, one fixed one deleted. */
async function retryOn(store: Store): Promise<void> {
  await seedUsers(store, 100);
  let bad = 10;
  const m = compileMigration({
    id: 'flaky',
    collection: 'users',
    up: (d) => {
      if (bad > 0 && (d.n as number) % bad === 0) throw new Error(`cannot handle n=${String(d.n)}`);
      d.ok = true;
    },
  });
  const ctx = contextFor(store);
  const first = await backfill(ctx, m, { batchSize: 25 });
  expect(first.outcome).toBe('backfilled');
  expect(first.retryDead).toBeUndefined();
  expect(await new DeadLetters(store, 'flaky').count()).toBe(10);
  bad = 20;
  await store.collection('users').write([{ type: 'delete', key: 'u000010' }]);
  const r = await backfill(ctx, m, { retryDead: true, batchSize: 3 });
  expect(r.outcome).toBe('backfilled');
  expect(r.retryDead).toEqual({ retried: 10, fixed: 4, gone: 1, stillDead: 5 });
  expect(r.message).toBe(
    'retried 10 dead letters of users: 4 fixed, 1 gone (document deleted), 5 still dead',
  );
  expect(await new DeadLetters(store, 'flaky').count()).toBe(5);
  const audit = (await ctx.audit.entries()).at(-1)!;
  expect(audit.params).toMatchObject({
    retryDead: { retried: 10, fixed: 4, gone: 1, stillDead: 5 },
  });
  // fixed for good; then nothing is left to retry
  bad = 0;
  const again = await backfill(ctx, m, { retryDead: true });
  expect(again.message).toBe(
    'retried 5 dead letters of users: 5 fixed, 0 gone (document deleted), 0 still dead',
  );
  const none = await backfill(ctx, m, { retryDead: true });
  expect(none.retryDead).toEqual({ retried: 0, fixed: 0, gone: 0, stillDead: 0 });
}

describe('--retry-dead reports what the run did', () => {
  it('SQLite', async () => {
    const store = sqliteAt(path.join(dir, 'rd.db'));
    await retryOn(store);
    await store.close();
  });

  it("the CLI prints this run's numbers (text and --json), exit 0", async () => {
    const db = path.join(dir, 'cli.db');
    fs.mkdirSync(path.join(dir, 'migrations'));
    fs.writeFileSync(path.join(dir, 'bad-mod.txt'), '10');
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261120-flaky.mjs'),
      `import fs from 'node:fs';
import { defineMigration } from 'switchyard';
export default defineMigration({
  collection: 'users',
  up: (d) => {
    const bad = Number(fs.readFileSync(new URL('../bad-mod.txt', import.meta.url), 'utf8'));
    if (d.n % bad === 0) throw new Error('cannot handle n=' + d.n);
    d.ok = true;
  },
});
`,
    );
    const store = sqliteAt(db);
    await seedUsers(store, 50);
    await store.close();
    const cli = async (args: string[]) => {
      const p = spawnCli(['--store', `sqlite:${db}`, ...args], dir);
      return { code: await p.exited, stdout: p.stdout(), stderr: p.stderr() };
    };
    const first = await cli(['backfill', 'flaky']);
    expect(first.code, first.stderr).toBe(0);
    fs.writeFileSync(path.join(dir, 'bad-mod.txt'), '20');
    const text = await cli(['backfill', 'flaky', '--retry-dead']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      'retried 5 dead letters of users: 2 fixed, 0 gone (document deleted), 3 still dead',
    );
    const json = await cli(['backfill', 'flaky', '--retry-dead', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const done = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event?: string; retryDead?: unknown })
      .find((e) => e.event === 'done');
    expect(done?.retryDead).toEqual({ retried: 3, fixed: 0, gone: 0, stillDead: 3 });
  });
});

describe.skipIf(!hasRedis)(
  `--retry-dead on Redis${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    const server = useRedisServer();

    it('Redis', async () => {
      const store = await openStore(`redis://127.0.0.1:${server().port}/0?prefix=rd:`);
      try {
        await retryOn(store);
      } finally {
        await store.close();
      }
    });
  },
);
