/**
 * DynamoDB (@aws-sdk/client-dynamodb, own marshalling in dynamodb-values.ts):
 *
 *   dynamodb://host:port[?region=R][&prefix=P][&https=true]   a local server (dynalite,
 *                                                              DynamoDB Local) or any endpoint
 *   dynamodb://aws?region=R[&prefix=P]                         AWS, default credential chain
 *
 * A collection is the table `<prefix><name>` (names that are not valid table names are written
 * `__<base64url>`). Its key schema comes from DescribeTable; tables Switchyard creates have one
 * string partition key `_key` (PAY_PER_REQUEST) that holds the document key and is not part of
 * the document. A document is the item's other attributes, each attribute one field.
 *
 * rev = sha1 of the item's canonical content (dynamodb-values.ts `itemRev`), computed on read.
 * DynamoDB has no version of its own, so a conditional write states, as a ConditionExpression,
 * that the item still holds exactly what was read: every attribute equal (maps and lists
 * compared field by field with size() and attribute_type(), so it also works on servers that
 * cannot compare whole maps), and none of the attributes the write adds present. Writes are
 * UpdateItems that set the changed attributes and remove the dropped ones, so an attribute
 * another writer added meanwhile is kept, as if that write came after ours. A write's new rev is
 * computed from the item it wrote (the condition held), not asked back. The content that goes
 * with a rev is remembered from reads and writes (bounded); on a miss it is read back
 * consistently.
 * See docs/stores/dynamodb.md.
 */
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import { StoreError, StoreUrlError } from '../../core/errors.js';
import { compareKeys, type Doc } from '../../core/values.js';
import type {
  Collection,
  CollectionCapabilities,
  Key,
  Range,
  ScanOptions,
  ScanPage,
  Store,
  StoredDoc,
  WriteOp,
  WriteResult,
} from '../contract.js';
import { RESERVED_PREFIX } from '../contract.js';
import {
  attrsToDoc,
  attrType,
  canonicalAttr,
  canonicalMap,
  docToAttrs,
  itemRev,
  itemSize,
  keyFromJson,
  keyToJson,
  type AttrMap,
  type AttrValue,
} from './dynamodb-values.js';
import { DocumentTooLargeError, StoreThrottledError } from '../store-errors.js';
import { redactSecrets, type ParsedStoreUrl } from '../store-url.js';
import { pool } from '../pool.js';

/** The partition key of tables Switchyard creates. */
export const SYNTHETIC_KEY = '_key';
export const MAX_ITEM_BYTES = 400 * 1024;
export const DEFAULT_DYNAMODB_PORT = 8000;
/** parallel requests per write batch */
const WRITE_CONCURRENCY = 16;
/** revs whose item content is remembered for conditional writes */
const READ_CACHE_ENTRIES = 20_000;
/** expression strings are limited to 4 KB; keep clear of it */
const EXPRESSION_BUDGET = 3500;
/** retries of unprocessed batch items before giving up with StoreThrottledError */
export const DEFAULT_MAX_RETRIES = 12;
const THROTTLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

const CAPABILITIES: CollectionCapabilities = {
  orderedScan: false,
  changeFeed: false,
  atomicBatch: false,
};

/** A part of the table for a parallel scan: Segment `segment` of `segments`. */
export interface SegmentRange extends Range {
  readonly segment: number;
  readonly segments: number;
}

interface KeyAttr {
  readonly name: string;
  readonly type: 'S' | 'N' | 'B';
}

interface TableInfo {
  readonly hash: KeyAttr;
  readonly range?: KeyAttr;
  /** the table has Switchyard's `_key` partition key (not a document field) */
  readonly synthetic: boolean;
  readonly keyNames: ReadonlySet<string>;
}

/** What this adapter uses of the SDK client. */
export interface DynamoClient {
  send(command: object): Promise<unknown>;
  destroy(): void;
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

/** `_key` values cannot be empty: '' and keys starting with U+0000 get a U+0000 in front. */
function escapeKey(key: Key): string {
  return key === '' || key.startsWith('\u0000') ? `\u0000${key}` : key;
}

function unescapeKey(s: string): Key {
  return s.startsWith('\u0000') ? s.slice(1) : s;
}

function errorName(err: unknown): string {
  return (err as { name?: string })?.name ?? '';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** exponential back-off with jitter: base * 2^attempt, at most 5 s, times 0.5..1 */
function backoff(attempt: number, baseMs: number): number {
  return Math.min(5000, baseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
}

/** Placeholders for one request's expressions. */
class Expr {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, AttrValue> = {};
  readonly #nameIds = new Map<string, string>();
  readonly #valueIds = new Map<string, string>();

  name(n: string): string {
    let id = this.#nameIds.get(n);
    if (id === undefined) {
      id = `#${this.#nameIds.size}`;
      this.#nameIds.set(n, id);
      this.names[id] = n;
    }
    return id;
  }

  value(v: AttrValue): string {
    const c = canonicalAttr(v);
    let id = this.#valueIds.get(c);
    if (id === undefined) {
      id = `:${this.#valueIds.size}`;
      this.#valueIds.set(c, id);
      this.values[id] = v;
    }
    return id;
  }

  /** How many placeholders there are, to undo the ones added after (see rollback). */
  mark(): { names: number; values: number } {
    return { names: this.#nameIds.size, values: this.#valueIds.size };
  }

  /** Forget the placeholders added since `mark` (an expression that was not used after all). */
  rollback(mark: { names: number; values: number }): void {
    let i = 0;
    for (const [n, id] of this.#nameIds) {
      if (i++ < mark.names) continue;
      this.#nameIds.delete(n);
      delete this.names[id];
    }
    i = 0;
    for (const [v, id] of this.#valueIds) {
      if (i++ < mark.values) continue;
      this.#valueIds.delete(v);
      delete this.values[id];
    }
  }

  /** ExpressionAttributeNames/Values, leaving out the empty ones (DynamoDB rejects them). */
  params(): {
    ExpressionAttributeNames?: Record<string, string>;
    ExpressionAttributeValues?: AttrMap;
  } {
    return {
      ...(this.#nameIds.size > 0 ? { ExpressionAttributeNames: this.names } : {}),
      ...(this.#valueIds.size > 0 ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

type PathSeg = { readonly name: string } | { readonly index: number };

/**
 * The clauses saying "the attribute at `path` equals `av`". Maps and lists are compared member
 * by member (size, each member; attribute_type when empty) down to `depth`; deeper, or when
 * `whole`, with one `=` (which DynamoDB supports for maps and lists, dynalite does not).
 */
function equalClauses(
  ex: Expr,
  path: PathSeg[],
  av: AttrValue,
  whole: boolean,
  depth = 0,
): string[] {
  const p = path
    .map((s, i) => ('index' in s ? `[${s.index}]` : `${i === 0 ? '' : '.'}${ex.name(s.name)}`))
    .join('');
  const t = attrType(av);
  if (t === 'NULL') return [`attribute_type(${p}, ${ex.value({ S: 'NULL' })})`];
  if ((t !== 'M' && t !== 'L') || whole || depth >= 30) return [`${p} = ${ex.value(av)}`];
  const members =
    t === 'M' ? Object.keys((av as { M: AttrMap }).M).length : (av as { L: AttrValue[] }).L.length;
  // a member path (a.b, a[0]) only resolves on a map / a list: the type needs saying when empty
  const clauses = members === 0 ? [`attribute_type(${p}, ${ex.value({ S: t })})`] : [];
  clauses.push(`size(${p}) = ${ex.value({ N: String(members) })}`);
  if (t === 'M') {
    const m = (av as { M: AttrMap }).M;
    const keys = Object.keys(m);
    for (const k of keys)
      clauses.push(...equalClauses(ex, [...path, { name: k }], m[k]!, false, depth + 1));
  } else {
    const l = (av as { L: AttrValue[] }).L;
    l.forEach((x, i) =>
      clauses.push(...equalClauses(ex, [...path, { index: i }], x, false, depth + 1)),
    );
  }
  return clauses;
}

/**
 * The condition "the item holds exactly `read`, and none of `added` exists", in at most
 * EXPRESSION_BUDGET characters: attributes are compared member by member where the budget
 * allows, the largest ones whole otherwise.
 */
function sameContentCondition(
  ex: Expr,
  read: AttrMap,
  added: readonly string[],
  keyNames: ReadonlySet<string>,
): string {
  const attrs = Object.keys(read).filter((k) => !keyNames.has(k));
  // usually everything fits member by member: try that first
  const mark = ex.mark();
  const plain = conditionClauses(ex, attrs, read, added, keyNames, new Set()).join(' AND ');
  if (plain.length <= EXPRESSION_BUDGET) return plain;
  ex.rollback(mark);
  // measure each attribute's member-by-member form with a scratch Expr
  const sizes = attrs.map((k) => {
    const scratch = new Expr();
    return equalClauses(scratch, [{ name: k }], read[k]!, false).join(' AND ').length;
  });
  const whole = new Set<string>();
  let total =
    sizes.reduce((s, n) => s + n + 5, 0) + added.length * 30 + (attrs.length === 0 ? 30 : 0);
  const bySize = attrs.map((k, i) => [k, sizes[i]!] as const).sort((a, b) => b[1] - a[1]);
  for (const [k, n] of bySize) {
    if (total <= EXPRESSION_BUDGET) break;
    whole.add(k);
    total -= n - 20;
  }
  const cond = conditionClauses(ex, attrs, read, added, keyNames, whole).join(' AND ');
  if (cond.length > 4000) {
    throw new StoreError(
      `a conditional write cannot express the ${attrs.length + added.length} attributes of this item within DynamoDB's 4 KB expression limit`,
    );
  }
  return cond;
}

/** The clauses of sameContentCondition, with the attributes in `whole` compared whole. */
function conditionClauses(
  ex: Expr,
  attrs: readonly string[],
  read: AttrMap,
  added: readonly string[],
  keyNames: ReadonlySet<string>,
  whole: ReadonlySet<string>,
): string[] {
  const clauses: string[] = [];
  // the item exists (also when it has no attributes besides its key)
  for (const k of keyNames) clauses.push(`attribute_exists(${ex.name(k)})`);
  for (const k of attrs) clauses.push(...equalClauses(ex, [{ name: k }], read[k]!, whole.has(k)));
  for (const k of added) clauses.push(`attribute_not_exists(${ex.name(k)})`);
  return clauses;
}

export class DynamoCollection implements Collection {
  readonly capabilities = CAPABILITIES;
  readonly tableName: string;
  readonly #store: DynamoStore;
  #info: TableInfo | undefined;
  /** `<canonical key>\0<rev>` -> the item as read, for conditions (insertion-ordered, bounded) */
  readonly #seen = new Map<string, AttrMap>();

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
        Key: this.#keyAttrs(info, key) as Record<string, AttributeValue>,
        ConsistentRead: true,
      }),
    )) as { Item?: AttrMap };
    return res.Item ? this.#stored(info, res.Item) : null;
  }

  async getMany(keys: readonly Key[]): Promise<(StoredDoc | null)[]> {
    if (keys.length === 0) return [];
    const info = await this.#describe();
    if (info === null) return keys.map(() => null);
    const wanted = new Map<string, AttrMap>();
    for (const k of keys) {
      const attrs = this.#keyAttrs(info, k);
      wanted.set(canonicalMap(attrs), attrs);
    }
    const found = new Map<string, StoredDoc>();
    const chunks: AttrMap[][] = [];
    const all = [...wanted.values()];
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
            }),
          )) as {
            Responses?: Record<string, AttrMap[]>;
            UnprocessedKeys?: Record<string, { Keys?: AttrMap[] }>;
          };
          for (const item of res.Responses?.[this.tableName] ?? []) {
            found.set(canonicalMap(this.#keyOfItem(info, item)), this.#stored(info, item));
          }
          pending = res.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        }
      }),
      WRITE_CONCURRENCY,
    );
    return keys.map((k) => found.get(canonicalMap(this.#keyAttrs(info, k))) ?? null);
  }

  /**
   * Resume rules: the cursor is DynamoDB's LastEvaluatedKey as JSON; Scan continues after it
   * in the table's (hash) order, so every item that exists for the whole scan is returned
   * once. A page holds at most `limit` items and may be shorter (1 MB per Scan call).
   */
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
   * Ops on different keys run in parallel (unconditional ones as BatchWriteItem, 25 at a time,
   * unprocessed items retried with back-off and never dropped; conditional ones one request
   * each). When a key occurs twice in the batch, the ops run one after another in order.
   * Every item is size-checked before anything is sent.
   */
  async write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    if (ops.length === 0) return [];
    const info = await this.#ensureTable();
    const items = ops.map((op) => (op.type === 'put' ? this.#item(info, op.key, op.doc) : null));
    const results: WriteResult[] = new Array(ops.length);
    const distinct = new Set(ops.map((op) => op.key)).size === ops.length;
    if (!distinct) {
      for (let i = 0; i < ops.length; i++)
        results[i] = await this.#writeOne(info, ops[i]!, items[i]!);
      return results;
    }
    const tasks: (() => Promise<void>)[] = [];
    const plain: number[] = [];
    ops.forEach((op, i) => {
      if (op.ifRev === undefined) plain.push(i);
      else
        tasks.push(async () => {
          results[i] = await this.#writeOne(info, op, items[i]!);
        });
    });
    for (let c = 0; c < plain.length; c += 25) {
      const chunk = plain.slice(c, c + 25);
      tasks.push(async () => {
        await this.#batchWrite(
          info,
          chunk.map((i) => ({ op: ops[i]!, item: items[i]! })),
        );
        for (const i of chunk) {
          const op = ops[i]!;
          results[i] = {
            key: op.key,
            ok: true,
            rev: op.type === 'put' ? this.#remember(info, items[i]!) : null,
          };
        }
      });
    }
    await pool(tasks, WRITE_CONCURRENCY);
    return results;
  }

  /** Forget the table description and remembered items (after a drop). */
  reset(): void {
    this.#info = undefined;
    this.#seen.clear();
  }

  async #writeOne(info: TableInfo, op: WriteOp, item: AttrMap | null): Promise<WriteResult> {
    const Key = this.#keyAttrs(info, op.key);
    const where = `write to '${this.name}'`;
    if (op.ifRev === undefined) {
      if (op.type === 'delete') {
        await this.#store.send(
          where,
          new DeleteItemCommand({
            TableName: this.tableName,
            Key: Key as Record<string, AttributeValue>,
          }),
        );
        return { key: op.key, ok: true, rev: null };
      }
      await this.#store.send(
        where,
        new PutItemCommand({
          TableName: this.tableName,
          Item: item as Record<string, AttributeValue>,
        }),
      );
      return { key: op.key, ok: true, rev: this.#remember(info, item!) };
    }
    if (op.ifRev === null) {
      if (op.type === 'delete') {
        // "delete if absent": nothing to do when absent, a conflict when present
        const cur = await this.#current(info, Key);
        return cur === null ? { key: op.key, ok: true, rev: null } : this.#conflict(op.key, cur);
      }
      const ex = new Expr();
      const cond = [...info.keyNames]
        .map((k) => `attribute_not_exists(${ex.name(k)})`)
        .join(' AND ');
      const ok = await this.#conditional(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item as Record<string, AttributeValue>,
          ConditionExpression: cond,
          ...ex.params(),
        }),
      );
      if (!ok) return this.#conflict(op.key, await this.#current(info, Key));
      return { key: op.key, ok: true, rev: this.#remember(info, item!) };
    }
    // conditional on a rev: find the content that rev stands for
    let read = this.#seen.get(`${canonicalMap(Key)}\u0000${op.ifRev}`);
    if (read === undefined) {
      const cur = await this.#current(info, Key);
      if (cur === null || itemRev(cur) !== op.ifRev) return this.#conflict(op.key, cur);
      read = cur;
    }
    const ex = new Expr();
    if (op.type === 'delete') {
      const ok = await this.#conditional(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: Key as Record<string, AttributeValue>,
          ConditionExpression: sameContentCondition(ex, read, [], info.keyNames),
          ...ex.params(),
        }),
      );
      return ok
        ? { key: op.key, ok: true, rev: null }
        : this.#conflict(op.key, await this.#current(info, Key));
    }
    const next = item!;
    const set: string[] = [];
    const remove: string[] = [];
    const added: string[] = [];
    for (const [k, av] of Object.entries(next)) {
      if (info.keyNames.has(k)) continue;
      const before = read[k];
      if (before === undefined) added.push(k);
      if (before === undefined || canonicalAttr(before) !== canonicalAttr(av)) {
        set.push(`${ex.name(k)} = ${ex.value(av)}`);
      }
    }
    for (const k of Object.keys(read)) {
      if (!info.keyNames.has(k) && next[k] === undefined) remove.push(ex.name(k));
    }
    if (set.length === 0 && remove.length === 0) {
      // nothing changes: succeed when the item still holds what was read
      const cur = await this.#current(info, Key);
      return cur !== null && itemRev(cur) === op.ifRev
        ? { key: op.key, ok: true, rev: op.ifRev }
        : this.#conflict(op.key, cur);
    }
    const condition = sameContentCondition(ex, read, added, info.keyNames);
    const update = [
      ...(set.length > 0 ? [`SET ${set.join(', ')}`] : []),
      ...(remove.length > 0 ? [`REMOVE ${remove.join(', ')}`] : []),
    ].join(' ');
    if (update.length > 4000) {
      throw new StoreError(
        `a conditional write to '${this.name}' changes too many attributes for DynamoDB's 4 KB expression limit`,
      );
    }
    const ok = await this.#conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: Key as Record<string, AttributeValue>,
        UpdateExpression: update,
        ConditionExpression: condition,
        ...ex.params(),
      } as ConstructorParameters<typeof UpdateItemCommand>[0]),
    );
    if (!ok) return this.#conflict(op.key, await this.#current(info, Key));
    // the condition held, so the item is now `next` (no need to ask for it back), plus any
    // attribute another writer added meanwhile, which the update keeps: a later write on this
    // rev keeps it too (from the remembered item) or, read back, finds another rev and conflicts
    return { key: op.key, ok: true, rev: this.#remember(info, next) };
  }

  /** Send a conditional request; false when its condition failed. */
  async #conditional(command: object): Promise<boolean> {
    try {
      await this.#store.send(`write to '${this.name}'`, command, true);
      return true;
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') return false;
      throw this.#store.wrap(`write to '${this.name}'`, err);
    }
  }

  #conflict(key: Key, current: AttrMap | null): WriteResult {
    return {
      key,
      ok: false,
      reason: 'conflict',
      currentRev: current === null ? null : itemRev(current),
    };
  }

  /** The item as stored now (strongly consistent), or null. */
  async #current(info: TableInfo, Key: AttrMap): Promise<AttrMap | null> {
    const res = (await this.#store.send(
      `read of '${this.name}'`,
      new GetItemCommand({
        TableName: this.tableName,
        Key: Key as Record<string, AttributeValue>,
        ConsistentRead: true,
      }),
    )) as { Item?: AttrMap };
    if (!res.Item) return null;
    this.#remember(info, res.Item);
    return res.Item;
  }

  async #batchWrite(
    info: TableInfo,
    entries: { op: WriteOp; item: AttrMap | null }[],
  ): Promise<void> {
    type Req = { PutRequest: { Item: AttrMap } } | { DeleteRequest: { Key: AttrMap } };
    let pending: Req[] = entries.map(({ op, item }) =>
      op.type === 'put'
        ? { PutRequest: { Item: item! } }
        : { DeleteRequest: { Key: this.#keyAttrs(info, op.key) } },
    );
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0)
        await this.#retryWait(attempt, `${pending.length} items of a BatchWriteItem`);
      const res = (await this.#store.send(
        `write to '${this.name}'`,
        new BatchWriteItemCommand({
          RequestItems: { [this.tableName]: pending } as ConstructorParameters<
            typeof BatchWriteItemCommand
          >[0]['RequestItems'],
        }),
      )) as { UnprocessedItems?: Record<string, Req[]> };
      pending = res.UnprocessedItems?.[this.tableName] ?? [];
    }
  }

  async #retryWait(attempt: number, what: string): Promise<void> {
    const { maxRetries, retryBaseMs } = this.#store;
    if (attempt > maxRetries) {
      throw new StoreThrottledError(
        `DynamoDB left ${what} of '${this.name}' unprocessed ${maxRetries} times (throughput exceeded); nothing was dropped, the batch must be retried`,
      );
    }
    await sleep(backoff(attempt, retryBaseMs));
  }

  #remember(info: TableInfo, item: AttrMap): string {
    const rev = itemRev(item);
    const id = `${canonicalMap(this.#keyOfItem(info, item))}\u0000${rev}`;
    this.#seen.delete(id);
    this.#seen.set(id, item);
    if (this.#seen.size > READ_CACHE_ENTRIES) {
      this.#seen.delete(this.#seen.keys().next().value!);
    }
    return rev;
  }

  #stored(info: TableInfo, item: AttrMap): StoredDoc {
    const rev = this.#remember(info, item);
    return {
      key: this.#keyString(info, item),
      doc: attrsToDoc(item, info.synthetic ? info.keyNames : undefined),
      rev,
    };
  }

  /** The item for a document: its attributes plus the key attributes. */
  #item(info: TableInfo, key: Key, doc: Doc): AttrMap {
    const attrs = docToAttrs(doc);
    const keyAttrs = this.#keyAttrs(info, key);
    for (const [k, av] of Object.entries(keyAttrs)) {
      const own = attrs[k];
      if (own !== undefined && (info.synthetic || canonicalAttr(own) !== canonicalAttr(av))) {
        throw new StoreError(
          info.synthetic
            ? `document '${key}' has a field '${k}', which '${this.name}' uses for its key`
            : `document '${key}': field '${k}' does not hold the document's key (table '${this.tableName}' is keyed by it)`,
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

  /** The key attributes of a contract key (see docs/stores/dynamodb.md, "Keys"). */
  #keyAttrs(info: TableInfo, key: Key): AttrMap {
    if (info.synthetic) return { [SYNTHETIC_KEY]: { S: escapeKey(key) } };
    if (info.range === undefined) return { [info.hash.name]: this.#piece(info.hash, key, key) };
    let parts: unknown;
    try {
      parts = JSON.parse(key);
    } catch {
      parts = undefined;
    }
    if (!Array.isArray(parts) || parts.length !== 2 || !parts.every((p) => typeof p === 'string')) {
      throw new StoreError(
        `key '${key}' of '${this.name}' must be a JSON array [partitionKey, sortKey] of two strings (the table has a composite key)`,
      );
    }
    return {
      [info.hash.name]: this.#piece(info.hash, parts[0] as string, key),
      [info.range.name]: this.#piece(info.range, parts[1] as string, key),
    };
  }

  #piece(attr: KeyAttr, s: string, key: Key): AttrValue {
    if (attr.type === 'N') {
      if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(s))
        throw new StoreError(`key '${key}' of '${this.name}': '${attr.name}' is a number key`);
      return { N: s };
    }
    if (attr.type === 'B') return { B: new Uint8Array(Buffer.from(s, 'base64')) };
    if (s === '')
      throw new StoreError(`key of '${this.name}': DynamoDB key values cannot be empty`);
    return { S: s };
  }

  #keyOfItem(info: TableInfo, item: AttrMap): AttrMap {
    const out: AttrMap = {};
    for (const k of info.keyNames) if (item[k] !== undefined) out[k] = item[k]!;
    return out;
  }

  #keyString(info: TableInfo, item: AttrMap): Key {
    const text = (attr: KeyAttr): string => {
      const av = item[attr.name] as { S?: string; N?: string; B?: Uint8Array } | undefined;
      if (av?.S !== undefined) return av.S;
      if (av?.N !== undefined) return av.N;
      if (av?.B !== undefined) return Buffer.from(av.B).toString('base64');
      throw new StoreError(`an item of '${this.name}' has no key attribute '${attr.name}'`);
    };
    if (info.synthetic) return unescapeKey(text(info.hash));
    if (info.range === undefined) return text(info.hash);
    return JSON.stringify([text(info.hash), text(info.range)]);
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

  /** The table's key schema, or null when the table does not exist. */
  async #describe(): Promise<TableInfo | null> {
    if (this.#info !== undefined) return this.#info;
    let res: {
      Table?: {
        KeySchema?: { AttributeName?: string; KeyType?: string }[];
        AttributeDefinitions?: { AttributeName?: string; AttributeType?: string }[];
        TableStatus?: string;
      };
    };
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
    const typeOf = (name: string) =>
      (table.AttributeDefinitions?.find((d) => d.AttributeName === name)?.AttributeType ??
        'S') as KeyAttr['type'];
    const hashName = table.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
    const rangeName = table.KeySchema?.find((k) => k.KeyType === 'RANGE')?.AttributeName;
    if (hashName === undefined)
      throw new StoreError(`table '${this.tableName}' has no partition key`);
    const hash = { name: hashName, type: typeOf(hashName) };
    const range =
      rangeName === undefined ? undefined : { name: rangeName, type: typeOf(rangeName) };
    if (table.TableStatus !== 'ACTIVE' && table.TableStatus !== 'UPDATING') {
      await this.#store.waitActive(this.tableName);
    }
    this.#info = {
      hash,
      ...(range ? { range } : {}),
      synthetic: hashName === SYNTHETIC_KEY && range === undefined && hash.type === 'S',
      keyNames: new Set([hashName, ...(rangeName ? [rangeName] : [])]),
    };
    return this.#info;
  }

  /** The table, created (partition key `_key`, on demand) when it does not exist. */
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

export interface DynamoStoreOptions {
  /** the start of every table name this store uses (default '') */
  prefix?: string;
  /** retries of unprocessed batch items/keys (default 12) */
  maxRetries?: number;
  /** the first back-off delay, doubled on every retry up to 5 s (default 25 ms) */
  retryBaseMs?: number;
}

export class DynamoStore implements Store {
  readonly kind = 'dynamodb';
  readonly prefix: string;
  /** DynamoDB's item size limit; larger documents raise DocumentTooLargeError */
  readonly maxDocumentBytes = MAX_ITEM_BYTES;
  readonly maxRetries: number;
  readonly retryBaseMs: number;
  readonly #client: DynamoClient;
  readonly #collections = new Map<string, DynamoCollection>();

  constructor(
    client: DynamoClient,
    readonly url: string,
    options: DynamoStoreOptions = {},
  ) {
    this.#client = client;
    this.prefix = options.prefix ?? '';
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.retryBaseMs = options.retryBaseMs ?? 25;
  }

  /** The SDK client, for tests and tools that must reach behind the contract. */
  get client(): DynamoClient {
    return this.#client;
  }

  collection(name: string): DynamoCollection {
    let c = this.#collections.get(name);
    if (c === undefined) {
      c = new DynamoCollection(this, name);
      this.#collections.set(name, c);
    }
    return c;
  }

  async listCollections(options: { includeReserved?: boolean } = {}): Promise<string[]> {
    const names: string[] = [];
    let start: string | undefined;
    do {
      const res = (await this.send(
        'listCollections',
        new ListTablesCommand(start ? { ExclusiveStartTableName: start } : {}),
      )) as { TableNames?: string[]; LastEvaluatedTableName?: string };
      for (const t of res.TableNames ?? []) {
        const name = collectionNameOf(this.prefix, t);
        if (name !== null) names.push(name);
      }
      start = res.LastEvaluatedTableName;
    } while (start !== undefined);
    return names
      .filter((n) => options.includeReserved === true || !n.startsWith(RESERVED_PREFIX))
      .sort(compareKeys);
  }

  /** Delete the collection's table and wait until it is gone. */
  async dropCollection(name: string): Promise<void> {
    const c = this.collection(name);
    try {
      await this.send(
        `drop '${c.tableName}'`,
        new DeleteTableCommand({ TableName: c.tableName }),
        true,
      );
    } catch (err) {
      if (errorName(err) !== 'ResourceNotFoundException')
        throw this.wrap(`drop '${c.tableName}'`, err);
    }
    c.reset();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.send(
          `drop '${c.tableName}'`,
          new DescribeTableCommand({ TableName: c.tableName }),
          true,
        );
      } catch (err) {
        if (errorName(err) === 'ResourceNotFoundException') return;
        throw this.wrap(`drop '${c.tableName}'`, err);
      }
      if (attempt > 600)
        throw new StoreError(`table '${c.tableName}' was not deleted within 5 minutes`);
      await sleep(Math.min(500, 20 * 2 ** attempt));
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  /** Wait until a table is ACTIVE (CreateTable is asynchronous). */
  async waitActive(table: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = (await this.send(
          `wait for '${table}'`,
          new DescribeTableCommand({ TableName: table }),
          true,
        )) as { Table?: { TableStatus?: string } };
        if (res.Table?.TableStatus === 'ACTIVE') return;
      } catch (err) {
        if (errorName(err) !== 'ResourceNotFoundException')
          throw this.wrap(`wait for '${table}'`, err);
      }
      if (attempt > 600)
        throw new StoreError(`table '${table}' did not become ACTIVE within 5 minutes`);
      await sleep(Math.min(500, 10 * 2 ** attempt));
    }
  }

  /**
   * Send a command. Failures become StoreErrors (throttling: StoreThrottledError, an item over
   * 400 KB: DocumentTooLargeError); with `raw`, SDK errors are passed on for the caller to
   * inspect (conditional checks, missing tables), still wrapped when they are throttling.
   */
  async send(what: string, command: object, raw = false): Promise<unknown> {
    try {
      return await this.#client.send(command);
    } catch (err) {
      if (raw && !THROTTLE_NAMES.has(errorName(err))) throw err;
      throw this.wrap(what, err);
    }
  }

  wrap(what: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const name = errorName(err);
    const msg = `dynamodb ${what} in ${this.url} failed: ${name ? `${name}: ` : ''}${redactSecrets((err as Error)?.message ?? String(err))}`;
    if (THROTTLE_NAMES.has(name)) return new StoreThrottledError(msg, { cause: err });
    if (/item size.*(exceeded|maximum)/i.test((err as Error)?.message ?? '')) {
      return new DocumentTooLargeError(msg, '', MAX_ITEM_BYTES + 1, MAX_ITEM_BYTES, { cause: err });
    }
    return new StoreError(msg, { cause: err });
  }
}

const URL_PARAMS = ['region', 'prefix', 'https'];

/** Open `dynamodb://host:port` or `dynamodb://aws` (parsed by store-url.ts). */
export async function openDynamoStore(parsed: ParsedStoreUrl): Promise<DynamoStore> {
  const url = parsed.url!;
  const fail = (why: string): never => {
    throw new StoreUrlError(`invalid store URL '${parsed.redacted}': ${why}`, { field: 'store' });
  };
  for (const name of url.searchParams.keys()) {
    if (!URL_PARAMS.includes(name))
      fail(`unknown parameter '${name}' (known: ${URL_PARAMS.join(', ')})`);
  }
  if (url.pathname !== '' && url.pathname !== '/') fail('a DynamoDB URL has no path');
  const region = url.searchParams.get('region') ?? undefined;
  const prefix = url.searchParams.get('prefix') ?? '';
  const aws = url.hostname.toLowerCase() === 'aws' && url.port === '';
  // (not `cacheMiddleware: true`, which would save about 5% of the client's CPU per request: a
  // DynamoDBDocumentClient built from `store.client`, as applications and tests do, refuses it)
  const config: DynamoDBClientConfig = {};
  if (region !== undefined) config.region = region;
  if (!aws) {
    const scheme = url.searchParams.get('https') === 'true' ? 'https' : 'http';
    config.endpoint = `${scheme}://${url.hostname}:${url.port === '' ? DEFAULT_DYNAMODB_PORT : url.port}`;
    config.region ??= 'local';
    // local servers accept any credentials; user:password@ in the URL, if given, are used
    config.credentials =
      url.username !== ''
        ? {
            accessKeyId: decodeURIComponent(url.username),
            secretAccessKey: decodeURIComponent(url.password),
          }
        : { accessKeyId: 'local', secretAccessKey: 'local' };
  } else if (url.username !== '') {
    fail('dynamodb://aws takes its credentials from the AWS default chain, not from the URL');
  }
  const client = new DynamoDBClient(config);
  // The SDK's logger middleware filters every request and response for its log line even when
  // there is no logger (the default logger's info() is a no-op, its arguments are still built):
  // about 8% of the client's CPU per request. Switchyard gives the client no logger.
  client.middlewareStack.remove('loggerMiddleware');
  const store = new DynamoStore(client as unknown as DynamoClient, parsed.redacted, { prefix });
  if (!aws) {
    // a local endpoint: fail now, not at the first read, when nothing answers there
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }));
    } catch (err) {
      client.destroy();
      throw new StoreError(
        `cannot connect to ${parsed.redacted}: ${redactSecrets((err as Error).message)}`,
        { cause: err },
      );
    }
  }
  return store;
}
