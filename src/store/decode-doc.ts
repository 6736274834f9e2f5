/**
 * Stored document text -> a document, for the adapters that keep documents as text (SQLite,
 * Redis strings). Text that is not the storage JSON of a document (not JSON, or JSON that is not
 * an object: an array, a number) is an UnreadableDocumentError naming the key (store-errors.ts);
 * scans report it per key and go on (contract.ts).
 */
import { fromStorageJSON, isPlainObject, type Doc } from '../core/values.js';
import { UnreadableDocumentError } from './store-errors.js';
import type { Key, UnreadableDoc } from './contract.js';

export function decodeDocText(text: string, key: Key, where: string): Doc {
  let v: unknown;
  try {
    v = fromStorageJSON(text);
  } catch (err) {
    throw new UnreadableDocumentError(key, `not JSON: ${(err as Error).message}`, where, {
      cause: err,
    });
  }
  if (!isPlainObject(v))
    throw new UnreadableDocumentError(
      key,
      Array.isArray(v) ? 'JSON that is an array, not a document' : 'JSON that is not a document',
      where,
    );
  return v as Doc;
}

/** `read(x)`, or the UnreadableDoc it throws (any other error is thrown). */
export function readOrUnreadable<T>(key: Key, read: () => T): T | UnreadableDoc {
  try {
    return read();
  } catch (err) {
    if (err instanceof UnreadableDocumentError) return { key, reason: err.reason };
    throw err;
  }
}

export function isUnreadable(x: unknown): x is UnreadableDoc {
  return x !== null && typeof x === 'object' && 'reason' in x && !('rev' in x);
}
