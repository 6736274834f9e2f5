/**
 * What every adapter's Store does the same way, written once:
 * - `collection(name)` hands out one collection object per name, made on first use (so its
 *   caches — prepared statements, key layout, table description — are shared by every caller);
 * - `listCollections` returns user collections in key order, and the reserved `_sy_` ones
 *   (journals, state) only when asked.
 */
import { compareKeys } from '../core/values.js';
import { RESERVED_PREFIX } from './contract.js';

export class CollectionsByName<C> {
  readonly #byName = new Map<string, C>();
  readonly #make: (name: string) => C;

  constructor(make: (name: string) => C) {
    this.#make = make;
  }

  get(name: string): C {
    let c = this.#byName.get(name);
    if (c === undefined) {
      c = this.#make(name);
      this.#byName.set(name, c);
    }
    return c;
  }

  /** the collections made so far */
  made(): IterableIterator<[string, C]> {
    return this.#byName.entries();
  }

  forget(name: string): void {
    this.#byName.delete(name);
  }
}

/** `listCollections`' answer from the names a store holds (the order they come in does not matter). */
export function listedCollections(
  names: Iterable<string>,
  options: { includeReserved?: boolean } = {},
): string[] {
  return [...names]
    .filter((n) => options.includeReserved === true || !n.startsWith(RESERVED_PREFIX))
    .sort(compareKeys);
}
