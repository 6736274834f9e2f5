/**
 * The content behind recent revs: a conditional write on a rev states the whole item it stands
 * for (dynamodb-conditions.ts), so the collection remembers the items it read and wrote, by
 * contract key and rev, and reads back only what it does not remember.
 *
 * Bounded in two generations: entries go into the current one; when it holds `size`, it becomes
 * the previous one and the one before is dropped. So the last `size` entries are always
 * remembered, at most 2 x `size`, at O(1) a call. (A Map kept in recency order, its oldest entry
 * deleted on every insert, cost about 20 µs a call at 20,000 entries in V8: iterating from the
 * front skips every deleted slot until the table is rebuilt. It was a fifth of the client's
 * own CPU in the DynamoDB backfill bench.)
 *
 * Forgetting is always safe: a write on a rev that is not remembered reads the item back
 * (strongly consistent) and goes ahead only if its rev still matches.
 */
import type { Key } from '../contract.js';
import type { AttrMap } from './dynamodb-values.js';

/** entries of a generation: the last this many are always remembered */
export const REMEMBERED_ITEMS = 10_000;

export class RememberedItems {
  #current = new Map<string, AttrMap>();
  #previous = new Map<string, AttrMap>();

  constructor(readonly size = REMEMBERED_ITEMS) {}

  /** The item `key` held when it had rev `rev`, if remembered. */
  get(key: Key, rev: string): AttrMap | undefined {
    const id = `${key}\u0000${rev}`;
    return this.#current.get(id) ?? this.#previous.get(id);
  }

  /** Remember that `key` at rev `rev` holds `item`. */
  set(key: Key, rev: string, item: AttrMap): void {
    this.#current.set(`${key}\u0000${rev}`, item);
    if (this.#current.size >= this.size) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
  }

  clear(): void {
    this.#current.clear();
    this.#previous.clear();
  }
}
