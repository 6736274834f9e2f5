/**
 * A collection on DynamoDB: one table (dynamodb-table.ts has the key mapping). A document is
 * the item's other attributes, each attribute one field (dynamodb-values.ts).
 *
 * rev = sha1 of the item's canonical content (`itemRev`), computed on read. DynamoDB keeps no
 * version of its own, so a conditional write states that the item still holds exactly what was
 * read (dynamodb-conditions.ts) and is batched (dynamodb-writes.ts). The content that goes with
 * a rev is remembered from reads and writes (bounded); on a miss it is read back consistently,
 * many at once. A write's new rev is computed from the item it wrote (the condition held), not
 * asked back. Reads (Scan pages, counts, BatchGetItem) are in dynamodb-reads.ts, the conditional
 * path of `write` in dynamodb-conditional-ops.ts.
 *
 * Resume rules of `scan`: those of `scanItems` (dynamodb-reads.ts): the cursor is DynamoDB's
 * LastEvaluatedKey as JSON, so every item that exists for the whole scan is returned once.
 */
import { GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
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
import { DocumentTooLargeError } from '../store-errors.js';
import { estimatePass } from './dynamodb-capacity.js';
import { writeConditionalOps } from './dynamodb-conditional-ops.js';
import type { DynamoStore } from './dynamodb-adapter.js';
import {
  countItems,
  fetchItems,
  scanItems,
  splitSegments,
  type ReadChannel,
} from './dynamodb-reads.js';
import { StreamFeed } from './dynamodb-streams.js';
import {
  createTable,
  describeTable,
  describeTableRaw,
  DynamoKeySchemaError,
  keyAttrs,
  keyString,
  tableNameOf,
  tableUniqueConstraints,
  type TableInfo,
} from './dynamodb-table.js';
import {
  attrsToDoc,
  canonicalMap,
  docToAttrs,
  itemRev,
  itemSize,
  sameAttr,
  type AttrMap,
} from './dynamodb-values.js';
import { RememberedItems } from './dynamodb-remembered.js';
import { WriteMode, writePlain, type WriteChannel } from './dynamodb-writes.js';

export type { SegmentRange } from './dynamodb-reads.js';

export const MAX_ITEM_BYTES = 400 * 1024;

const CAPABILITIES: CollectionCapabilities = {
  orderedScan: false,
  changeFeed: true,
  atomicBatch: false,
};

/** A collection whose table does not exist where it was looked for: bad input. */
export class TableNotFoundError extends InputError {
  override readonly code = 'E_DYNAMODB_NO_TABLE';
}

export class DynamoCollection implements Collection {
  readonly capabilities = CAPABILITIES;
  readonly tableName: string;
  readonly #store: DynamoStore;
  #info: TableInfo | undefined;
  #feed: StreamFeed | undefined;
  /** the item behind each recent rev, for conditions (bounded) */
  readonly #seen = new RememberedItems();
  /** what the reads (dynamodb-reads.ts) need of the store */
  readonly #reader: ReadChannel;

  constructor(
    store: DynamoStore,
    readonly name: string,
  ) {
    this.#store = store;
    this.tableName = tableNameOf(store.prefix, name);
    this.#reader = {
      table: this.tableName,
      name,
      send: (what, command) => store.send(what, command),
      retryWait: (attempt, what) => this.#retryWait(attempt, what),
    };
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
    const found = await fetchItems(this.#reader, info, attrs);
    return attrs.map((a) => {
      const item = found.get(canonicalMap(a));
      return item === undefined ? null : this.#stored(info, item);
    });
  }

  async scan({ range, cursor, limit }: ScanOptions): Promise<ScanPage> {
    const info = await this.#describe();
    if (info === null) return { items: [], cursor: null };
    const page = await scanItems(this.#reader, range, cursor, limit);
    return { items: page.items.map((item) => this.#stored(info, item)), cursor: page.cursor };
  }

  async split(n: number): Promise<Range[]> {
    return splitSegments(n);
  }

  async count(range?: Range): Promise<number> {
    const info = await this.#describe();
    if (info === null) return 0;
    return countItems(this.#reader, range);
  }

  /**
   * DescribeTable's ItemCount: no read (a `COUNT` scan reads, and is billed for, the whole
   * table), but AWS refreshes it only about every six hours. Null when the table is absent or
   * says 0 (a new table's count may not be in yet): then the exact count is used.
   */
  async estimatedCount(): Promise<number | null> {
    const n = (await describeTableRaw(this.#store, this.tableName))?.ItemCount;
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
        : writeConditionalOps(
            {
              info,
              channel: this.#channel(info),
              writeMode: this.#store.writeMode,
              seen: this.#seen,
              fetch: (keys) => fetchItems(this.#reader, info, keys),
              remember: (item, key) => this.#remember(info, item, key),
            },
            ops,
            items,
            keys,
            conditional,
            results,
          ),
    ]);
    return results;
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

  /** The table's key attributes (unique by construction); its secondary indexes are not. */
  async uniqueConstraints(): Promise<StoreUniqueConstraints> {
    const info = await this.#describe();
    return info === null ? { constraints: [] } : tableUniqueConstraints(info);
  }

  /** The table's description (kept once it exists), or null when the table does not exist. */
  async #describe(): Promise<TableInfo | null> {
    if (this.#info !== undefined) return this.#info;
    const info = await describeTable(this.#store, this.tableName);
    if (info !== null) this.#info = info;
    return info;
  }

  /** The table, created when it does not exist (dynamodb-table.ts, `createTable`). */
  async #ensureTable(): Promise<TableInfo> {
    const info = await this.#describe();
    if (info !== null) return info;
    await createTable(this.#store, this.tableName, this.name);
    const created = await this.#describe();
    if (created === null)
      throw new StoreError(`table '${this.tableName}' vanished after it was created`);
    return created;
  }
}
