/**
 * The store contract: every store (and the control plane) is reached through it.
 *
 * Rules every adapter keeps (test/conformance checks them):
 * - Every read returns `{ key, doc, rev }`. `rev` is an opaque token that changes whenever the
 *   stored document changes, by any writer, including writers that bypass Switchyard.
 * - A write may be conditional: `ifRev: string` (the stored rev must still be this one) or
 *   `ifRev: null` (the key must be absent). Each op of a batch succeeds or conflicts on its own;
 *   a conflict is a result, not an exception, and leaves that document untouched.
 * - `scan` pages through one range in the adapter's key order. A document that exists for the
 *   whole scan is returned exactly once; one inserted or deleted during the scan may or may not be.
 * - `split(n)` returns disjoint ranges that together cover the whole keyspace, including keys
 *   written later. Ranges and cursors are JSON values, so they can be saved in checkpoints.
 * - A cursor that lost its meaning (the server restarted, failed over, resharded) is never
 *   continued silently: `scan` throws `CursorInvalidatedError` (store-errors.ts) and the caller
 *   walks the range again from its beginning.
 * - Values round-trip losslessly (see core/values.ts).
 * - A stored document that cannot be read (written by another tool: not JSON, a JSON array) never
 *   stops a scan: it is listed in `ScanPage.unreadable` with its key; `get`/`getMany` of it throw
 *   UnreadableDocumentError (store-errors.ts), which is permanent (never retried).
 */
import type { Doc } from '../core/values.js';

/** A document key: the string form of the document's key field (see core/keys.ts). */
export type Key = string;
/** An opaque revision token. */
export type Rev = string;

export interface StoredDoc {
  readonly key: Key;
  readonly doc: Doc;
  readonly rev: Rev;
  /**
   * Optional: the document's storage form as text (core/values.ts `toStorageJSON`), when the
   * adapter holds it at no cost. Engines copy documents with it instead of encoding them again.
   */
  readonly text?: string;
}

/** A part of the keyspace, as returned by `split`. JSON-serializable; `id` is stable. */
export interface Range {
  readonly id: string;
  readonly [field: string]: unknown;
}

export interface ScanOptions {
  /** the range to scan; the whole collection when absent */
  range?: Range;
  /** where the previous page ended; start of the range when absent or null */
  cursor?: string | null;
  /** the most documents to return in this page */
  limit: number;
}

/** A stored document that cannot be read as a document (see UnreadableDocumentError). */
export interface UnreadableDoc {
  readonly key: Key;
  /** why, without the store's URL (e.g. "not JSON: Unexpected token", "a JSON array") */
  readonly reason: string;
}

export interface ScanPage {
  readonly items: StoredDoc[];
  /**
   * Documents of this page that cannot be read (not JSON, not a JSON object): left out of
   * `items`, the cursor moves past them. Absent or empty when every document was read.
   */
  readonly unreadable?: readonly UnreadableDoc[];
  /** where to continue, or null when the range is exhausted */
  readonly cursor: string | null;
}

export type WriteOp =
  | {
      readonly type: 'put';
      readonly key: Key;
      readonly doc: Doc;
      /** undefined: unconditional; null: the key must be absent; a rev: it must be current */
      readonly ifRev?: Rev | null;
    }
  | {
      readonly type: 'delete';
      readonly key: Key;
      /** undefined: unconditional; a rev: it must be current */
      readonly ifRev?: Rev;
    };

export type WriteResult =
  | { readonly key: Key; readonly ok: true; readonly rev: Rev | null }
  | {
      readonly key: Key;
      readonly ok: false;
      readonly reason: 'conflict';
      readonly currentRev: Rev | null;
    };

export interface Change {
  /** position in the feed, to resume after */
  readonly position: string;
  readonly key: Key;
  /** the document after the change, or null for a delete */
  readonly doc: Doc | null;
}

export interface CollectionCapabilities {
  /** scan returns documents in key order and ranges are key intervals */
  readonly orderedScan: boolean;
  /** `changes()` is available */
  readonly changeFeed: boolean;
  /** a batch of writes is applied atomically (all ops are decided together) */
  readonly atomicBatch: boolean;
  /**
   * a saved scan cursor means something only to the server process that gave it (Redis SCAN),
   * so a walk can lose its place on a restart or failover: an in-place backfill makes a final
   * sweep before it says "backfilled" (engine/jobs/final-sweep.ts). Absent: cursors are keys.
   */
  readonly cursorsTiedToServer?: boolean;
}

/** Capacity units consumed (stores that meter them: DynamoDB's read and write units). */
export interface ConsumedCapacity {
  readonly read: number;
  readonly write: number;
  /** requests the store throttled (and the adapter sent again): a sign to slow down */
  readonly throttled?: number;
}

/** What a full pass would consume, estimated from a sample (Collection.estimatePass). */
export interface PassEstimate {
  /** documents the pass reads */
  items: number;
  /** read units of reading them all once (strongly consistent) */
  readUnits: number;
  /** write units of the data writes (the documents that change) */
  writeUnits: number;
  /** write units of the undo journal, when it is kept in this store (in place) */
  journalWriteUnits: number;
  /** on demand, or the units per second the table is provisioned with */
  billing: 'on-demand' | { read: number; write: number };
  /** on demand: the price of those units in USD (see `priceNote`); null when provisioned */
  costUsd: number | null;
  /** provisioned: seconds the writes take at the table's whole write capacity */
  secondsAtProvisioned: number | null;
  /** what the price is based on */
  priceNote: string;
}

/** What a store keeps unique itself (Collection.uniqueConstraints). */
export interface StoreUniqueConstraints {
  readonly constraints: readonly {
    /** the document fields whose values, together, are unique */
    readonly paths: readonly string[];
    /** where it comes from, for reports: `DynamoDB table key of 'users'` */
    readonly source: string;
  }[];
  /** what the store has that is not unique, said in reports (`GSI 'by-email' (not unique)`) */
  readonly notUnique?: readonly string[];
}

export interface Collection {
  readonly name: string;
  readonly capabilities: CollectionCapabilities;
  get(key: Key): Promise<StoredDoc | null>;
  /** one entry per key, in the order asked, null where absent */
  getMany(keys: readonly Key[]): Promise<(StoredDoc | null)[]>;
  scan(options: ScanOptions): Promise<ScanPage>;
  split(n: number): Promise<Range[]>;
  /** apply the ops in order; results in the same order; never drops an op silently */
  write(ops: readonly WriteOp[]): Promise<WriteResult[]>;
  count(range?: Range): Promise<number>;
  /**
   * Optional, for stores where an exact count costs a full read (DynamoDB: a `COUNT` scan reads,
   * and is billed for, the whole table): a cheap estimate of the documents in the collection,
   * for progress totals and ETAs only, never for a check (`estimatedTotal()` in
   * engine/runner/progress.ts). Null when the store has no estimate (then `count` is used).
   */
  estimatedCount?(): Promise<number | null>;
  /**
   * Optional, for stores where a collection's keyspace can hold keys that are no document of its
   * kind (Redis: a hash among string documents): those keys, by kind (`{ hash: 1 }`). `count`
   * leaves them out; scans list each in `ScanPage.unreadable`.
   */
  countNotDocuments?(): Promise<Record<string, number>>;
  /**
   * The documents whose fields equal the filter's values, at most `limit` (query.ts has the
   * rules; callers go through `query()`, which scans where an adapter has no `find`).
   */
  find?(
    filter: Readonly<Record<string, string | number | boolean | null>>,
    limit: number,
  ): Promise<StoredDoc[]>;
  /**
   * Optional, for stores that keep some fields unique themselves (DynamoDB: a table's key
   * attributes; MongoDB: unique indexes): those field sets, with where each comes from, and what
   * the store has that looks like one but is NOT unique (`notUnique`: DynamoDB's GSIs). Plan and
   * verify check them with the migration's declared `unique` (engine/unique-constraints.ts).
   */
  uniqueConstraints?(): Promise<StoreUniqueConstraints>;
  /**
   * Optional, for stores that meter capacity (DynamoDB): the units this collection's requests
   * consumed so far in this process (a running total; throttles charge its increase).
   */
  consumedCapacity?(): ConsumedCapacity;
  /**
   * Optional, with consumedCapacity: the units per second the collection is provisioned with,
   * or null when it has no such limit (on demand).
   */
  provisionedCapacity?(): Promise<ConsumedCapacity | null>;
  /**
   * Optional, for stores that meter capacity (DynamoDB): the units (and, on demand, the price)
   * of a pass over `items` documents that writes the changed ones, from a sample of documents
   * before and after the migration (`after` null: unchanged).
   */
  estimatePass?(
    sample: readonly { before: Doc; after: Doc | null }[],
    items: number,
    options: { journal: boolean },
  ): Promise<PassEstimate>;
  /**
   * Optional, for stores where a collection that does not exist is most likely a mistake in the
   * store URL (DynamoDB: a table looked for in another region or under another prefix): throw a
   * bad-input error (exit 2) that says what is missing and where. Commands that read a
   * collection call it before anything is written; elsewhere a missing collection is empty.
   */
  requireExists?(): Promise<void>;
  /** the change feed after `position` (from now when null); only with capabilities.changeFeed */
  changes?(
    position: string | null,
    limit: number,
  ): Promise<{ changes: Change[]; position: string }>;
}

export interface Store {
  /** the kind of store: 'memory', 'sqlite', 'redis', ... */
  readonly kind: string;
  /** the store URL with any password redacted */
  readonly url: string;
  /**
   * False when documents come back with their fields in the store's own order, not the order
   * they were written in (DynamoDB: attribute order is the server's). Absent: order is kept.
   * Values, canonical forms and hashes do not depend on field order either way.
   */
  readonly keepsFieldOrder?: boolean;
  collection(name: string): Collection;
  /** user collections (reserved `_sy_` collections are left out unless asked) */
  listCollections(options?: { includeReserved?: boolean }): Promise<string[]>;
  dropCollection(name: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional: apply write batches to several collections of this store in one transaction (all
   * decided together, all committed together). Results per batch, per op, as `write` gives them.
   * Engines use it, when present, to write a journal entry and its data change atomically.
   * With a `guard`, nothing at all is applied unless the guard's document is still at its rev
   * (checked in the same transaction): `WriteGuardError` (store-errors.ts) is thrown instead.
   * The runner fences a worker's writes with its lease this way (engine/runner/fencing.ts).
   */
  writeAtomic?(
    batches: readonly { collection: string; ops: readonly WriteOp[] }[],
    guard?: WriteGuard,
  ): Promise<WriteResult[][]>;
}

/** A precondition of an atomic write: the document `key` of `collection` is still at `rev`. */
export interface WriteGuard {
  readonly collection: string;
  readonly key: Key;
  readonly rev: Rev;
}

/** Collections whose names start with this prefix hold Switchyard's own state. */
export const RESERVED_PREFIX = '_sy_';

export const DEFAULT_SCAN_LIMIT = 1000;
