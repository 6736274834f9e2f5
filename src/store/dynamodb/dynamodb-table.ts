/**
 * Tables and keys: which table holds a collection, what its key schema is, and how the
 * contract's string keys map to key attributes (docs/stores/dynamodb.md, "Tables, keys and
 * items"):
 *
 *   `_key` (S), no sort key (Switchyard's own)  the key itself; '' and keys starting with U+0000
 *                                                get one more U+0000 in front (keys cannot be empty)
 *   any other partition key, no sort key         the key as a string: S as is, N as its decimal
 *                                                text, B as base64
 *   partition key + sort key                     a JSON array of the two as strings
 *
 * A key that does not fit the schema is a `DynamoKeySchemaError` (bad input, exit 2), raised
 * before anything is sent. `describeTable` reads a table's key schema; `createTable` makes the
 * table of a collection that has none.
 */
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { InputError, type StoreError } from '../../core/errors.js';
import { RESERVED_PREFIX, type Key, type StoreUniqueConstraints } from '../contract.js';
import type { AttrMap, AttrValue } from './dynamodb-values.js';

/** The partition key of tables Switchyard creates. */
export const SYNTHETIC_KEY = '_key';

export interface KeyAttr {
  readonly name: string;
  readonly type: 'S' | 'N' | 'B';
}

export interface TableInfo {
  readonly name: string;
  readonly hash: KeyAttr;
  readonly range?: KeyAttr;
  /** the table has Switchyard's `_key` partition key (not a document field) */
  readonly synthetic: boolean;
  readonly keyNames: ReadonlySet<string>;
  /** the stream's ARN and view type, or null when the table has no stream */
  readonly stream: { readonly arn: string; readonly viewType: string } | null;
  /** provisioned read/write units per second, or null for on-demand (PAY_PER_REQUEST) */
  readonly provisioned: { readonly read: number; readonly write: number } | null;
  /** the secondary indexes (global and local), by name: none of them is unique */
  readonly indexes: readonly string[];
}

/** A key (or a table's key schema) that does not fit: bad input, nothing was sent. */
export class DynamoKeySchemaError extends InputError {
  override readonly code = 'E_DYNAMODB_KEY_SCHEMA';
}

const VALID_TABLE = /^[A-Za-z0-9_.-]+$/;

/** The table of a collection: `<prefix><name>`, or `<prefix>__<base64url(name)>`. */
export function tableNameOf(prefix: string, collection: string): string {
  const plain = prefix + collection;
  if (
    VALID_TABLE.test(collection) &&
    !collection.startsWith('__') &&
    plain.length >= 3 &&
    plain.length <= 255
  ) {
    return plain;
  }
  return `${prefix}__${Buffer.from(collection, 'utf8').toString('base64url')}`;
}

export function collectionNameOf(prefix: string, table: string): string | null {
  if (!table.startsWith(prefix)) return null;
  const rest = table.slice(prefix.length);
  if (!rest.startsWith('__')) return rest;
  return Buffer.from(rest.slice(2), 'base64url').toString('utf8');
}

/** What DescribeTable says, as far as this adapter reads it. */
export interface TableDescription {
  TableName?: string;
  TableStatus?: string;
  KeySchema?: { AttributeName?: string; KeyType?: string }[];
  AttributeDefinitions?: { AttributeName?: string; AttributeType?: string }[];
  LatestStreamArn?: string;
  StreamSpecification?: { StreamEnabled?: boolean; StreamViewType?: string };
  BillingModeSummary?: { BillingMode?: string };
  ProvisionedThroughput?: { ReadCapacityUnits?: number; WriteCapacityUnits?: number };
  GlobalSecondaryIndexes?: { IndexName?: string }[];
  LocalSecondaryIndexes?: { IndexName?: string }[];
  /** refreshed by AWS about every six hours */
  ItemCount?: number;
}

export function tableInfoOf(table: TableDescription, name: string): TableInfo {
  const typeOf = (attr: string) =>
    (table.AttributeDefinitions?.find((d) => d.AttributeName === attr)?.AttributeType ??
      'S') as KeyAttr['type'];
  const hashName = table.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
  const rangeName = table.KeySchema?.find((k) => k.KeyType === 'RANGE')?.AttributeName;
  if (hashName === undefined)
    throw new DynamoKeySchemaError(`table '${name}' has no partition key`);
  const hash = { name: hashName, type: typeOf(hashName) };
  const range = rangeName === undefined ? undefined : { name: rangeName, type: typeOf(rangeName) };
  const spec = table.StreamSpecification;
  const provisioned =
    table.BillingModeSummary?.BillingMode === 'PAY_PER_REQUEST' ||
    !(Number(table.ProvisionedThroughput?.WriteCapacityUnits) > 0)
      ? null
      : {
          read: Number(table.ProvisionedThroughput?.ReadCapacityUnits ?? 0),
          write: Number(table.ProvisionedThroughput?.WriteCapacityUnits ?? 0),
        };
  return {
    name,
    hash,
    ...(range ? { range } : {}),
    synthetic: hashName === SYNTHETIC_KEY && range === undefined && hash.type === 'S',
    keyNames: new Set([hashName, ...(rangeName ? [rangeName] : [])]),
    stream:
      spec?.StreamEnabled === true && table.LatestStreamArn !== undefined
        ? { arn: table.LatestStreamArn, viewType: spec.StreamViewType ?? 'KEYS_ONLY' }
        : null,
    provisioned,
    indexes: [
      ...(table.GlobalSecondaryIndexes ?? []).map((i) => `GSI '${i.IndexName ?? '?'}'`),
      ...(table.LocalSecondaryIndexes ?? []).map((i) => `LSI '${i.IndexName ?? '?'}'`),
    ],
  };
}

/**
 * What a table keeps unique: its key attributes, together (the partition key alone, or with the
 * sort key), which are document fields unless the key is Switchyard's own `_key` (then the
 * document key, unique in every store, and nothing more). Secondary indexes are never unique
 * in DynamoDB: named as such.
 */
export function tableUniqueConstraints(info: TableInfo): StoreUniqueConstraints {
  const notUnique = info.indexes.map((i) => `${i} (DynamoDB secondary indexes are not unique)`);
  if (info.synthetic) return { constraints: [], notUnique };
  const paths = [info.hash.name, ...(info.range ? [info.range.name] : [])];
  return {
    constraints: [
      { paths, source: `DynamoDB table key of '${info.name}' (unique by construction)` },
    ],
    notUnique,
  };
}

/** `_key` values cannot be empty: '' and keys starting with U+0000 get a U+0000 in front. */
function escapeKey(key: Key): string {
  return key === '' || key.startsWith('\u0000') ? `\u0000${key}` : key;
}

function unescapeKey(s: string): Key {
  return s.startsWith('\u0000') ? s.slice(1) : s;
}

function piece(info: TableInfo, attr: KeyAttr, s: string, key: Key): AttrValue {
  if (attr.type === 'N') {
    if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(s))
      throw new DynamoKeySchemaError(
        `key '${key}' of table '${info.name}': '${attr.name}' is a number key, '${s}' is not a number`,
        { field: attr.name },
      );
    return { N: s };
  }
  if (attr.type === 'B') return { B: new Uint8Array(Buffer.from(s, 'base64')) };
  if (s === '')
    throw new DynamoKeySchemaError(
      `a key of table '${info.name}' is empty: DynamoDB key values cannot be empty`,
      { field: attr.name },
    );
  return { S: s };
}

/** The key attributes of a contract key. */
export function keyAttrs(info: TableInfo, key: Key): AttrMap {
  if (info.synthetic) return { [SYNTHETIC_KEY]: { S: escapeKey(key) } };
  if (info.range === undefined) return { [info.hash.name]: piece(info, info.hash, key, key) };
  let parts: unknown;
  try {
    parts = JSON.parse(key);
  } catch {
    parts = undefined;
  }
  if (!Array.isArray(parts) || parts.length !== 2 || !parts.every((p) => typeof p === 'string')) {
    throw new DynamoKeySchemaError(
      `key '${key}' of table '${info.name}' must be a JSON array [partitionKey, sortKey] of two strings: the table's key is ${info.hash.name} + ${info.range.name}`,
      { field: info.hash.name },
    );
  }
  return {
    [info.hash.name]: piece(info, info.hash, parts[0] as string, key),
    [info.range.name]: piece(info, info.range, parts[1] as string, key),
  };
}

/** The key attributes of an item. */
export function keyOfItem(info: TableInfo, item: AttrMap): AttrMap {
  const out: AttrMap = {};
  for (const k of info.keyNames) if (item[k] !== undefined) out[k] = item[k]!;
  return out;
}

/** The contract key of an item. */
export function keyString(info: TableInfo, item: AttrMap): Key {
  const text = (attr: KeyAttr): string => {
    const av = item[attr.name] as { S?: string; N?: string; B?: Uint8Array } | undefined;
    if (av?.S !== undefined) return av.S;
    if (av?.N !== undefined) return av.N;
    if (av?.B !== undefined) return Buffer.from(av.B).toString('base64');
    throw new DynamoKeySchemaError(
      `an item of table '${info.name}' has no key attribute '${attr.name}'`,
    );
  };
  if (info.synthetic) return unescapeKey(text(info.hash));
  if (info.range === undefined) return text(info.hash);
  return JSON.stringify([text(info.hash), text(info.range)]);
}

/** What describing and creating a table need of the store (a DynamoStore is one). */
export interface TableAdmin {
  /** raw: SDK errors passed on unwrapped */
  send(what: string, command: object, raw?: boolean): Promise<unknown>;
  wrap(what: string, err: unknown): StoreError;
  /** wait until the table is ACTIVE */
  waitActive(table: string): Promise<void>;
}

function errorName(err: unknown): string {
  return (err as { name?: string })?.name ?? '';
}

/** DescribeTable as the server answers it, or null when the table does not exist. */
export async function describeTableRaw(
  store: TableAdmin,
  tableName: string,
): Promise<TableDescription | null> {
  try {
    const res = (await store.send(
      `describe '${tableName}'`,
      new DescribeTableCommand({ TableName: tableName }),
      true,
    )) as { Table?: TableDescription };
    return res.Table!;
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') return null;
    throw store.wrap(`describe '${tableName}'`, err);
  }
}

/** The table's description, or null when the table does not exist (waits while it is created). */
export async function describeTable(
  store: TableAdmin,
  tableName: string,
): Promise<TableInfo | null> {
  const table = await describeTableRaw(store, tableName);
  if (table === null) return null;
  if (table.TableStatus !== 'ACTIVE' && table.TableStatus !== 'UPDATING') {
    await store.waitActive(tableName);
  }
  return tableInfoOf(table, tableName);
}

/**
 * Create the table of collection `collection` and wait until it is active: partition key
 * `_key`, on demand, and, for user collections (not Switchyard's `_sy_` state), a stream with
 * new and old images, so catch-up can follow it. A table someone else is creating meanwhile is
 * waited for like our own.
 */
export async function createTable(
  store: TableAdmin,
  tableName: string,
  collection: string,
): Promise<void> {
  try {
    await store.send(
      `create table '${tableName}'`,
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: SYNTHETIC_KEY, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: SYNTHETIC_KEY, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        ...(collection.startsWith(RESERVED_PREFIX)
          ? {}
          : {
              StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
            }),
      }),
      true,
    );
  } catch (err) {
    // someone else is creating it: wait for it like for our own
    if (errorName(err) !== 'ResourceInUseException')
      throw store.wrap(`create table '${tableName}'`, err);
  }
  await store.waitActive(tableName);
}
