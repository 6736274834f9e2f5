/**
 * MongoDB (the official `mongodb` driver):
 *
 *   mongodb://[user:pass@]host[:port][,host2...][/database][?options]
 *   mongodb+srv://[user:pass@]cluster.example.net[/database][?options]
 *
 * Options are the driver's (replicaSet, authSource, tls, ...). The database is the URL's path
 * (default 'switchyard'); a collection is the MongoDB collection of the same name (names
 * MongoDB cannot hold are written `__sy.<base64url>`). Documents are stored as native BSON with
 * their exact types; the contract key is `keyOf(_id)`, and documents whose `_id` is not their
 * key are stored under the key with their own `_id` in `_sy_id` (mongodb-values.ts).
 *
 * rev = sha1 of the document's BSON bytes as the server returns them (read with `raw: true`),
 * so any change by any writer, of a value, a type or the field order, gives a new rev. A
 * conditional write is one `updateOne`/`deleteOne` whose filter says "still exactly the
 * document that was read" (mongodb-filters.ts `sameDocumentFilter`); the bytes that go with a
 * rev are remembered from reads (bounded), and read back on a miss. `ifRev: null` is an insert;
 * a duplicate key error is the conflict. Replacements are pipeline updates (`$replaceWith` of a
 * `$literal`), which, unlike replaceOne, accept top-level `$`-prefixed field names.
 *
 * Scans walk `_id` order in pages (`_id` after the cursor, sort, limit); the cursor is the last
 * `_id` as canonical Extended JSON. `split(n)` cuts `_id` order at `$bucketAuto` boundaries
 * (over a `$sample` on large collections). `changes()` reads a change stream where the
 * deployment has them (a replica set or a sharded cluster, probed with `hello` at open).
 * See docs/stores/mongodb.md.
 */
import {
  MongoBulkWriteError,
  MongoClient,
  MongoServerError,
  type AnyBulkWriteOperation,
  type ChangeStreamDocument,
  type Collection as DriverCollection,
  type Db,
  type Document,
  type Timestamp,
} from 'mongodb';
import { StoreError, StoreUrlError } from '../../core/errors.js';
import type {
  Change,
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
  StoreUniqueConstraints,
} from '../contract.js';
import { CollectionsByName, listedCollections } from '../collections-by-name.js';
import { uniqueIndexConstraints, type MongoIndexInfo } from './mongodb-indexes.js';
import {
  asIdRange,
  rangeFilter,
  rangesFromIds,
  sameDocumentFilter,
  scanFilter,
} from './mongodb-filters.js';
import {
  BSON_READ_OPTIONS,
  bsonFromText,
  bsonToText,
  bytesRev,
  deserialize,
  fromBsonBytes,
  fromBsonDoc,
  idCandidates,
  keyOfBsonId,
  MAX_BSON_BYTES,
  serialize,
  storedForm,
  type BsonDoc,
} from './mongodb-values.js';
import { DocumentTooLargeError } from '../store-errors.js';
import { redactSecrets, type ParsedStoreUrl } from '../store-url.js';
import { pool } from '../pool.js';

export const DEFAULT_MONGODB_DATABASE = 'switchyard';
/** parallel requests per write batch / per getMany */
const CONCURRENCY = 16;
/** keys per `$in` lookup */
const LOOKUP_CHUNK = 500;
/** revs whose document bytes are remembered for conditional writes: entries, and bytes */
const READ_CACHE_ENTRIES = 20_000;
const READ_CACHE_BYTES = 64 * 1024 * 1024;
/** split: above this many documents, boundaries come from a `$sample` */
const SPLIT_SAMPLE_ABOVE = 100_000;
const SPLIT_SAMPLE_PER_RANGE = 1000;
/** a feed position that is an operation time rather than a resume token (see changes()) */
const AT_OPERATION_TIME = 'syAtOperationTime';
/** how long a `changes()` call waits for the server to report new events, ms */
const CHANGES_AWAIT_MS = 200;
const DUPLICATE_KEY = 11000;
const NAMESPACE_NOT_FOUND = 26;

/** Collection names MongoDB cannot hold (or that look like our escape) are written this way. */
const ESCAPE = '__sy.';

function needsEscape(name: string): boolean {
  return (
    name === '' ||
    name.includes('$') ||
    name.includes('\u0000') ||
    name.startsWith('system.') ||
    name.startsWith(ESCAPE)
  );
}

/** The MongoDB collection of a Switchyard collection. */
export function mongoCollectionName(name: string): string {
  return needsEscape(name) ? ESCAPE + Buffer.from(name, 'utf8').toString('base64url') : name;
}

/** The Switchyard collection of a MongoDB collection. */
export function collectionNameOf(mongoName: string): string {
  if (!mongoName.startsWith(ESCAPE)) return mongoName;
  const decoded = Buffer.from(mongoName.slice(ESCAPE.length), 'base64url').toString('utf8');
  return needsEscape(decoded) && mongoCollectionName(decoded) === mongoName ? decoded : mongoName;
}

/** A document as read: what the contract returns plus its bson form (for conditions). */
interface ReadDoc extends StoredDoc {
  readonly id: unknown;
  readonly bytes: Uint8Array;
}

/** One put or delete, prepared: where it goes and what it stores. */
interface Prepared {
  readonly op: WriteOp;
  /** the stored document (puts) */
  readonly stored: BsonDoc | null;
  /** its bytes and rev (puts) */
  readonly bytes: Uint8Array | null;
}

export class MongoCollection implements Collection {
  readonly capabilities: CollectionCapabilities;
  readonly mongoName: string;
  readonly #store: MongoStore;
  /** `<key>\0<rev>` -> the stored bytes as read (insertion-ordered, bounded by count and bytes) */
  readonly #seen = new Map<string, Uint8Array>();
  #seenBytes = 0;
  #driver: DriverCollection | undefined;

  constructor(
    store: MongoStore,
    readonly name: string,
  ) {
    this.#store = store;
    this.mongoName = mongoCollectionName(name);
    this.capabilities = {
      orderedScan: false,
      changeFeed: store.changeStreams,
      atomicBatch: false,
    };
  }

  /** The driver's collection, for tests and tools that must reach behind the contract. */
  get driverCollection(): DriverCollection {
    this.#driver ??= this.#store.db.collection(this.mongoName, BSON_READ_OPTIONS);
    return this.#driver;
  }

  async get(key: Key): Promise<StoredDoc | null> {
    return (await this.#lookup([key]))[0] ?? null;
  }

  async getMany(keys: readonly Key[]): Promise<(StoredDoc | null)[]> {
    if (keys.length === 0) return [];
    return this.#lookup(keys);
  }

  /**
   * Resume rules: the cursor is the last `_id` returned (canonical Extended JSON); the next page
   * asks for `_id` after it in MongoDB's sort order, so a document that exists for the whole
   * scan is returned once, whatever was inserted or deleted meanwhile.
   */
  async scan({ range, cursor, limit }: ScanOptions): Promise<ScanPage> {
    const filter = scanFilter(asIdRange(range), cursor);
    const raw = (await this.#store.run(`scan of '${this.name}'`, () =>
      this.driverCollection
        .find(filter, { raw: true, sort: { _id: 1 }, limit: Math.max(1, limit) })
        .toArray(),
    )) as unknown as Uint8Array[];
    const items = raw.map((b) => this.#read(b));
    const last = items[items.length - 1];
    return {
      items,
      cursor: items.length < limit || last === undefined ? null : bsonToText(last.id),
    };
  }

  /**
   * Ranges of `_id` order cut at `$bucketAuto` boundaries: the first is open below, the last
   * open above, so every `_id`, also one written later or of another type, is in exactly one.
   */
  async split(n: number): Promise<Range[]> {
    const buckets = Math.min(10_000, Math.max(1, Math.floor(n)));
    if (buckets === 1) return rangesFromIds([]);
    const c = this.driverCollection;
    const total = await this.#store.run(`split of '${this.name}'`, () =>
      c.estimatedDocumentCount(),
    );
    if (total === 0) return rangesFromIds([]);
    const pipeline: Document[] = [
      ...(total > SPLIT_SAMPLE_ABOVE
        ? [{ $sample: { size: Math.min(total, buckets * SPLIT_SAMPLE_PER_RANGE) } }]
        : []),
      { $project: { _id: 1 } },
      { $bucketAuto: { groupBy: '$_id', buckets } },
    ];
    const res = (await this.#store.run(`split of '${this.name}'`, () =>
      c.aggregate(pipeline, { allowDiskUse: true }).toArray(),
    )) as { _id: { min: unknown; max: unknown } }[];
    const boundaries = res.slice(1).map((b) => b._id.min);
    const seen = new Set<string>();
    return rangesFromIds(
      boundaries.filter((b) => {
        const t = bsonToText(b);
        if (seen.has(t)) return false;
        seen.add(t);
        return true;
      }),
    );
  }

  /** Its unique indexes (mongodb-indexes.ts; unverified against a server). */
  async uniqueConstraints(): Promise<StoreUniqueConstraints> {
    const indexes = (await this.#store.run(`indexes of '${this.name}'`, async () => {
      try {
        return await this.driverCollection.listIndexes().toArray();
      } catch (err) {
        // no such collection yet: no index
        if ((err as { codeName?: string }).codeName === 'NamespaceNotFound') return [];
        throw err;
      }
    })) as MongoIndexInfo[];
    return uniqueIndexConstraints(indexes, this.name);
  }

  async count(range?: Range): Promise<number> {
    const filter = range === undefined ? {} : rangeFilter(asIdRange(range));
    return this.#store.run(`count of '${this.name}'`, () =>
      this.driverCollection.countDocuments(filter),
    );
  }

  /**
   * Ops on distinct keys run together: unconditional puts and deletes as one unordered
   * bulkWrite, must-be-absent puts as one unordered bulk insert (a duplicate key error at an
   * op's index is that op's conflict), rev-conditional ops one request each, in parallel. When a
   * key occurs twice in the batch, the ops run one after another in order. Every document is
   * encoded and size-checked before anything is sent.
   */
  async write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    if (ops.length === 0) return [];
    const prepared = ops.map((op) => this.#prepare(op));
    const results: WriteResult[] = new Array(ops.length);
    if (new Set(ops.map((op) => op.key)).size !== ops.length) {
      for (let i = 0; i < ops.length; i++) results[i] = await this.#writeOne(prepared[i]!);
      return results;
    }
    const plain: number[] = [];
    const absent: number[] = [];
    const tasks: (() => Promise<void>)[] = [];
    prepared.forEach((p, i) => {
      if (p.op.ifRev === undefined) plain.push(i);
      else if (p.op.ifRev === null && p.op.type === 'put') absent.push(i);
      else
        tasks.push(async () => {
          results[i] = await this.#writeOne(p);
        });
    });
    if (plain.length > 0) {
      tasks.push(async () => {
        const res = await this.#writePlain(plain.map((i) => prepared[i]!));
        plain.forEach((i, j) => (results[i] = res[j]!));
      });
    }
    if (absent.length > 0) {
      tasks.push(async () => {
        const res = await this.#insertAbsent(absent.map((i) => prepared[i]!));
        absent.forEach((i, j) => (results[i] = res[j]!));
      });
    }
    await pool(tasks, CONCURRENCY);
    return results;
  }

  /**
   * The changes after `position` (a resume token as canonical Extended JSON; from now when
   * null), at most `limit`. Deletes have `doc: null`; an update whose document is already gone
   * again when the change is read also reads as a delete. Only with capabilities.changeFeed.
   */
  async changes(
    position: string | null,
    limit: number,
  ): Promise<{ changes: Change[]; position: string }> {
    if (!this.capabilities.changeFeed) {
      throw new StoreError(
        `'${this.name}' has no change feed: change streams need a replica set or a sharded cluster (${this.#store.url} is a standalone server)`,
      );
    }
    const token = position === null ? undefined : bsonFromText(position, 'change stream position');
    // "now" without reading anything (limit 0: a catch-up saving its start): the server's
    // operation time. A stream opened on it starts there, inclusive (a change seen twice is
    // harmless to readers that re-read each changed key). A resume token only exists once a
    // stream has returned a batch, which limit 0 never asks for.
    if (token === undefined && limit <= 0) {
      return this.#store.run(`changes of '${this.name}'`, async () => {
        const hello = (await this.#store.db.command({ hello: 1 })) as {
          operationTime?: unknown;
          $clusterTime?: { clusterTime?: unknown };
        };
        const at = hello.operationTime ?? hello.$clusterTime?.clusterTime;
        if (at == null)
          throw new StoreError('the server reported no operation time for a change-stream start');
        return { changes: [], position: bsonToText({ [AT_OPERATION_TIME]: at }) };
      });
    }
    const at =
      token !== undefined &&
      typeof token === 'object' &&
      token !== null &&
      AT_OPERATION_TIME in token
        ? (token as Record<string, unknown>)[AT_OPERATION_TIME]
        : undefined;
    return this.#store.run(`changes of '${this.name}'`, async () => {
      const stream = this.driverCollection.watch([], {
        fullDocument: 'updateLookup',
        maxAwaitTimeMS: CHANGES_AWAIT_MS,
        batchSize: Math.max(1, limit),
        ...(at !== undefined
          ? { startAtOperationTime: at as Timestamp }
          : token !== undefined
            ? { startAfter: token as Document }
            : {}),
      });
      try {
        const changes: Change[] = [];
        while (changes.length < limit) {
          const ev = (await stream.tryNext()) as ChangeStreamDocument | null;
          if (ev === null) break;
          const change = this.#change(ev);
          if (change !== null) changes.push(change);
        }
        const next = stream.resumeToken;
        if (next == null) {
          // nothing returned and no token yet: still where we were
          if (changes.length === 0 && position !== null) return { changes, position };
          throw new StoreError('the change stream gave no resume token');
        }
        return { changes, position: bsonToText(next) };
      } finally {
        await stream.close();
      }
    });
  }

  /** Forget remembered documents (after a drop). */
  reset(): void {
    this.#seen.clear();
    this.#seenBytes = 0;
  }

  #change(ev: ChangeStreamDocument): Change | null {
    const position = bsonToText(ev._id);
    switch (ev.operationType) {
      case 'insert':
      case 'update':
      case 'replace': {
        const full = ev.fullDocument as BsonDoc | null | undefined;
        if (full == null) {
          return { position, key: keyOfBsonId(ev.documentKey._id), doc: null };
        }
        const { key, doc } = fromBsonDoc(full);
        return { position, key, doc };
      }
      case 'delete':
        return { position, key: keyOfBsonId(ev.documentKey._id), doc: null };
      default:
        // drop, rename, invalidate, ...: not a document change
        return null;
    }
  }

  #read(bytes: Uint8Array): ReadDoc {
    const own = Buffer.from(bytes); // the driver's buffer may be reused
    const { key, doc, rev, id } = fromBsonBytes(own);
    this.#remember(key, rev, own);
    return { key, doc, rev, id, bytes: own };
  }

  #remember(key: Key, rev: string, bytes: Uint8Array): void {
    const id = `${key}\u0000${rev}`;
    const old = this.#seen.get(id);
    if (old !== undefined) {
      this.#seen.delete(id);
      this.#seenBytes -= old.length;
    }
    if (bytes.length > READ_CACHE_BYTES / 4) return;
    this.#seen.set(id, bytes);
    this.#seenBytes += bytes.length;
    while (this.#seen.size > READ_CACHE_ENTRIES || this.#seenBytes > READ_CACHE_BYTES) {
      const [oldest, b] = this.#seen.entries().next().value!;
      this.#seen.delete(oldest);
      this.#seenBytes -= b.length;
    }
  }

  /**
   * The stored documents of `keys` (null where absent), one `$in` over every `_id` each key
   * could be (mongodb-values.ts `idCandidates`), keeping the documents whose key matches.
   */
  async #lookup(keys: readonly Key[]): Promise<(ReadDoc | null)[]> {
    const distinct = [...new Set(keys)];
    const found = new Map<Key, ReadDoc>();
    const chunks: Key[][] = [];
    for (let i = 0; i < distinct.length; i += LOOKUP_CHUNK)
      chunks.push(distinct.slice(i, i + LOOKUP_CHUNK));
    await pool(
      chunks.map((chunk) => async () => {
        const wanted = new Set(chunk);
        const raw = (await this.#store.run(`read of '${this.name}'`, () =>
          this.driverCollection
            .find({ _id: { $in: chunk.flatMap(idCandidates) } } as Document, { raw: true })
            .toArray(),
        )) as unknown as Uint8Array[];
        for (const b of raw) {
          const d = this.#read(b);
          if (!wanted.has(d.key)) continue;
          const other = found.get(d.key);
          if (other !== undefined) {
            throw new StoreError(
              `'${this.name}' holds two documents with key '${d.key}' (_id ${bsonToText(other.id)} and ${bsonToText(d.id)}); Switchyard addresses documents by keyOf(_id) and cannot tell them apart: give one of them another _id`,
            );
          }
          found.set(d.key, d);
        }
      }),
      CONCURRENCY,
    );
    return keys.map((k) => found.get(k) ?? null);
  }

  /** The `_id`s (bson-typed) of every stored document with one of `keys`, by key. */
  async #idsOf(keys: readonly Key[]): Promise<Map<Key, unknown[]>> {
    const wanted = new Set(keys);
    const out = new Map<Key, unknown[]>();
    const distinct = [...wanted];
    const chunks: Key[][] = [];
    for (let i = 0; i < distinct.length; i += LOOKUP_CHUNK)
      chunks.push(distinct.slice(i, i + LOOKUP_CHUNK));
    await pool(
      chunks.map((chunk) => async () => {
        const found = await this.#store.run(`read of '${this.name}'`, () =>
          this.driverCollection
            .find({ _id: { $in: chunk.flatMap(idCandidates) } } as Document, {
              projection: { _id: 1 },
            })
            .toArray(),
        );
        for (const { _id } of found) {
          const key = keyOfBsonId(_id);
          if (wanted.has(key)) out.set(key, [...(out.get(key) ?? []), _id]);
        }
      }),
      CONCURRENCY,
    );
    return out;
  }

  #prepare(op: WriteOp): Prepared {
    if (op.type === 'delete') return { op, stored: null, bytes: null };
    const { stored } = storedForm(op.key, op.doc);
    return { op, stored, bytes: this.#encode(op.key, stored) };
  }

  #encode(key: Key, stored: BsonDoc): Uint8Array {
    let bytes: Uint8Array;
    try {
      bytes = serialize(stored);
    } catch (err) {
      if (/size|too large|exceeds/i.test((err as Error).message)) {
        throw new DocumentTooLargeError(
          `document '${key}' is larger than MongoDB's ${MAX_BSON_BYTES} bytes (16 MiB) document limit`,
          key,
          MAX_BSON_BYTES + 1,
          MAX_BSON_BYTES,
          { cause: err },
        );
      }
      throw new StoreError(
        `document '${key}' cannot be encoded as BSON: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (bytes.length > MAX_BSON_BYTES) {
      throw new DocumentTooLargeError(
        `document '${key}' is ${bytes.length} bytes as BSON; MongoDB documents are limited to ${MAX_BSON_BYTES} bytes (16 MiB)`,
        key,
        bytes.length,
        MAX_BSON_BYTES,
      );
    }
    return bytes;
  }

  /** A write's own result: the rev of the bytes it stored (MongoDB keeps them as sent). */
  #written(p: Prepared): WriteResult {
    if (p.bytes === null) return { key: p.op.key, ok: true, rev: null };
    const rev = bytesRev(p.bytes);
    this.#remember(p.op.key, rev, p.bytes);
    return { key: p.op.key, ok: true, rev };
  }

  async #conflict(key: Key): Promise<WriteResult> {
    const [cur] = await this.#lookup([key]);
    return { key, ok: false, reason: 'conflict', currentRev: cur?.rev ?? null };
  }

  /** Unconditional puts (upserts) and deletes (of every `_id` with the key), one bulkWrite. */
  async #writePlain(prepared: readonly Prepared[]): Promise<WriteResult[]> {
    const deletes = prepared.filter((p) => p.op.type === 'delete').map((p) => p.op.key);
    const targets = deletes.length > 0 ? await this.#idsOf(deletes) : new Map<Key, unknown[]>();
    const bulk: AnyBulkWriteOperation[] = [];
    for (const p of prepared) {
      if (p.stored !== null) {
        bulk.push({
          updateOne: {
            filter: { _id: p.stored._id },
            update: [{ $replaceWith: { $literal: p.stored } }],
            upsert: true,
          },
        });
      } else {
        for (const id of targets.get(p.op.key) ?? [])
          bulk.push({ deleteOne: { filter: { _id: id } as Document } });
      }
    }
    if (bulk.length > 0) {
      try {
        await this.driverCollection.bulkWrite(bulk, { ordered: false });
      } catch (err) {
        throw this.#store.wrap(`write to '${this.name}'`, err);
      }
    }
    return prepared.map((p) => this.#written(p));
  }

  /** Must-be-absent puts: one unordered bulk insert; a duplicate key is that op's conflict. */
  async #insertAbsent(prepared: readonly Prepared[]): Promise<WriteResult[]> {
    const duplicates = new Set<number>();
    try {
      await this.driverCollection.bulkWrite(
        prepared.map((p) => ({ insertOne: { document: p.stored! } })),
        { ordered: false },
      );
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError))
        throw this.#store.wrap(`write to '${this.name}'`, err);
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      for (const e of errors) {
        if (e.code !== DUPLICATE_KEY || err.writeConcernError) {
          throw this.#store.wrap(`write to '${this.name}'`, err);
        }
        duplicates.add(e.index);
      }
    }
    return Promise.all(
      prepared.map((p, i) =>
        duplicates.has(i) ? this.#conflict(p.op.key) : Promise.resolve(this.#written(p)),
      ),
    );
  }

  async #writeOne(p: Prepared): Promise<WriteResult> {
    const { op } = p;
    if (op.ifRev === undefined) return (await this.#writePlain([p]))[0]!;
    if (op.ifRev === null) {
      if (op.type === 'put') return (await this.#insertAbsent([p]))[0]!;
      // "delete if absent": nothing to do when absent, a conflict when present
      const [cur] = await this.#lookup([op.key]);
      return cur == null
        ? { key: op.key, ok: true, rev: null }
        : { key: op.key, ok: false, reason: 'conflict', currentRev: cur.rev };
    }
    // conditional on a rev: find the bytes that rev stands for
    let read = this.#seen.get(`${op.key}\u0000${op.ifRev}`);
    if (read === undefined) {
      const [cur] = await this.#lookup([op.key]);
      if (cur == null || cur.rev !== op.ifRev) {
        return { key: op.key, ok: false, reason: 'conflict', currentRev: cur?.rev ?? null };
      }
      read = cur.bytes;
    }
    const readDoc = deserialize(read);
    const filter = sameDocumentFilter(readDoc);
    const where = `write to '${this.name}'`;
    if (op.type === 'delete') {
      const res = await this.#store.run(where, () => this.driverCollection.deleteOne(filter));
      return res.deletedCount === 1 ? { key: op.key, ok: true, rev: null } : this.#conflict(op.key);
    }
    // the new content goes to the `_id` that was read (a keyed-layout document keeps its place)
    const { stored } = storedForm(op.key, op.doc, readDoc._id);
    const next: Prepared = { op, stored, bytes: this.#encode(op.key, stored) };
    const res = await this.#store.run(where, () =>
      this.driverCollection.updateOne(filter, [{ $replaceWith: { $literal: stored } }]),
    );
    return res.matchedCount === 1 ? this.#written(next) : this.#conflict(op.key);
  }
}

export interface MongoStoreOptions {
  /** the database (default 'switchyard') */
  database?: string;
  /** the deployment has change streams (a replica set or a sharded cluster) */
  changeStreams?: boolean;
}

export class MongoStore implements Store {
  readonly kind = 'mongodb';
  readonly database: string;
  readonly changeStreams: boolean;
  /** MongoDB's document size limit; larger documents raise DocumentTooLargeError */
  readonly maxDocumentBytes = MAX_BSON_BYTES;
  readonly #client: MongoClient;
  readonly #collections = new CollectionsByName<MongoCollection>(
    (name) => new MongoCollection(this, name),
  );
  #db: Db | undefined;

  constructor(
    client: MongoClient,
    readonly url: string,
    options: MongoStoreOptions = {},
  ) {
    this.#client = client;
    this.database = options.database ?? DEFAULT_MONGODB_DATABASE;
    this.changeStreams = options.changeStreams ?? false;
  }

  /** The driver's client, for tests and tools that must reach behind the contract. */
  get client(): MongoClient {
    return this.#client;
  }

  /** The database, decoding with BSON_READ_OPTIONS. */
  get db(): Db {
    this.#db ??= this.#client.db(this.database, BSON_READ_OPTIONS);
    return this.#db;
  }

  collection(name: string): MongoCollection {
    return this.#collections.get(name);
  }

  async listCollections(options: { includeReserved?: boolean } = {}): Promise<string[]> {
    const infos = await this.run('listCollections', () =>
      this.db.listCollections({}, { nameOnly: true }).toArray(),
    );
    const names = infos
      .filter(
        (i) => (i.type === undefined || i.type === 'collection') && !i.name.startsWith('system.'),
      )
      .map((i) => collectionNameOf(i.name));
    return listedCollections(names, options);
  }

  async dropCollection(name: string): Promise<void> {
    const c = this.collection(name);
    try {
      await this.db.dropCollection(c.mongoName);
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === NAMESPACE_NOT_FOUND))
        throw this.wrap(`drop '${c.mongoName}'`, err);
    }
    c.reset();
  }

  async close(): Promise<void> {
    await this.#client.close();
  }

  /** Run a driver call; failures become StoreErrors without the URL's password. */
  async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.wrap(what, err);
    }
  }

  wrap(what: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const name = (err as { name?: string })?.name ?? '';
    const code = (err as { code?: unknown })?.code;
    const detail = redactSecrets((err as Error)?.message ?? String(err));
    const msg = `mongodb ${what} in ${this.url} failed: ${name ? `${name}` : 'error'}${code !== undefined ? ` (code ${String(code)})` : ''}: ${detail}`;
    if (/too large|BSONObjectTooLarge|object to insert too large/i.test(detail) || code === 10334) {
      return new DocumentTooLargeError(msg, '', MAX_BSON_BYTES + 1, MAX_BSON_BYTES, { cause: err });
    }
    return new StoreError(msg, { cause: err });
  }
}

/** The database of a MongoDB URL: its path, or 'switchyard'. */
export function databaseOf(parsed: ParsedStoreUrl): string {
  const raw = parsed.raw ?? parsed.url?.href ?? '';
  const m = /^mongodb(?:\+srv)?:\/\/[^/?#]*(\/[^?#]*)?/i.exec(raw);
  const path = m?.[1] ?? '';
  const db = decodeURIComponent(path.replace(/^\//, ''));
  if (db === '') return DEFAULT_MONGODB_DATABASE;
  if (/[/\\. "$]/.test(db) || db.includes('\u0000') || Buffer.byteLength(db) > 63) {
    throw new StoreUrlError(
      `invalid store URL '${parsed.redacted}': '${db}' is not a MongoDB database name (no / \\ . " $ or spaces, at most 63 bytes)`,
      { field: 'store' },
    );
  }
  return db;
}

/**
 * Open `mongodb://...` or `mongodb+srv://...` (parsed by store-url.ts): connect, and ask the
 * server (`hello`) whether it is part of a replica set or a sharded cluster, which is what
 * change streams need. Fails now, with the password redacted, when nothing answers.
 */
export async function openMongoStore(parsed: ParsedStoreUrl): Promise<MongoStore> {
  const raw = parsed.raw ?? parsed.url?.href;
  if (raw === undefined) throw new StoreError(`not a MongoDB URL: ${parsed.redacted}`);
  const database = databaseOf(parsed);
  let client: MongoClient;
  try {
    client = new MongoClient(raw);
  } catch (err) {
    throw new StoreUrlError(
      `invalid store URL '${parsed.redacted}': ${redactSecrets((err as Error).message)}`,
      { field: 'store' },
      { cause: err },
    );
  }
  let hello: { setName?: unknown; msg?: unknown };
  try {
    await client.connect();
    hello = (await client.db('admin').command({ hello: 1 })) as typeof hello;
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new StoreError(
      `cannot connect to ${parsed.redacted}: ${redactSecrets((err as Error).message)}`,
      { cause: err },
    );
  }
  const changeStreams = typeof hello.setName === 'string' || hello.msg === 'isdbgrid';
  return new MongoStore(client, parsed.redacted, { database, changeStreams });
}

/**
 * The same MongoDB URL with another database in its path. When the URL has credentials and no
 * `authSource`, the database they were given for (the old path, or 'admin') is kept as
 * `authSource`, so they still authenticate.
 */
export function withDatabase(url: string, database: string): string {
  const m = /^(mongodb(?:\+srv)?:\/\/)([^/?#]*)(\/[^?#]*)?(\?[^#]*)?(#.*)?$/i.exec(url);
  if (m === null) throw new StoreUrlError(`not a MongoDB URL: ${redactSecrets(url)}`);
  const [, scheme, authority, path = '', query = '', hash = ''] = m;
  const params = new URLSearchParams(query.replace(/^\?/, ''));
  if (authority!.includes('@') && !params.has('authSource')) {
    const old = decodeURIComponent(path.replace(/^\//, ''));
    params.set('authSource', old === '' ? 'admin' : old);
  }
  const q = params.toString();
  return `${scheme}${authority}/${encodeURIComponent(database)}${q === '' ? '' : `?${q}`}${hash}`;
}
