/**
 * Dead letters: documents a migration could not transform (its up() threw, or an operation
 * refused the document), with the error and the document's version. One collection per migration
 * (`_sy_dead_<id>`). `backfill --retry-dead` runs them again and removes the ones that succeed.
 */
import type { Doc } from '../core/values.js';
import type { Collection, Key, Store } from '../store/contract.js';

export interface DeadLetter {
  key: Key;
  error: string;
  /** the document's schema version when it failed */
  version: number;
  /** epoch ms of the last failure */
  at: number;
  attempts: number;
}

export function deadLetterCollectionName(migrationId: string): string {
  return `_sy_dead_${migrationId}`;
}

export class DeadLetters {
  readonly #c: Collection;

  constructor(
    readonly stateStore: Store,
    readonly migrationId: string,
  ) {
    this.#c = stateStore.collection(deadLetterCollectionName(migrationId));
  }

  async add(letters: readonly Omit<DeadLetter, 'attempts'>[]): Promise<void> {
    if (letters.length === 0) return;
    const existing = await this.#c.getMany(letters.map((l) => l.key));
    await this.#c.write(
      letters.map((l, i) => ({
        type: 'put' as const,
        key: l.key,
        doc: {
          ...l,
          attempts: ((existing[i]?.doc.attempts as number | undefined) ?? 0) + 1,
        } as unknown as Doc,
      })),
    );
  }

  async remove(keys: readonly Key[]): Promise<void> {
    if (keys.length > 0) await this.#c.write(keys.map((key) => ({ type: 'delete' as const, key })));
  }

  count(): Promise<number> {
    return this.#c.count();
  }

  /** Which of these keys have a dead letter. */
  async has(keys: readonly Key[]): Promise<Set<Key>> {
    if (keys.length === 0) return new Set();
    const found = await this.#c.getMany(keys);
    return new Set(keys.filter((_, i) => found[i] !== null));
  }

  /** Every dead letter, page by page. */
  async *all(pageSize = 500): AsyncGenerator<DeadLetter[]> {
    let cursor: string | null = null;
    do {
      const page = await this.#c.scan({ cursor, limit: pageSize });
      if (page.items.length > 0) yield page.items.map((s) => s.doc as unknown as DeadLetter);
      cursor = page.cursor;
    } while (cursor !== null);
  }

  async list(limit: number): Promise<DeadLetter[]> {
    const page = await this.#c.scan({ limit });
    return page.items.map((s) => s.doc as unknown as DeadLetter);
  }

  drop(): Promise<void> {
    return this.stateStore.dropCollection(deadLetterCollectionName(this.migrationId));
  }
}
