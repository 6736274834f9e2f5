/**
 * The same migration on every store, through the real CLI: imported, backfilled, verified and
 * rolled back with --store sqlite:, redis://, redis+hash:// and dynamodb:// must give exactly the
 * same exported documents. And on each store, a backfill killed with SIGKILL and resumed while
 * the application writes through the store's OWN client (ioredis WATCH/MULTI/SET, HSET,
 * DynamoDB PutItem with a condition) loses no acknowledged write.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dynamoDbLocalClient,
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
import { tempDir } from './backfill-fixtures.js';
import { canonicalString, parseEJSON } from '../../src/core/values.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const hasRedis = redisServerPath() !== null;
const MIGRATION = `import { defineMigration, lowercase, splitField } from 'switchyard';
export default defineMigration({ collection: 'users', operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')] });
`;

let dir: string;
let redis: RedisServer | undefined;
let dynamo: DynamoDbLocal | undefined;
let dataFile: string;
let n = 0;

function writeData(file: string, count: number): void {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(
      JSON.stringify({
        _id: `u${String(i).padStart(5, '0')}`,
        name: `First${i} Last${i}`,
        email: `User${i}@Example.COM`,
        note: 'initial',
        n: { $numberInt: String(i) },
        balance: { $numberDecimal: `${i}.50` },
        joined: { $date: { $numberLong: String(1_600_000_000_000 + i * 1000) } },
        ratio: { $numberDouble: '1.0' },
        tags: ['a', { deep: [i, 'x'] }],
      }),
    );
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

/** Run the CLI as a child process (asynchronously: the test's own clients keep working). */
function cli(
  store: string,
  migrations: string,
  rest: string[],
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [path.join(root, 'bin/switchyard.js'), '--store', store, '--migrations', migrations, ...rest],
      {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' },
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

const canonical = (ndjson: string) =>
  ndjson
    .trim()
    .split('\n')
    .map((line) => canonicalString(parseEJSON(line)));

function migrationsDir(): string {
  const d = path.join(dir, `m${++n}`);
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, '20261120-split.ts'), MIGRATION);
  return d;
}

type Kind = 'sqlite' | 'redis' | 'redis+hash' | 'dynamodb';
const KINDS: Kind[] = ['sqlite', 'redis', 'redis+hash', 'dynamodb'];
function storeUrl(kind: Kind, tag: string): string {
  switch (kind) {
    case 'sqlite':
      return `sqlite:${path.join(dir, `${tag}.db`)}`;
    case 'redis':
    case 'redis+hash':
      return `${kind}://127.0.0.1:${redis!.port}/0?prefix=${tag}:`;
    case 'dynamodb':
      return `dynamodb://127.0.0.1:${dynamo!.port}?region=local&prefix=${tag}_`;
  }
}
const hasDynamo = dynamoDbLocalUnavailable() === null;
const available = (k: Kind) =>
  k === 'sqlite' || process.env.CI !== undefined || (k === 'dynamodb' ? hasDynamo : hasRedis);
const skipReason = (k: Kind) =>
  available(k) ? '' : ` (skipped: ${k === 'dynamodb' ? 'no DynamoDB Local' : NO_REDIS_REASON})`;

beforeAll(async () => {
  dir = tempDir('sy-e2e-');
  dataFile = path.join(dir, 'users.ndjson');
  writeData(dataFile, 1500);
  if (hasRedis) redis = await startRedisServer();
  if (hasDynamo || process.env.CI !== undefined) dynamo = await startDynamoDbLocal();
}, 120_000);
afterAll(async () => {
  await redis?.stop();
  await dynamo?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the same migration on every store gives the same documents', () => {
  const exports = new Map<Kind, { imported: string; backfilled: string; rolledBack: string }>();
  for (const kind of KINDS) {
    it.skipIf(!available(kind))(
      `${kind}${skipReason(kind)}: import, backfill, verify, rollback`,
      async () => {
        const store = storeUrl(kind, `same${kind.replace('+', '')}`);
        const m = migrationsDir();
        expect((await cli(store, m, ['import', 'users', dataFile])).code).toBe(0);
        const imported = (await cli(store, m, ['export', 'users'])).out;
        const bf = await cli(store, m, ['backfill', 'split', '--batch-size', '200']);
        expect(bf.code, bf.err).toBe(0);
        const backfilled = (await cli(store, m, ['export', 'users'])).out;
        const v = await cli(store, m, ['verify', 'split', '--full', '--json']);
        expect(v.code, v.out).toBe(0);
        expect(JSON.parse(v.out)).toMatchObject({ ok: true, compared: 1500, matched: 1500 });
        const rb = await cli(store, m, ['rollback', 'split', '--json']);
        expect(rb.code, rb.err).toBe(0);
        const rolledBack = (await cli(store, m, ['export', 'users'])).out;
        expect(canonical(rolledBack)).toEqual(canonical(imported)); // exactly the imported documents, in key order
        expect(JSON.parse(backfilled.split('\n')[7]!)).toMatchObject({
          first: 'First7',
          last: 'Last7',
        });
        exports.set(kind, { imported, backfilled, rolledBack });
        const base = exports.get('sqlite');
        if (base !== undefined && kind !== 'sqlite') {
          // the same documents in the same key order; compared canonically, since DynamoDB does not
          // keep the order of a document's attributes
          expect(canonical(imported)).toEqual(canonical(base.imported));
          expect(canonical(backfilled)).toEqual(canonical(base.backfilled));
          expect(canonical(rolledBack)).toEqual(canonical(base.rolledBack));
        }
      },
      120_000,
    );
  }
});

/** The application's own client, with its own optimistic concurrency, changing `note`. */
interface AppWriter {
  /** one read-modify-write; resolves true when the store acknowledged it */
  write(key: string, note: string): Promise<boolean>;
  close(): Promise<void>;
}

function appWriter(kind: Exclude<Kind, 'sqlite'>, tag: string): AppWriter {
  if (kind === 'redis') {
    const r = new Redis({ host: '127.0.0.1', port: redis!.port, lazyConnect: false });
    r.on('error', () => undefined); // the server stops at the end of the file
    return {
      async write(key, note) {
        const k = `${tag}:users:${key}`;
        await r.watch(k);
        const raw = await r.get(k);
        if (raw === null) {
          await r.unwatch();
          return false;
        }
        const doc = JSON.parse(raw) as Record<string, unknown>;
        doc.note = note;
        const res = await r.multi().set(k, JSON.stringify(doc)).exec();
        return res !== null; // null: someone wrote the key meanwhile, nothing was written
      },
      close: async () => void r.disconnect(),
    };
  }
  if (kind === 'redis+hash') {
    const r = new Redis({ host: '127.0.0.1', port: redis!.port });
    r.on('error', () => undefined);
    return {
      async write(key, note) {
        await r.hset(`${tag}:users:${key}`, 'note', note); // a field update: HSET
        return true;
      },
      close: async () => void r.disconnect(),
    };
  }
  const client = DynamoDBDocumentClient.from(dynamoDbLocalClient(dynamo!));
  const table = `${tag}_users`;
  return {
    async write(key, note) {
      const got = await client.send(
        new GetCommand({ TableName: table, Key: { _key: key }, ConsistentRead: true }),
      );
      if (got.Item === undefined) return false;
      const version = got.Item._sv as number | undefined;
      try {
        // PutItem, conditional on the schema version it read (the app's own optimistic check)
        await client.send(
          new PutCommand({
            TableName: table,
            Item: { ...got.Item, note },
            ConditionExpression: version === undefined ? 'attribute_not_exists(#sv)' : '#sv = :v',
            ExpressionAttributeNames: { '#sv': '_sv' },
            ...(version === undefined ? {} : { ExpressionAttributeValues: { ':v': version } }),
          }),
        );
        return true;
      } catch (err) {
        if ((err as Error).name === 'ConditionalCheckFailedException') return false;
        throw err;
      }
    },
    close: async () => client.destroy(),
  };
}

describe("kill -9 with the application writing through the store's own client", () => {
  for (const kind of ['redis', 'redis+hash', 'dynamodb'] as const) {
    it.skipIf(!available(kind))(
      `${kind}${skipReason(kind)}: exact, no acknowledged write lost`,
      async () => {
        const tag = `kill${kind.replace('+', '')}`;
        const store = storeUrl(kind, tag);
        const m = migrationsDir();
        const N = kind === 'dynamodb' ? 800 : 1500;
        const file = path.join(dir, `${tag}.ndjson`);
        writeData(file, N);
        expect((await cli(store, m, ['import', 'users', file])).code).toBe(0);
        const app = appWriter(kind, tag);
        const acknowledged = new Map<string, string>();
        let stop = false;
        let seq = 0;
        const writer = (async () => {
          while (!stop) {
            const key = `u${String(Math.floor(Math.random() * N)).padStart(5, '0')}`;
            const note = `app-${seq++}`;
            if (await app.write(key, note)) acknowledged.set(key, note);
            await new Promise((r) => setTimeout(r, 3));
          }
        })();
        const rate = kind === 'dynamodb' ? '150' : '300'; // slow enough that each run is killed mid-way
        for (let kill = 0; kill < 3; kill++) {
          const child: ChildProcess = spawn(
            process.execPath,
            [
              path.join(root, 'bin/switchyard.js'),
              '--store',
              store,
              '--migrations',
              m,
              'backfill',
              'split',
              '--rate',
              rate,
              '--batch-size',
              '50',
              '--partitions',
              '6',
            ],
            {
              cwd: dir,
              env: { PATH: process.env.PATH ?? '' },
              stdio: 'ignore',
            },
          );
          await new Promise((r) => setTimeout(r, 1500));
          expect(child.exitCode).toBeNull();
          child.kill('SIGKILL');
          await new Promise((r) =>
            child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r),
          );
        }
        const final = await cli(store, m, ['backfill', 'split', '--batch-size', '100']);
        stop = true;
        await writer;
        await app.close();
        expect(final.code, final.err).toBe(0);
        expect(acknowledged.size).toBeGreaterThan(20);
        const out = (await cli(store, m, ['export', 'users'])).out.trim().split('\n');
        expect(out).toHaveLength(N);
        for (const line of out) {
          const d = JSON.parse(line) as Record<string, unknown>;
          const i = Number((d.n as { $numberInt: string }).$numberInt);
          expect(d.first).toBe(`First${i}`);
          expect(d.last).toBe(`Last${i}`);
          expect(d.email).toBe(`user${i}@example.com`);
          expect(d._sv).toEqual({ $numberInt: '2' });
          expect(d.note).toBe(acknowledged.get(d._id as string) ?? 'initial');
        }
        const v = await cli(store, m, ['verify', 'split', '--json']);
        // the application's writes after the backfill changed documents: they show as mismatches
        // on `note` only, never anything else
        const report = JSON.parse(v.out);
        expect(Object.keys(report.paths).filter((p) => p !== 'note')).toEqual([]);
        expect(report.oldVersion).toBe(0);
      },
      180_000,
    );
  }
});
