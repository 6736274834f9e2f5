/**
 * Export a collection as NDJSON (canonical Extended JSON, one document per line), in key order.
 * Stores that scan in key order (sqlite, memory) are paged through directly, so memory stays
 * flat. Stores that scan in no particular order (redis, dynamodb) are read in two passes: the
 * keys are collected and sorted (memory for the keys only, about 50 bytes each), then the
 * documents are fetched in that order, a page at a time.
 *
 * Restart rules: a store may refuse a cursor that lost its meaning (CursorInvalidatedError: a
 * Redis server restarted or failed over). The walk then starts again from the beginning of the
 * collection, and nothing is lost or written twice:
 * - in key order, documents up to the last key written are skipped (the walk is ordered);
 * - unordered, the keys collected so far are kept (a set) and the walk adds the rest; a key that
 *   is gone by the time its document is fetched is left out, as it would have been anyway.
 * At most MAX_EXPORT_RESTARTS times; then the error is thrown.
 * A stored document that cannot be read (not JSON, a JSON array) is left out, told to
 * `onUnreadable` with its key, and the export goes on. Other failures are the caller's
 * to wait out: every store call goes through `options.call` (the CLI retries an unreachable
 * store there, and says so).
 */
import type { Writable } from 'node:stream';
import { compareKeys, type Doc } from '../core/values.js';
import {
  DEFAULT_SCAN_LIMIT,
  type Collection,
  type ScanPage,
  type StoredDoc,
  type UnreadableDoc,
} from '../store/contract.js';
import { isCursorInvalidated } from '../store/store-errors.js';
import { writeNdjson } from './write-ndjson.js';

/** how many times an export starts its walk again after its cursor was invalidated */
export const MAX_EXPORT_RESTARTS = 10;

export interface ExportOptions {
  /** documents per scan page (default 1000) */
  pageSize?: number;
  onProgress?: (written: number) => void;
  signal?: AbortSignal;
  /** how each store call is made, e.g. retried while the store is unreachable (default: once) */
  call?: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  /** told when the walk starts again because the store refused its cursor (the store's words) */
  onRestart?: (why: string) => void;
  /**
   * told of each stored document that cannot be read (ScanPage.unreadable): it is left out and
   * the export goes on (once per key, also across a restart)
   */
  onUnreadable?: (doc: UnreadableDoc) => void;
}

/** Write every document of `collection` to `out` (not ended); resolves with the count. */
export async function exportDocuments(
  collection: Collection,
  out: Writable,
  options: ExportOptions = {},
): Promise<number> {
  const pageSize = options.pageSize ?? DEFAULT_SCAN_LIMIT;
  const call = options.call ?? (<T>(_what: string, fn: () => Promise<T>) => fn());
  let restarts = 0;
  const unreadable = new Set<string>();
  /** The next page after `cursor`; null: the store refused the cursor, walk again from the start. */
  async function page(cursor: string | null): Promise<ScanPage | null> {
    options.signal?.throwIfAborted();
    try {
      return await call('scan', () => collection.scan({ cursor, limit: pageSize }));
    } catch (err) {
      if (!isCursorInvalidated(err) || cursor === null || ++restarts > MAX_EXPORT_RESTARTS)
        throw err;
      options.onRestart?.((err as Error).message);
      return null;
    }
  }
  /** Every item of every page; after a restart, the items of the new walk (repeats included). */
  async function* walked(): AsyncGenerator<StoredDoc, void, undefined> {
    let cursor: string | null = null;
    for (;;) {
      const got = await page(cursor);
      if (got === null) {
        cursor = null;
        continue;
      }
      for (const u of got.unreadable ?? []) {
        if (unreadable.has(u.key)) continue;
        unreadable.add(u.key);
        options.onUnreadable?.(u);
      }
      yield* got.items;
      cursor = got.cursor;
      if (cursor === null) return;
    }
  }
  async function* scanned(): AsyncGenerator<Doc, void, undefined> {
    let last: string | undefined;
    for await (const item of walked()) {
      if (last !== undefined && compareKeys(item.key, last) <= 0) continue; // written before a restart
      last = item.key;
      yield item.doc;
    }
  }
  async function* sortedByKey(): AsyncGenerator<Doc, void, undefined> {
    const keys = new Set<string>();
    for await (const item of walked()) keys.add(item.key);
    const ordered = [...keys].sort(compareKeys);
    for (let i = 0; i < ordered.length; i += pageSize) {
      options.signal?.throwIfAborted();
      const batch = ordered.slice(i, i + pageSize);
      for (const found of await call('read', () => collection.getMany(batch)))
        if (found !== null) yield found.doc;
    }
  }
  const docs = collection.capabilities.orderedScan ? scanned() : sortedByKey();
  return writeNdjson(out, docs, options.onProgress ? { onProgress: options.onProgress } : {});
}
