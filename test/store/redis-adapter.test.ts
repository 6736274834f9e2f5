/**
 * Redis adapter behaviour beyond the conformance suite: what the application sees in Redis,
 * revs under application writes, TTLs, script fallback, cursors and partitions across
 * processes, odd names. Runs against a real redis-server; skipped (with the reason) without one.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Double, Long, ObjectId } from 'bson';
import { StoreError, StoreUrlError } from '../../src/core/errors.js';
import { canonicalString, type Doc, type Value } from '../../src/core/values.js';
import { openStore } from '../../src/store/open-store.js';
import type { RedisStore } from '../../src/store/redis/redis-adapter.js';
import { fnv1a32 } from '../../src/store/redis/redis-collection.js';
import { decodeHash, encodeHash } from '../../src/store/redis/redis-hash-adapter.js';
import {
  NO_REDIS_REASON,
  redisServerPath,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import { runCli } from '../cli/run-cli.js';

const available = redisServerPath() !== null;
if (!available && process.env.CI)
  throw new Error(`redis tests cannot run in CI: ${NO_REDIS_REASON}`);

describe.skipIf(!available)(
  `redis adapters${available ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    let server: RedisServer;
    let n = 0;
    const open = async (scheme = 'redis', extra = ''): Promise<RedisStore> => {
      n += 1;
      return (await openStore(
        `${scheme}://127.0.0.1:${server.port}/${n % 16}?prefix=u${n}:${extra}`,
      )) as RedisStore;
    };
    const raw = (s: RedisStore, cmd: string, ...args: (string | number)[]) =>
      s.connection.call(cmd, args);

    /** the key names in database 0 */
    const db0Keys = async (): Promise<string[]> => {
      const s = (await openStore(`redis://127.0.0.1:${server.port}/0`)) as RedisStore;
      const keys = ((await raw(s, 'KEYS', '*')) as string[]).sort();
      await s.close();
      return keys;
    };
    // an NDJSON file of one document, for the CLI
    const nd = join(mkdtempSync(join(tmpdir(), 'sy-redis-')), 'users.ndjson');
    writeFileSync(nd, '{"_id":"u1","name":"Ada"}\n');

    beforeAll(async () => {
      server = await startRedisServer();
    });
    afterAll(async () => server?.stop());

    it('opens redis:// and redis+hash:// URLs, rejects unknown parameters, fails fast and redacted', async () => {
      const s = await openStore(`redis://127.0.0.1:${server.port}/2`);
      expect(s.kind).toBe('redis');
      await s.close();
      const h = await openStore(`redis+hash://127.0.0.1:${server.port}`);
      expect(h.kind).toBe('redis+hash');
      await h.close();
      await expect(openStore(`redis://127.0.0.1:${server.port}?prefx=a`)).rejects.toThrow(
        StoreUrlError,
      );
      await expect(openStore(`redis://127.0.0.1:${server.port}/x`)).rejects.toThrow(
        /not a database number/,
      );
      const err = await openStore('redis://app:hunter2@127.0.0.1:1/0').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as Error).message).toContain('redis://app:***@127.0.0.1:1/0');
      expect((err as Error).message).not.toContain('hunter2');
    });

    it('refuses a database the server does not have (exit 2), writing nothing to database 0', async () => {
      const keysBefore = await db0Keys();
      const err = await openStore(`redis://127.0.0.1:${server.port}/99`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUrlError);
      expect((err as Error).message).toMatch(
        /redis:\/\/127\.0\.0\.1:\d+\/99.*database 99 does not exist on this server: it has 16 \(0 to 15\)/,
      );
      const cli = await runCli([
        '--store',
        `redis://127.0.0.1:${server.port}/99`,
        'import',
        'users',
        nd,
      ]);
      expect(cli.code).toBe(2);
      expect(cli.stderr).toMatch(/database 99 does not exist/);
      expect(await db0Keys()).toEqual(keysBefore);
    });

    it('stores plain JSON strings the application can read, under <prefix><collection>:<key>', async () => {
      const s = await open();
      const doc: Doc = {
        name: 'Ada',
        age: 36,
        score: 1.5,
        tags: ['a'],
        id: new ObjectId('5ca4bbcea2dd94ee58162a68') as unknown as Value,
        one: new Double(1) as unknown as Value,
      };
      await s.collection('users').write([{ type: 'put', key: 'u1', doc }]);
      const text = (await raw(s, 'GET', `${s.prefix}users:u1`)) as string;
      expect(JSON.parse(text)).toEqual({
        name: 'Ada',
        age: 36,
        score: 1.5,
        tags: ['a'],
        id: { $oid: '5ca4bbcea2dd94ee58162a68' },
        one: { $numberDouble: '1.0' },
      });
      // an application's plain JSON is read as the value model reads JSON
      await raw(s, 'SET', `${s.prefix}users:u2`, '{"name":"Bob","big":3000000000,"x":0.25}');
      expect((await s.collection('users').get('u2'))?.doc).toEqual({
        name: 'Bob',
        big: 3000000000,
        x: 0.25,
      });
      await raw(s, 'SET', `${s.prefix}users:bad`, 'not json');
      await expect(s.collection('users').get('bad')).rejects.toThrow(/users:bad.*JSON/);
      await s.close();
    });

    it('rev is a hash of the stored value: an application SET changes it, a stale write conflicts', async () => {
      const s = await open();
      const c = s.collection('c');
      const [w] = await c.write([{ type: 'put', key: 'k', doc: { v: 1 } }]);
      const read = (await c.get('k'))!;
      expect(w).toEqual({ key: 'k', ok: true, rev: read.rev });
      expect(read.rev).toMatch(/^[0-9a-f]{40}$/);
      await raw(s, 'SET', c.redisKey('k'), '{"v":2}');
      const now = (await c.get('k'))!;
      expect(now.rev).not.toBe(read.rev);
      const [r] = await c.write([{ type: 'put', key: 'k', doc: { v: 3 }, ifRev: read.rev }]);
      expect(r).toEqual({ key: 'k', ok: false, reason: 'conflict', currentRev: now.rev });
      // the same bytes give the same rev: writing back what was read is not a change
      await raw(s, 'SET', c.redisKey('k'), '{"v":1}');
      expect((await c.get('k'))!.rev).toBe(read.rev);
      await s.close();
    });

    it('keeps an expiry the application set, in both modes', async () => {
      for (const scheme of ['redis', 'redis+hash']) {
        const s = await open(scheme);
        const c = s.collection('sessions');
        await c.write([{ type: 'put', key: 's1', doc: { user: 'a' } }]);
        await raw(s, 'PEXPIRE', c.redisKey('s1'), 600_000);
        const read = (await c.get('s1'))!;
        const [r] = await c.write([
          { type: 'put', key: 's1', doc: { user: 'a', v: 2 }, ifRev: read.rev },
        ]);
        expect(r?.ok).toBe(true);
        const ttl = (await raw(s, 'PTTL', c.redisKey('s1'))) as number;
        expect(ttl).toBeGreaterThan(500_000);
        await s.close();
      }
    });

    it('falls back to EVAL when the server has forgotten the scripts', async () => {
      for (const scheme of ['redis', 'redis+hash']) {
        const s = await open(scheme);
        const c = s.collection('c');
        await c.write([{ type: 'put', key: 'a', doc: { v: 1 } }]);
        await raw(s, 'SCRIPT', 'FLUSH');
        const [r] = await c.write([{ type: 'put', key: 'b', doc: { v: 1 }, ifRev: null }]);
        expect(r?.ok).toBe(true);
        await raw(s, 'SCRIPT', 'FLUSH');
        expect((await c.getMany(['a', 'b'])).map((x) => x?.doc)).toEqual([{ v: 1 }, { v: 1 }]);
        await s.close();
      }
    });

    it('a batch touching a key of another Redis type fails as a whole, before writing anything', async () => {
      const s = await open();
      const c = s.collection('c');
      await raw(s, 'RPUSH', c.redisKey('list'), 'x');
      await expect(
        c.write([
          { type: 'put', key: 'first', doc: { v: 1 } },
          { type: 'put', key: 'list', doc: { v: 1 } },
        ]),
      ).rejects.toThrow(/WRONGTYPE.*list/);
      expect(await c.get('first')).toBeNull();
      // a key of another type is no document: get says so, count leaves it out, a scan names it
      // (issue 13 item C; redis-other-types.test.ts)
      await expect(c.get('list')).rejects.toThrow(/a Redis list, not a (string|hash) document/);
      expect(await c.count()).toBe(0);
      expect((await c.scan({ limit: 10 })).unreadable?.map((u) => u.key)).toEqual(['list']);
      await s.close();
    });

    it('cursors are strings that resume in another process, also mid SCAN reply', async () => {
      const s = await open();
      const c = s.collection('big');
      const keys = Array.from({ length: 500 }, (_, i) => `k${i}`);
      await c.write(keys.map((key) => ({ type: 'put' as const, key, doc: { key } })));
      const seen: string[] = [];
      let cursor: string | null = null;
      let sawPending = false;
      do {
        // a fresh store (connection) per page, as after a restart from a checkpoint
        const t = (await openStore(
          `redis://127.0.0.1:${server.port}/${n % 16}?prefix=${encodeURIComponent(s.prefix)}`,
        )) as RedisStore;
        const page = await t.collection('big').scan({ cursor, limit: 3 });
        await t.close();
        expect(page.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.items.map((x) => x.key));
        cursor = page.cursor;
        if (cursor !== null && (JSON.parse(cursor) as { p?: unknown }).p !== undefined)
          sawPending = true;
        if (cursor !== null) expect(typeof JSON.parse(JSON.stringify(cursor))).toBe('string');
      } while (cursor !== null);
      expect(seen.sort()).toEqual([...keys].sort());
      expect(sawPending).toBe(true);
      await expect(c.scan({ cursor: 'nonsense', limit: 1 })).rejects.toThrow(StoreError);
      await s.close();
    });

    it('split(n): hash partitions scanned in parallel by separate stores cover every key once', async () => {
      const s = await open();
      const c = s.collection('p');
      const keys = Array.from({ length: 2000 }, (_, i) => `doc-${i}`);
      await c.write(keys.map((key) => ({ type: 'put' as const, key, doc: {} })));
      // at most MAX_PARTITIONS (each partition scans all the key names)
      expect((await c.split(16)).map((r) => r.id)).toEqual(['1/4', '2/4', '3/4', '4/4']);
      expect((await c.split(3)).map((r) => r.id)).toEqual(['1/3', '2/3', '3/3']);
      // ranges of any size, as a plan saved by an earlier version holds them, still work
      const ranges = [1, 2, 3, 4, 5].map((i) => ({ id: `${i}/5`, part: i - 1, of: 5 }));
      await c.write([{ type: 'put', key: 'late', doc: {} }]);
      const parts = await Promise.all(
        ranges.map(async (range) => {
          const t = (await openStore(
            `redis://127.0.0.1:${server.port}/${n % 16}?prefix=${encodeURIComponent(s.prefix)}`,
          )) as RedisStore;
          const got: string[] = [];
          let cursor: string | null = null;
          do {
            const page = await t.collection('p').scan({ range, cursor, limit: 97 });
            got.push(...page.items.map((x) => x.key));
            cursor = page.cursor;
          } while (cursor !== null);
          const counted = await t.collection('p').count(range);
          await t.close();
          expect(counted).toBe(got.length);
          return got;
        }),
      );
      const all = parts.flat();
      expect(all.length).toBe(keys.length + 1);
      expect(new Set(all)).toEqual(new Set([...keys, 'late']));
      // each partition holds the keys whose FNV-1a hash falls in it, roughly a fifth each
      parts.forEach((got, i) => {
        for (const k of got) expect(fnv1a32(k) % 5).toBe(i);
        expect(got.length).toBeGreaterThan(300);
      });
      await s.close();
    });

    it('collection names with : % and glob characters, and a prefix with glob characters', async () => {
      const s = await open('redis', encodeURIComponent('*[x]?'));
      const names = ['a', 'a:b', 'a%3Ab', 'a*', '[a]', 'x?'];
      for (const name of names) {
        await s.collection(name).write([{ type: 'put', key: 'k:1', doc: { name } }]);
      }
      expect(await s.listCollections()).toEqual([...names].sort());
      for (const name of names) {
        const page = await s.collection(name).scan({ limit: 10 });
        expect(page.items.map((x) => [x.key, x.doc])).toEqual([['k:1', { name }]]);
        expect(await s.collection(name).count()).toBe(1);
      }
      await s.dropCollection('a*');
      expect(await s.listCollections()).toEqual(names.filter((x) => x !== 'a*').sort());
      expect(await s.collection('a').count()).toBe(1);
      await s.close();
    });

    it('writeAtomic applies batches to several collections in one script', async () => {
      for (const scheme of ['redis', 'redis+hash']) {
        const s = await open(scheme);
        await s.collection('data').write([{ type: 'put', key: 'd', doc: { v: 1 } }]);
        const rev = (await s.collection('data').get('d'))!.rev;
        const results = await s.writeAtomic([
          {
            collection: '_sy_journal',
            ops: [{ type: 'put', key: 'j1', doc: { op: 'x' }, ifRev: null }],
          },
          { collection: 'data', ops: [{ type: 'put', key: 'd', doc: { v: 2 }, ifRev: rev }] },
          { collection: 'empty', ops: [] },
        ]);
        expect(results.map((b) => b.map((r) => r.ok))).toEqual([[true], [true], []]);
        expect((await s.collection('_sy_journal').get('j1'))?.doc).toEqual({ op: 'x' });
        expect((await s.collection('data').get('d'))?.doc).toEqual({ v: 2 });
        const again = await s.writeAtomic([
          { collection: 'data', ops: [{ type: 'put', key: 'd', doc: { v: 3 }, ifRev: rev }] },
        ]);
        expect(again[0]![0]).toMatchObject({ ok: false, reason: 'conflict' });
        await s.close();
      }
    });

    it('a batch naming one key several times applies its ops in order, each on what the one before left', async () => {
      for (const scheme of ['redis', 'redis+hash']) {
        const s = await open(scheme);
        const c = s.collection('c');
        const [first] = await c.write([{ type: 'put', key: 'k', doc: { v: 1 } }]);
        const r1 = first!.ok ? first!.rev! : '';
        const results = await c.write([
          { type: 'put', key: 'k', doc: { v: 2 }, ifRev: r1 },
          { type: 'put', key: 'k', doc: { v: 3 }, ifRev: r1 }, // stale: v2 is stored now
          { type: 'put', key: 'n', doc: { v: 1 }, ifRev: null },
          { type: 'put', key: 'n', doc: { v: 2 }, ifRev: null }, // n exists now
        ]);
        expect(results.map((r) => r.ok)).toEqual([true, false, true, false]);
        const r2 = (results[0] as { rev: string }).rev;
        expect(results[1]).toMatchObject({ reason: 'conflict', currentRev: r2 });
        expect((await c.get('k'))?.rev).toBe(r2);
        const more = await c.write([
          { type: 'delete', key: 'k', ifRev: r2 },
          { type: 'put', key: 'k', doc: { v: 4 }, ifRev: null }, // absent again
        ]);
        expect(more.map((r) => r.ok)).toEqual([true, true]);
        expect((await c.getMany(['k', 'n'])).map((x) => x?.doc)).toEqual([{ v: 4 }, { v: 1 }]);
        // the rev a write returns is the rev a read gives
        expect((await c.get('k'))?.rev).toBe((more[1] as { rev: string }).rev);
        await s.close();
      }
    });

    it("an ifRev that reads 'u' or 'a' is a rev like any other: it conflicts", async () => {
      for (const scheme of ['redis', 'redis+hash']) {
        const s = await open(scheme);
        const c = s.collection('c');
        await c.write([{ type: 'put', key: 'k', doc: { v: 1 } }]);
        const results = await c.write([
          { type: 'put', key: 'k', doc: { v: 2 }, ifRev: 'a' },
          { type: 'put', key: 'k', doc: { v: 3 }, ifRev: 'u' },
          { type: 'put', key: 'missing', doc: { v: 1 }, ifRev: 'a' },
        ]);
        expect(results.map((r) => r.ok)).toEqual([false, false, false]);
        expect((await c.getMany(['k', 'missing'])).map((x) => x?.doc ?? null)).toEqual([
          { v: 1 },
          null,
        ]);
        await s.close();
      }
    });

    it('scan reads the next page ahead; a document the application changed meanwhile conflicts', async () => {
      for (const scheme of ['redis', 'redis+hash']) {
        const s = await open(scheme);
        const c = s.collection('ahead');
        const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
        await c.write(keys.map((key) => ({ type: 'put' as const, key, doc: { v: 1 } })));
        const first = await c.scan({ limit: 20 });
        expect(first.cursor).not.toBeNull();
        // the page after `first` is being read ahead; wait for the server to have answered it
        await raw(s, 'PING');
        const inFirst = new Set(first.items.map((x) => x.key));
        const changed = keys.filter((k) => !inFirst.has(k));
        for (const k of changed) {
          if (scheme === 'redis') await raw(s, 'SET', c.redisKey(k), '{"v":2}');
          else await raw(s, 'HSET', c.redisKey(k), 'v', '2');
        }
        const seen = [...first.items];
        let cursor = first.cursor;
        while (cursor !== null) {
          const page = await c.scan({ cursor, limit: 20 });
          seen.push(...page.items);
          cursor = page.cursor;
        }
        expect(seen.map((x) => x.key).sort()).toEqual([...keys].sort());
        // whatever each page read, a write on its rev never overwrites the application's v2
        const rest = seen.filter((x) => !inFirst.has(x.key));
        const results = await c.write(
          rest.map((x) => ({ type: 'put' as const, key: x.key, doc: { v: 3 }, ifRev: x.rev })),
        );
        rest.forEach((x, i) => expect(results[i]!.ok).toBe(x.doc.v === 2));
        const docs = await c.getMany(changed);
        for (const d of docs) expect([2, 3]).toContain(d!.doc.v);
        expect(results.some((r) => !r.ok)).toBe(true); // the read-ahead page held v1
        await s.close();
      }
    });

    it('scan items carry the stored text (strings); a journal can keep it as the before-image', async () => {
      const s = await open();
      const c = s.collection('t');
      await raw(s, 'SET', c.redisKey('a'), '{"n": 1.50, "s":"x"}');
      const [item] = (await c.scan({ limit: 10 })).items;
      expect(item).toMatchObject({
        key: 'a',
        doc: { n: 1.5, s: 'x' },
        text: '{"n": 1.50, "s":"x"}',
      });
      expect((await c.get('a'))?.text).toBe('{"n": 1.50, "s":"x"}');
      await s.close();
    });

    it('scans and counts a collection that is a small part of the database (several script calls a page)', async () => {
      for (const scheme of ['redis', 'redis+hash']) {
        const s = await open(scheme);
        const big = s.collection('big');
        await big.write(
          Array.from({ length: 3000 }, (_, i) => ({
            type: 'put' as const,
            key: `b${i}`,
            doc: { i },
          })),
        );
        const small = s.collection('small');
        const keys = ['s1', 's2', 's3', 's4', 's5'];
        await small.write(keys.map((key) => ({ type: 'put' as const, key, doc: { key } })));
        const got: string[] = [];
        let cursor: string | null = null;
        do {
          const page = await small.scan({ cursor, limit: 2 });
          expect(page.items.length).toBeLessThanOrEqual(2);
          got.push(...page.items.map((x) => x.key));
          cursor = page.cursor;
        } while (cursor !== null);
        expect(got.sort()).toEqual(keys);
        expect(await small.count()).toBe(5);
        expect(await big.count()).toBe(3000);
        await s.close();
      }
    });

    describe('redis+hash', () => {
      it('stores readable fields: plain strings as themselves, other values as JSON', async () => {
        const s = await open('redis+hash');
        const c = s.collection('users');
        const doc: Doc = {
          name: 'Ada',
          digits: '123',
          word: 'true',
          quoted: '"q"',
          empty: '',
          age: 36,
          ratio: 0.5,
          ok: true,
          nothing: null,
          nested: { a: [1, 'x'] },
          long: Long.fromString('9007199254740993') as unknown as Value,
        };
        await c.write([{ type: 'put', key: 'u1', doc }]);
        const fields = (await raw(s, 'HGETALL', c.redisKey('u1'))) as string[];
        const asMap = Object.fromEntries(
          fields.flatMap((f, i) => (i % 2 === 0 ? [[f, fields[i + 1]]] : [])),
        );
        expect(asMap).toEqual({
          name: 'Ada',
          digits: '"123"',
          word: '"true"',
          quoted: '"\\"q\\""',
          empty: '',
          age: '36',
          ratio: '0.5',
          ok: 'true',
          nothing: 'null',
          nested: '{"a":[1,"x"]}',
          long: '{"$numberLong":"9007199254740993"}',
        });
        expect(canonicalString((await c.get('u1'))!.doc)).toBe(canonicalString(doc));
        await s.close();
      });

      it('an application HSET of one field changes the rev; stale writes conflict', async () => {
        const s = await open('redis+hash');
        const c = s.collection('users');
        await c.write([{ type: 'put', key: 'u1', doc: { name: 'Ada', age: 36 } }]);
        const read = (await c.get('u1'))!;
        await raw(s, 'HSET', c.redisKey('u1'), 'age', '37', 'city', '12abc');
        const now = (await c.get('u1'))!;
        expect(now.doc).toEqual({ name: 'Ada', age: 37, city: '12abc' });
        expect(now.rev).not.toBe(read.rev);
        const [r] = await c.write([
          { type: 'put', key: 'u1', doc: { name: 'Ada', age: 99 }, ifRev: read.rev },
        ]);
        expect(r).toMatchObject({ ok: false, currentRev: now.rev });
        const [r2] = await c.write([
          { type: 'put', key: 'u1', doc: { name: 'Ada', age: 38 }, ifRev: now.rev },
        ]);
        expect(r2?.ok).toBe(true);
        // the whole document is replaced: the application's extra field is gone
        expect((await c.get('u1'))!.doc).toEqual({ name: 'Ada', age: 38 });
        await s.close();
      });

      it('the empty document and field names starting with U+0000 round-trip', async () => {
        expect(decodeHash(encodeHash({}))).toEqual({});
        const odd: Doc = { '\u0000': 1, '\u0000\u0000x': 'y', '': 'empty name' };
        expect(decodeHash(encodeHash(odd))).toEqual(odd);
        const s = await open('redis+hash');
        const c = s.collection('c');
        await c.write([
          { type: 'put', key: 'e', doc: {} },
          { type: 'put', key: 'o', doc: odd },
        ]);
        expect((await c.get('e'))?.doc).toEqual({});
        expect((await c.get('o'))?.doc).toEqual(odd);
        expect(await c.count()).toBe(2);
        await s.close();
      });

      it('the rev does not depend on the order HGETALL returns fields in', async () => {
        const s = await open('redis+hash');
        const c = s.collection('wide');
        // small enough for a listpack, which keeps insertion order
        const doc: Doc = Object.fromEntries(
          Array.from({ length: 20 }, (_, i) => [`f${i}`, 'x'.repeat(i)]),
        );
        await c.write([{ type: 'put', key: 'w', doc }]);
        const a = (await c.get('w'))!;
        // rewrite the same fields in reverse order behind the adapter's back
        await raw(s, 'DEL', c.redisKey('w'));
        const flat = encodeHash(doc);
        const pairs = Array.from({ length: flat.length / 2 }, (_, i) => [
          flat[2 * i]!,
          flat[2 * i + 1]!,
        ]);
        await raw(s, 'HSET', c.redisKey('w'), ...pairs.reverse().flat());
        expect(((await raw(s, 'HKEYS', c.redisKey('w'))) as string[])[0]).toBe('f19');
        const b = (await c.get('w'))!;
        expect(b.rev).toBe(a.rev);
        const [r] = await c.write([
          { type: 'put', key: 'w', doc: { ...doc, f0: 'new' }, ifRev: a.rev },
        ]);
        expect(r?.ok).toBe(true);
        if (r?.ok) expect(r.rev).toBe((await c.get('w'))!.rev);
        await s.close();
      });
    });
  },
);
