/**
 * The change feeds catch-up follows: the source collection's, and for a merge
 * (migration/merge-sources.ts) each secondary source's too. One position covers them all, so
 * the catch-up's one unit (feed-unit.ts) checkpoints every feed at once.
 *
 * Rules:
 * 1. Without a merge the position is the source feed's own, as it always was.
 * 2. With a merge it is a JSON array of the feeds' positions, in order: the source, then each
 *    secondary of `merge`. A batch reads every feed after its own position (up to `limit` each)
 *    and the next position holds what each read reached, so a batch killed before its
 *    checkpoint is read again from every feed (the applier is idempotent: catchup-job.ts rule 1).
 * 3. A change to a secondary's document of key k is a change of key k: the primary of that key
 *    is read again and its target document derived again with the secondary as read now (a
 *    delete gives ctx.lookups.<name> = null). No primary, no target document: the key is handled
 *    as a deleted source key (apply-changes.ts rule 2), which costs one recheck note per such
 *    change.
 * 4. Drained means every feed returned fewer changes than asked: the job waits (follow) or ends
 *    (until-idle) only then.
 * 5. A position that is not such an array for a merge (a catch-up started before `merge` was
 *    added to the migration) is a lost position: the run fails and says to release it; the
 *    release gives it back as the source feed's own.
 */
import type { Migration } from '../../../migration/migration.js';
import type { Change, Collection, Store } from '../../../store/contract.js';

/** A change feed that can be told a reader is gone for good (the SQLite adapter can). */
interface ReleasableFeed {
  releaseChanges(position: string): Promise<void>;
}

function canRelease(c: Collection): c is Collection & ReleasableFeed {
  return typeof (c as Partial<ReleasableFeed>).releaseChanges === 'function';
}

export interface FeedsRead {
  changes: Change[];
  position: string;
  /** every feed returned fewer changes than asked (rule 4) */
  drained: boolean;
}

export class SourceFeeds {
  /** the source's collection, then each merge secondary's */
  readonly collections: readonly Collection[];
  readonly #merged: boolean;

  constructor(store: Store, m: Migration) {
    this.collections = [m.collection, ...m.merge.map((s) => s.collection)].map((c) =>
      store.collection(c),
    );
    this.#merged = m.merge.length > 0;
  }

  /** The collections whose feed cannot be read (no change feed), by name. */
  withoutFeed(): string[] {
    return this.collections
      .filter((c) => !c.capabilities.changeFeed || typeof c.changes !== 'function')
      .map((c) => c.name);
  }

  /** A position "from now" on every feed. */
  async start(): Promise<string> {
    const positions: string[] = [];
    for (const c of this.collections) positions.push((await c.changes!(null, 0)).position);
    return this.#encode(positions);
  }

  /** The changes after `position` on every feed (rule 2), as keys of the source. */
  async read(position: string, limit: number): Promise<FeedsRead> {
    const from = this.decode(position);
    const changes: Change[] = [];
    const next: string[] = [];
    let drained = true;
    for (const [i, c] of this.collections.entries()) {
      const read = await c.changes!(from[i]!, limit);
      if (read.changes.length >= limit) drained = false;
      changes.push(...read.changes);
      next.push(read.position);
    }
    return { changes, position: this.#encode(next), drained };
  }

  /** Give every feed's place back (the SQLite feed drops its triggers when no reader is left). */
  async release(position: string): Promise<void> {
    let from: string[];
    try {
      from = this.decode(position);
    } catch {
      // rule 5: a position saved before `merge` was declared is the source feed's own
      from = [position];
    }
    for (const [i, c] of this.collections.entries())
      if (canRelease(c) && from[i] !== undefined) await c.releaseChanges(from[i]);
  }

  /** The feeds' positions in `position` (rule 5: throws when it is not a merge's). */
  decode(position: string): string[] {
    if (!this.#merged) return [position];
    let parsed: unknown;
    try {
      parsed = JSON.parse(position);
    } catch {
      parsed = undefined;
    }
    if (
      !Array.isArray(parsed) ||
      parsed.length !== this.collections.length ||
      !parsed.every((p) => typeof p === 'string')
    )
      throw new SourceFeedsPositionError(
        `the saved position is not one of a merge of ${this.collections.map((c) => c.name).join(' and ')} (was catch-up started before merge was declared?)`,
      );
    return parsed as string[];
  }

  #encode(positions: readonly string[]): string {
    return this.#merged ? JSON.stringify(positions) : positions[0]!;
  }
}

export class SourceFeedsPositionError extends Error {}
