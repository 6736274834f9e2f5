/**
 * `defineMigration`: how a user describes a migration (DESIGN.md section 4). The definition is
 * plain data plus functions; `compileMigration` validates it and turns it into a `Migration`.
 */
import type { UniqueDefinition } from './unique-fields.js';
import type { Doc } from '../core/values.js';
import type { CompatibilityMode } from './compatibility-mode.js';
import type { FanOutDefinition } from './fan-out.js';
import type { KeyMappingDefinition } from './key-mapping.js';
import type { LookupSpec, TransformContext } from './lookups.js';
import type { Operation } from './operation.js';

/**
 * A custom transform: return the new document, or change the given copy and return nothing.
 * `ctx.lookups` holds the documents the migration's `lookups` name (see lookups.ts).
 */
export type Transform = (doc: Doc, ctx: TransformContext) => Doc | void;

/** An invariant: true (or undefined) when it holds; false or a message when it does not. */
export type Invariant = (doc: Doc) => boolean | string | void;

export interface MigrationTarget {
  /** the collection that receives up(doc); makes the migration side by side */
  collection: string;
  /** another store's URL; the data store when absent */
  store?: string;
  /**
   * a new key in the target (key-mapping.ts): the document of source key `k` is stored under
   * `up(k)`, and `down` is its inverse (`USER#123` <-> `U#123`); same keys when absent
   */
  key?: KeyMappingDefinition;
}

/**
 * One target of a split (`targets`): its own collection, key mapping and transform. Every
 * target's `up(doc)` receives the same source document (at `from`) and returns the document
 * that target holds (stamped with `to`). Only the first target's `down` is used: it is what the
 * runtime writes back to the source in rampdown (the first target answers reads).
 */
export interface SplitTarget extends MigrationTarget {
  operations?: readonly Operation[];
  up?: Transform;
  /** the inverse of `up`; only on the first target */
  down?: Transform;
}

export interface MigrationDefinition {
  /** defaults to the file name without its extension */
  id?: string;
  description?: string;
  /** why the change is made (shown by `switchyard manifest`) */
  rationale?: string;
  /** who owns the change: a team or a person (shown by `switchyard manifest`) */
  owner?: string;
  /** who wrote it; with the config's `approvals.forbidAuthor` they cannot approve it */
  author?: string;
  /**
   * read-time aliases, new path -> old path: readers of both versions treat the two as one field
   * (`doc.fullName ?? doc.name`), so renaming one to the other breaks no reader (`switchyard check`)
   */
  aliases?: Readonly<Record<string, string>>;
  /** the compatibility mode this migration is held to, instead of its collection's (config) */
  compatibility?: CompatibilityMode;
  collection: string;
  /** the schema version documents have before (default 1; absent version field means this) */
  from?: number;
  /** the schema version after (default from + 1) */
  to?: number;
  /** the field that holds the schema version (default: the config's, else `_sv`) */
  versionField?: string;
  /**
   * provenance (optional): the field where an in-place backfill records which migration last
   * wrote the document and when, `{ migration, at }` (e.g. '_sy'). Rollback removes it with the
   * rest (the before-image is restored); verify ignores it. Off by default.
   */
  provenance?: string;
  /**
   * fields whose values must stay unique across the collection (unique-fields.ts): a field path,
   * or an array of paths for a compound constraint. `plan` reports values its sample's results
   * share; a full in-place `verify` reports them over the whole collection (not OK).
   */
  unique?: UniqueDefinition;
  /** catalogue operations, applied in order */
  operations?: readonly Operation[];
  /** custom logic, applied after the operations */
  up?: Transform;
  /** the inverse of `up`, applied before the operations' inverses; may be omitted */
  down?: Transform;
  /**
   * other collections up() reads, by name: `{ docOps: { collection: 'docOps', by: 'doc_id' } }`
   * gives `ctx.lookups.docOps` (the `docOps` document whose key is `doc.doc_id`, or null)
   */
  lookups?: Readonly<Record<string, LookupSpec>>;
  /**
   * a merge side by side (with `target`): other source collections whose document of the same
   * key joins this collection's, by name: `{ profile: { collection: 'profiles' } }` gives
   * `ctx.lookups.profile` (the `profiles` document whose key is this document's `_id`, or null),
   * and a write to `profiles` re-derives the target document of that key (catch-up, runtime).
   */
  merge?: Readonly<Record<string, MergeSource>>;
  /**
   * in place only: move the elements of an array into documents of another collection, one per
   * element, keyed deterministically from the parent's key (fan-out.ts):
   * `{ path: 'auditLog', into: 'auditLogs', parentField: 'userId' }`
   */
  fanOut?: FanOutDefinition;
  /** side by side: write up(doc) to another collection (and store) */
  target?: MigrationTarget;
  /**
   * a split side by side: one source collection to two or more targets, each with its own
   * `up` (instead of `target`, `up`, `down` and `operations`). All targets are on one store;
   * the first answers the application's reads in shadow, live and rampdown.
   */
  targets?: readonly SplitTarget[];
  verify?: {
    invariants?: readonly Invariant[];
    /** a JSON Schema that every migrated document must satisfy (see docs/concepts/schema.md) */
    schema?: Record<string, unknown>;
  };
}

/** One secondary source of a merge: the collection joined by key (merge-sources.ts). */
export interface MergeSource {
  /** the collection (in the data store, the source's) whose documents join by key */
  collection: string;
}

export const MIGRATION_BRAND = Symbol.for('switchyard.migration');

export type BrandedMigrationDefinition = MigrationDefinition & { readonly [MIGRATION_BRAND]: true };

/** Declare a migration. Returns the definition unchanged but for a brand the loader checks. */
export function defineMigration(definition: MigrationDefinition): BrandedMigrationDefinition {
  return Object.freeze({ ...definition, [MIGRATION_BRAND]: true as const });
}

export function isMigrationDefinition(v: unknown): v is MigrationDefinition {
  return (
    v !== null && typeof v === 'object' && (v as Record<symbol, unknown>)[MIGRATION_BRAND] === true
  );
}
