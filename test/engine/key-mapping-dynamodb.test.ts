/**
 * Key-schema changes side by side on DynamoDB Local (issue 14 item 6): the application's table
 * `users` keyed `pk` = `USER#n` is copied to `users_v2` keyed `pk` = `U#n` while the application
 * writes and deletes through its own DocumentClient; catch-up follows the table's Stream; verify
 * pairs each USER#n with U#n; the runtime walks dual-write -> shadow -> live 100 -> rampdown with
 * mapped keys; rollback to off leaves the source whole; drop-target empties the new table. The
 * same scenario runs on SQLite in key-mapping.test.ts (key-mapping-scenario.ts).
 */
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import {
  dynamoDbLocalClient,
  dynamoDescribe,
  startDynamoDbLocal,
  type DynamoDbLocal,
} from '../support/dynamodb-local.js';
import { allDocs } from './backfill-fixtures.js';
import { runKeyMappingScenario } from './key-mapping-scenario.js';

let server: DynamoDbLocal;

dynamoDescribe('key-schema change side by side on DynamoDB Local', () => {
  beforeAll(async () => {
    server = await startDynamoDbLocal();
  });
  afterAll(async () => server?.stop());

  it('USER#n -> U#n: copy under the application own writes (Streams catch-up), verify per pair, ramp to rampdown, rollback, drop-target', async () => {
    const app = DynamoDBDocumentClient.from(dynamoDbLocalClient(server));
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
    const store: Store = await openStore(`${server.url}&prefix=rk_`);
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
});
