/**
 * What a MongoDB collection keeps unique (Collection.uniqueConstraints): its unique indexes, as
 * `listIndexes` describes them. UNVERIFIED against a server: no MongoDB server runs where this
 * was written (the MongoDB adapter's tests run only with MONGODB_URL); the unit test feeds it
 * `listIndexes` output as the documentation gives it.
 *
 * Rules:
 * - an index with `unique: true` is one constraint over its key's fields, in order; `_id_` is the
 *   document key (unique in every store) and adds nothing;
 * - a partial unique index (`partialFilterExpression`) holds only for the documents its filter
 *   takes, and an index with a collation (`strength` 1 or 2: case-insensitive) compares values
 *   the way Switchyard does not: both are named in `notUnique` instead of being checked, as are
 *   text, hashed and geo keys (never unique over a plain value);
 * - Switchyard's check treats an absent or null field as no value (as a sparse index); a
 *   non-sparse MongoDB unique index lets only one document lack the field. That difference is
 *   not checked (docs/concepts/unique-fields.md).
 */
import type { StoreUniqueConstraints } from '../contract.js';

/** An index as `listIndexes` gives it, as far as this file reads it. */
export interface MongoIndexInfo {
  name?: string;
  key?: Record<string, unknown>;
  unique?: boolean;
  partialFilterExpression?: unknown;
  collation?: { strength?: number } & Record<string, unknown>;
}

export function uniqueIndexConstraints(
  indexes: readonly MongoIndexInfo[],
  collection: string,
): StoreUniqueConstraints {
  const constraints: { paths: string[]; source: string }[] = [];
  const notUnique: string[] = [];
  for (const ix of indexes) {
    if (ix.unique !== true || ix.key === undefined || ix.name === '_id_') continue;
    const name = `MongoDB unique index '${ix.name ?? '?'}' of '${collection}'`;
    const plain = Object.values(ix.key).every((v) => v === 1 || v === -1);
    if (ix.partialFilterExpression !== undefined) notUnique.push(`${name} (partial: not checked)`);
    else if (ix.collation !== undefined && (ix.collation.strength ?? 3) < 3)
      notUnique.push(`${name} (collation strength ${ix.collation.strength}: not checked)`);
    else if (!plain) notUnique.push(`${name} (not a plain ascending/descending key: not checked)`);
    else constraints.push({ paths: Object.keys(ix.key), source: name });
  }
  return { constraints, notUnique };
}
