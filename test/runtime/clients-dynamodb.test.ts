/**
 * wrapDocumentClient against DynamoDB Local: an application's own DocumentClient data layer
 * (Put, Update with SET/REMOVE/if_not_exists, Get, BatchGet, Query by key, Delete) runs
 * unchanged through every stage while concurrent writers load it. Each worker owns its keys, so
 * the last acknowledged write of a key is known exactly: every read must answer it (no stale
 * read), no request may fail, and at the end the new table holds every key's last write in the
 * new shape. Stages move on after a count of requests, never after a time.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocument,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { Stage } from '../../src/engine/stages.js';
import { wrapDocumentClient } from '../../src/runtime/clients/dynamodb-document.js';
import {
  dynamoDbLocalClient,
  dynamoDescribe,
  startDynamoDbLocal,
  type DynamoDbLocal,
} from '../support/dynamodb-local.js';
import {
  closeAfterEach,
  EVERY_STAGE,
  fixture,
  moveTo,
  newStore,
  walkStagesUnderLoad,
  yardFor,
} from './yard-fixtures.js';

const open = closeAfterEach();

const WORKERS = 4;
const KEYS_PER_WORKER = 4;
const REQUESTS_PER_STAGE = 24; // per worker

interface User {
  id: string;
  name: string;
  visits?: number;
  tags?: string[];
}

/** The application's data layer, written against the DocumentClient as it always was. */
function usersRepo(ddb: DynamoDBDocumentClient, table: string) {
  return {
    async save(u: User) {
      await ddb.send(new PutCommand({ TableName: table, Item: u }));
    },
    async rename(id: string, name: string) {
      const out = await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: { id },
          UpdateExpression: 'SET #n = :n, visits = if_not_exists(visits, :zero) + :one REMOVE tags',
          ExpressionAttributeNames: { '#n': 'name' },
          ExpressionAttributeValues: { ':n': name, ':zero': 0, ':one': 1 },
          ConditionExpression: 'attribute_exists(id)',
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as User;
    },
    async find(id: string) {
      return (await ddb.send(new GetCommand({ TableName: table, Key: { id } }))).Item as
        User | undefined;
    },
    async findMany(ids: string[]) {
      const out = await ddb.send(
        new BatchGetCommand({ RequestItems: { [table]: { Keys: ids.map((id) => ({ id })) } } }),
      );
      return (out.Responses?.[table] ?? []) as User[];
    },
    async query(id: string) {
      const out = await ddb.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'id = :id',
          ExpressionAttributeValues: { ':id': id },
        }),
      );
      return out.Items as User[];
    },
    async remove(id: string) {
      await ddb.send(new DeleteCommand({ TableName: table, Key: { id } }));
    },
  };
}

dynamoDescribe('wrapDocumentClient: existing DocumentClient code through every stage', () => {
  let server: DynamoDbLocal;
  let base: DynamoDBClient;
  let raw: DynamoDBDocumentClient;
  let tableNo = 0;
  beforeAll(async () => {
    server = await startDynamoDbLocal();
    base = dynamoDbLocalClient(server);
    raw = DynamoDBDocumentClient.from(base);
  });
  afterAll(async () => {
    base?.destroy();
    await server?.stop();
  });

  async function createTable(name: string) {
    await raw.send(
      new CreateTableCommand({
        TableName: name,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }

  async function setup() {
    const n = ++tableNo;
    const [table, target] = [`users${n}`, `users${n}_v2`];
    await createTable(table);
    await createTable(target);
    await createTable(`plain${n}`);
    const store = newStore('sqlite');
    const f = fixture(store); // name -> fullName, side by side
    const yard = await yardFor(f, { publishMs: 0 });
    open.push({ yard, store });
    const ddb = await wrapDocumentClient(DynamoDBDocumentClient.from(base), yard, [
      { migration: f.migration.id, table, key: 'id', target: { table: target } },
    ]);
    return { f, yard, ddb, table, target, plain: `plain${n}` };
  }

  const stored = async (table: string, id: string) =>
    (await raw.send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }))).Item;

  it('concurrent writers through off, dual-write, shadow, live 5/50/100, rampdown, complete: no failed request, no stale read', async () => {
    const { f, yard, ddb, table, target } = await setup();
    const repo = usersRepo(ddb, table);
    const last = new Map<string, User | null>();
    const failures: string[] = [];
    let done = 0;
    let stop = false;

    const same = (what: string, got: User | null | undefined, want: User | null) => {
      if (!isDeepStrictEqual(got ?? null, want))
        failures.push(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    };

    async function step(w: number, seq: number): Promise<void> {
      const id = `w${w}-${seq % KEYS_PER_WORKER}`;
      const want = last.get(id) ?? null;
      if (seq % 9 === 8) {
        await repo.remove(id);
        last.set(id, null);
      } else if (seq % 3 === 2 && want !== null) {
        const got = await repo.rename(id, `${id}#${seq}`);
        const next: User = { id, name: `${id}#${seq}`, visits: (want.visits ?? 0) + 1 };
        same(`UPDATE ${id} returned`, got, next);
        last.set(id, next);
      } else {
        const u: User = { id, name: `${id}#${seq}`, tags: [`t${seq}`] };
        await repo.save(u);
        last.set(id, u);
      }
      const probe = `w${w}-${(seq * 3) % KEYS_PER_WORKER}`;
      const expected = last.get(probe) ?? null;
      if (seq % 3 === 0) same(`GET ${probe}`, await repo.find(probe), expected);
      else if (seq % 3 === 1) same(`QUERY ${probe}`, (await repo.query(probe))[0], expected);
      else {
        const ids = Array.from({ length: KEYS_PER_WORKER }, (_, i) => `w${w}-${i}`);
        const byId = new Map((await repo.findMany(ids)).map((u) => [u.id, u]));
        for (const i of ids) same(`BATCHGET ${i}`, byId.get(i), last.get(i) ?? null);
      }
    }

    async function worker(w: number): Promise<void> {
      for (let seq = 0; !stop; seq++) {
        try {
          await step(w, seq);
        } catch (err) {
          failures.push(`w${w} #${seq}: ${(err as Error).name}: ${(err as Error).message}`);
          return;
        }
        done++;
      }
    }

    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    try {
      await walkStagesUnderLoad(f, yard, EVERY_STAGE.slice(1), {
        done: () => done,
        failed: () => failures.length > 0,
        perStage: WORKERS * REQUESTS_PER_STAGE,
      });
    } finally {
      stop = true;
      await load;
    }
    expect(failures).toEqual([]);
    await yard.idle();
    expect(yard.stats()[f.migration.id]).toMatchObject({ mismatched: 0 });
    expect(last.size).toBe(WORKERS * KEYS_PER_WORKER);
    // every key was written after dual-write began: the new table holds each last write
    for (const [id, want] of last) {
      const neu = await stored(target, id);
      if (want === null) expect(neu, id).toBeUndefined();
      else {
        const { name, ...rest } = want;
        expect(neu, id).toEqual({ ...rest, fullName: name, _sv: 2 });
      }
    }
  });

  it('conditions, ReturnValues and other tables behave as DynamoDB does', async () => {
    const { f, yard, ddb, table, target, plain } = await setup();
    await moveTo(f, Stage.shadow);
    await yard.refresh();
    const create = (name: string) =>
      ddb.send(
        new PutCommand({
          TableName: table,
          Item: { id: 'c1', name },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
    await create('first');
    await expect(create('second')).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    expect(await stored(table, 'c1')).toEqual({ id: 'c1', name: 'first' });
    expect(await stored(target, 'c1')).toEqual({ id: 'c1', fullName: 'first', _sv: 2 });
    const old = await ddb.send(
      new DeleteCommand({ TableName: table, Key: { id: 'c1' }, ReturnValues: 'ALL_OLD' }),
    );
    expect(old.Attributes).toEqual({ id: 'c1', name: 'first' });
    expect(await stored(target, 'c1')).toBeUndefined();
    // the v2-style aggregated client calls send: routed as well
    const doc = DynamoDBDocument.from(base);
    const agg = await wrapDocumentClient(doc, yard, []);
    await agg.put({ TableName: plain, Item: { id: 'p', v: 1 } });
    expect((await agg.get({ TableName: plain, Key: { id: 'p' } })).Item).toEqual({ id: 'p', v: 1 });
    // BatchWrite across a migrated and a plain table
    await ddb.send(
      new BatchWriteCommand({
        RequestItems: {
          [table]: [{ PutRequest: { Item: { id: 'b1', name: 'B' } } }],
          [plain]: [{ PutRequest: { Item: { id: 'b1', name: 'P' } } }],
        },
      }),
    );
    expect(await stored(target, 'b1')).toEqual({ id: 'b1', fullName: 'B', _sv: 2 });
    expect(await stored(plain, 'b1')).toEqual({ id: 'b1', name: 'P' });
    const both = await ddb.send(
      new BatchGetCommand({
        RequestItems: { [table]: { Keys: [{ id: 'b1' }] }, [plain]: { Keys: [{ id: 'b1' }] } },
      }),
    );
    expect(both.Responses).toEqual({
      [table]: [{ id: 'b1', name: 'B' }],
      [plain]: [{ id: 'b1', name: 'P' }],
    });
  });

  it('what the wrapper cannot carry is refused before anything is written', async () => {
    const { f, yard, ddb, table, target } = await setup();
    await moveTo(f, Stage.dualWrite);
    await yard.refresh();
    await expect(ddb.send(new ScanCommand({ TableName: table }))).rejects.toThrow(
      /ScanCommand on 'users\d+': the table is migrated/,
    );
    await expect(
      ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: { id: 'x' },
          UpdateExpression: 'ADD visits :one',
          ExpressionAttributeValues: { ':one': 1 },
        }),
      ),
    ).rejects.toThrow(/'ADD' is not supported/);
    await expect(
      ddb.send(
        new QueryCommand({
          TableName: table,
          IndexName: 'byName',
          KeyConditionExpression: '#n = :n',
          ExpressionAttributeNames: { '#n': 'name' },
          ExpressionAttributeValues: { ':n': 'a' },
        }),
      ),
    ).rejects.toBeInstanceOf(InputError);
    await expect(
      ddb.send(new PutCommand({ TableName: table, Item: { id: 7, name: 'n' } })),
    ).rejects.toThrow(/keyType is 'string'/);
    expect(await stored(table, 'x')).toBeUndefined();
    expect(await stored(target, 'x')).toBeUndefined();
  });
});
