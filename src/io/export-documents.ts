/**
 * Export a collection as NDJSON (canonical Extended JSON, one document per line), in key order.
 * Stores that scan in key order (sqlite, memory) are paged through directly, so memory stays
 * flat. Stores that scan in no particular order (redis, dynamodb) are read in two passes: the
 * keys are collected and sorted (memory for the keys only, about 50 bytes each), then the
 * documents are fetched in that order, a page at a time.
 */
import type { Writable } from 'node:stream';
import { compareKeys, type Doc } from '../core/values.js';
import { DEFAULT_SCAN_LIMIT, type Collection } from '../store/contract.js';
import { writeNdjson } from './write-ndjson.js';

export interface ExportOptions {
  /** documents per scan page (default 1000) */
  pageSize?: number;
  onProgress?: (written: number) => void;
  signal?: AbortSignal;
}

/** Write every document of `collection` to `out` (not ended); resolves with the count. */
export async function exportDocuments(
  collection: Collection,
  out: Writable,
  options: ExportOptions = {},
): Promise<number> {
  const pageSize = options.pageSize ?? DEFAULT_SCAN_LIMIT;
  async function* scanned(): AsyncGenerator<Doc, void, undefined> {
    let cursor: string | null = null;
    do {
      options.signal?.throwIfAborted();
      const page = await collection.scan({ cursor, limit: pageSize });
      for (const item of page.items) yield item.doc;
      cursor = page.cursor;
    } while (cursor !== null);
  }
  async function* sortedByKey(): AsyncGenerator<Doc, void, undefined> {
    const keys = new Set<string>();
    let cursor: string | null = null;
    do {
      options.signal?.throwIfAborted();
      const page = await collection.scan({ cursor, limit: pageSize });
      for (const item of page.items) keys.add(item.key);
      cursor = page.cursor;
    } while (cursor !== null);
    const ordered = [...keys].sort(compareKeys);
    for (let i = 0; i < ordered.length; i += pageSize) {
      options.signal?.throwIfAborted();
      for (const found of await collection.getMany(ordered.slice(i, i + pageSize)))
        if (found !== null) yield found.doc;
    }
  }
  const docs = collection.capabilities.orderedScan ? scanned() : sortedByKey();
  return writeNdjson(out, docs, options.onProgress ? { onProgress: options.onProgress } : {});
}
