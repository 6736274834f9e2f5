/**
 * The suite must be able to fail: an adapter that ignores revs (every write unconditional) is
 * caught by every conditional-write check.
 */
import { describe, expect, it } from 'vitest';
import type { Collection, Store, WriteOp } from '../../src/store/contract.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { CHECKS } from './store-checks.js';
import { memoryHarness, type StoreHarness } from './store-harness.js';

function ignoringRevs(store: MemoryStore): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'collection') return Reflect.get(target, prop, receiver);
      return (name: string): Collection => {
        const c = target.collection(name);
        return new Proxy(c, {
          get(ct, p, r) {
            if (p === 'write') {
              return (ops: readonly WriteOp[]) =>
                ct.write(ops.map(({ ifRev: _ignored, ...op }) => op as WriteOp));
            }
            const v = Reflect.get(ct, p, r);
            return typeof v === 'function' ? v.bind(ct) : v;
          },
        });
      };
    },
  }) as Store;
}

const broken: StoreHarness = {
  name: 'memory, ignoring revs',
  open: async () => ignoringRevs(new MemoryStore()),
  foreignWrite: (store, coll, key, doc) => memoryHarness.foreignWrite(store, coll, key, doc),
};

describe('the conformance suite catches an adapter that ignores revs', () => {
  const conditional = CHECKS.filter((c) => c.conditional === true);
  it('has conditional checks', () => expect(conditional.length).toBeGreaterThanOrEqual(4));
  for (const check of conditional) {
    if (check.name.startsWith('a write conditional on the current rev')) continue; // passes by design
    it(`fails: ${check.name}`, async () => {
      await expect(check.run(broken)).rejects.toThrow();
    });
  }
});
