/**
 * wrapRedis against a real redis-server: the application's own Redis code (plain SET/GET of
 * JSON, HSET/HGETALL of hashes, DEL) runs unchanged through every stage; what it reads always
 * has the old shape; the new keys hold the new shape; other keys pass through.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { Stage } from '../../src/engine/stages.js';
import { wrapRedis } from '../../src/runtime/clients/ioredis.js';
import { redisServerPath, startRedisServer, type RedisServer } from '../support/redis-server.js';
import {
  closeAfterEach,
  EVERY_STAGE,
  fixture,
  moveTo,
  newStore,
  yardFor,
} from './yard-fixtures.js';

const open = closeAfterEach();
// in CI redis-server is installed: a missing one fails there instead of skipping
const run = redisServerPath() !== null || process.env.CI !== undefined;

const STAGES = EVERY_STAGE;

describe.runIf(run)('wrapRedis: existing ioredis code through every stage', () => {
  let server: RedisServer;
  let raw: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    raw = new Redis(server.url, { lazyConnect: false });
  });
  afterAll(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  async function setup(type: 'string' | 'hash', pattern: string, prefix: string) {
    const store = newStore('sqlite');
    const f = fixture(store);
    const yard = await yardFor(f, { publishMs: 0 });
    open.push({ yard, store });
    const app = new Redis(server.url);
    const redis = await wrapRedis(app, yard, [
      { migration: f.migration.id, pattern, type, target: { prefix } },
    ]);
    return { f, yard, redis, app };
  }

  it('strings: SET/GET/DEL of JSON keep the old shape for the app; the new keys get the new one', async () => {
    const { f, yard, redis, app } = await setup('string', 'user:', 'user2:');
    try {
      let n = 0;
      const alive = new Map<string, number>();
      for (const [stage, percent] of STAGES) {
        await moveTo(f, stage, percent);
        await yard.refresh();
        for (let i = 0; i < 6; i++) {
          const k = `user:${n++ % 20}`;
          await redis.set(k, JSON.stringify({ name: `v${n}` }));
          alive.set(k, n);
        }
        for (const [k, v] of alive)
          expect(JSON.parse((await redis.get(k))!), `${k} in ${stage}`).toEqual({ name: `v${v}` });
        const gone = `user:${n % 20}`;
        if (alive.has(gone)) {
          expect(await redis.del(gone)).toBe(1);
          alive.delete(gone);
          expect(await redis.get(gone)).toBeNull();
        }
        // other keys pass through
        expect(await redis.set(`plain:${n}`, 'x')).toBe('OK');
        expect(await redis.get(`plain:${n}`)).toBe('x');
      }
      // from dual-write on, every write reached the new side, in the new shape
      for (const [k, v] of alive) {
        const neu = JSON.parse((await raw.get(k.replace('user:', 'user2:')))!);
        expect(neu).toEqual({ fullName: `v${v}`, _sv: 2 });
      }
      expect(await raw.exists('user2:nothing')).toBe(0);
    } finally {
      app.disconnect();
    }
  });

  it('hashes: HSET merges fields through the runtime; HGETALL answers the old shape', async () => {
    const { f, yard, redis, app } = await setup('hash', 'acct:', 'acct2:');
    try {
      await moveTo(f, Stage.dualWrite);
      await yard.refresh();
      expect(await redis.hset('acct:1', { name: 'Ada', plan: 'pro' })).toBe(2);
      expect(await redis.hset('acct:1', 'plan', 'team', 'seats', 3)).toBe(1);
      expect(await raw.hgetall('acct2:1')).toEqual({
        fullName: 'Ada',
        plan: 'team',
        seats: '3',
        _sv: '2',
      });
      for (const [stage, percent] of STAGES.slice(2)) {
        await moveTo(f, stage, percent);
        await yard.refresh();
        expect(await redis.hgetall('acct:1'), String(stage)).toEqual({
          name: 'Ada',
          plan: 'team',
          seats: '3',
        });
      }
      expect(await redis.hgetall('acct:none')).toEqual({});
      expect(await redis.del('acct:1', 'plain:nothing')).toBe(1);
      expect(await raw.exists('acct2:1')).toBe(0);
    } finally {
      app.disconnect();
    }
  });

  it('a command the route cannot carry is refused before anything is written', async () => {
    const { f, yard, redis, app } = await setup('string', 'cfg:', 'cfg2:');
    try {
      await moveTo(f, Stage.dualWrite);
      await yard.refresh();
      await expect(redis.set('cfg:1', 'not json')).rejects.toThrow(/not JSON/);
      await expect(redis.set('cfg:1', '{"name":"a"}', 'EX', 10)).rejects.toThrow(InputError);
      await expect(redis.hset('cfg:1', 'name', 'a')).rejects.toThrow(/as a string, not a hash/);
      expect(await raw.exists('cfg:1', 'cfg2:1')).toBe(0);
    } finally {
      app.disconnect();
    }
  });
});
