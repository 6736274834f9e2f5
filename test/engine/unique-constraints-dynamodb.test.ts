/**
 * The store's own unique constraints (issue 13 item 13) on DynamoDB Local: a table keyed
 * `pk` + `sk` with a GSI. `plan` names the key attributes as a unique constraint (source: the
 * table key, unique by construction) beside the declared `email`, and says the GSI is not
 * unique; a collision the transform makes in `email` is still found; `verify` names the table
 * key as kept unique by the store (not scanned) and checks `email` over the table.
 */
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { plan } from '../../src/engine/plan.js';
import { verify } from '../../src/engine/verify.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { lowercase } from '../../src/migration/index.js';
import { openStore } from '../../src/store/open-store.js';
import {
  dynamoDbLocalClient,
  dynamoDescribe,
  useDynamoDbLocal,
  type DynamoDbLocal,
} from '../support/dynamodb-local.js';
import { contextFor } from './backfill-fixtures.js';

let server: () => DynamoDbLocal;
const N = 40;

dynamoDescribe('unique constraints of a DynamoDB table', () => {
  server = useDynamoDbLocal({ timeoutMs: 120_000 }); // the JVM starts slowly on a loaded machine

  it('the table key is reported as unique, the GSI as not; declared fields are checked', async () => {
    const app = DynamoDBDocumentClient.from(dynamoDbLocalClient(server()));
    await app.send(
      new CreateTableCommand({
        TableName: 'uq_users',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'email', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'by-email',
            KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const items = Array.from({ length: N }, (_, i) => ({
      pk: `T#${i % 4}`,
      sk: `U#${String(i).padStart(3, '0')}`,
      email: `User${i}@Example.COM`,
    }));
    // the transform makes this one collide with U#005's e-mail
    items.push({ pk: 'T#9', sk: 'U#twin', email: 'user5@example.com' });
    for (let i = 0; i < items.length; i += 25)
      await app.send(
        new BatchWriteCommand({
          RequestItems: {
            uq_users: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })),
          },
        }),
      );
    const store = await openStore(`${server().url}&prefix=uq_`);
    try {
      const m = compileMigration({
        id: 'uq-lower',
        collection: 'users',
        unique: ['email'],
        operations: [lowercase('email')],
      });
      const p = await plan(store, m, { sample: N + 1 });
      expect(p.unique).toEqual({
        checked: [
          { name: 'email', source: 'declared' },
          { name: 'pk+sk', source: "DynamoDB table key of 'uq_users' (unique by construction)" },
        ],
        notUnique: ["GSI 'by-email' (DynamoDB secondary indexes are not unique)"],
      });
      expect(p.collisions).toHaveLength(1);
      expect(p.collisions![0]).toMatchObject({ field: 'email', value: '"user5@example.com"' });

      const ctx = contextFor(store);
      expect((await backfill(ctx, m, { batchSize: 20 })).outcome).toBe('backfilled');
      const report = await verify(ctx, m);
      expect(report.ok).toBe(false);
      expect(report.unique).toMatchObject({
        fields: ['email'],
        documents: N + 1,
        collisions: 1,
        keptByStore: [
          { name: 'pk+sk', source: "DynamoDB table key of 'uq_users' (unique by construction)" },
        ],
        notUnique: ["GSI 'by-email' (DynamoDB secondary indexes are not unique)"],
      });
    } finally {
      await store.close();
    }
  }, 120_000);
});
