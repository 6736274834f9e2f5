/**
 * The content behind recent revs (src/store/dynamodb/dynamodb-remembered.ts), in memory: the last
 * `size` entries are always remembered exactly, never more than 2 x `size` are held, and a rev is
 * only ever found with the item it was remembered with (a property over generated sequences).
 * A forgotten rev is read back by the collection: test/store/dynamodb-adapter.test.ts ("a rev
 * read by another process (nothing remembered) still guards the write").
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RememberedItems } from '../../src/store/dynamodb/dynamodb-remembered.js';
import type { AttrMap } from '../../src/store/dynamodb/dynamodb-values.js';

const item = (n: number): AttrMap => ({ n: { N: String(n) } });

describe('dynamodb remembered items (in memory)', () => {
  it('keeps the last `size` entries, at most 2 x `size`, each with its own item (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 3 })), {
          maxLength: 60,
        }),
        (size, sets) => {
          const r = new RememberedItems(size);
          sets.forEach(([k, rev], n) => r.set(`k${k}`, `r${rev}`, item(n)));
          // what each (key, rev) was last remembered with, and how recently
          const last = new Map<string, number>();
          sets.forEach(([k, rev], n) => last.set(`k${k}\u0000r${rev}`, n));
          const distinctRecent = new Set<string>();
          for (let n = sets.length - 1; n >= 0 && distinctRecent.size < size; n--) {
            const [k, rev] = sets[n]!;
            distinctRecent.add(`k${k}\u0000r${rev}`);
          }
          // by recency of their last set: what is held is the most recent ones
          const byRecency = [...last].sort((x, y) => y[1] - x[1]);
          let held = 0;
          let forgotten = false;
          for (const [id, n] of byRecency) {
            const [k, rev] = id.split('\u0000') as [string, string];
            const got = r.get(k, rev);
            if (got === undefined) forgotten = true;
            else {
              held += 1;
              // a remembered rev comes back with the item it was last remembered with
              expect(got).toEqual(item(n));
              // nothing more recent than it was forgotten
              expect(forgotten).toBe(false);
            }
            // the `size` most recent are never forgotten
            if (distinctRecent.has(id)) expect(got).toEqual(item(n));
          }
          expect(held).toBeLessThanOrEqual(2 * size);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('forgets nothing of a key when another key is remembered, and everything on clear', () => {
    const r = new RememberedItems(3);
    r.set('a', '1', item(1));
    r.set('b', '1', item(2));
    expect(r.get('a', '1')).toEqual(item(1));
    expect(r.get('a', '2')).toBeUndefined();
    r.clear();
    expect(r.get('a', '1')).toBeUndefined();
    expect(r.get('b', '1')).toBeUndefined();
  });
});
