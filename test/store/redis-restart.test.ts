/**
 * The Redis adapters across a real restart of redis-server (kill -9, append-only file on, started
 * again on the same port and dir: a new process, a new run id, the same data). A SCAN cursor
 * means nothing to the new process, so: a saved cursor is refused with CursorInvalidatedError
 * (also one a page read ahead would have continued), a walk started again sees every key, and
 * walks that finish inside one call (count, listCollections, drop) start again by themselves.
 * Also what the failures say: an unreachable server, a wrong password. Skipped without
 * redis-server (under CI it fails instead).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, StoreError } from '../../src/core/errors.js';
import { openStore } from '../../src/store/open-store.js';
import { RedisStore } from '../../src/store/redis/redis-adapter.js';
import { COUNT_SCRIPT, SCAN_STEP_SCRIPT } from '../../src/store/redis/redis-layout.js';
import type { RedisConnection } from '../../src/store/redis/redis-layout.js';
import {
  CursorInvalidatedError,
  isCursorInvalidated,
  isUnreachable,
  StoreAuthError,
  StoreUnreachableError,
} from '../../src/store/store-errors.js';
import { seedUsers, userDoc } from '../engine/backfill-fixtures.js';
import {
  NO_REDIS_REASON,
  redisServerPath,
  startRedisServer,
  type RedisServer,
  type RestartableRedisServer,
} from '../support/redis-server.js';

const available = redisServerPath() !== null;
if (!available && process.env.CI)
  throw new Error(`redis tests cannot run in CI: ${NO_REDIS_REASON}`);

const N = 20_000;

describe.skipIf(!available)(
  `redis adapters across a server restart${available ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    let server: RestartableRedisServer;
    let n = 0;
    const urlOf = (scheme: string, prefix: string) =>
      `${scheme}://127.0.0.1:${server.port}/0?prefix=${prefix}`;

    /** a store with N documents under its own prefix */
    async function seeded(scheme: 'redis' | 'redis+hash'): Promise<RedisStore> {
      n += 1;
      const s = (await openStore(urlOf(scheme, `r${n}:`))) as RedisStore;
      await seedUsers(s, N, 'docs');
      return s;
    }

    beforeAll(async () => {
      server = await startRedisServer({ appendonly: true });
    });
    afterAll(async () => server?.stop());

    describe.each(['redis', 'redis+hash'] as const)('%s', (scheme) => {
      it('refuses a cursor handed out before the restart; a walk started again sees every key', async () => {
        const s = await seeded(scheme);
        const c = s.collection('docs');
        const [part] = await c.split(2);
        const first = await c.scan({ limit: 1000 });
        const firstOfPart = await c.scan({ range: part!, limit: 1000 });
        expect(first.cursor).not.toBeNull();
        expect(firstOfPart.cursor).not.toBeNull();

        await server.restart();

        for (const [range, cursor] of [
          [undefined, first.cursor],
          [part, firstOfPart.cursor],
        ] as const) {
          const err = await c.scan({ range, cursor, limit: 1000 }).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(CursorInvalidatedError);
          expect(isCursorInvalidated(err)).toBe(true);
          expect((err as Error).message).toMatch(
            /scan of 'docs'.* in redis.*127\.0\.0\.1.*: the server restarted or failed over since this walk began/,
          );
        }

        // walked again from the start, on the new server: every key exactly once
        const seen = new Set<string>();
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await c.scan({ cursor, limit: 1000 });
          for (const item of page.items) seen.add(item.key);
          cursor = page.cursor;
          pages += 1;
        } while (cursor !== null);
        expect(seen.size).toBe(N);
        expect(pages).toBeGreaterThan(1);
        await s.close();
      });
    });

    it('does not serve a page read ahead from the server that went away', async () => {
      const s = await seeded('redis');
      const c = s.collection('docs');
      const first = await c.scan({ limit: 500 });
      // the next page is being read ahead now; let it arrive before the server dies
      await new Promise((r) => setTimeout(r, 200));
      await server.restart();
      await expect(c.scan({ cursor: first.cursor, limit: 500 })).rejects.toThrow(
        CursorInvalidatedError,
      );
      await s.close();
    });

    it('refuses cursors of an earlier version (no run id) and rejects what is no cursor', async () => {
      const s = await seeded('redis');
      const c = s.collection('docs');
      for (const old of ['17', '{"c":"17","p":["k1"]}'])
        await expect(c.scan({ cursor: old, limit: 10 })).rejects.toThrow(
          /saved without the server's run id/,
        );
      for (const bad of ['nonsense', '{"r":"zz","c":"1"}', 'null', '{"r":"ab","c":"x"}']) {
        const err = await c.scan({ cursor: bad, limit: 10 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreError);
        expect(isCursorInvalidated(err)).toBe(false);
      }
      await s.close();
    });

    it('count, listCollections and drop start again when the server restarts under them', async () => {
      const seededStore = await seeded('redis');
      const prefix = seededStore.prefix;
      await seededStore.close();
      // a connection that restarts the server just before the second SCAN-walking call of a
      // walk: the first call's cursor belongs to the old process
      const client = (await openStore(urlOf('redis', prefix))) as RedisStore;
      const conn = client.connection;
      let walking = 0;
      let restartAt = 2;
      const restarts: number[] = [];
      const proxy: RedisConnection = {
        async call(command, args) {
          const sha = args[0];
          if (command === 'EVALSHA' && (sha === COUNT_SCRIPT.sha || sha === SCAN_STEP_SCRIPT.sha)) {
            walking += 1;
            if (walking === restartAt) {
              await server.restart();
              restarts.push(walking);
            }
          }
          return conn.call(command, args);
        },
        callBuffer: (command, args) => conn.callBuffer(command, args),
        quit: () => conn.quit(),
        disconnect: () => conn.disconnect(),
        on: (event, listener) => conn.on(event, listener),
      };
      const s = new RedisStore(proxy, client.url, { prefix });
      const c = s.collection('docs');
      const again = () => {
        walking = 0;
        restartAt = 2;
      };

      expect(await c.count()).toBe(N);
      const parts = await c.split(3);
      let total = 0;
      for (const range of parts) {
        again();
        total += await c.count(range);
      }
      expect(total).toBe(N);
      again();
      expect(await s.listCollections()).toEqual(['docs']);
      again();
      restartAt = 3;
      await s.dropCollection('docs');
      expect(await c.count()).toBe(0);
      // not vacuous: the server did restart under each walk
      expect(restarts).toHaveLength(6);
      await client.close();
    });

    it('says the server is unreachable while it is down, and works again however long it was away', async () => {
      const s = await seeded('redis');
      const c = s.collection('docs');
      await server.kill9();
      const err = await c.get('u000001').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnreachableError);
      expect(isUnreachable(err)).toBe(true);
      const msg = (err as Error).message;
      expect(msg).toMatch(
        /^redis read in redis:\/\/127\.0\.0\.1:\d+\/0\?prefix=r\d+: failed: the server is unreachable \(connect ECONNREFUSED 127\.0\.0\.1:\d+\); it may be restarting or failing over$/,
      );
      expect(msg).not.toMatch(/max retries|Connection is closed/);
      // longer than the ~11 s after which the client used to stop reconnecting for good
      await new Promise((r) => setTimeout(r, 12_000));
      await server.restart();
      expect((await c.get('u000001'))?.doc).toEqual(userDoc(1));
      await s.close();
    }, 40_000);
  },
);

describe.skipIf(!available)(
  `redis authentication${available ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    let server: RedisServer;
    beforeAll(async () => {
      server = await startRedisServer();
      const admin = (await openStore(server.url)) as RedisStore;
      await admin.connection.call('CONFIG', ['SET', 'requirepass', 'right:pa/ss@word']);
      await admin.connection.call('ACL', ['SETUSER', 'bob', 'on', '>bobs-secret', '~*', '+@all']);
      await admin.close();
    });
    afterAll(async () => server?.stop());

    it('a wrong or missing password says "authentication failed", exit code 3, password redacted', async () => {
      const at = `127.0.0.1:${server.port}`;
      for (const url of [
        `redis://:wrong-secret@${at}`,
        `redis://${at}`,
        `redis://bob:wrong-secret@${at}`,
        `redis://nobody:wrong-secret@${at}`,
      ]) {
        const err = await openStore(url).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreAuthError);
        const e = err as StoreAuthError;
        expect(e.exitCode).toBe(ExitCode.runtime);
        expect(e.message).toMatch(
          /^cannot connect to redis:\/\/.*: authentication failed \((WRONGPASS|NOAUTH)/,
        );
        expect(e.message).toMatch(/check the user and password of the store URL$/);
        expect(e.message).not.toMatch(/Connection is closed|wrong-secret/);
      }
      // the right ones work (the password percent-encoded in the URL)
      const ok = await openStore(`redis://:${encodeURIComponent('right:pa/ss@word')}@${at}`);
      await ok.close();
      const bob = await openStore(`redis://bob:bobs-secret@${at}`);
      await bob.close();
    });

    it('an unreachable server says so, not "Connection is closed"', async () => {
      const err = await openStore('redis://app:hunter2@127.0.0.1:1/0').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnreachableError);
      expect((err as Error).message).toBe(
        'cannot connect to redis://app:***@127.0.0.1:1/0: the server is unreachable (connect ECONNREFUSED 127.0.0.1:1); is a server running at that address?',
      );
    });
  },
);
