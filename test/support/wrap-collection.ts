/** A collection that behaves as `inner` except for the methods given: for tests that inject. */
import type { Collection } from '../../src/store/contract.js';

export function wrapCollection(inner: Collection, overrides: Partial<Collection>): Collection {
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    get: (k) => inner.get(k),
    getMany: (ks) => inner.getMany(ks),
    scan: (o) => inner.scan(o),
    split: (n) => inner.split(n),
    write: (ops) => inner.write(ops),
    count: (r) => inner.count(r),
    ...overrides,
  };
}
