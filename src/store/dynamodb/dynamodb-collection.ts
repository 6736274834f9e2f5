/**
 * A collection on DynamoDB: one table (dynamodb-table.ts has the key mapping). A document is
 * the item's other attributes, each attribute one field (dynamodb-values.ts).
 *
 * rev = sha1 of the item's canonical content (`itemRev`), computed on read. DynamoDB keeps no
 * version of its own, so a conditional write states that the item still holds exactly what was
 * read (dynamodb-conditions.ts) and is batched (dynamodb-writes.ts). The content that goes with
 * a rev is remembered from reads and writes (bounded); on a miss it is read back consistently,
 * many at once. A write's new rev is computed from the item it wrote (the condition held), not
 * asked back.
 *
 * Resume rules of `scan`: the cursor is DynamoDB's LastEvaluatedKey as JSON; Scan continues
 * after it in the table's (hash) order, so every item that exists for the whole scan is returned
 * once. See docs/stores/dynamodb.md.
 */
import {
  BatchGetItemCommand,
  CreateTableCommand,
  DescribeTableCommand,
  GetItemCommand,
  ScanCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { InputError, StoreError } from '../../core/errors.js';
import type { Doc } from '../../core/values.js';
import type {
  Change,
  Collection,
  CollectionCapabilities,
  ConsumedCapacity,
  Key,
  PassEstimate,
  Range,
  ScanOptions,
  ScanPage,
  StoredDoc,
  WriteOp,
  WriteResult,
  StoreUniqueConstraints,
} from '../contract.js';
import { RESERVED_PREFIX } from '../contract.js';
import { pool } from '../pool.js';
import { DocumentTooLargeError } from '../store-errors.js';
import { estimatePass } from './dynamodb-capacity.js';
import { diffItem } from './dynamodb-conditions.js';
import type { DynamoStore } from './dynamodb-adapter.js';
import { StreamFeed } from './dynamodb-streams.js';
import {
  DynamoKeySchemaError,
  keyAttrs,
  keyOfItem,
  keyString,
  SYNTHETIC_KEY,
  tableInfoOf,
  tableNameOf,
  tableUniqueConstraints,
  type TableDescription,
  type TableInfo,
} from './dynamodb-table.js';
import {
  attrsToDoc,
  canonicalMap,
  docToAttrs,
  itemRev,
  itemSize,
  keyFromJson,
  keyToJson,
  sameAttr,
  type AttrMap,
} from './dynamodb-values.js';
import { RememberedItems } from './dynamodb-remembered.js';
import {
  appliedAlready,
  WRITE_CONCURRENCY,
  WriteMode,
  writeConditional,
  writePlain,
  type ConditionalWrite,
  type WriteChannel,
} from './dynamodb-writes.js';

export const MAX_ITEM_BYTES = 400 * 1024;

const CAPABILITIES: CollectionCapabilities = {
  orderedScan: false,
  changeFeed: true,
  atomicBatch: false,
};

/** A part of the table for a parallel scan: Segment `segment` of `segments`. */
export interface SegmentRange extends Range {
  readonly segment: number;
  readonly segments: number;
}

/** A collection whose table does not exist where it was looked for: bad input. */
export class TableNotFoundError extends InputError {
  override readonly code = 'E_DYNAMODB_NO_TABLE';
}

function errorName(err: unknown): string {
  return (err as { name?: string })?.name ?? '';
}

export class DynamoCollection implements Collection {
  readonly capabilities = CAPABILITIES;
  readonly tableName: string;
  readonly #store: DynamoStore;
  #info: TableInfo | undefined;
  #feed: StreamFeed | undefined;
  /** the item behind each recent rev, for conditions (bounded) */
  readonly #seen = new RememberedItems();

  constructor(
    store: DynamoStore,
    readonly name: string,
  ) {
    this.#store = store;
    this.tableName = tableNameOf(store.prefix, name);
  }

  async get(key: Key): Promise<StoredDoc | null> {
    const info = await this.#describe();
    if (info === null) return null;
    const res = (await this.#store.send(
      `get from '${this.name}'`,
      new GetItemCommand({
        TableName: this.tableName,
        Key: keyAttrs(info, key) as Record<string, AttributeValue>,
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    )) as { Item?: AttrMap };
    return res.Item ? this.#stored(info, res.Item) : null;
  }

  async getMany(keys: readonly Key[]): Promise<(StoredDoc | null)[]> {
    if (keys.length === 0) return [];
    const info = await this.#describe();
    if (info === null) return keys.map(() => null);
    const attrs = keys.map((k) => keyAttrs(info, k));
    const found = await this.#fetch(attrs);
    return attrs.map((a) => {
      const item = found.get(canonicalMap(a));
      return item === undefined ? null : this.#stored(info, item);
    });
  }

  /** Items by key, strongly consistent (BatchGetItem of 100, unprocessed keys asked again). */
  async #fetch(keys: readonly AttrMap[]): Promise<Map<string, AttrMap>> {
    const info = this.#info!;
    const wanted = new Map(keys.map((k) => [canonicalMap(k), k]));
    const found = new Map<string, AttrMap>();
    const all = [...wanted.values()];
    const chunks: AttrMap[][] = [];
    for (let i = 0; i < all.length; i += 100) chunks.push(all.slice(i, i + 100));
    await pool(
      chunks.map((chunk) => async () => {
        let pending: AttrMap[] = chunk;
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0)
            await this.#retryWait(attempt, `${pending.length} keys of a BatchGetItem`);
          const res = (await this.#store.send(
            `getMany from '${this.name}'`,
            new BatchGetItemCommand({
              RequestItems: {
                [this.tableName]: {
                  Keys: pending as Record<string, AttributeValue>[],
                  ConsistentRead: true,
                },
              },
              ReturnConsumedCapacity: 'TOTAL',
            }),
          )) as {
            Responses?: Record<string, AttrMap[]>;
            UnprocessedKeys?: Record<string, { Keys?: AttrMap[] }>;
          };
          for (const item of res.Responses?.[this.tableName] ?? [])
            found.set(canonicalMap(keyOfItem(info, item)), item);
          pending = res.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        }
      }),
      WRITE_CONCURRENCY,
    );
    return found;
  }

  async scan({ range, cursor, limit }: ScanOptions): Promise<ScanPage> {
    const info = await this.#describe();
    if (info === null) return { items: [], cursor: null };
    const seg = this.#segment(range);
    let start: AttrMap | undefined = cursor == null ? undefined : this.#decodeCursor(cursor);
    const items: StoredDoc[] = [];
    do {
      const res = (await this.#store.send(
        `scan of '${this.name}'`,
        new ScanCommand({
          TableName: this.tableName,
          Limit: limit - items.length,
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
          ...(start ? { ExclusiveStartKey: start as Record<string, AttributeValue> } : {}),
          ...seg,
        }),
      )) as { Items?: AttrMap[]; LastEvaluatedKey?: AttrMap };
      for (const item of res.Items ?? []) items.push(this.#stored(info, item));
      start = res.LastEvaluatedKey;
    } while (start !== undefined && items.length < limit);
    return { items, cursor: start === undefined ? null : JSON.stringify(keyToJson(start)) };
  }

  async split(n: number): Promise<Range[]> {
    const segments = Math.min(1_000_000, Math.max(1, Math.floor(n)));
    return Array.from({ length: segments }, (_, segment): SegmentRange => ({
      id: `${segment + 1}/${segments}`,
      segment,
      segments,
    }));
  }

  async count(range?: Range): Promise<number> {
    const info = await this.#describe();
    if (info === null) return 0;
    const seg = this.#segment(range);
    let n = 0;
    let start: AttrMap | undefined;
    do {
      const res = (await this.#store.send(
        `count of '${this.name}'`,
        new ScanCommand({
          TableName: this.tableName,
          Select: 'COUNT',
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
          ...(start ? { ExclusiveStartKey: start as Record<string, AttributeValue> } : {}),
          ...seg,
        }),
      )) as { Count?: number; LastEvaluatedKey?: AttrMap };
      n += res.Count ?? 0;
      start = res.LastEvaluatedKey;
    } while (start !== undefined);
    return n;
  }

  /**
   * DescribeTable's ItemCount: no read (a `COUNT` scan reads, and is billed for, the whole
   * table), but AWS refreshes it only about every six hours. Null when the table is absent or
   * says 0 (a new table's count may not be in yet): then the exact count is used.
   */
  async estimatedCount(): Promise<number | null> {
    let res: { Table?: { ItemCount?: number } };
    try {
      res = (await this.#store.send(
        `describe '${this.tableName}'`,
        new DescribeTableCommand({ TableName: this.tableName }),
        true,
      )) as typeof res;
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') return null;
      throw this.#store.wrap(`describe '${this.tableName}'`, err);
    }
    const n = res.Table?.ItemCount;
    return typeof n === 'number' && n > 0 ? n : null;
  }

  /**
   * Unconditional ops go as BatchWriteItem, conditional ones as the store's write mode batches
   * them (dynamodb-writes.ts); both in parallel. A batch naming a key twice runs op by op, in
   * order. Every item is size-checked, and every key checked against the key schema, before
   * anything is sent.
   */
  async write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    if (ops.length === 0) return [];
    const info = await this.#ensureTable();
    const items = ops.map((op) => (op.type === 'put' ? this.#item(info, op.key, op.doc) : null));
    const keys = ops.map((op) => keyAttrs(info, op.key));
    if (new Set(ops.map((op) => op.key)).size !== ops.length) {
      const results: WriteResult[] = [];
      for (const op of ops) results.push(...(await this.write([op])));
      return results;
    }
    const results: WriteResult[] = new Array(ops.length);
    const plain = ops.flatMap((op, i) => (op.ifRev === undefined ? [i] : []));
    const conditional = ops.flatMap((op, i) => (op.ifRev !== undefined ? [i] : []));
    await Promise.all([
      plain.length === 0
        ? undefined
        : writePlain(
            this.#channel(info),
            plain.map((i) => {
              const item = items[i];
              return item !== null
                ? { put: item!, bytes: itemSize(item!) }
                : { del: keys[i]!, bytes: 1 };
            }),
          ).then(() => {
            for (const i of plain)
              results[i] = {
                key: ops[i]!.key,
                ok: true,
                rev: items[i] !== null ? this.#remember(info, items[i]!, ops[i]!.key) : null,
              };
          }),
      conditional.length === 0
        ? undefined
        : this.#writeConditional(info, ops, items, keys, conditional, results),
    ]);
    return results;
  }

  /**
   * Conditional ops: find the content each rev stands for (remembered, or read back, many at
   * once), decide what needs no request (a stale rev conflicts; an unchanged document succeeds
   * when it still holds what was read), send the rest batched, and read the items of conflicts
   * the server did not send back.
   */
  async #writeConditional(
    info: TableInfo,
    ops: readonly WriteOp[],
    items: readonly (AttrMap | null)[],
    keys: readonly AttrMap[],
    indexes: readonly number[],
    results: WriteResult[],
  ): Promise<void> {
    // the canonical keys of the items read back (the ones #fetch returns are matched by them)
    const canon = new Map<number, string>();
    const canonOf = (i: number) => {
      let c = canon.get(i);
      if (c === undefined) canon.set(i, (c = canonicalMap(keys[i]!)));
      return c;
    };
    // the content behind each rev; read back when not remembered (and for checks that need now)
    const reads = new Map<number, AttrMap>();
    const toRead = new Set<number>();
    for (const i of indexes) {
      const op = ops[i]!;
      const read = typeof op.ifRev === 'string' ? this.#seen.get(op.key, op.ifRev) : undefined;
      if (read !== undefined) reads.set(i, read);
      if (
        (read === undefined && typeof op.ifRev === 'string') ||
        (op.ifRev === null && op.type === 'delete') ||
        (read !== undefined &&
          op.type === 'put' &&
          diffItem(read, items[i]!, info.keyNames) === null)
      )
        toRead.add(i);
    }
    const current =
      toRead.size > 0 ? await this.#fetch([...toRead].map((i) => keys[i]!)) : new Map();
    const writes: ConditionalWrite[] = [];
    const sent: number[] = [];
    for (const i of indexes) {
      const op = ops[i]!;
      const now = toRead.has(i) ? (current.get(canonOf(i)) ?? null) : undefined;
      if (now !== undefined && now !== null) this.#remember(info, now);
      if (op.ifRev === null) {
        if (op.type === 'delete') {
          // "delete if absent": nothing to do when absent, a conflict when present
          if (now === null) results[i] = { key: op.key, ok: true, rev: null };
          else results[i] = this.#conflict(op.key, now!);
          continue;
        }
        writes.push({
          key: op.key,
          keyAttrs: keys[i]!,
          kind: 'insert',
          item: items[i]!,
          bytes: itemSize(items[i]!),
        });
        sent.push(i);
        continue;
      }
      // conditional on a rev: a stale rev conflicts without a request
      if (now !== undefined && (now === null || itemRev(now) !== op.ifRev)) {
        results[i] = this.#conflict(op.key, now);
        continue;
      }
      const read = reads.get(i) ?? now!;
      const bytes = itemSize(read);
      if (op.type === 'delete') {
        writes.push({ key: op.key, keyAttrs: keys[i]!, kind: 'delete', read, bytes });
        sent.push(i);
        continue;
      }
      const next = items[i]!;
      const change = diffItem(read, next, info.keyNames);
      if (change === null) {
        // nothing changes, and the item (read just now) still holds what the rev stands for
        results[i] = { key: op.key, ok: true, rev: op.ifRev! };
        continue;
      }
      writes.push({
        key: op.key,
        keyAttrs: keys[i]!,
        kind: 'update',
        item: next,
        change,
        read,
        bytes: Math.max(bytes, itemSize(next)),
      });
      sent.push(i);
    }
    const decisions = await writeConditional(this.#channel(info), this.#store.writeMode, writes);
    const unknown: number[] = [];
    const writeOf = new Map(sent.map((i, k) => [i, writes[k]!]));
    decisions.forEach((d, k) => {
      const i = sent[k]!;
      const op = ops[i]!;
      if (d.ok) {
        // the condition held, so the item is now `next` (plus any attribute another writer
        // added meanwhile, which the update keeps: a later write on this rev keeps it too, from
        // the remembered item, or, read back, finds another rev and conflicts)
        results[i] = {
          key: op.key,
          ok: true,
          rev: op.type === 'put' ? this.#remember(info, items[i]!, op.key) : null,
        };
      } else if (d.current !== undefined) {
        this.#remember(info, d.current);
        results[i] = this.#conflict(op.key, d.current);
      } else {
        unknown.push(i);
      }
    });
    if (unknown.length > 0) {
      const now = await this.#fetch(unknown.map((i) => keys[i]!));
      for (const i of unknown) {
        const item = now.get(canonOf(i)) ?? null;
        if (item !== null) this.#remember(info, item);
        // the server sent no item back: one that holds what we wrote was written by us
        results[i] =
          item !== null && appliedAlready(writeOf.get(i)!, item)
            ? { key: ops[i]!.key, ok: true, rev: this.#remember(info, items[i]!, ops[i]!.key) }
            : this.#conflict(ops[i]!.key, item);
      }
    }
  }

  /** Wait before sending again what DynamoDB throttled, and count it (CapacityMeter). */
  #retryWait(attempt: number, what: string): Promise<void> {
    this.#store.meter.add(this.tableName, 0, 0, 1);
    return this.#store.retryWait(attempt, `${what} of '${this.name}'`);
  }

  /** What the batched writes need of this table and the store. */
  #channel(info: TableInfo): WriteChannel {
    const store = this.#store;
    return {
      table: this.tableName,
      keyNames: info.keyNames,
      send: (what, command, raw) => store.send(what, command, raw),
      wrap: (what, err) => store.wrap(what, err),
      retryWait: (attempt, what) => this.#retryWait(attempt, what),
      estimate: (read, write) => store.meter.add(this.tableName, read, write),
    };
  }

  /**
   * The change feed: the table's DynamoDB Stream (dynamodb-streams.ts). A table without one, or
   * with one that has no new images, is a NoStreamError that says how to enable it.
   */
  async changes(
    position: string | null,
    limit: number,
  ): Promise<{ changes: Change[]; position: string }> {
    const info = await this.#describe();
    if (info === null) throw this.#notFound(await this.#store.listTables());
    this.#feed ??= new StreamFeed(await this.#store.streams(), info);
    if (position === null) return { changes: [], position: await this.#feed.start() };
    return this.#feed.read(position, Math.max(1, limit));
  }

  consumedCapacity(): ConsumedCapacity {
    return this.#store.meter.of(this.tableName);
  }

  async estimatePass(
    sample: readonly { before: Doc; after: Doc | null }[],
    items: number,
    options: { journal: boolean },
  ): Promise<PassEstimate> {
    const info = await this.#describe();
    const size = (doc: Doc) => itemSize(docToAttrs(doc)) + (info?.synthetic !== false ? 40 : 0);
    return estimatePass(
      sample.map((s) => ({
        before: size(s.before),
        after: s.after === null ? null : size(s.after),
      })),
      items,
      {
        provisioned: info?.provisioned ?? null,
        transactions: this.#store.writeMode === WriteMode.transactions,
        journal: options.journal,
      },
    );
  }

  async provisionedCapacity(): Promise<ConsumedCapacity | null> {
    const info = await this.#describe();
    return info?.provisioned ?? null;
  }

  /** Throw a TableNotFoundError (bad input) when the table does not exist. */
  async requireExists(): Promise<void> {
    if ((await this.#describe()) !== null) return;
    throw this.#notFound(await this.#store.listTables());
  }

  #notFound(all: readonly string[]): TableNotFoundError {
    const s = this.#store;
    const tables = all.filter((t) => !t.includes(RESERVED_PREFIX));
    return new TableNotFoundError(
      `table '${this.tableName}' (collection '${this.name}') does not exist in ${s.url} (region ${s.region}${s.prefix !== '' ? `, prefix '${s.prefix}'` : ''}): ${tables.length > 0 ? `the tables there are ${tables.slice(0, 10).join(', ')}${tables.length > 10 ? ', ...' : ''}` : 'there are no tables there'}. Check the store URL's region and prefix${s.local ? ' (DynamoDB Local keeps a separate database per access key and region unless started with -sharedDb)' : ''}.`,
      { field: 'collection' },
    );
  }

  /** Forget the table description and remembered items (after a drop). */
  reset(): void {
    this.#info = undefined;
    this.#feed = undefined;
    this.#seen.clear();
  }

  #conflict(key: Key, current: AttrMap | null): WriteResult {
    return {
      key,
      ok: false,
      reason: 'conflict',
      currentRev: current === null ? null : itemRev(current),
    };
  }

  /** Remember `item` (under its contract key, `key` when known); its rev. */
  #remember(info: TableInfo, item: AttrMap, key = keyString(info, item)): string {
    const rev = itemRev(item);
    this.#seen.set(key, rev, item);
    return rev;
  }

  #stored(info: TableInfo, item: AttrMap): StoredDoc {
    const key = keyString(info, item);
    return {
      key,
      doc: attrsToDoc(item, info.synthetic ? info.keyNames : undefined),
      rev: this.#remember(info, item, key),
    };
  }

  /** The item for a document: its attributes plus the key attributes. */
  #item(info: TableInfo, key: Key, doc: Doc): AttrMap {
    const attrs = docToAttrs(doc);
    for (const [k, av] of Object.entries(keyAttrs(info, key))) {
      const own = attrs[k];
      if (own !== undefined && (info.synthetic || !sameAttr(own, av))) {
        throw new DynamoKeySchemaError(
          info.synthetic
            ? `document '${key}' has a field '${k}', which table '${this.tableName}' uses for its key`
            : `document '${key}': field '${k}' does not hold the document's key (table '${this.tableName}' is keyed by it)`,
          { field: k },
        );
      }
      attrs[k] = av;
    }
    const bytes = itemSize(attrs);
    if (bytes > MAX_ITEM_BYTES) {
      throw new DocumentTooLargeError(
        `document '${key}' is ${bytes} bytes as a DynamoDB item; DynamoDB items are limited to ${MAX_ITEM_BYTES} bytes (400 KB)`,
        key,
        bytes,
        MAX_ITEM_BYTES,
      );
    }
    return attrs;
  }

  #segment(range: Range | undefined): { Segment?: number; TotalSegments?: number } {
    if (range === undefined) return {};
    const { segment, segments } = range as SegmentRange;
    if (
      !Number.isInteger(segment) ||
      !Number.isInteger(segments) ||
      segment < 0 ||
      segment >= segments
    ) {
      throw new TypeError(`range ${range.id} is not a DynamoDB scan segment`);
    }
    return segments <= 1 ? {} : { Segment: segment, TotalSegments: segments };
  }

  #decodeCursor(cursor: string): AttrMap {
    try {
      return keyFromJson(JSON.parse(cursor));
    } catch {
      throw new StoreError(`not a DynamoDB scan cursor: ${cursor.slice(0, 80)}`);
    }
  }

  /** The table's key attributes (unique by construction); its secondary indexes are not. */
  async uniqueConstraints(): Promise<StoreUniqueConstraints> {
    const info = await this.#describe();
    return info === null ? { constraints: [] } : tableUniqueConstraints(info);
  }

  /** The table's description, or null when the table does not exist. */
  async #describe(): Promise<TableInfo | null> {
    if (this.#info !== undefined) return this.#info;
    let res: { Table?: TableDescription };
    try {
      res = (await this.#store.send(
        `describe '${this.tableName}'`,
        new DescribeTableCommand({ TableName: this.tableName }),
        true,
      )) as typeof res;
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') return null;
      throw this.#store.wrap(`describe '${this.tableName}'`, err);
    }
    const table = res.Table!;
    if (table.TableStatus !== 'ACTIVE' && table.TableStatus !== 'UPDATING') {
      await this.#store.waitActive(this.tableName);
    }
    this.#info = tableInfoOf(table, this.tableName);
    return this.#info;
  }

  /**
   * The table, created when it does not exist: partition key `_key`, on demand, and, for user
   * collections (not Switchyard's `_sy_` state), a stream with new and old images, so catch-up
   * can follow it.
   */
  async #ensureTable(): Promise<TableInfo> {
    const info = await this.#describe();
    if (info !== null) return info;
    try {
      await this.#store.send(
        `create table '${this.tableName}'`,
        new CreateTableCommand({
          TableName: this.tableName,
          AttributeDefinitions: [{ AttributeName: SYNTHETIC_KEY, AttributeType: 'S' }],
          KeySchema: [{ AttributeName: SYNTHETIC_KEY, KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
          ...(this.name.startsWith(RESERVED_PREFIX)
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
        throw this.#store.wrap(`create table '${this.tableName}'`, err);
    }
    await this.#store.waitActive(this.tableName);
    const created = await this.#describe();
    if (created === null)
      throw new StoreError(`table '${this.tableName}' vanished after it was created`);
    return created;
  }
}
