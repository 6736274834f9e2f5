/**
 * Key-schema changes side by side on DynamoDB Local (issue 14 item 6): the application's table
 * `users` keyed `pk` = `USER#n` is copied to `users_v2` keyed `pk` = `U#n` while the application
 * writes and deletes through its own DocumentClient; catch-up follows the table's Stream; verify
 * pairs each USER#n with U#n; the runtime walks dual-write -> shadow -> live 100 -> rampdown with
 * mapped keys; rollback to off leaves the source whole; drop-target empties the new table. The
 * same scenario runs on SQLite in key-mapping.test.ts (key-mapping-scenario.ts).
 */
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { verify } from '../../src/engine/verify.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Doc } from '../../src/core/values.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import {
  dynamoDbLocalClient,
  dynamoDescribe,
  useDynamoDbLocal,
  type DynamoDbLocal,
} from '../support/dynamodb-local.js';
import { allDocs, contextFor } from './backfill-fixtures.js';
import { runKeyMappingScenario } from './key-mapping-scenario.js';

let server: () => DynamoDbLocal;

dynamoDescribe('key-schema change side by side on DynamoDB Local', () => {
  server = useDynamoDbLocal();

  it('USER#n -> U#n: copy under the application own writes (Streams catch-up), verify per pair, ramp to rampdown, rollback, drop-target', async () => {
    const app = DynamoDBDocumentClient.from(dynamoDbLocalClient(server()));
    for (const [table, stream] of [
      ['rk_users', true],
      ['rk_users_v2', false],
    ] as const)
      await app.send(
        new CreateTableCommand({
          TableName: table,
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
          ...(stream
            ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }
            : {}),
        }),
      );
    const store: Store = await openStore(`${server().url}&prefix=rk_`);
    const put = (TableName: string, Item: Doc) =>
      app.send(new PutCommand({ TableName, Item })).then(() => undefined);
    const del = (TableName: string, pk: string) =>
      app.send(new DeleteCommand({ TableName, Key: { pk } })).then(() => undefined);
    try {
      await runKeyMappingScenario(
        {
          store,
          put: (doc) => put('rk_users', doc),
          delete: (key) => del('rk_users', key),
          sourceDocs: () => allDocs(store, 'users'),
          targetDocs: () => allDocs(store, 'users_v2'),
          putTarget: (_key, doc) => put('rk_users_v2', doc),
          deleteTarget: (key) => del('rk_users_v2', key),
        },
        120,
        100,
      );
    } finally {
      await store.close();
    }
  }, 180_000);

  it('GSI key attributes filled in place (not the table key): allowed, verified, and the index answers', async () => {
    const app = DynamoDBDocumentClient.from(dynamoDbLocalClient(server()));
    await app.send(
      new CreateTableCommand({
        TableName: 'gsi_orders',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'gsi1pk', AttributeType: 'S' },
          { AttributeName: 'gsi1sk', AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'gsi1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const N = 100;
    for (let i = 0; i < N; i += 25)
      await app.send(
        new BatchWriteCommand({
          RequestItems: {
            gsi_orders: Array.from({ length: 25 }, (_, j) => ({
              PutRequest: {
                Item: {
                  pk: `ORDER#${i + j}`,
                  customerId: `c${(i + j) % 7}`,
                  createdAt: `2026-12-${String(((i + j) % 28) + 1).padStart(2, '0')}`,
                },
              },
            })),
          },
        }),
      );
    const store = await openStore(`${server().url}&prefix=gsi_`);
    try {
      const m = compileMigration({
        id: 'orders-gsi1',
        collection: 'orders',
        up: (d) => ({
          ...d,
          gsi1pk: `CUSTOMER#${String(d.customerId)}`,
          gsi1sk: `ORDER#${String(d.createdAt)}`,
        }),
        down: (d) => {
          const { gsi1pk: _p, gsi1sk: _s, ...rest } = d;
          return rest;
        },
      });
      const ctx = contextFor(store);
      const r = await backfill(ctx, m, { batchSize: 25 });
      expect(r.outcome).toBe('backfilled');
      expect(r.progress).toMatchObject({ migrated: N, deadLetters: 0 });
      const v = await verify(ctx, m, {});
      expect(v).toMatchObject({ ok: true, mismatched: 0 });
      const q = await app.send(
        new QueryCommand({
          TableName: 'gsi_orders',
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :c',
          ExpressionAttributeValues: { ':c': 'CUSTOMER#c3' },
        }),
      );
      const want = Array.from({ length: N }, (_, i) => i).filter((i) => i % 7 === 3);
      expect((q.Items ?? []).map((it) => it.pk).sort()).toEqual(
        want.map((i) => `ORDER#${i}`).sort(),
      );
    } finally {
      await store.close();
    }
  }, 120_000);
});
