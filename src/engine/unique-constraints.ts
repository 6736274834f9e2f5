/**
 * The unique constraints plan and verify check for a migration: the ones it declares (`unique`,
 * migration/unique-fields.ts) and the ones the store keeps itself, read from the collection the
 * migration writes (in place: its collection; side by side: the target) through the optional
 * Collection.uniqueConstraints (DynamoDB: the table's key attributes; MongoDB: unique indexes).
 * A store without it (SQLite, Redis, memory) adds nothing. A field set both declared and kept by
 * the store is one constraint naming both sources.
 */
import {
  constraintSource,
  mergeConstraints,
  type UniqueConstraint,
} from '../migration/unique-fields.js';
import type { Migration } from '../migration/migration.js';
import type { Doc } from '../core/values.js';
import type { Collection, Key, Store } from '../store/contract.js';
import { checkUnique, checkUniqueInSample, type UniqueCheck } from './unique-check.js';

export interface ConstraintsToCheck {
  constraints: UniqueConstraint[];
  /** what the store has that is not unique (DynamoDB GSIs), to say so in reports */
  notUnique: string[];
}

export async function constraintsToCheck(
  migration: Migration,
  written: Collection | undefined,
): Promise<ConstraintsToCheck> {
  const own = await written?.uniqueConstraints?.();
  return {
    constraints: mergeConstraints(migration.unique, own?.constraints ?? []),
    notUnique: [...(own?.notUnique ?? [])],
  };
}

/**
 * The collection a migration writes, when it is in `store`: its own in place, the target side by
 * side when the target is in the same store (a target in another store is read by verify, which
 * opens it; plan does not).
 */
export function writtenCollection(store: Store, migration: Migration): Collection | undefined {
  if (migration.target === undefined) return store.collection(migration.collection);
  if (migration.target.store !== undefined) return undefined;
  return store.collection(migration.target.collection);
}

/**
 * A verify's unique check, or undefined when there is nothing to say: the whole `collection`
 * (full), or the `sample`'s documents. Not ok when a value is shared. Verify reads stored
 * documents, and a constraint the store keeps itself cannot be broken by what it stores: those
 * are reported (`keptByStore`), not scanned (plan, which predicts results, checks them all).
 */
export async function verifyUnique(
  migration: Migration,
  collection: Collection,
  options: {
    maxSamples: number;
    signal?: AbortSignal | undefined;
    sample?: readonly { key: Key; doc: Doc }[];
  },
): Promise<UniqueCheck | undefined> {
  const { constraints, notUnique } = await constraintsToCheck(migration, collection);
  if (constraints.length === 0 && notUnique.length === 0) return undefined;
  const scanned = constraints.filter((c) => c.source === undefined);
  const kept = constraints
    .filter((c) => c.source !== undefined)
    .map((c) => ({ name: c.name, source: constraintSource(c) }));
  const check: UniqueCheck =
    options.sample !== undefined
      ? checkUniqueInSample(scanned, options.sample, options.maxSamples)
      : scanned.length === 0
        ? { fields: [], sources: [], documents: 0, collisions: 0, samples: [] }
        : await checkUnique(collection, scanned, {
            maxSamples: options.maxSamples,
            ...(options.signal !== undefined ? { signal: options.signal } : {}),
          });
  return {
    ...check,
    ...(kept.length > 0 ? { keptByStore: kept } : {}),
    ...(notUnique.length > 0 ? { notUnique } : {}),
  };
}

/** A verify report with its unique check: not ok when a value is shared. */
export function withUnique<R extends { ok: boolean; unique?: UniqueCheck }>(
  report: R,
  unique: UniqueCheck,
): R {
  report.unique = unique;
  if (unique.collisions > 0) report.ok = false;
  return report;
}
