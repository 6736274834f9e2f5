/**
 * The undo journal of an in-place migration: for every document the backfill changed, its
 * before-image (exactly as it was just before Switchyard's write) and the hash of what
 * Switchyard wrote. Rollback restores the before-image where the document is still what the
 * migration wrote. One collection per migration (`_sy_journal_<id>`), so it can be scanned on any
 * store and dropped whole by `complete`.
 *
 * Write-ahead rule: the entries of a batch are written (and acknowledged) before the batch's data
 * writes. An entry whose data write never happened is harmless: rollback finds the document not
 * at the target version and leaves it alone.
 */
import { fromStorageJSON, type Doc } from '../core/values.js';
import type { Collection, Key, ScanPage, Store, WriteOp } from '../store/contract.js';

export interface JournalEntry {
  key: Key;
  /** the document before the migration's write, in storage form (`toStorageJSON`) as text */
  before: string;
  /** contentHash of the document the migration wrote */
  afterHash: string;
}

/** The before-image of an entry as a document. */
export function beforeImage(entry: JournalEntry): Doc {
  return fromStorageJSON(entry.before) as Doc;
}

export function journalCollectionName(migrationId: string): string {
  return `_sy_journal_${migrationId}`;
}

export class Journal {
  readonly #c: Collection;

  constructor(
    readonly stateStore: Store,
    readonly migrationId: string,
  ) {
    this.#c = stateStore.collection(journalCollectionName(migrationId));
  }

  /** The journal's collection name in the state store. */
  get collectionName(): string {
    return journalCollectionName(this.migrationId);
  }

  /** The write ops that record these entries (for a caller that commits them with its data). */
  recordOps(entries: readonly JournalEntry[]): WriteOp[] {
    return entries.map((e) => ({ type: 'put' as const, key: e.key, doc: e as unknown as Doc }));
  }

  /** Record before-images (replacing an entry for the same key from a retried attempt). */
  async record(entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const results = await this.#c.write(this.recordOps(entries));
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0) throw new Error(`journal write failed for ${failed.length} documents`);
  }

  async get(keys: readonly Key[]): Promise<(JournalEntry | null)[]> {
    return (await this.#c.getMany(keys)).map((s) =>
      s === null ? null : (s.doc as unknown as JournalEntry),
    );
  }

  async scan(
    cursor: string | null,
    limit: number,
  ): Promise<{ entries: JournalEntry[]; cursor: string | null }> {
    const page: ScanPage = await this.#c.scan({ cursor, limit });
    return {
      entries: page.items.map((s) => s.doc as unknown as JournalEntry),
      cursor: page.cursor,
    };
  }

  async remove(keys: readonly Key[]): Promise<void> {
    if (keys.length > 0) await this.#c.write(keys.map((key) => ({ type: 'delete' as const, key })));
  }

  count(): Promise<number> {
    return this.#c.count();
  }

  drop(): Promise<void> {
    return this.stateStore.dropCollection(journalCollectionName(this.migrationId));
  }
}
