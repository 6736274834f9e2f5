/**
 * Bad input against DynamoDB, through the real CLI on DynamoDB Local: a wrong endpoint, a wrong
 * region, a missing table, a table whose key schema the documents do not fit, and malformed
 * store URLs each give a clear message and exit 2, and nothing is written anywhere (no table
 * created, not even Switchyard's own state tables). A table without a stream for catch-up:
 * test/engine/catchup-dynamodb.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  CreateTableCommand,
  type DynamoDBClient,
  ListTablesCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../support/server-process.js';
import { runCli } from '../support/cli-process.js';
import {
  dynamoDbLocalClient,
  dynamoDescribe,
  startDynamoDbLocal,
  type DynamoDbLocal,
} from '../support/dynamodb-local.js';
import { tempDir } from '../engine/backfill-fixtures.js';

let server: DynamoDbLocal;
let dir: string;

function cli(store: string, ...args: string[]) {
  return runCli(dir, ['--store', store, '--migrations', path.join(dir, 'migrations'), ...args]);
}

function sdk(region = 'local'): DynamoDBClient {
  return dynamoDbLocalClient(server, region);
}

async function tables(region = 'local'): Promise<string[]> {
  const c = sdk(region);
  try {
    return (await c.send(new ListTablesCommand({}))).TableNames ?? [];
  } finally {
    c.destroy();
  }
}

dynamoDescribe('bad input against DynamoDB: exit 2, a clear message, nothing written', () => {
  beforeAll(async () => {
    server = await startDynamoDbLocal();
    dir = tempDir('sy-ddb-bad-');
    fs.mkdirSync(path.join(dir, 'migrations'));
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261120-split.mjs'),
      `import { defineMigration, splitField } from 'switchyard';
export default defineMigration({ collection: 'users', operations: [splitField('name', ['first', 'last'], ' ')] });
`,
    );
    fs.writeFileSync(
      path.join(dir, 'users.ndjson'),
      `${Array.from({ length: 30 }, (_, i) => JSON.stringify({ _id: `u${i}`, name: `A${i} B` })).join('\n')}\n`,
    );
  });
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a wrong endpoint: nothing answers there', async () => {
    const port = await freePort();
    const r = await cli(`dynamodb://127.0.0.1:${port}?region=local`, 'count', 'users');
    expect(r.code).toBe(2);
    expect(r.out).toMatch(
      /cannot connect to dynamodb:\/\/127\.0\.0\.1:\d+\?region=local: nothing answered/,
    );
    expect(r.out).toMatch(/check the host and port/);
  });

  it('a wrong region or prefix: the table is not there, and nothing is created there', async () => {
    const good = `${server.url}&prefix=bi_`;
    expect((await cli(good, 'import', 'users', path.join(dir, 'users.ndjson'))).code).toBe(0);
    const before = await tables('local');
    const wrongRegion = `dynamodb://127.0.0.1:${server.port}?region=eu-west-1&prefix=bi_`;
    for (const args of [
      ['backfill', 'split'],
      ['verify', 'split'],
      ['plan', 'split'],
      ['export', 'users'],
    ]) {
      const r = await cli(wrongRegion, ...args);
      expect(r.code, `${args.join(' ')}: ${r.out}`).toBe(2);
      expect(r.out).toMatch(
        /table 'bi_users' \(collection 'users'\) does not exist in .*region eu-west-1, prefix 'bi_'/,
      );
      expect(r.out).toMatch(/DynamoDB Local keeps a separate database per access key and region/);
    }
    expect(await tables('eu-west-1')).toEqual([]);
    const wrongPrefix = await cli(`${server.url}&prefix=bj_`, 'backfill', 'split');
    expect(wrongPrefix.code).toBe(2);
    expect(wrongPrefix.out).toMatch(/the tables there are .*bi_users/);
    expect(await tables('local')).toEqual(before);
  });

  it("documents that do not fit the table's key schema are refused before anything is written", async () => {
    const c = sdk();
    await c.send(
      new CreateTableCommand({
        TableName: 'ks_users',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'N' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const r = await cli(
      `${server.url}&prefix=ks_`,
      'import',
      'users',
      path.join(dir, 'users.ndjson'),
    );
    expect(r.code).toBe(2);
    expect(r.out).toMatch(
      /key 'u0' of table 'ks_users' must be a JSON array \[partitionKey, sortKey\] of two strings: the table's key is pk \+ sk/,
    );
    expect((await c.send(new ScanCommand({ TableName: 'ks_users' }))).Count).toBe(0);
    c.destroy();
  });

  it('malformed DynamoDB store URLs', async () => {
    for (const [url, why] of [
      [`${server.url}&writes=sometimes`, /writes must be partiql or transactions, got 'sometimes'/],
      ['dynamodb://aws?region=europe', /'europe' is not an AWS region name/],
      [`${server.url}&regoin=x`, /unknown parameter 'regoin'/],
    ] as const) {
      const r = await cli(url, 'count', 'users');
      expect(r.code, r.out).toBe(2);
      expect(r.out).toMatch(why);
    }
  });
});
