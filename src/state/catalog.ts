/**
 * The catalog: one document per migration in the state store, keyed by migration id. It holds
 * what the control plane must remember between processes: the file's checksum when it was first
 * registered, the version span, the status, timestamps and progress. Updates are read-modify-write
 * loops conditional on the rev, so concurrent workers never lose each other's changes.
 *
 * Every row read is checked (zod, `catalogRowSchema`): a row that is not JSON, lacks a field or
 * holds an unknown status ("banana") was not written by Switchyard, and no command acts on it: a
 * CatalogDamagedError names the state collection, the key and the field. A status is checked on
 * the way in too, so an unknown one is never written.
 */
import { z } from 'zod';
import { errorMessage, InputError, SwitchyardError } from '../core/errors.js';
import { firstProblem } from '../core/input-schema.js';
import type { Doc } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import type { Collection, ScanPage, Store, StoredDoc } from '../store/contract.js';
import { UnreadableDocumentError } from '../store/store-errors.js';
import { STATE_COLLECTIONS } from './state-collections.js';

export const MigrationStatus = {
  pending: 'pending',
  backfilling: 'backfilling',
  paused: 'paused',
  /** an in-place backfill ran on a subset only (`backfill --limit/--filter`); the rest waits */
  canary: 'canary',
  backfilled: 'backfilled',
  verified: 'verified',
  complete: 'complete',
  rollingBack: 'rolling-back',
  rolledBack: 'rolled-back',
  failed: 'failed',
} as const;
export type MigrationStatus = (typeof MigrationStatus)[keyof typeof MigrationStatus];

const STATUSES = Object.values(MigrationStatus) as [MigrationStatus, ...MigrationStatus[]];

/** What a catalog row must hold; other fields (progress, control, stages, ...) are kept as they are. */
export const catalogRowSchema = z.looseObject({
  id: z.string().min(1),
  collection: z.string().min(1),
  kind: z.enum(['in-place', 'side-by-side']),
  from: z.number().int(),
  to: z.number().int(),
  checksum: z.string(),
  status: z.enum(STATUSES, {
    error: (issue) =>
      `unknown status ${JSON.stringify(issue.input)} (known: ${STATUSES.join(', ')})`,
  }),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export interface CatalogEntry {
  id: string;
  collection: string;
  kind: 'in-place' | 'side-by-side';
  from: number;
  to: number;
  /** sha256 of the migration file when first registered */
  checksum: string;
  file?: string;
  status: MigrationStatus;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  completedAt?: string;
  /** the last progress snapshot written by a long-running command */
  progress?: Record<string, unknown>;
  /** free-form state of later stages (side-by-side stage, percent, ...) */
  [extra: string]: unknown;
}

/** A command that needs a migration to have run, on one that has not (exit 2, nothing changed). */
export class MigrationNotStartedError extends InputError {
  override readonly code = 'E_NOT_STARTED';
}

/**
 * True when nothing of the migration has run yet: it is not in the catalog, or registered but
 * pending (in place: no backfill started; side by side: no stage left `off` either).
 */
export function notStarted(entry: CatalogEntry | null, kind: CatalogEntry['kind']): boolean {
  if (entry === null) return true;
  if (entry.status !== MigrationStatus.pending) return false;
  if (kind === 'in-place') return true;
  const stage = (entry.sideBySide as { stage?: unknown } | undefined)?.stage;
  return stage === undefined || stage === 'off';
}

export class ChecksumChangedError extends SwitchyardError {
  override readonly code = 'E_CHECKSUM_CHANGED';
  override readonly exitCode = 2 as const;
}

export class CatalogConflictError extends SwitchyardError {
  override readonly code = 'E_CATALOG_CONFLICT';
}

/** A catalog row that cannot be read or is not a catalog entry. Nothing was changed. */
export class CatalogDamagedError extends SwitchyardError {
  override readonly code = 'E_CATALOG_DAMAGED';
  constructor(
    readonly collection: string,
    readonly key: string | undefined,
    why: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the catalog is damaged: ${key !== undefined ? `row '${key}'` : 'a row'} of the state collection '${collection}' ${why}. Switchyard did not write it so; restore the row (or remove it, if that migration never ran) before going on`,
      options,
    );
  }
}

export interface RegisterInput {
  id: string;
  collection: string;
  kind: CatalogEntry['kind'];
  from: number;
  to: number;
  checksum: string;
  file?: string;
}

/** What the catalog registers of a migration. */
export function registration(m: Migration): RegisterInput {
  return {
    id: m.id,
    collection: m.collection,
    kind: m.kind,
    from: m.from,
    to: m.to,
    checksum: m.checksum,
    ...(m.file !== undefined ? { file: m.file } : {}),
  };
}

export class Catalog {
  readonly #c: Collection;

  constructor(store: Store) {
    this.#c = store.collection(STATE_COLLECTIONS.catalog);
  }

  async get(id: string): Promise<CatalogEntry | null> {
    const found = await this.#read(id);
    return found === null ? null : found.entry;
  }

  async list(): Promise<CatalogEntry[]> {
    const out: CatalogEntry[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.#scan(cursor, out);
      out.push(...page.items.map((s) => this.#checked(s.key, s.doc)));
      cursor = page.cursor;
    } while (cursor !== null);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** A row, checked; null when absent. */
  async #read(id: string): Promise<{ entry: CatalogEntry; rev: string } | null> {
    let found: StoredDoc | null;
    try {
      found = await this.#c.get(id);
    } catch (err) {
      if (err instanceof UnreadableDocumentError)
        throw new CatalogDamagedError(this.#c.name, id, `cannot be read (${err.reason})`, {
          cause: err,
        });
      if (err instanceof SwitchyardError) throw err;
      throw new CatalogDamagedError(this.#c.name, id, `cannot be read (${errorMessage(err)})`, {
        cause: err,
      });
    }
    return found === null ? null : { entry: this.#checked(id, found.doc), rev: found.rev };
  }

  /**
   * A page of rows. When one cannot be read, the rows after the cursor are read one at a time to
   * name where it is: the key of the row it follows in scan order.
   */
  async #scan(cursor: string | null, seen: readonly CatalogEntry[]): Promise<ScanPage> {
    try {
      const page = await this.#c.scan({ cursor, limit: 500 });
      // a store that names what it cannot read (store contract: ScanPage.unreadable)
      const bad = page.unreadable?.[0];
      if (bad !== undefined)
        throw new CatalogDamagedError(this.#c.name, bad.key, `cannot be read (${bad.reason})`);
      return page;
    } catch (err) {
      if (err instanceof SwitchyardError) throw err;
      let after = seen.at(-1)?.id;
      let at = cursor;
      for (;;) {
        let one: ScanPage;
        try {
          one = await this.#c.scan({ cursor: at, limit: 1 });
        } catch {
          break;
        }
        if (one.items.length === 0 || one.cursor === null) break;
        after = one.items[0]!.key;
        at = one.cursor;
      }
      throw new CatalogDamagedError(
        this.#c.name,
        undefined,
        `cannot be read (${errorMessage(err)}); it is ${after === undefined ? 'the first row' : `the row after '${after}'`} in scan order`,
        { cause: err },
      );
    }
  }

  #checked(key: string, doc: unknown): CatalogEntry {
    const parsed = catalogRowSchema.safeParse(doc);
    if (!parsed.success) {
      const { field, message } = firstProblem(catalogRowSchema, parsed.error);
      throw new CatalogDamagedError(
        this.#c.name,
        key,
        `is not a catalog entry: ${field !== undefined ? `field '${field}': ` : ''}${message}`,
      );
    }
    if (parsed.data.id !== key)
      throw new CatalogDamagedError(
        this.#c.name,
        key,
        `is not a catalog entry: field 'id' is '${parsed.data.id}', not its key`,
      );
    return doc as CatalogEntry;
  }

  /**
   * Make sure the migration is in the catalog. A new one is registered as pending. For a known
   * one whose file changed after it started, refuse unless `force` (then the new checksum is kept).
   * Returns the entry and whether it was created.
   */
  async register(
    input: RegisterInput,
    options: { force?: boolean } = {},
  ): Promise<{ entry: CatalogEntry; created: boolean }> {
    const now = new Date().toISOString();
    const fresh: CatalogEntry = {
      ...input,
      status: MigrationStatus.pending,
      createdAt: now,
      updatedAt: now,
    };
    const [res] = await this.#c.write([
      { type: 'put', key: input.id, doc: fresh as unknown as Doc, ifRev: null },
    ]);
    if (res?.ok) return { entry: fresh, created: true };
    const existing = (await this.get(input.id))!;
    if (existing.checksum !== input.checksum) {
      if (existing.status !== MigrationStatus.pending && options.force !== true) {
        throw new ChecksumChangedError(
          `migration ${input.id}${input.file ? ` (${input.file})` : ''} was changed after it started (status ${existing.status}): ` +
            `its checksum was ${existing.checksum.slice(0, 12)}, now ${input.checksum.slice(0, 12)}. ` +
            `Restore the file, or pass --force if you are sure the change is safe.`,
        );
      }
      const entry = await this.update(input.id, (e) => ({
        ...e,
        checksum: input.checksum,
        file: input.file,
      }));
      return { entry, created: false };
    }
    return { entry: existing, created: false };
  }

  /**
   * Read-modify-write, conditional on the rev; retried when another process got there first. When
   * fn answers the very entry it was given, nothing is written (updatedAt stays).
   */
  async update(id: string, fn: (entry: CatalogEntry) => CatalogEntry): Promise<CatalogEntry> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const current = await this.#read(id);
      if (current === null) throw new CatalogConflictError(`migration ${id} is not in the catalog`);
      const changed = fn(current.entry);
      // fn answering the entry it was given means no change (a refusal): nothing is written
      if (changed === current.entry) return changed;
      const next = { ...changed, updatedAt: new Date().toISOString() };
      if (!STATUSES.includes(next.status))
        throw new TypeError(
          `unknown migration status ${JSON.stringify(next.status)} (known: ${STATUSES.join(', ')})`,
        );
      const [res] = await this.#c.write([
        { type: 'put', key: id, doc: JSON.parse(JSON.stringify(next)) as Doc, ifRev: current.rev },
      ]);
      if (res?.ok) return next;
    }
    throw new CatalogConflictError(`could not update migration ${id}: too many concurrent updates`);
  }

  async setStatus(
    id: string,
    status: MigrationStatus,
    extra: Partial<CatalogEntry> = {},
  ): Promise<CatalogEntry> {
    return this.update(id, (e) => ({ ...e, ...extra, status }));
  }

  async remove(id: string): Promise<void> {
    await this.#c.write([{ type: 'delete', key: id }]);
  }
}
