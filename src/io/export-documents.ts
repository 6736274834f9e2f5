/**
 * Export a collection as NDJSON (canonical Extended JSON, one document per line), page by page
 * through `scan`, so memory stays flat. Stores with `capabilities.orderedScan` (sqlite, memory)
 * give the documents in key order.
 */
import type { Writable } from 'node:stream';
import type { Doc } from '../core/values.js';
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
  async function* docs(): AsyncGenerator<Doc, void, undefined> {
    let cursor: string | null = null;
    do {
      options.signal?.throwIfAborted();
      const page = await collection.scan({ cursor, limit: pageSize });
      for (const item of page.items) yield item.doc;
      cursor = page.cursor;
    } while (cursor !== null);
  }
  return writeNdjson(out, docs(), options.onProgress ? { onProgress: options.onProgress } : {});
}
