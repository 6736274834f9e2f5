/**
 * The stores the soak runs on, each with its own server (when it needs one) and an application
 * writer that goes through the store's OWN client, not through Switchyard: better-sqlite3 with
 * plain SQL, ioredis with WATCH/MULTI. Such a write changes the document behind Switchyard's back,
 * which is exactly what a backfill must never overwrite.
 *
 * Rules: every writer change is atomic in the store (an UPDATE of one row, a WATCH/MULTI/EXEC),
 * so a write it reports as acknowledged really is the last word on that key until another write;
 * `write()` resolves false when the store refused or failed it (it is then not acknowledged).
 * `reset()` gives each trial an empty store.
 */
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import fs from 'node:fs';
import path from 'node:path';
import {
  redisServerPath,
  NO_REDIS_REASON,
  startRedisServer,
  type RedisServer,
} from '../../test/support/redis-server.js';
import {
  dynamoDbLocalClient,
  dynamoDbLocalUnavailable,
  startDynamoDbLocal,
  type DynamoDbLocal,
} from '../../test/support/dynamodb-local.js';

/** The application side of a trial: one connection of the store's own client. */
export interface AppWriter {
  /** set `note` on one document, atomically; true when the store acknowledged it */
  write(key: string, note: string): Promise<boolean>;
  close(): Promise<void>;
}

export interface SoakStore {
  readonly name: string;
  /** why this store cannot run here, or null */
  unavailable(): string | null;
  start(): Promise<void>;
  /** a fresh, empty store for one trial; `dir` is the trial's temp dir */
  reset(dir: string): Promise<string>;
  writer(url: string): Promise<AppWriter>;
  stop(): Promise<void>;
  /**
   * the kill's random moment is counted from the first migrated document instead of the start
   * line: for a store whose first write comes long after the start (DynamoDB Local creating the
   * state tables), where a kill timed from the start mostly landed before anything was written
   */
  readonly timeKillFromFirstWrite?: boolean;
}

const sqlite: SoakStore = {
  name: 'sqlite',
  unavailable: () => null,
  async start() {},
  async reset(dir) {
    const file = path.join(dir, 'data.db');
    fs.rmSync(file, { force: true });
    return `sqlite:${file}`;
  },
  async writer(url) {
    const db = new Database(url.slice('sqlite:'.length), { timeout: 5000 });
    // the adapter's trigger gives the row a fresh rev: this is a write Switchyard did not make
    const update = db.prepare(`UPDATE users SET doc = json_set(doc, '$.note', ?) WHERE k = ?`);
    return {
      async write(key, note) {
        try {
          return update.run(note, key).changes === 1;
        } catch {
          return false; // SQLITE_BUSY past the timeout: not acknowledged
        }
      },
      async close() {
        db.close();
      },
    };
  },
  async stop() {},
};

function redisStore(): SoakStore {
  let server: RedisServer | undefined;
  return {
    name: 'redis',
    unavailable: () => (redisServerPath() === null ? NO_REDIS_REASON : null),
    async start() {
      server = await startRedisServer();
    },
    async reset() {
      const client = new Redis(server!.url, { lazyConnect: true });
      await client.connect();
      await client.flushdb();
      await client.quit();
      return `${server!.url}/0?prefix=soak:`;
    },
    async writer(url) {
      const client = new Redis(server!.url, { maxRetriesPerRequest: 1 });
      const prefix = new URL(url).searchParams.get('prefix') ?? '';
      return {
        // compare-and-set with the client's own tools: WATCH the key, read, EXEC only if untouched
        async write(key, note) {
          const k = `${prefix}users:${key}`;
          try {
            await client.watch(k);
            const text = await client.get(k);
            if (text === null) {
              await client.unwatch();
              return false;
            }
            const doc = JSON.parse(text) as Record<string, unknown>;
            doc.note = note;
            const r = await client.multi().set(k, JSON.stringify(doc)).exec();
            return r !== null && r[0]?.[0] === null;
          } catch {
            return false;
          }
        },
        async close() {
          await client.quit();
        },
      };
    },
    async stop() {
      await server?.stop();
    },
  };
}

/**
 * Amazon's DynamoDB Local, in memory, a fresh server for every trial (a few seconds to start).
 * One server for the whole soak, with a table prefix per trial, got slower with every trial: the
 * tables Switchyard makes have a stream, and DynamoDB Local's cost per write grows with the
 * streamed tables it holds (4 trials took 30 minutes on a loaded machine; one trial alone takes about 20 s). The trial's own
 * prefix stays, so its tables are named as before. The application writes with
 * the SDK's own UpdateItem (`SET note`, conditional on the item existing): one atomic request,
 * which changes the item's content and so the rev Switchyard's whole-item conditions check.
 */
function dynamoStore(): SoakStore {
  let server: DynamoDbLocal | undefined;
  let trial = 0;
  return {
    name: 'dynamodb',
    timeKillFromFirstWrite: true,
    unavailable: () => dynamoDbLocalUnavailable(),
    async start() {
      server = await startDynamoDbLocal();
    },
    async reset() {
      trial += 1;
      if (trial > 1) {
        await server?.stop();
        server = await startDynamoDbLocal();
      }
      return `dynamodb://127.0.0.1:${server!.port}?region=local&prefix=soak${trial}_`;
    },
    async writer(url) {
      const client = DynamoDBDocumentClient.from(dynamoDbLocalClient(server!));
      const table = `${new URL(url).searchParams.get('prefix') ?? ''}users`;
      return {
        async write(key, note) {
          try {
            await client.send(
              new UpdateCommand({
                TableName: table,
                Key: { _key: key },
                UpdateExpression: 'SET #n = :n',
                ConditionExpression: 'attribute_exists(#k)',
                ExpressionAttributeNames: { '#n': 'note', '#k': '_key' },
                ExpressionAttributeValues: { ':n': note },
              }),
            );
            return true;
          } catch {
            return false; // condition failed or the request failed: not acknowledged
          }
        },
        async close() {
          client.destroy();
        },
      };
    },
    async stop() {
      await server?.stop();
    },
  };
}

/** The stores `npm run soak` knows, in order. */
export function soakStores(): SoakStore[] {
  return [sqlite, redisStore(), dynamoStore()];
}
