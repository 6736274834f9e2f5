/**
 * DynamoDB adapter behaviour beyond the conformance suite, on DynamoDB Local: the item layout the
 * application sees, conditional writes on nested documents and under application UpdateItems,
 * tables with the application's own key schema, limits, throttling and unprocessed items.
 */
import { describe, expect, it } from 'vitest';
import {
  CreateTableCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { Decimal128, ObjectId } from 'bson';
import { StoreError, StoreUrlError } from '../../src/core/errors.js';
import { canonicalString, type Doc, type Value } from '../../src/core/values.js';
import {
  collectionNameOf,
  DynamoStore,
  tableNameOf,
  type DynamoClient,
} from '../../src/store/dynamodb/dynamodb-adapter.js';
import { openStore } from '../../src/store/open-store.js';
import {
  DocumentTooLargeError,
  StoreThrottledError,
  StoreEndpointError,
} from '../../src/store/store-errors.js';
import { dynamoDescribe, useDynamoDbLocal, type DynamoDbLocal } from '../support/dynamodb-local.js';

let server: () => DynamoDbLocal;
let n = 0;

async function open(): Promise<DynamoStore> {
  n += 1;
  return (await openStore(`${server().url}&prefix=d${n}_`)) as DynamoStore;
}

const sdk = (s: DynamoStore) => s.client as unknown as DynamoDBClient;

dynamoDescribe('dynamodb adapter', () => {
  server = useDynamoDbLocal();

  it('opens dynamodb:// URLs, rejects unknown parameters, fails fast and redacted', async () => {
    const s = await openStore(server().url);
    expect(s.kind).toBe('dynamodb');
    await s.close();
    await expect(openStore(`${server().url}&regoin=x`)).rejects.toThrow(StoreUrlError);
    await expect(openStore('dynamodb://aws/tables?region=eu-west-1')).rejects.toThrow(/no path/);
    const err = await openStore('dynamodb://key:hunter2@127.0.0.1:1?region=local').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreEndpointError);
    expect((err as StoreEndpointError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/check the host and port/);
    expect((err as Error).message).toContain('dynamodb://key:***@127.0.0.1:1');
    expect((err as Error).message).not.toContain('hunter2');
  });

  it('creates a PAY_PER_REQUEST table keyed by _key and stores native attributes', async () => {
    const s = await open();
    const c = s.collection('users');
    const doc: Doc = {
      name: 'Ada',
      age: 36,
      score: 1.5,
      tags: ['a', 'b'],
      address: { city: 'London' },
      id: new ObjectId('5ca4bbcea2dd94ee58162a68') as unknown as Value,
      empty: '',
    };
    await c.write([{ type: 'put', key: 'u1', doc }]);
    const table = await sdk(s).send(new DescribeTableCommand({ TableName: c.tableName }));
    expect(table.Table?.KeySchema).toEqual([{ AttributeName: '_key', KeyType: 'HASH' }]);
    expect(table.Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const item = await sdk(s).send(
      new GetItemCommand({ TableName: c.tableName, Key: { _key: { S: 'u1' } } }),
    );
    expect(item.Item).toEqual({
      _key: { S: 'u1' },
      name: { S: 'Ada' },
      age: { N: '36' },
      score: { N: '1.5' },
      tags: { L: [{ S: 'a' }, { S: 'b' }] },
      address: { M: { city: { S: 'London' } } },
      id: { M: { $oid: { S: '5ca4bbcea2dd94ee58162a68' } } },
      empty: { S: '' },
    });
    expect((await c.get('u1'))?.doc).toEqual(doc);
    await s.close();
  });

  it('conditional writes compare nested maps and lists member by member', async () => {
    const s = await open();
    const c = s.collection('nested');
    const doc: Doc = { a: { b: [1, { c: 'x' }], e: {} }, l: [[], [null, true]], n: null };
    await c.write([{ type: 'put', key: 'k', doc }]);
    const read = (await c.get('k'))!;
    const [ok] = await c.write([{ type: 'put', key: 'k', doc: { ...doc, v: 2 }, ifRev: read.rev }]);
    expect(ok?.ok).toBe(true);
    const now = (await c.get('k'))!;
    if (ok?.ok) expect(ok.rev).toBe(now.rev);
    // the application changes one nested value: the rev changes and a stale write conflicts
    await sdk(s).send(
      new UpdateItemCommand({
        TableName: c.tableName,
        Key: { _key: { S: 'k' } },
        UpdateExpression: 'SET a.b[1].c = :y',
        ExpressionAttributeValues: { ':y': { S: 'y' } },
      }),
    );
    const changed = (await c.get('k'))!;
    expect(changed.rev).not.toBe(now.rev);
    const [stale] = await c.write([{ type: 'put', key: 'k', doc: { v: 3 }, ifRev: now.rev }]);
    expect(stale).toEqual({ key: 'k', ok: false, reason: 'conflict', currentRev: changed.rev });
    const [del] = await c.write([{ type: 'delete', key: 'k', ifRev: now.rev }]);
    expect(del?.ok).toBe(false);
    expect((await c.get('k'))!.doc).toEqual({
      a: { b: [1, { c: 'y' }], e: {} },
      l: [[], [null, true]],
      n: null,
      v: 2,
    });
    await s.close();
  });

  it('an attribute the application adds meanwhile is kept, unless the write sets it too', async () => {
    const s = await open();
    const c = s.collection('merge');
    await c.write([{ type: 'put', key: 'k', doc: { name: 'Ada', old: 1 } }]);
    const read = (await c.get('k'))!;
    await sdk(s).send(
      new UpdateItemCommand({
        TableName: c.tableName,
        Key: { _key: { S: 'k' } },
        UpdateExpression: 'SET lastLogin = :t',
        ExpressionAttributeValues: { ':t': { S: '2024-01-01' } },
      }),
    );
    // the transform renamed old -> renamed: the login the application recorded survives
    const [r] = await c.write([
      { type: 'put', key: 'k', doc: { name: 'Ada', renamed: 1 }, ifRev: read.rev },
    ]);
    expect(r?.ok).toBe(true);
    const after = (await c.get('k'))!;
    expect(after.doc).toEqual({ name: 'Ada', renamed: 1, lastLogin: '2024-01-01' });
    // the rev a write returns is the rev of what it wrote (not asked back from DynamoDB): here the
    // item also holds the application's attribute, so reading it gives another rev
    const written = r?.ok ? r.rev! : '';
    expect(written).not.toBe(after.rev);
    // a write on that rev from another process (nothing remembered) finds another rev: conflict
    const other = (await openStore(`${server().url}&prefix=${s.prefix}`)) as DynamoStore;
    const [fromOther] = await other
      .collection('merge')
      .write([{ type: 'put', key: 'k', doc: { name: 'Bob', renamed: 1 }, ifRev: written }]);
    expect(fromOther).toMatchObject({ ok: false, currentRev: after.rev });
    await other.close();
    // in this process it remembers what it wrote: the write goes ahead and keeps the attribute,
    // as if the application's write came after it
    const [again] = await c.write([
      { type: 'put', key: 'k', doc: { name: 'Cy', renamed: 1 }, ifRev: written },
    ]);
    expect(again?.ok).toBe(true);
    expect((await c.get('k'))!.doc).toEqual({ name: 'Cy', renamed: 1, lastLogin: '2024-01-01' });
    await c.write([{ type: 'put', key: 'k', doc: after.doc, ifRev: (await c.get('k'))!.rev }]);
    // a write that would set the attribute the application just added conflicts instead
    await sdk(s).send(
      new UpdateItemCommand({
        TableName: c.tableName,
        Key: { _key: { S: 'k' } },
        UpdateExpression: 'SET flag = :t',
        ExpressionAttributeValues: { ':t': { BOOL: true } },
      }),
    );
    const [r2] = await c.write([
      { type: 'put', key: 'k', doc: { ...after.doc, flag: false }, ifRev: after.rev },
    ]);
    expect(r2?.ok).toBe(false);
    await s.close();
  });

  it('large lists and maps are compared whole: the write goes through, a change deep inside conflicts', async () => {
    const s = await open();
    const c = s.collection('budget');
    const doc: Doc = {
      big: Array.from({ length: 400 }, (_, i) => i),
      m: { a: { b: [1, 2] } },
      v: 1,
    };
    await c.write([{ type: 'put', key: 'k', doc }]);
    const read = (await c.get('k'))!;
    const [r] = await c.write([{ type: 'put', key: 'k', doc: { ...doc, v: 2 }, ifRev: read.rev }]);
    expect(r?.ok).toBe(true);
    const now = (await c.get('k'))!;
    await sdk(s).send(
      new UpdateItemCommand({
        TableName: c.tableName,
        Key: { _key: { S: 'k' } },
        UpdateExpression: 'SET big[399] = :x',
        ExpressionAttributeValues: { ':x': { N: '-1' } },
      }),
    );
    const [stale] = await c.write([
      { type: 'put', key: 'k', doc: { ...doc, v: 3 }, ifRev: now.rev },
    ]);
    expect(stale?.ok).toBe(false);
    expect(((await c.get('k'))!.doc.big as number[])[399]).toBe(-1);
    expect((await c.get('k'))!.doc.v).toBe(2);
    await s.close();
  });

  it('a rev read by another process (nothing remembered) still guards the write', async () => {
    const s = await open();
    await s.collection('x').write([{ type: 'put', key: 'k', doc: { v: 1 } }]);
    const rev = (await s.collection('x').get('k'))!.rev;
    const other = (await openStore(`${server().url}&prefix=${s.prefix}`)) as DynamoStore;
    const [stale] = await other
      .collection('x')
      .write([{ type: 'put', key: 'k', doc: { v: 2 }, ifRev: 'not-the-rev' }]);
    expect(stale).toEqual({ key: 'k', ok: false, reason: 'conflict', currentRev: rev });
    const [ok] = await other
      .collection('x')
      .write([{ type: 'put', key: 'k', doc: { v: 2 }, ifRev: rev }]);
    expect(ok?.ok).toBe(true);
    // writing back exactly what is stored succeeds without a change
    const now = (await other.collection('x').get('k'))!;
    const [same] = await other
      .collection('x')
      .write([{ type: 'put', key: 'k', doc: { v: 2 }, ifRev: now.rev }]);
    expect(same).toEqual({ key: 'k', ok: true, rev: now.rev });
    await other.close();
    await s.close();
  });

  it('a document over 400 KB raises DocumentTooLargeError before anything of the batch is written', async () => {
    const s = await open();
    const c = s.collection('big');
    const err = await c
      .write([
        { type: 'put', key: 'small', doc: { v: 1 } },
        { type: 'put', key: 'large', doc: { blob: 'x'.repeat(410 * 1024) } },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DocumentTooLargeError);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as DocumentTooLargeError).key).toBe('large');
    expect((err as Error).message).toMatch(/400 KB/);
    expect(await c.get('small')).toBeNull();
    // just under the limit is fine
    await c.write([{ type: 'put', key: 'fits', doc: { blob: 'x'.repeat(390 * 1024) } }]);
    expect(((await c.get('fits'))!.doc.blob as string).length).toBe(390 * 1024);
    await s.close();
  });

  it("works on the application's tables: its own partition key, a composite key, number keys", async () => {
    const s = await open();
    const users = s.collection('app_users');
    await sdk(s).send(
      new CreateTableCommand({
        TableName: users.tableName,
        AttributeDefinitions: [{ AttributeName: 'userId', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await sdk(s).send(
      new PutItemCommand({
        TableName: users.tableName,
        Item: { userId: { S: 'u1' }, name: { S: 'Ada' } },
      }),
    );
    expect(await users.get('u1')).toMatchObject({ key: 'u1', doc: { userId: 'u1', name: 'Ada' } });
    await users.write([{ type: 'put', key: 'u2', doc: { name: 'Bob' } }]);
    expect((await users.get('u2'))?.doc).toEqual({ name: 'Bob', userId: 'u2' });
    await expect(
      users.write([{ type: 'put', key: 'u3', doc: { userId: 'someone-else' } }]),
    ).rejects.toThrow(/does not hold the document's key/);

    const events = s.collection('app_events');
    await sdk(s).send(
      new CreateTableCommand({
        TableName: events.tableName,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'ts', AttributeType: 'N' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'ts', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await events.write([
      { type: 'put', key: '["a","1"]', doc: { what: 'x' } },
      { type: 'put', key: '["a","2"]', doc: { what: 'y' } },
    ]);
    const page = await events.scan({ limit: 10 });
    expect(page.items.map((i) => i.key).sort()).toEqual(['["a","1"]', '["a","2"]']);
    expect(page.items[0]!.doc).toMatchObject({ pk: 'a' });
    expect(
      (await events.getMany(['["a","2"]', '["b","1"]'])).map((x) => x?.doc.what ?? null),
    ).toEqual(['y', null]);
    await expect(events.get('a')).rejects.toThrow(/JSON array \[partitionKey, sortKey\]/);
    await s.close();
  });

  it('keys the _key attribute cannot hold as they are (empty, leading U+0000) round-trip', async () => {
    const s = await open();
    const c = s.collection('keys');
    const keys = ['', '\u0000', '\u0000x', 'plain'];
    await c.write(keys.map((key) => ({ type: 'put' as const, key, doc: { key } })));
    expect((await c.getMany(keys)).map((x) => x?.doc.key)).toEqual(keys);
    const scanned = (await c.scan({ limit: 10 })).items.map((x) => x.key).sort();
    expect(scanned).toEqual([...keys].sort());
    await s.close();
  });

  it('reads values the application wrote natively: sets, long numbers', async () => {
    const s = await open();
    const c = s.collection('native');
    await c.write([{ type: 'put', key: 'k', doc: {} }]);
    await sdk(s).send(
      new PutItemCommand({
        TableName: c.tableName,
        Item: {
          _key: { S: 'k' },
          tags: { SS: ['b', 'a'] },
          ns: { NS: ['1', '2.5'] },
          exact: { N: '12345678901234567890.123456789' },
          money: { N: '1.50' },
        },
      }),
    );
    const doc = (await c.get('k'))!.doc;
    expect([...(doc.tags as string[])].sort()).toEqual(['a', 'b']);
    expect([...(doc.ns as number[])].sort()).toEqual([1, 2.5]);
    expect(canonicalString(doc.exact!)).toBe(
      canonicalString(Decimal128.fromString('12345678901234567890.123456789') as unknown as Value),
    );
    expect(doc.money).toBe(1.5);
    await s.close();
  });

  it('scan cursors are JSON that resume in another process; segments cover every item once', async () => {
    const s = await open();
    const c = s.collection('scan');
    const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
    await c.write(keys.map((key) => ({ type: 'put' as const, key, doc: {} })));
    const ranges = JSON.parse(JSON.stringify(await c.split(4))) as Awaited<
      ReturnType<typeof c.split>
    >;
    expect(ranges).toEqual([
      { id: '1/4', segment: 0, segments: 4 },
      { id: '2/4', segment: 1, segments: 4 },
      { id: '3/4', segment: 2, segments: 4 },
      { id: '4/4', segment: 3, segments: 4 },
    ]);
    const all: string[] = [];
    for (const range of ranges) {
      let cursor: string | null = null;
      do {
        const t = (await openStore(`${server().url}&prefix=${s.prefix}`)) as DynamoStore;
        const page = await t.collection('scan').scan({ range, cursor, limit: 17 });
        await t.close();
        all.push(...page.items.map((x) => x.key));
        cursor = page.cursor;
        if (cursor !== null) expect(JSON.parse(cursor)).toHaveProperty('_key');
      } while (cursor !== null);
    }
    expect(all.sort()).toEqual([...keys].sort());
    await s.close();
  });

  it('collection names that are not table names are encoded, and listed by their own name', async () => {
    expect(tableNameOf('', 'users')).toBe('users');
    expect(tableNameOf('', 'ab')).toBe('__YWI');
    expect(tableNameOf('p_', 'ab')).toBe('p_ab');
    expect(tableNameOf('', 'a b')).toBe('__YSBi');
    expect(tableNameOf('', '__x')).toBe('__X194');
    for (const name of ['users', 'ab', 'a b', '__x', 'ключ']) {
      expect(collectionNameOf('p_', tableNameOf('p_', name))).toBe(name);
    }
    expect(collectionNameOf('p_', 'other')).toBeNull();
  });

  it('dropCollection deletes the table; the next write creates it again', async () => {
    const s = await open();
    await s.collection('t').write([{ type: 'put', key: 'a', doc: {} }]);
    await s.dropCollection('t');
    expect(await s.listCollections()).toEqual([]);
    expect(await s.collection('t').get('a')).toBeNull();
    await s.collection('t').write([{ type: 'put', key: 'b', doc: {} }]);
    expect(await s.collection('t').count()).toBe(1);
    await s.close();
  });
});

describe('dynamodb adapter under throttling (scripted client)', () => {
  const TABLE = {
    Table: {
      TableStatus: 'ACTIVE',
      KeySchema: [{ AttributeName: '_key', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: '_key', AttributeType: 'S' }],
    },
  };

  function scripted(batchWrite: (input: { RequestItems: Record<string, unknown[]> }) => unknown) {
    const calls: string[] = [];
    const client: DynamoClient = {
      async send(command: object) {
        const name = command.constructor.name;
        calls.push(name);
        const input = (command as { input: unknown }).input;
        if (name === 'DescribeTableCommand') return TABLE;
        if (name === 'BatchWriteItemCommand')
          return batchWrite(input as { RequestItems: Record<string, unknown[]> });
        if (name === 'GetItemCommand') {
          const err = new Error('Rate of requests exceeds the allowed throughput.');
          err.name = 'ThrottlingException';
          throw err;
        }
        throw new Error(`unexpected ${name}`);
      },
      destroy() {},
    };
    return { client, calls };
  }

  it('retries unprocessed items with back-off until all are written', async () => {
    let round = 0;
    const written: string[] = [];
    const { client } = scripted(({ RequestItems }) => {
      round += 1;
      const reqs = RequestItems.things as { PutRequest: { Item: { _key: { S: string } } } }[];
      // the first two rounds process only the first request
      const done = round <= 2 ? reqs.slice(0, 1) : reqs;
      written.push(...done.map((r) => r.PutRequest.Item._key.S));
      const rest = reqs.slice(done.length);
      return rest.length > 0 ? { UnprocessedItems: { things: rest } } : {};
    });
    const store = new DynamoStore(client, 'dynamodb://test', { retryBaseMs: 1 });
    const results = await store
      .collection('things')
      .write(['a', 'b', 'c', 'd'].map((key) => ({ type: 'put' as const, key, doc: { key } })));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(written.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(round).toBe(3);
  });

  it('gives up with a throttled StoreError, never silently, when items stay unprocessed', async () => {
    const { client } = scripted(({ RequestItems }) => ({ UnprocessedItems: RequestItems }));
    const store = new DynamoStore(client, 'dynamodb://test', { retryBaseMs: 1, maxRetries: 3 });
    const err = await store
      .collection('things')
      .write([{ type: 'put', key: 'a', doc: {} }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreThrottledError);
    expect((err as StoreThrottledError).throttled).toBe(true);
    expect((err as Error).message).toMatch(/unprocessed 3 times.*nothing was dropped/);
  });

  it('maps the SDK throttling errors to StoreThrottledError', async () => {
    const { client } = scripted(() => ({}));
    const store = new DynamoStore(client, 'dynamodb://test');
    const err = await store
      .collection('things')
      .get('a')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreThrottledError);
    expect((err as StoreThrottledError).code).toBe('E_STORE_THROTTLED');
    expect((err as Error).message).toMatch(/ThrottlingException/);
  });
});
