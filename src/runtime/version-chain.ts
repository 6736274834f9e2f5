/**
 * The schema versions of one collection as its migrations chain them, in place and side by side
 * alike (the loader checks the chain: each migration's `from` is the previous one's `to`), for
 * reading a document at any of them (`readAs`: lazy upcasting) and for validating a put.
 *
 * Rules:
 * - a document's version is its version field; absent means the chain's first `from`
 *   (Migration.versionOf);
 * - `cast(doc, v)`: the document itself when it is at `v`; else up() of each migration from its
 *   version up to `v`, or down() of each from its version back down to `v`. So an application
 *   reading during an in-place backfill gets one version whatever each document is at;
 * - a `v` that is no version of the chain is an InputError (field `readAs`) naming the versions
 *   it knows, as is a collection with no migration and a document at a version the chain does
 *   not know; a step that refuses (up() throws, or down() of a migration without an exact
 *   inverse) throws its TransformError. Nothing is written: the cast is of the copy read;
 * - an up() cast through a step that reads other collections (`lookups`) is refused (InputError,
 *   field `readAs`, naming the step): a read does not fetch other documents, and up() without
 *   them would compute wrong values silently;
 * - `check(doc)`: the invariant and JSON Schema failures of the document against every migration
 *   whose `to` it is at or before, each checked on the document cast to that `to` (a put of the
 *   old shape is checked as the backfill will write it); a cast that refuses is a failure too,
 *   and the later steps are not checked (nor those past a lookups step). A put that fails is refused whole with an
 *   InvalidDocumentError naming the key and every failure (yard-collection.ts, when asked).
 */
import { InputError } from '../core/errors.js';
import type { Doc } from '../core/values.js';
import type { Key } from '../store/contract.js';
import type { Migration } from '../migration/migration.js';

export interface CheckFailure {
  readonly migration: string;
  readonly failure: string;
}

/** how many failures the message of an InvalidDocumentError lists (all are in `failures`) */
const SHOWN_FAILURES = 5;

/**
 * A put refused by validation (`validate: true` on connect() or the collection): the document
 * fails the invariants or JSON Schema of a migration of its collection. Nothing was written.
 */
export class InvalidDocumentError extends InputError {
  override readonly code = 'E_INVALID_DOCUMENT';
  constructor(
    readonly collection: string,
    readonly key: Key,
    readonly failures: readonly CheckFailure[],
  ) {
    const shown = failures
      .slice(0, SHOWN_FAILURES)
      .map((f) =>
        f.failure.startsWith(`${f.migration} `) ? f.failure : `${f.migration}: ${f.failure}`,
      );
    const more = failures.length - shown.length;
    super(
      `put of '${key}' in '${collection}' refused, nothing written: ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
    );
  }
}

export class VersionChain {
  /** the migrations in version order */
  readonly steps: readonly Migration[];

  constructor(
    readonly collection: string,
    migrations: readonly Migration[],
  ) {
    this.steps = [...migrations].sort((a, b) => a.from - b.from);
  }

  /** every version of the chain, lowest first (empty without migrations) */
  get versions(): number[] {
    return this.steps.length === 0 ? [] : [this.steps[0]!.from, ...this.steps.map((m) => m.to)];
  }

  versionOf(doc: Doc): number {
    const first = this.steps[0];
    if (first === undefined) throw this.#unknown('readAs', 'the collection has no migration');
    return first.versionOf(doc);
  }

  /** The document at `version` (see the header). */
  cast(doc: Doc, version: number): Doc {
    const known = this.versions;
    if (!known.includes(version))
      throw this.#unknown(
        'readAs',
        known.length === 0
          ? `readAs ${version}: the collection '${this.collection}' has no migration`
          : `readAs ${version}: the migrations of '${this.collection}' know versions ${known.join(', ')}`,
      );
    let v = this.versionOf(doc);
    if (!known.includes(v))
      throw this.#unknown(
        'readAs',
        `readAs ${version}: a document of '${this.collection}' is at version ${v}, which none of its migrations knows (${known.join(', ')})`,
      );
    let out = doc;
    while (v < version) {
      const step = this.steps.find((m) => m.from === v)!;
      // up() of a lookups step needs other collections' documents: a read does not fetch them
      if (step.hasLookups)
        throw this.#unknown(
          'readAs',
          `readAs ${version}: ${step.id} reads other collections (lookups), so a document of '${this.collection}' at version ${v} cannot be cast to ${step.to} while it is read; read it at version ${v}, or after the backfill has migrated it`,
        );
      out = step.up(out);
      v = step.to;
    }
    while (v > version) {
      const step = this.steps.find((m) => m.to === v)!;
      out = step.down(out);
      v = step.from;
    }
    return out;
  }

  /** Invariant and schema failures of `doc` (see the header); empty when it passes. */
  check(doc: Doc): CheckFailure[] {
    const failures: CheckFailure[] = [];
    let v: number;
    try {
      v = this.versionOf(doc);
    } catch {
      return failures;
    }
    for (const m of this.steps) {
      if (m.to < v) continue;
      // a version past a lookups step cannot be computed here (cast refuses it): not checked
      if (this.steps.some((s) => s.hasLookups && s.from >= v && s.to <= m.to)) break;
      try {
        const at = this.cast(doc, m.to);
        for (const failure of m.check(at)) failures.push({ migration: m.id, failure });
      } catch (err) {
        failures.push({ migration: m.id, failure: (err as Error)?.message ?? String(err) });
        break; // later steps cannot be reached either
      }
    }
    return failures;
  }

  #unknown(field: string, message: string): InputError {
    return new InputError(message, { field });
  }
}
