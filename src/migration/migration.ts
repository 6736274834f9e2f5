/**
 * A compiled migration: the definition validated, with `up`, `down`, version handling and the
 * checks `plan` and `verify` run. This is what every engine command works with.
 *
 * Versions: a document carries its schema version in `versionField` (default `_sv`); an absent
 * field means `from`. `up` accepts only documents at `from` and returns them at `to`; `down` the
 * reverse. `isMigrated` lets a resumed backfill skip what it already did.
 */
import { uniqueConstraints, type UniqueConstraint } from './unique-fields.js';
import { SwitchyardError } from '../core/errors.js';
import { canonicalString, type Doc, type Value } from '../core/values.js';
import type {
  Invariant,
  MigrationDefinition,
  MigrationTarget,
  Transform,
} from './define-migration.js';
import type { CompatibilityMode } from './compatibility-mode.js';
import type { Operation } from './operation.js';
import { copyDoc } from './operation.js';
import { NO_LOOKUPS, type LookupSpec, type TransformContext } from './lookups.js';
import { mergeLookups, type MergedSource } from './merge-sources.js';
import { compileSchema } from './schema-view.js';
import { KeyMapping } from './key-mapping.js';
import { FanOut } from './fan-out.js';

export const DEFAULT_VERSION_FIELD = '_sv';
export const DEFAULT_FROM_VERSION = 1;

/** A document could not be transformed: user code threw, or an operation refused it. */
export class TransformError extends SwitchyardError {
  override readonly code = 'E_TRANSFORM';
  constructor(
    readonly migrationId: string,
    readonly direction: 'up' | 'down',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${migrationId} ${direction}: ${message}`, options);
  }
}

export interface LossyStep {
  /** the operation's description, or 'up (custom)' */
  step: string;
  reason: string;
}

export interface MigrationSource {
  file?: string;
  checksum?: string;
}

export class Migration {
  readonly id: string;
  readonly description: string | undefined;
  /** change control (see define-migration.ts): why, whose, written by, aliases, mode */
  readonly rationale: string | undefined;
  readonly owner: string | undefined;
  readonly author: string | undefined;
  readonly aliases: Readonly<Record<string, string>>;
  readonly compatibility: CompatibilityMode | undefined;
  /** the JSON Schema of `verify.schema`, as written */
  readonly afterSchema: Record<string, unknown> | undefined;
  readonly collection: string;
  readonly from: number;
  readonly to: number;
  readonly versionField: string;
  /** the field an in-place backfill stamps with `{ migration, at }`, when set (provenance) */
  readonly provenance: string | undefined;
  /** the fields declared unique (unique-fields.ts); empty when none */
  readonly unique: readonly UniqueConstraint[];
  readonly operations: readonly Operation[];
  readonly target: MigrationTarget | undefined;
  /**
   * a split (`targets`): the targets after the first, each as a one-target migration of the same
   * id (its own collection, key mapping and up()). `target`, `up` and `keyMapping` are the first
   * target's. Empty for every other migration.
   */
  readonly extraTargets: readonly Migration[];
  /** in a split, which target this is (0: the first, or not a split) */
  readonly targetIndex: number;
  /** side by side with `target.key`: the target's keys (key-mapping.ts); undefined: the same keys */
  readonly keyMapping: KeyMapping | undefined;
  /**
   * the collections up() reads, by name (lookups.ts), a merge's secondary sources included
   * (read by `_id`); empty when none
   */
  readonly lookups: Readonly<Record<string, LookupSpec>>;
  /**
   * a merge (`merge`): the secondary source collections, joined by key (their document of key k
   * joins the source's document of key k, as `ctx.lookups.<name>`); empty for any other migration
   */
  readonly merge: readonly MergedSource[];
  /** the array whose elements move to another collection (fan-out.ts); undefined when none */
  readonly fanOut: FanOut | undefined;
  readonly file: string | undefined;
  readonly checksum: string;
  /** why `down` is not an exact inverse; empty when it is (or is trusted to be) */
  readonly lossy: readonly LossyStep[];
  readonly #up: Transform | undefined;
  readonly #down: Transform | undefined;
  readonly #invariants: readonly Invariant[];
  readonly #schema: ((v: Value) => string[]) | undefined;
  readonly #inverses: readonly Operation[] | undefined;
  #baseVersion: number;

  constructor(
    def: MigrationDefinition & { id: string },
    source: MigrationSource = {},
    defaults: { versionField?: string; targetIndex?: number } = {},
  ) {
    this.id = def.id;
    this.description = def.description;
    this.rationale = def.rationale;
    this.owner = def.owner;
    this.author = def.author;
    this.aliases = def.aliases ?? {};
    this.compatibility = def.compatibility;
    this.afterSchema = def.verify?.schema;
    this.collection = def.collection;
    this.from = def.from ?? DEFAULT_FROM_VERSION;
    this.to = def.to ?? this.from + 1;
    this.versionField = def.versionField ?? defaults.versionField ?? DEFAULT_VERSION_FIELD;
    this.provenance = def.provenance;
    this.unique = uniqueConstraints(def.unique);
    this.#baseVersion = this.from;
    const first = def.targets?.[0];
    this.operations = (first !== undefined ? first.operations : def.operations) ?? [];
    this.target =
      first !== undefined
        ? {
            collection: first.collection,
            ...(first.store !== undefined ? { store: first.store } : {}),
            ...(first.key !== undefined ? { key: first.key } : {}),
          }
        : def.target;
    this.keyMapping =
      this.target?.key !== undefined ? new KeyMapping(def.id, this.target.key) : undefined;
    this.targetIndex = defaults.targetIndex ?? 0;
    this.extraTargets = (def.targets ?? []).slice(1).map(
      (t, i) =>
        new Migration(
          {
            id: def.id,
            collection: def.collection,
            from: this.from,
            to: this.to,
            versionField: this.versionField,
            target: {
              collection: t.collection,
              ...(t.store !== undefined ? { store: t.store } : {}),
              ...(t.key !== undefined ? { key: t.key } : {}),
            },
            ...(t.operations !== undefined ? { operations: t.operations } : {}),
            ...(t.up !== undefined ? { up: t.up } : {}),
            ...(def.lookups !== undefined ? { lookups: def.lookups } : {}),
          },
          source,
          { ...defaults, targetIndex: i + 1 },
        ),
    );
    this.merge = Object.entries(def.merge ?? {}).map(([name, s]) => ({
      name,
      collection: s.collection,
    }));
    this.lookups = { ...def.lookups, ...mergeLookups(this.merge) };
    this.fanOut = def.fanOut !== undefined ? new FanOut(def.fanOut) : undefined;
    this.file = source.file;
    this.checksum = source.checksum ?? '';
    this.#up = first !== undefined ? first.up : def.up;
    this.#down = first !== undefined ? first.down : def.down;
    this.#invariants = def.verify?.invariants ?? [];
    this.#schema =
      def.verify?.schema !== undefined
        ? compileSchema(def.verify.schema, source.file !== undefined ? { file: source.file } : {})
        : undefined;

    const lossy: LossyStep[] = [];
    // down() sees the parent only; the array comes back from the emitted documents, which the
    // rollback restores from the journal (engine/fan-out.ts)
    if (this.fanOut !== undefined)
      lossy.push({
        step: this.fanOut.describe(),
        reason: `folding back reads the documents of ${this.fanOut.into}: rollback restores from the journal`,
      });
    for (const op of this.operations)
      if (op.lossy !== false) lossy.push({ step: op.describe(), reason: op.lossy });
    if (this.#up !== undefined && this.#down === undefined)
      lossy.push({ step: 'up (custom)', reason: 'a custom up() without a down()' });
    this.lossy = lossy;
    this.#inverses =
      lossy.length === 0 ? this.operations.map((op) => op.inverse()!).reverse() : undefined;
  }

  /** no operations and no up(): a template not filled in yet; engines refuse to run it */
  get isEmpty(): boolean {
    return this.operations.length === 0 && this.#up === undefined && this.fanOut === undefined;
  }

  /** a custom up(): what it does to document shapes is known only by running it */
  get hasCustomUp(): boolean {
    return this.#up !== undefined;
  }

  get kind(): 'in-place' | 'side-by-side' {
    return this.target === undefined ? 'in-place' : 'side-by-side';
  }

  /** true when `down` exists (every step has an inverse) */
  get reversible(): boolean {
    return this.lossy.length === 0;
  }

  /**
   * true when `down` is exact by construction: every operation's inverse is the library's own
   * (no user inverse function, no custom down). Rollback without a journal needs this.
   */
  get provablyExact(): boolean {
    return (
      this.reversible && this.#down === undefined && this.operations.every((op) => !op.userInverse)
    );
  }

  /** true when the definition has a custom down() (a hand-written inverse, trusted, not proven) */
  get hasCustomDown(): boolean {
    return this.#down !== undefined;
  }

  /**
   * The version a document without a version field is at: the first `from` of the collection's
   * chain of migrations (set by the loader), so in a chain 1->2->3 an unversioned document is at
   * 1, not at step two's `from`. For a migration on its own, its `from`.
   */
  get baseVersion(): number {
    return this.#baseVersion;
  }

  /** Called by the loader with the lowest `from` among the collection's migrations. */
  setBaseVersion(version: number): void {
    this.#baseVersion = version;
    for (const t of this.extraTargets) t.setBaseVersion(version);
  }

  /** Every target as a one-target migration: itself, then a split's other targets. */
  get allTargets(): readonly Migration[] {
    return [this, ...this.extraTargets];
  }

  versionOf(doc: Doc): number {
    const v = doc[this.versionField];
    if (v === undefined || v === null) return this.#baseVersion;
    const n = typeof v === 'number' ? v : Number(v);
    return Number.isFinite(n) ? n : this.#baseVersion;
  }

  /**
   * Where a document stands against this step: before it (`old`), at its `to` (`at`), or past it
   * (`newer`: a later step of the chain, or the application, moved it on). Verify counts only
   * `old` as not migrated; a `newer` document is not "still at the old version".
   */
  standing(doc: Doc): 'old' | 'at' | 'newer' {
    const v = this.versionOf(doc);
    return v === this.to ? 'at' : v > this.to ? 'newer' : 'old';
  }

  /** `doc` stamped with this migration and `at` in the provenance field (as is without one). */
  stamp(doc: Doc, at: Date): Doc {
    if (this.provenance === undefined) return doc;
    return { ...doc, [this.provenance]: { migration: this.id, at: at.toISOString() } };
  }

  /** `doc` without the provenance field: what verify and down() look at. */
  withoutProvenance(doc: Doc): Doc {
    if (this.provenance === undefined || !(this.provenance in doc)) return doc;
    const { [this.provenance]: _p, ...rest } = doc;
    return rest;
  }

  /** already at the target version: a backfill skips it */
  isMigrated(doc: Doc): boolean {
    return this.versionOf(doc) === this.to;
  }

  /** true when up() reads other collections (`lookups`) */
  get hasLookups(): boolean {
    return Object.keys(this.lookups).length > 0;
  }

  /**
   * The document at version `to`, with the looked-up documents `ctx` (engine/lookups.ts; none
   * when absent). Throws TransformError when it cannot be transformed.
   */
  up(doc: Doc, ctx: TransformContext = NO_LOOKUPS): Doc {
    const v = this.versionOf(doc);
    if (v !== this.from)
      throw new TransformError(this.id, 'up', `document is at version ${v}, expected ${this.from}`);
    let out: Doc = doc;
    try {
      // the fan-out takes the array from the document as stored (fan-out.ts)
      if (this.fanOut !== undefined) out = this.fanOut.parentOf(doc);
      for (const op of this.operations) out = op.apply(out);
      if (this.#up !== undefined) out = runTransform(this.#up, out, ctx);
    } catch (err) {
      if (err instanceof TransformError) throw err;
      throw new TransformError(this.id, 'up', (err as Error)?.message ?? String(err), {
        cause: err,
      });
    }
    return setVersion(out, doc, this.versionField, this.to);
  }

  /** The document back at version `from`. Throws when the migration has no down. */
  down(doc: Doc): Doc {
    if (this.#inverses === undefined) {
      throw new TransformError(
        this.id,
        'down',
        `no exact inverse: ${this.lossy.map((l) => `${l.step} (${l.reason})`).join('; ')}`,
      );
    }
    const v = this.versionOf(doc);
    if (v !== this.to)
      throw new TransformError(this.id, 'down', `document is at version ${v}, expected ${this.to}`);
    let out: Doc = this.withoutProvenance(doc);
    try {
      if (this.#down !== undefined) out = runTransform(this.#down, out, NO_LOOKUPS);
      for (const op of this.#inverses) out = op.apply(out);
    } catch (err) {
      throw new TransformError(this.id, 'down', (err as Error)?.message ?? String(err), {
        cause: err,
      });
    }
    // back at the chain's first version, the document carries no version field: absent means
    // that version, and a document that had none before the backfill must have none after
    if (this.from === this.#baseVersion) return withoutVersion(out, doc, this.versionField);
    return setVersion(out, doc, this.versionField, this.from);
  }

  /** Invariant and schema failures of a migrated document (empty when it passes). */
  check(stored: Doc): string[] {
    const doc = this.withoutProvenance(stored);
    const failures: string[] = [];
    this.#invariants.forEach((inv, i) => {
      try {
        const r = inv(doc);
        if (r === false) failures.push(`invariant ${i + 1} failed`);
        else if (typeof r === 'string') failures.push(`invariant ${i + 1}: ${r}`);
      } catch (err) {
        failures.push(`invariant ${i + 1} threw: ${(err as Error)?.message ?? String(err)}`);
      }
    });
    if (this.#schema !== undefined) failures.push(...this.#schema(doc));
    return failures;
  }

  /**
   * true when `b` is `a` as far as the round trip is concerned: equal canonically, where an absent
   * version field and the `from` version count as the same.
   */
  sameAtFrom(a: Doc, b: Doc): boolean {
    return (
      canonicalString(withVersion(a, this.versionField, this.versionOf(a))) ===
      canonicalString(withVersion(b, this.versionField, this.versionOf(b)))
    );
  }
}

function runTransform(fn: Transform, doc: Doc, ctx: TransformContext): Doc {
  const copy = copyDoc(doc);
  const res = fn(copy, ctx);
  return res === undefined ? copy : res;
}

/**
 * Set the version on the result of a transform. `out` is a fresh copy unless no step ran (then
 * it is the input itself, which must not change): assign in place, which is much cheaper than a
 * spread with a computed key on the hot path.
 */
function setVersion(out: Doc, input: Doc, field: string, version: number): Doc {
  const target = out === input ? { ...out } : out;
  target[field] = version;
  return target;
}

/** `out` without the version field (a copy when no step ran, as in setVersion). */
function withoutVersion(out: Doc, input: Doc, field: string): Doc {
  const target = out === input ? { ...out } : out;
  delete target[field];
  return target;
}

function withVersion(doc: Doc, field: string, version: number): Doc {
  if (doc[field] === version) return doc;
  return { ...doc, [field]: version };
}
