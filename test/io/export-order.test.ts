/**
 * `export` lists documents ordered by key on every store, as its help says: stores that scan in
 * key order (memory, sqlite) are paged through; the others (redis, redis+hash, dynamodb) are
 * read in key order after their keys are collected and sorted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { compareKeys } from '../../src/core/values.js';
import { exportDocuments } from '../../src/io/export-documents.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import {
  dynamoDbLocalUnavailable,
  startDynamoDbLocal,
  type DynamoDbLocal,
} from '../support/dynamodb-local.js';
import {
  NO_REDIS_REASON,
  redisServerPath,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';

const hasRedis = redisServerPath() !== null;
if (!hasRedis && process.env.CI === 'true') throw new Error(NO_REDIS_REASON);
const noDynamo = dynamoDbLocalUnavailable();
if (noDynamo !== null && process.env.CI === 'true') throw new Error(noDynamo);

let redis: RedisServer | undefined;
let dynamo: DynamoDbLocal | undefined;
beforeAll(async () => {
  if (hasRedis) redis = await startRedisServer();
  if (noDynamo === null) dynamo = await startDynamoDbLocal();
});
afterAll(async () => {
  await redis?.stop();
  await dynamo?.stop();
});

/** keys whose insertion order, hash order and length order all differ from key order */
const KEYS = Array.from(
  { length: 240 },
  (_, i) => [`k${(i * 7919) % 1000}`, `K${i}`, `ä${i}`, `${i}`, `😀${i % 7}-${i}`][i % 5]!,
);

class Lines extends Writable {
  readonly lines: string[] = [];
  #rest = '';
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    const parts = (this.#rest + chunk.toString()).split('\n');
    this.#rest = parts.pop()!;
    this.lines.push(...parts);
    cb();
  }
}

async function exportedKeys(url: string): Promise<string[]> {
  const store: Store = await openStore(url);
  try {
    const c = store.collection('ordered');
    await c.write(KEYS.map((key) => ({ type: 'put' as const, key, doc: { _id: key, v: 1 } })));
    const out = new Lines();
    expect(await exportDocuments(c, out, { pageSize: 37 })).toBe(KEYS.length);
    return out.lines.map((l) => (JSON.parse(l) as { _id: string })._id);
  } finally {
    await store.close();
  }
}

const sorted = [...KEYS].sort(compareKeys);

describe('export order', () => {
  it.each(['memory:', 'sqlite::memory:'])('%s: by key', async (url) => {
    expect(await exportedKeys(url)).toEqual(sorted);
  });
  it.skipIf(!hasRedis)('redis and redis+hash: by key', async () => {
    expect(await exportedKeys(`${redis!.url}/1?prefix=o1:`)).toEqual(sorted);
    expect(
      await exportedKeys(`${redis!.url.replace('redis:', 'redis+hash:')}/1?prefix=o2:`),
    ).toEqual(sorted);
  });
  it.skipIf(noDynamo !== null)('dynamodb: by key', async () => {
    expect(await exportedKeys(dynamo!.url)).toEqual(sorted);
  });
});
