/**
 * How the conformance suite reaches each adapter. An entry opens a fresh, empty store and can
 * write a document "behind the adapter's back", the way the application's own driver or a plain
 * SQL session would, so the suite can check that revs see foreign writes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Store } from '../../src/store/contract.js';
import type { Doc } from '../../src/core/values.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { toStorageJSON } from '../../src/core/values.js';
import { openRedisStore, type RedisStore } from '../../src/store/redis/redis-adapter.js';
import { encodeHash } from '../../src/store/redis/redis-hash-adapter.js';
import { parseStoreUrl } from '../../src/store/store-url.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { openDynamoStore, type DynamoStore } from '../../src/store/dynamodb/dynamodb-adapter.js';
import { startDynamoDbLocal, type DynamoDbLocal } from '../support/dynamodb-local.js';
import { keyOf } from '../../src/core/keys.js';
import { openStore } from '../../src/store/open-store.js';
import { withDatabase, type MongoStore } from '../../src/store/mongodb/mongodb-adapter.js';
import { OWN_ID_FIELD } from '../../src/store/mongodb/mongodb-values.js';

export interface StoreHarness {
  readonly name: string;
  open(): Promise<Store>;
  /** change (or create) a stored document without going through the adapter */
  foreignWrite(store: Store, collection: string, key: string, doc: Doc): Promise<void>;
  /** tear down servers, temp dirs */
  cleanup?(): Promise<void>;
}

export const memoryHarness: StoreHarness = {
  name: 'memory',
  async open() {
    return new MemoryStore();
  },
  async foreignWrite(store, collection, key, doc) {
    (store as MemoryStore).collection(collection).tamper(key, doc);
  },
};

export function sqliteHarness(): StoreHarness {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-conf-sqlite-'));
  let n = 0;
  return {
    name: 'sqlite',
    async open() {
      n += 1;
      const file = path.join(dir, `s${n}.db`);
      return new SqliteStore(file, `sqlite:${file}`);
    },
    async foreignWrite(store, collection, key, doc) {
      // plain SQL, as another tool would do it: no rev given
      const db = (store as SqliteStore).database;
      const t = `"${collection.replace(/"/g, '""')}"`;
      const changed = db
        .prepare(`UPDATE ${t} SET doc = ? WHERE k = ?`)
        .run(toStorageJSON(doc), key).changes;
      if (changed === 0)
        db.prepare(`INSERT INTO ${t} (k, doc) VALUES (?, ?)`).run(key, toStorageJSON(doc));
    },
    async cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * redis:// or redis+hash:// on a throwaway redis-server (started on first use). Every `open()`
 * gets its own key prefix, so checks never see each other's keys although they share a db.
 */
export function redisHarness(mode: 'string' | 'hash'): StoreHarness {
  const scheme = mode === 'hash' ? 'redis+hash' : 'redis';
  let server: Promise<RedisServer> | undefined;
  let n = 0;
  return {
    name: scheme,
    async open() {
      server ??= startRedisServer();
      const { port } = await server;
      n += 1;
      const url = `${scheme}://127.0.0.1:${port}/0?prefix=${encodeURIComponent(`t${n}:`)}`;
      return openRedisStore(parseStoreUrl(url));
    },
    async foreignWrite(store, collection, key, doc) {
      // the application's own client: a plain SET / DEL + HSET, no script, no rev
      const s = store as RedisStore;
      const redisKey = s.collection(collection).redisKey(key);
      if (mode === 'string') {
        await s.connection.call('SET', [redisKey, JSON.stringify(doc)]);
      } else {
        await s.connection.call('DEL', [redisKey]);
        await s.connection.call('HSET', [redisKey, ...encodeHash(doc)]);
      }
    },
    async cleanup() {
      if (server) await (await server).stop();
    },
  };
}

/**
 * dynamodb:// on DynamoDB Local (a child process, started on first use). Every `open()` gets
 * its own table-name prefix. The foreign writer is the application's own DocumentClient PutItem
 * (plain JS object, no rev).
 */
export function dynamodbHarness(): StoreHarness {
  let server: Promise<DynamoDbLocal> | undefined;
  let n = 0;
  return {
    name: 'dynamodb',
    async open() {
      server ??= startDynamoDbLocal();
      const { port } = await server;
      n += 1;
      return openDynamoStore(
        parseStoreUrl(`dynamodb://127.0.0.1:${port}?region=local&prefix=t${n}_`),
      );
    },
    async foreignWrite(store, collection, key, doc) {
      const s = store as DynamoStore;
      const app = DynamoDBDocumentClient.from(s.client as unknown as DynamoDBClient);
      await app.send(
        new PutCommand({
          TableName: s.collection(collection).tableName,
          Item: { _key: key, ...doc },
        }),
      );
    },
    async cleanup() {
      if (server) await (await server).stop();
    },
  };
}

/**
 * mongodb:// on the server MONGODB_URL names (the suite cannot start one). Every `open()` gets
 * a fresh database `sy_test_<pid>_<n>`, dropped in cleanup. The foreign writer is the driver's
 * own replaceOne (upsert): the document itself when its `_id` is the key, else the layout the
 * adapter uses for such documents (`_id` = key, `_sy_id` = [its own _id, if any]).
 */
export function mongodbHarness(url: string): StoreHarness {
  let n = 0;
  const stores: MongoStore[] = [];
  return {
    name: 'mongodb',
    async open() {
      n += 1;
      const store = (await openStore(
        withDatabase(url, `sy_test_${process.pid}_${n}`),
      )) as MongoStore;
      stores.push(store);
      return store;
    },
    async foreignWrite(store, collection, key, doc) {
      const c = (store as MongoStore).collection(collection).driverCollection;
      const own = doc._id;
      if (own !== undefined && keyOf(own) === key) {
        await c.replaceOne({ _id: own as never }, doc, { upsert: true });
      } else {
        const { _id: _ignored, ...rest } = doc;
        await c.replaceOne(
          { _id: key as never },
          { _id: key, [OWN_ID_FIELD]: own === undefined ? [] : [own], ...rest },
          { upsert: true },
        );
      }
    },
    async cleanup() {
      // every store was closed by its check: reconnect once to drop the databases
      if (stores.length === 0) return;
      const admin = (await openStore(url)) as MongoStore;
      try {
        for (const s of stores) await admin.client.db(s.database).dropDatabase();
      } finally {
        await admin.close();
      }
    },
  };
}

/** Every adapter with a harness. */
export const ALL_STORES = [
  'memory',
  'sqlite',
  'redis',
  'redis+hash',
  'dynamodb',
  'mongodb',
] as const;

/**
 * The adapters selected by SWITCHYARD_STORES (comma-separated), or all of them when it is not
 * set. Whether an adapter's server is available here is the suite's business (it skips, with
 * the reason, those that cannot run: redis without redis-server, under CI it fails instead;
 * mongodb without MONGODB_URL, also under CI).
 */
export function selectedStores(): string[] {
  const env = process.env.SWITCHYARD_STORES;
  if (env === undefined || env.trim() === '') return [...ALL_STORES];
  return env
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
