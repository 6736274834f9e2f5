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
 *
 * Integrity rule: every entry is sealed when it is recorded (`seal` = chainHash over the
 * migration id, the key, the before-image and the after hash; chain-hash.ts, shared with the
 * audit log). `verify()` checks every seal; rollback runs it before it restores anything and
 * refuses, naming the keys, when one does not match (an edited before-image, an entry moved to
 * another key or copied from another migration's journal, an entry without a seal). What this
 * does not catch: someone who can write the journal and recomputes the seal (no secret is
 * involved), and a removed entry (rollback then treats the document as written by the
 * application: down() where exact, else a conflict that keeps it).
 */
import { fromStorageJSON, type Doc } from '../core/values.js';
import type { Collection, Key, ScanPage, Store, WriteOp } from '../store/contract.js';
import { chainHash, chainHashOfCanonical, GENESIS_HASH } from './chain-hash.js';

export interface JournalEntry {
  key: Key;
  /** the document before the migration's write, in storage form (`toStorageJSON`) as text */
  before: string;
  /** contentHash of the document the migration wrote */
  afterHash: string;
  /**
   * Per lookup of the migration (engine/lookups.ts), the content hash of the looked-up document
   * up() used, or null when there was none. Verify compares it with the looked-up document now to
   * report `lookupChanged`. Not sealed: rollback never uses it.
   */
  lookups?: Record<string, string | null>;
  /**
   * A fan-out (migration/fan-out.ts, engine/fan-out.ts): `[key, contentHash]` of every document
   * this attempt wrote to the fan-out's collection. Sealed: rollback deletes what it names.
   */
  emitted?: [string, string][];
  /**
   * A fan-out: `[key, contentHash]` of documents an earlier, unfinished attempt on the same
   * parent wrote and this one does not (the array changed between them): deleted before the
   * parent is written. Sealed.
   */
  dropped?: [string, string][];
  /** the entry's seal (set when it is recorded; see the integrity rule) */
  seal?: string;
}

/** A journal entry that does not verify, and why. */
export interface UnverifiedEntry {
  key: Key;
  problem: string;
}

export interface JournalVerifyResult {
  /** entries read */
  entries: number;
  /** entries that do not verify */
  bad: number;
  /** the first of them (at most `maxSamples`) */
  samples: UnverifiedEntry[];
}

/** The seal of an entry of migration `migrationId`'s journal. */
export function journalSeal(migrationId: string, e: JournalEntry): string {
  const { key, before, afterHash } = e;
  // a fan-out's entry: its emitted and dropped keys are sealed too (the fields in code-point
  // order, arrays of strings: JSON.stringify writes the canonical form)
  if (e.emitted !== undefined || e.dropped !== undefined)
    return chainHashOfCanonical(
      GENESIS_HASH,
      JSON.stringify({
        afterHash,
        before,
        dropped: e.dropped ?? [],
        emitted: e.emitted ?? [],
        key,
        migration: migrationId,
      }),
    );
  // all text (as recorded): the canonical form is plain JSON with the keys in code-point order,
  // which JSON.stringify writes natively — several times cheaper than canonical EJSON, and the
  // same text (test/state/journal-seal.test.ts)
  if (typeof key === 'string' && typeof before === 'string' && typeof afterHash === 'string')
    return chainHashOfCanonical(
      GENESIS_HASH,
      JSON.stringify({ afterHash, before, key, migration: migrationId }),
    );
  return chainHash(GENESIS_HASH, {
    migration: migrationId,
    key: e.key,
    before: e.before,
    afterHash: e.afterHash,
  });
}

/** Why an entry stored under `key` does not verify, or undefined when it does. */
export function unverified(migrationId: string, key: Key, e: JournalEntry): string | undefined {
  if (typeof e.seal !== 'string') return 'it has no seal';
  if (e.key !== key) return `it is stored under ${key} but names ${String(e.key)}`;
  if (typeof e.before !== 'string' || typeof e.afterHash !== 'string')
    return 'its before-image or after hash is not text';
  for (const list of [e.emitted, e.dropped])
    if (
      list !== undefined &&
      (!Array.isArray(list) ||
        !list.every(
          (p) =>
            Array.isArray(p) &&
            p.length === 2 &&
            typeof p[0] === 'string' &&
            typeof p[1] === 'string',
        ))
    )
      return 'its fan-out keys are not [key, hash] pairs';
  if (journalSeal(migrationId, e) !== e.seal) return 'its content does not match its seal (edited)';
  return undefined;
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
    return entries.map((e) => {
      const sealed: JournalEntry = {
        key: e.key,
        before: e.before,
        afterHash: e.afterHash,
        ...(e.lookups !== undefined ? { lookups: e.lookups } : {}),
        ...(e.emitted !== undefined ? { emitted: e.emitted } : {}),
        ...(e.dropped !== undefined ? { dropped: e.dropped } : {}),
        seal: journalSeal(this.migrationId, e),
      };
      return { type: 'put' as const, key: e.key, doc: sealed as unknown as Doc };
    });
  }

  /** Why the entry stored under `key` does not verify, or undefined when it does. */
  unverified(key: Key, entry: JournalEntry): string | undefined {
    return unverified(this.migrationId, key, entry);
  }

  /** Check every entry's seal (one pass over the journal). */
  async verify(maxSamples = 20): Promise<JournalVerifyResult> {
    const out: JournalVerifyResult = { entries: 0, bad: 0, samples: [] };
    let cursor: string | null = null;
    do {
      const page: ScanPage = await this.#c.scan({ cursor, limit: 1000 });
      for (const s of page.items) {
        out.entries += 1;
        const problem = unverified(this.migrationId, s.key, s.doc as unknown as JournalEntry);
        if (problem === undefined) continue;
        out.bad += 1;
        if (out.samples.length < maxSamples) out.samples.push({ key: s.key, problem });
      }
      cursor = page.cursor;
    } while (cursor !== null);
    return out;
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
