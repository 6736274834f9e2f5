/**
 * `wrapDocumentClient(client, yard, routes)`: a lib-dynamodb DynamoDBDocumentClient whose
 * Get/Put/Update/Delete/BatchGet/BatchWrite/Query commands on migrated tables go through
 * `yard.migration()` (app-migration.ts), so the application's existing DocumentClient code keeps
 * working, unchanged, through every stage of a side-by-side migration.
 *
 *   const ddb = await wrapDocumentClient(DynamoDBDocumentClient.from(new DynamoDBClient({})), yard, [
 *     { migration: 'users-v2', table: 'users', key: 'id', target: { table: 'users_v2' } },
 *   ]);
 *   await ddb.send(new PutCommand({ TableName: 'users', Item: { id: 'u1', name: 'Ada' } }));
 *   (await ddb.send(new GetCommand({ TableName: 'users', Key: { id: 'u1' } }))).Item; // old shape
 *
 * Rules:
 * - it wraps `send` (a Proxy, the client's own type), not the SDK's middleware stack: a
 *   DocumentClient shares its stack with the DynamoDBClient it was made from, so a middleware
 *   there would also catch the base client's calls and the wrapper's own calls to the two
 *   tables. `DynamoDBDocument`'s methods (`ddb.get(...)`) call `send` and are routed too;
 * - a route owns one table keyed by one attribute (`key`, a partition key without a sort key;
 *   `keyType` 'string' or 'number'). Old side: `table` on `client`; new side: `target.table` (same
 *   key attribute) on `target.client` (default `client`, unwrapped). Reads of either side are
 *   strongly consistent. Commands on other tables pass through untouched;
 * - reads are cast with `readAs` (default: the migration's `from`), so what the application reads
 *   has the shape its code was written for, whichever side answered; the version field is left
 *   out when it says `from` (app-shape.ts), on reads and on writes to the old side;
 * - UpdateCommand is a read-modify-write through the runtime (dynamodb-expressions.ts evaluates
 *   SET/REMOVE); ConditionExpression (attribute_exists / attribute_not_exists) is checked on the
 *   document read through the runtime and fails with the SDK's ConditionalCheckFailedException;
 *   ReturnValues NONE, ALL_OLD and (Update) ALL_NEW are answered. The writes of a key are
 *   serialized within the process (key-queue.ts), so concurrent updates of one key do not lose
 *   each other here; across processes a read-modify-write is NOT atomic (as with HSET in
 *   ioredis.ts): two processes updating one key at once can lose one update;
 * - QueryCommand is answered only as a key lookup: no IndexName, a KeyConditionExpression
 *   `key = :v` on the route's key, no FilterExpression; BatchGet/BatchWrite split the request,
 *   the migrated tables' keys through the runtime, the rest in one pass-through command;
 * - anything else naming a migrated table (Scan, Transact*, PartiQL, the base client's
 *   marshalled commands, an expression the wrapper cannot evaluate) is an InputError naming the
 *   table and the command, before anything is written: the wrapper never lets a write bypass
 *   the migration, nor half-applies a command.
 */
import { createRequire } from 'node:module';
import type * as ClientDynamoDb from '@aws-sdk/client-dynamodb';
import type { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type * as LibDynamoDb from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InputError } from '../../core/errors.js';
import type { Doc } from '../../core/values.js';
import type { Key } from '../../store/contract.js';
import type { AppMigration } from '../app-migration.js';
import { KeyQueue } from '../key-queue.js';
import type { Yard } from '../yard.js';
import { atFrom, withoutKey, type Version } from './app-shape.js';
import {
  applyUpdate,
  meetsCondition,
  project,
  type ExpressionInput,
} from './dynamodb-expressions.js';

/**
 * The SDK is loaded when a client is wrapped, not when switchyard is imported: `import ... from
 * 'switchyard'` in every migration and config file would otherwise pay ~0.9 s for a client most
 * projects never wrap. Both packages are CommonJS only (no `exports`), so this is the very
 * instance the application's own `import` got.
 */
const requireCjs = createRequire(import.meta.url);
let loaded: { client: typeof ClientDynamoDb; lib: typeof LibDynamoDb } | undefined;
function aws(): { client: typeof ClientDynamoDb; lib: typeof LibDynamoDb } {
  return (loaded ??= {
    client: requireCjs('@aws-sdk/client-dynamodb') as typeof ClientDynamoDb,
    lib: requireCjs('@aws-sdk/lib-dynamodb') as typeof LibDynamoDb,
  });
}

export interface DynamoRoute {
  /** the id of a side-by-side migration (the project's, or given as `definition`) */
  migration: string;
  /** the old side's table */
  table: string;
  /** its partition key attribute (tables with a sort key are not supported) */
  key: string;
  /** the key attribute's type (default 'string') */
  keyType?: 'string' | 'number';
  /** where the new shape lives: `table` (same key attribute) on `client` (default: the same one) */
  target: { table: string; client?: DynamoDBDocumentClient };
  /** the version reads are cast to (default: the migration's `from`) */
  readAs?: number;
  /** passed to yard.migration() when the project has no migration of that id */
  definition?: Parameters<Yard['migration']>[1]['migration'];
}

interface Bound {
  route: DynamoRoute;
  handle: AppMigration;
  readAs: number;
  keyField: string;
  version: Version;
  order: KeyQueue;
}

type Input = ExpressionInput & Record<string, unknown>;
type Send = (command: unknown) => Promise<Record<string, unknown>>;
type Tables = ReadonlyMap<string, Bound>;

const META = Object.freeze({ $metadata: Object.freeze({}) });

/** The wrapped client (same type as `client`); see the header for what is routed. */
export async function wrapDocumentClient<C extends DynamoDBDocumentClient>(
  client: C,
  yard: Yard,
  routes: readonly DynamoRoute[],
  options: { keyField?: string } = {},
): Promise<C> {
  const keyField = options.keyField ?? '_id';
  const own = client.send.bind(client) as unknown as Send;
  const tables = new Map<string, Bound>();
  for (const route of routes) {
    if (tables.has(route.table))
      throw new InputError(`wrapDocumentClient: two routes for table '${route.table}'`, {
        field: 'table',
      });
    const neu = route.target.client;
    const version: Version = { field: '_sv', from: 1 };
    const sides = sidesOf(route, own, neu === undefined ? own : (neu.send.bind(neu) as Send), {
      keyField,
      version,
    });
    const handle = await yard.migration(route.migration, {
      ...sides,
      ...(route.definition !== undefined ? { migration: route.definition } : {}),
    });
    version.field = handle.migration.versionField;
    version.from = handle.migration.from;
    tables.set(route.table, {
      route,
      handle,
      readAs: route.readAs ?? version.from,
      keyField,
      version,
      order: new KeyQueue(),
    });
  }
  const send = (command: unknown, ...rest: unknown[]): Promise<unknown> =>
    routeCommand(
      tables,
      (c) => (client.send as (...a: unknown[]) => Promise<never>).call(client, c, ...rest),
      command,
    );
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'send') return send;
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

const HANDLERS: Record<string, (t: Tables, own: Send, input: Input) => Promise<unknown>> = {
  GetCommand: (t, own, input) => (bound(t, input) ? get(bound(t, input)!, input) : own(input)),
  PutCommand: (t, own, input) => (bound(t, input) ? put(bound(t, input)!, input) : own(input)),
  UpdateCommand: (t, own, input) =>
    bound(t, input) ? update(bound(t, input)!, input) : own(input),
  DeleteCommand: (t, own, input) =>
    bound(t, input) ? remove(bound(t, input)!, input) : own(input),
  QueryCommand: (t, own, input) =>
    bound(t, input) ? queryKey(bound(t, input)!, input) : own(input),
  BatchGetCommand: batchGet,
  BatchWriteCommand: batchWrite,
};

async function routeCommand(tables: Tables, send: Send, command: unknown): Promise<unknown> {
  const name = (command as { constructor?: { name?: string } })?.constructor?.name ?? '';
  const input = ((command as { input?: Input })?.input ?? {}) as Input;
  const handler = HANDLERS[name];
  if (handler !== undefined) {
    const Ctor = (command as { constructor: new (i: Input) => unknown }).constructor;
    return handler(
      tables,
      (i: unknown) => send(i === input ? command : new Ctor(i as Input)),
      input,
    );
  }
  const table = namedTables(input).find((n) => tables.has(n));
  if (table !== undefined)
    throw new InputError(
      `${name || 'this command'} on '${table}': the table is migrated by '${tables.get(table)!.route.migration}', and the wrapper routes only Get/Put/Update/Delete/BatchGet/BatchWrite/Query (DocumentClient commands)`,
      { field: 'command' },
    );
  return send(command);
}

/** Every table a command names (TableName, RequestItems, TransactItems, a PartiQL statement). */
function namedTables(input: Input): string[] {
  const out: string[] = [];
  if (typeof input.TableName === 'string') out.push(input.TableName);
  if (isRecord(input.RequestItems)) out.push(...Object.keys(input.RequestItems));
  if (Array.isArray(input.TransactItems))
    for (const item of input.TransactItems as Record<string, { TableName?: string }>[])
      for (const op of Object.values(item)) if (op?.TableName !== undefined) out.push(op.TableName);
  const statements = [
    input.Statement,
    ...(Array.isArray(input.Statements) ? input.Statements : []).map(
      (s: { Statement?: unknown }) => s.Statement,
    ),
    ...(Array.isArray(input.TransactStatements) ? input.TransactStatements : []).map(
      (s: { Statement?: unknown }) => s.Statement,
    ),
  ];
  for (const s of statements)
    if (typeof s === 'string')
      out.push(...(s.match(/"[^"]+"|[\w.-]+/g) ?? []).map((w) => w.replace(/"/g, '')));
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bound(t: Tables, input: Input): Bound | undefined {
  return typeof input.TableName === 'string' ? t.get(input.TableName) : undefined;
}

/** The document key of `Key` (exactly the route's key attribute, of its type). */
function keyOf(b: Bound, key: unknown, what: string): Key {
  const r = b.route;
  if (!isRecord(key) || Object.keys(key).length !== 1 || !(r.key in key))
    throw new InputError(
      `${what} on '${r.table}': the key must be exactly { ${r.key} } (the route's key attribute)`,
      { field: 'key' },
    );
  const v = key[r.key];
  const type = r.keyType ?? 'string';
  if (typeof v !== type)
    throw new InputError(
      `${what} on '${r.table}': ${r.key} is ${typeof v}; the route's keyType is '${type}'`,
      { field: 'keyType' },
    );
  return String(v);
}

function typed(r: DynamoRoute, k: Key): string | number {
  return r.keyType === 'number' ? Number(k) : k;
}

/** The document as the application stores it: its key attribute, no yard key, no `from`. */
function appShape(b: Bound, k: Key, doc: Doc): Doc {
  const plain = b.keyField === b.route.key ? doc : withoutKey(doc, b.keyField);
  return { ...atFrom(plain, b.version), [b.route.key]: typed(b.route, k) };
}

async function readApp(b: Bound, k: Key): Promise<Doc | null> {
  const doc = await b.handle.get(k, { readAs: b.readAs });
  return doc === null ? null : appShape(b, k, doc);
}

function writeApp(b: Bound, k: Key, item: Doc): Promise<void> {
  return b.handle.put({ ...item, [b.keyField]: k });
}

function only(b: Bound, input: Input, what: string, allowed: readonly string[]): void {
  const extra = Object.keys(input).filter((f) => !allowed.includes(f) && input[f] !== undefined);
  if (extra.length > 0)
    throw new InputError(
      `${what} on '${b.route.table}': ${extra.join(', ')} is not supported on a table migrated by '${b.route.migration}'`,
      { field: extra[0]! },
    );
}

function returnValues(b: Bound, input: Input, what: string, allowed: readonly string[]): string {
  const rv = (input.ReturnValues as string | undefined) ?? 'NONE';
  if (!allowed.includes(rv))
    throw new InputError(
      `${what} on '${b.route.table}': ReturnValues ${rv} is not supported (${allowed.join(', ')} are)`,
      { field: 'ReturnValues' },
    );
  return rv;
}

function conditionFailed(): ConditionalCheckFailedException {
  return new (aws().client.ConditionalCheckFailedException)({
    message: 'The conditional request failed',
    $metadata: {},
  });
}

const COMMON = ['TableName', 'ExpressionAttributeNames', 'ExpressionAttributeValues'];

async function get(b: Bound, input: Input): Promise<unknown> {
  only(b, input, 'GetCommand', [...COMMON, 'Key', 'ConsistentRead', 'ProjectionExpression']);
  const doc = await readApp(b, keyOf(b, input.Key, 'GetCommand'));
  if (doc === null) return { ...META };
  return { ...META, Item: project(doc, input.ProjectionExpression as string | undefined, input) };
}

async function put(b: Bound, input: Input): Promise<unknown> {
  const item = input.Item as Doc;
  const key = isRecord(item) ? { [b.route.key]: item[b.route.key] } : item;
  return replace(b, input, 'PutCommand', 'Item', key, (k) => writeApp(b, k, item));
}

async function update(b: Bound, input: Input): Promise<unknown> {
  only(b, input, 'UpdateCommand', [
    ...COMMON,
    'Key',
    'UpdateExpression',
    'ConditionExpression',
    'ReturnValues',
  ]);
  const rv = returnValues(b, input, 'UpdateCommand', ['NONE', 'ALL_OLD', 'ALL_NEW']);
  const k = keyOf(b, input.Key, 'UpdateCommand');
  const expression = input.UpdateExpression;
  if (typeof expression !== 'string')
    throw new InputError(`UpdateCommand on '${b.route.table}' needs an UpdateExpression`, {
      field: 'UpdateExpression',
    });
  return b.order.run(k, async () => {
    const before = await readApp(b, k);
    if (!meetsCondition(before, input.ConditionExpression as string | undefined, input))
      throw conditionFailed();
    // like DynamoDB, an update of a missing item creates it, with its key
    const after = applyUpdate(before ?? { [b.route.key]: typed(b.route, k) }, expression, input);
    if (after[b.route.key] !== typed(b.route, k))
      throw new InputError(
        `UpdateCommand on '${b.route.table}' cannot change the key ${b.route.key}`,
        {
          field: 'UpdateExpression',
        },
      );
    await writeApp(b, k, after);
    if (rv === 'ALL_NEW') return { ...META, Attributes: after };
    if (rv === 'ALL_OLD' && before !== null) return { ...META, Attributes: before };
    return { ...META };
  });
}

function remove(b: Bound, input: Input): Promise<unknown> {
  return replace(b, input, 'DeleteCommand', 'Key', input.Key, (k) => b.handle.delete(k));
}

/** A put or delete of one key: the condition checked, ALL_OLD answered (header rules). */
async function replace(
  b: Bound,
  input: Input,
  what: string,
  field: 'Item' | 'Key',
  key: unknown,
  write: (k: Key) => Promise<void>,
): Promise<unknown> {
  only(b, input, what, [...COMMON, field, 'ConditionExpression', 'ReturnValues']);
  const rv = returnValues(b, input, what, ['NONE', 'ALL_OLD']);
  const k = keyOf(b, key, what);
  const condition = input.ConditionExpression as string | undefined;
  return b.order.run(k, async () => {
    const before = condition !== undefined || rv === 'ALL_OLD' ? await readApp(b, k) : null;
    if (!meetsCondition(before, condition, input)) throw conditionFailed();
    await write(k);
    return rv === 'ALL_OLD' && before !== null ? { ...META, Attributes: before } : { ...META };
  });
}

/** `key = :v` (or `#k = :v`) on the route's key: a lookup of one document. */
async function queryKey(b: Bound, input: Input): Promise<unknown> {
  only(b, input, 'QueryCommand', [
    ...COMMON,
    'KeyConditionExpression',
    'ConsistentRead',
    'ProjectionExpression',
    'Limit',
    'ScanIndexForward',
    'Select',
  ]);
  const m = /^\s*(#?\w+)\s*=\s*(:\w+)\s*$/.exec(String(input.KeyConditionExpression ?? ''));
  const name = m?.[1]?.startsWith('#') ? input.ExpressionAttributeNames?.[m[1]] : m?.[1];
  if (m === null || name !== b.route.key)
    throw new InputError(
      `QueryCommand on '${b.route.table}': only KeyConditionExpression '${b.route.key} = :value' is supported on a table migrated by '${b.route.migration}'`,
      { field: 'KeyConditionExpression' },
    );
  const value = input.ExpressionAttributeValues?.[m[2]!];
  const doc = await readApp(b, keyOf(b, { [b.route.key]: value }, 'QueryCommand'));
  const items =
    doc === null ? [] : [project(doc, input.ProjectionExpression as string | undefined, input)];
  if (input.Select === 'COUNT') return { ...META, Count: items.length, ScannedCount: items.length };
  return { ...META, Items: items, Count: items.length, ScannedCount: items.length };
}

async function batchGet(t: Tables, own: Send, input: Input): Promise<unknown> {
  const requests = (input.RequestItems ?? {}) as Record<string, Input & { Keys?: unknown[] }>;
  const rest: Record<string, unknown> = {};
  const responses: Record<string, Doc[]> = {};
  const mine: [Bound, Input & { Keys?: unknown[] }][] = [];
  for (const [table, req] of Object.entries(requests)) {
    const b = t.get(table);
    if (b === undefined) rest[table] = req;
    else {
      only(b, { ...req, TableName: table }, 'BatchGetCommand', [
        ...COMMON,
        'Keys',
        'ConsistentRead',
        'ProjectionExpression',
      ]);
      mine.push([b, req]);
    }
  }
  for (const [b, req] of mine) {
    const keys = (req.Keys ?? []).map((key) => keyOf(b, key, 'BatchGetCommand'));
    const docs = await b.handle.getMany(keys, { readAs: b.readAs });
    responses[b.route.table] = docs.flatMap((d, i) =>
      d === null
        ? []
        : [project(appShape(b, keys[i]!, d), req.ProjectionExpression as string, req)],
    );
  }
  let unprocessed = {};
  if (Object.keys(rest).length > 0) {
    const out = await own({ ...input, RequestItems: rest });
    Object.assign(responses, out.Responses);
    unprocessed = out.UnprocessedKeys ?? {};
  }
  return { ...META, Responses: responses, UnprocessedKeys: unprocessed };
}

async function batchWrite(t: Tables, own: Send, input: Input): Promise<unknown> {
  type Request = { PutRequest?: { Item: Doc }; DeleteRequest?: { Key: Doc } };
  const requests = (input.RequestItems ?? {}) as Record<string, Request[]>;
  const rest: Record<string, Request[]> = {};
  const writes: (() => Promise<void>)[] = [];
  for (const [table, reqs] of Object.entries(requests)) {
    const b = t.get(table);
    if (b === undefined) {
      rest[table] = reqs;
      continue;
    }
    for (const req of reqs) {
      if (req.PutRequest !== undefined) {
        const item = req.PutRequest.Item;
        const k = keyOf(b, { [b.route.key]: item?.[b.route.key] }, 'BatchWriteCommand');
        writes.push(() => b.order.run(k, () => writeApp(b, k, item)));
      } else if (req.DeleteRequest !== undefined) {
        const k = keyOf(b, req.DeleteRequest.Key, 'BatchWriteCommand');
        writes.push(() => b.order.run(k, () => b.handle.delete(k)));
      } else
        throw new InputError(
          `BatchWriteCommand on '${table}': a request is neither a put nor a delete`,
          {
            field: 'RequestItems',
          },
        );
    }
  }
  // checked all before writing any; the migrated tables' writes go one by one, in order
  for (const w of writes) await w();
  let unprocessed = {};
  if (Object.keys(rest).length > 0) {
    const out = await own({ ...input, RequestItems: rest });
    unprocessed = out.UnprocessedItems ?? {};
  }
  return { ...META, UnprocessedItems: unprocessed };
}

/** The application's functions of a route: the old table as it is, the new table. */
function sidesOf(
  route: DynamoRoute,
  old: Send,
  neu: Send,
  shape: { keyField: string; version: Version },
) {
  const Key = (k: Key) => ({ [route.key]: typed(route, k) });
  const item = (k: Key, d: Doc) => ({
    ...(shape.keyField === route.key ? d : withoutKey(d, shape.keyField)),
    [route.key]: typed(route, k),
  });
  const read = async (send: Send, table: string, k: Key) =>
    ((
      await send(
        new (aws().lib.GetCommand)({ TableName: table, Key: Key(k), ConsistentRead: true }),
      )
    ).Item ?? null) as Doc | null;
  return {
    readOld: (k: Key) => read(old, route.table, k),
    readNew: (k: Key) => read(neu, route.target.table, k),
    writeOld: (k: Key, d: Doc) =>
      old(
        new (aws().lib.PutCommand)({
          TableName: route.table,
          Item: item(k, atFrom(d, shape.version)),
        }),
      ),
    writeNew: (k: Key, d: Doc) =>
      neu(new (aws().lib.PutCommand)({ TableName: route.target.table, Item: item(k, d) })),
    deleteOld: (k: Key) =>
      old(new (aws().lib.DeleteCommand)({ TableName: route.table, Key: Key(k) })),
    deleteNew: (k: Key) =>
      neu(new (aws().lib.DeleteCommand)({ TableName: route.target.table, Key: Key(k) })),
  };
}
