/**
 * What the client wrappers (ioredis.ts, dynamodb-document.ts) share: the application keeps its
 * own shape of a document, so the yard's key field and a version field saying `from` are kept
 * out of what it reads and out of what the old side stores.
 *
 * Rules: the version field is left out only when it says the migration's `from` (absent means
 * `from`: lossless); any other version stays, so a document is never silently mislabelled.
 */
import type { Doc } from '../../core/values.js';

/** the migration's version field and its `from` version (an absent field means `from`) */
export interface Version {
  field: string;
  from: number;
}

/** `doc` without the yard's key field. */
export function withoutKey(doc: Doc, keyField: string): Doc {
  const { [keyField]: _, ...rest } = doc;
  return rest;
}

/** `doc` without its version field when that says `from` (absent means the same: lossless). */
export function atFrom(doc: Doc, version: Version): Doc {
  if (doc[version.field] !== version.from) return doc;
  const { [version.field]: _, ...rest } = doc;
  return rest;
}
