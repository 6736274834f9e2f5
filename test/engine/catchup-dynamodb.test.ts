/**
 * Catch-up from DynamoDB, as real processes on DynamoDB Local: the source table's DynamoDB
 * Stream is the change feed. The application puts, updates and deletes items through its own
 * DocumentClient all along; `switchyard catchup` (killed with SIGKILL and restarted) follows the
 * stream into a target in an SQLite file while a side-by-side `backfill` copies the rest with the
 * stage off. At the end the target holds exactly up(source) — deletes included, no deleted item
 * brought back by the backfill — and `switchyard verify` says so. A table without a stream is
 * refused with exit 2 and the command that enables one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { expect, it } from 'vitest';
import type { CatchupState } from '../../src/engine/catchup.js';
import { canonicalString } from '../../src/core/values.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { renameField } from '../../src/migration/index.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import {
  dynamoDbLocalClient,
  dynamoDescribe,
  useDynamoDbLocal,
  type DynamoDbLocal,
} from '../support/dynamodb-local.js';
import { allDocs, tempDir } from './backfill-fixtures.js';
import { exitOf, startCli, type CliChild } from '../support/cli-process.js';

const ID = '20261120-users-v2';
const N = 500;

let server: () => DynamoDbLocal;
let dir: string;

type Child = CliChild;
const exited = exitOf;

function cli(store: string, ...args: string[]): Child {
  return startCli(dir, [
    '--store',
    store,
    '--migrations',
    path.join(dir, 'migrations'),
    '--json',
    ...args,
  ]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function appClient() {
  return DynamoDBDocumentClient.from(dynamoDbLocalClient(server()));
}

async function createTable(app: DynamoDBDocumentClient, table: string, stream: boolean) {
  await app.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: '_key', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: '_key', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      ...(stream
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }
        : {}),
    }),
  );
}

const keyOf = (i: number) => `u${String(i).padStart(6, '0')}`;

dynamoDescribe('catch-up from a DynamoDB Stream', () => {
  server = useDynamoDbLocal();

  it('the application puts, updates and deletes while catch-up (killed with SIGKILL, restarted) and a backfill run: the target is exactly up(source) and verify says so', async () => {
    dir = tempDir('sy-catchup-ddb-');
    fs.mkdirSync(path.join(dir, 'migrations'));
    const store = `${server().url}&prefix=cu_`;
    const targetUrl = `sqlite:${path.join(dir, 'target.db')}`;
    fs.writeFileSync(
      path.join(dir, 'migrations', `${ID}.mjs`),
      `import { defineMigration, renameField } from 'switchyard';
export default defineMigration({
  collection: 'users',
  target: { collection: 'users_v2', store: ${JSON.stringify(targetUrl)} },
  operations: [renameField('name', 'fullName')],
});
`,
    );
    const app = appClient();
    await createTable(app, 'cu_users', true);
    for (let i = 0; i < N; i += 25)
      await app.send(
        new BatchWriteCommand({
          RequestItems: {
            cu_users: Array.from({ length: Math.min(25, N - i) }, (_, j) => ({
              PutRequest: {
                Item: {
                  _key: keyOf(i + j),
                  _id: keyOf(i + j),
                  name: `P${i + j} Q`,
                  note: 'initial',
                },
              },
            })),
          },
        }),
      );

    const state: Store = await openStore(store);
    const readState = async () =>
      ((await state.collection('_sy_catchup').get(ID))?.doc ?? null) as CatchupState | null;
    const waitRunning = async (child: Child) => {
      for (let t = 0; t < 1200; t++) {
        const s = await readState();
        if (s?.running === true && s.pid === child.pid) return;
        if (child.exitCode !== null) throw new Error(`catch-up exited: ${child.output}`);
        await sleep(50);
      }
      throw new Error(`catch-up did not start: ${child.output}`);
    };

    let follower = cli(store, 'catchup', ID, '--poll-ms', '50', '--batch-size', '100');
    await waitRunning(follower);

    // the application, through its own client
    const ops = { puts: 0, updates: 0, deletes: 0 };
    let stop = false;
    const writer = (async () => {
      for (let seq = 0; !stop; seq++) {
        const i = Math.floor(Math.random() * (N + 200));
        const key = keyOf(i);
        const r = Math.random();
        if (r < 0.4) {
          await app.send(
            new PutCommand({
              TableName: 'cu_users',
              Item: { _key: key, _id: key, name: `New${i} P`, note: `app-${seq}` },
            }),
          );
          ops.puts++;
        } else if (r < 0.75) {
          try {
            await app.send(
              new UpdateCommand({
                TableName: 'cu_users',
                Key: { _key: key },
                UpdateExpression: 'SET note = :n',
                ConditionExpression: 'attribute_exists(#k)',
                ExpressionAttributeNames: { '#k': '_key' },
                ExpressionAttributeValues: { ':n': `app-${seq}` },
              }),
            );
            ops.updates++;
          } catch (err) {
            if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
          }
        } else {
          await app.send(new DeleteCommand({ TableName: 'cu_users', Key: { _key: key } }));
          ops.deletes++;
        }
        await sleep(3);
      }
    })();

    const backfill = cli(store, 'backfill', ID, '--batch-size', '50', '--rate', '150');
    for (let kill = 0; kill < 2; kill++) {
      await sleep(1500 + Math.random() * 1000);
      follower.kill('SIGKILL');
      await exited(follower);
      follower = cli(store, 'catchup', ID, '--poll-ms', '50', '--batch-size', '100');
      await waitRunning(follower);
    }
    expect(await exited(backfill), backfill.output).toBe(0);
    expect(backfill.output).toMatch(/"outcome":"backfilled"/);
    await sleep(500);
    stop = true;
    await writer;
    expect(ops.deletes).toBeGreaterThan(20);
    expect(ops.updates).toBeGreaterThan(20);
    follower.kill('SIGINT');
    expect(await exited(follower)).toBe(0);
    const last = cli(store, 'catchup', ID, '--until-idle');
    expect(await exited(last), last.output).toBe(0);
    expect(last.output).toMatch(/"outcome":"idle"/);

    const m = compileMigration({
      id: ID,
      collection: 'users',
      target: { collection: 'users_v2', store: targetUrl },
      operations: [renameField('name', 'fullName')],
    });
    const source = await openStore(store);
    const target = await openStore(targetUrl);
    try {
      const src = await allDocs(source);
      const tgt = await allDocs(target, 'users_v2');
      const missing = [...src.keys()].filter((k) => !tgt.has(k));
      const extra = [...tgt.keys()].filter((k) => !src.has(k));
      const stale = [...src].filter(
        ([k, d]) => tgt.has(k) && canonicalString(tgt.get(k)!) !== canonicalString(m.up(d)),
      );
      expect({ missing, extra, stale: stale.map(([k]) => k) }).toEqual({
        missing: [],
        extra: [],
        stale: [],
      });
      expect(src.size).toBeGreaterThan(N / 2);
    } finally {
      await source.close();
      await target.close();
    }
    const v = cli(store, 'verify', ID);
    expect(await exited(v), v.output).toBe(0);
    expect(v.output).toMatch(/"ok":\s*true/);
    const s = (await readState())!;
    expect(s).toMatchObject({ running: false, owner: null, lagMs: 0 });
    expect(s.deleted).toBeGreaterThan(0);
    await state.close();
    app.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it('a table without a stream is refused with exit 2, the command that enables one, and nothing written', async () => {
    dir = tempDir('sy-catchup-ddb-');
    fs.mkdirSync(path.join(dir, 'migrations'));
    const store = `${server().url}&prefix=ns_`;
    fs.writeFileSync(
      path.join(dir, 'migrations', `${ID}.mjs`),
      `import { defineMigration, renameField } from 'switchyard';
export default defineMigration({ collection: 'users', target: { collection: 'users_v2' }, operations: [renameField('name', 'fullName')] });
`,
    );
    const app = appClient();
    await createTable(app, 'ns_users', false);
    const r = cli(store, 'catchup', ID, '--until-idle');
    expect(await exited(r)).toBe(2);
    expect(r.output).toMatch(/table 'ns_users' has no DynamoDB Stream/);
    expect(r.output).toMatch(
      /aws dynamodb update-table --table-name ns_users --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES/,
    );
    const s = await openStore(store);
    expect(await s.collection('_sy_catchup').get(ID)).toBeNull();
    await s.close();
    app.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
