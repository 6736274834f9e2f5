/**
 * A Redis key of another type inside a collection (issue 13 item C): a hash (list, set, ...)
 * among the string documents of a `redis://` collection, or a string among `redis+hash://`
 * documents. Before: every scan filtered by type, so the key was never migrated, never verified,
 * never counted, with no word. Now it is a key the store cannot read as a document
 * (ScanPage.unreadable): backfill dead-letters it by key, verify is not ok and names it (exit 1),
 * export names it (exit 1), count says how many keys are not documents, status shows the dead
 * letters and the verify's words. On a real redis-server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { verify } from '../../src/engine/verify.js';
import { exportDocuments } from '../../src/io/export-documents.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import { openStore } from '../../src/store/open-store.js';
import type { RedisStore } from '../../src/store/redis/redis-adapter.js';
import type { RedisCollection } from '../../src/store/redis/redis-collection.js';
import { Capture, runCli } from '../cli/run-cli.js';
import {
  contextFor,
  seedUsers,
  splitNameMigration,
  tempDir,
  writeSplitNameMigration,
} from '../engine/backfill-fixtures.js';
import { NO_REDIS_REASON, redisOrFailInCi, useRedisServer } from '../support/redis-server.js';

const N = 120;
const hasRedis = redisOrFailInCi();

describe.skipIf(!hasRedis)(
  `keys of another Redis type in a collection${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    const server = useRedisServer();
    let prefixes = 0;
    let prefix: string;
    let store: RedisStore;
    beforeEach(async () => {
      prefix = `t${prefixes++}:`;
      store = (await openStore(`${server().url}/0?prefix=${prefix}`)) as RedisStore;
    });
    afterEach(async () => store.close());

    const full = (c: string, k: string) => (store.collection(c) as RedisCollection).redisKey(k);

    it('redis://: a hash, a list among string documents are dead letters, verify and export name them, count says so', async () => {
      await seedUsers(store, N);
      await store.connection.call('HSET', [full('users', 'h1'), 'name', 'Ada Lovelace']);
      await store.connection.call('RPUSH', [full('users', 'l1'), 'a', 'b']);

      // the store contract: a scan lists them as unreadable, get of them says why
      const seen: Record<string, string> = {};
      for (const range of [undefined, ...(await store.collection('users').split(2))]) {
        let cursor: string | null = null;
        do {
          const page = await store.collection('users').scan({ range, cursor, limit: 25 });
          for (const u of page.unreadable ?? []) seen[u.key] = u.reason;
          cursor = page.cursor;
        } while (cursor !== null);
      }
      expect(seen).toEqual({
        h1: 'a Redis hash, not a string document',
        l1: 'a Redis list, not a string document',
      });
      await expect(store.collection('users').get('h1')).rejects.toMatchObject({
        code: 'E_STORE_UNREADABLE',
        key: 'h1',
        permanent: true,
      });
      expect(await store.collection('users').get('absent')).toBeNull();
      expect(await store.collection('users').count()).toBe(N);
      expect(await store.collection('users').countNotDocuments!()).toEqual({ hash: 1, list: 1 });

      const ctx = contextFor(store);
      const m = splitNameMigration();
      const r = await backfill(ctx, m, { batchSize: 50, partitions: 2, concurrency: 1 });
      expect(r.progress.deadLetters).toBe(2);
      const dead = new Map(
        (await new DeadLetters(store, m.id).list(10)).map((d) => [d.key, d.error]),
      );
      expect([...dead.keys()].sort()).toEqual(['h1', 'l1']);
      expect(dead.get('h1')).toMatch(/a Redis hash, not a string document/);
      // the hash is left as it was
      expect(await store.connection.call('HGETALL', [full('users', 'h1')])).toEqual([
        'name',
        'Ada Lovelace',
      ]);

      const report = await verify(ctx, m);
      expect(report.ok).toBe(false);
      expect(report.unreadable).toBe(2);
      expect(report.samples.checks.map((c) => c.key).sort()).toEqual(['h1', 'l1']);

      const left: string[] = [];
      const n = await exportDocuments(store.collection('users'), new Capture(), {
        pageSize: 40,
        onUnreadable: (u) => left.push(u.key),
      });
      expect(n).toBe(N);
      expect(left.sort()).toEqual(['h1', 'l1']);
    });

    it('redis+hash://: a string among hash documents is named the other way round', async () => {
      const hashes = await openStore(
        `${server().url.replace('redis:', 'redis+hash:')}/0?prefix=${prefix}h:`,
      );
      try {
        await seedUsers(hashes, 30);
        const key = (hashes.collection('users') as RedisCollection).redisKey('s1');
        await (hashes as RedisStore).connection.call('SET', [key, '{"name":"Ada Lovelace"}']);
        const page = await hashes.collection('users').scan({ limit: 100 });
        expect(page.items).toHaveLength(30);
        expect(page.unreadable).toEqual([
          { key: 's1', reason: 'a Redis string, not a hash document' },
        ]);
        expect(await hashes.collection('users').countNotDocuments!()).toEqual({ string: 1 });
        await expect(hashes.collection('users').getMany(['s1'])).rejects.toMatchObject({
          key: 's1',
        });
      } finally {
        await hashes.close();
      }
    });

    describe('through the CLI', () => {
      let dir: string;
      beforeEach(() => {
        dir = tempDir('sy-other-types-');
        writeSplitNameMigration(dir);
      });
      afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

      it('backfill names the hash as a dead letter; verify, export exit 1 naming it; count and status say so', async () => {
        await seedUsers(store, N);
        await store.connection.call('HSET', [full('users', 'h1'), 'name', 'Ada Lovelace']);
        const url = `${server().url}/0?prefix=${prefix}`;
        const cli = (...args: string[]) => runCli(['--store', url, ...args], { cwd: dir });

        const count = await cli('count', 'users');
        expect(count.code).toBe(0);
        expect(count.stdout.trim()).toBe(String(N));
        expect(count.stderr).toMatch(/1 key of 'users' is not a document \(1 hash\)/);
        const countJson = await cli('count', 'users', '--json');
        expect(JSON.parse(countJson.stdout)).toMatchObject({
          count: N,
          notDocuments: { hash: 1 },
        });

        const bf = await cli('backfill', 'split-name');
        expect(bf.stdout + bf.stderr, bf.stdout + bf.stderr).toMatch(/1 dead letters?/);
        const dead = await new DeadLetters(store, '20261120-split-name').list(10);
        expect(dead.map((d) => [d.key, d.error])).toEqual([
          ['h1', expect.stringMatching(/a Redis hash, not a string document/)],
        ]);

        const v = await cli('verify', 'split-name', '--full');
        expect(v.code).toBe(1);
        expect(v.stdout + v.stderr).toMatch(/unreadable 1/);
        expect(v.stdout + v.stderr).toMatch(/h1/);
        expect(v.stdout + v.stderr).not.toMatch(/\bOK\b/);

        const out = path.join(dir, 'users.ndjson');
        const ex = await cli('export', 'users', '--out', out);
        expect(ex.code).toBe(1);
        expect(ex.stderr).toMatch(/h1/);
        expect(fs.readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(N);

        const st = await cli('status');
        expect(st.stdout).toMatch(/1 dead letter\b/);
        expect(st.stdout).toMatch(/1 stored key not a readable document/);
      });
    });
  },
);
