/**
 * Conformance checks for `changes()`, run only where a collection declares
 * `capabilities.changeFeed` (elsewhere they pass without doing anything, as the title says).
 * What catch-up relies on: `changes(null)` starts from now; every put and delete, including a
 * foreign write, is reported with its key, in commit order; a delete (or a document gone by the
 * time it is read) has `doc: null`; reading on from the returned position neither repeats nor
 * skips a change.
 */
import { expect } from 'vitest';
import type { Change, Collection } from '../../src/store/contract.js';
import type { Check } from './store-checks.js';

async function drain(c: Collection, position: string, limit: number) {
  const changes: Change[] = [];
  let at = position;
  // a feed may answer with fewer than `limit` while more are on their way (MongoDB's await time)
  for (let empty = 0; empty < 3;) {
    const r = await c.changes!(at, limit);
    changes.push(...r.changes);
    at = r.position;
    empty = r.changes.length === 0 ? empty + 1 : 0;
  }
  return { changes, position: at };
}

export const CHANGE_FEED_CHECKS: Check[] = [
  {
    name: 'change feed (when capabilities.changeFeed): from now, every writer, in order, resumable',
    async run(h) {
      const store = await h.open();
      try {
        const c = store.collection('feed');
        if (!c.capabilities.changeFeed) return;
        expect(typeof c.changes).toBe('function');
        await c.write([{ type: 'put', key: 'before', doc: { v: 0 } }]);
        const start = await c.changes!(null, 10);
        expect(start.changes).toEqual([]);

        await c.write([{ type: 'put', key: 'a', doc: { v: 1 } }]);
        await c.write([{ type: 'put', key: 'b', doc: { v: 1 } }]);
        await h.foreignWrite(store, 'feed', 'c', { v: 'foreign' });
        await c.write([{ type: 'delete', key: 'a' }]);
        const first = await drain(c, start.position, 2);
        expect(first.changes.map((x) => x.key)).toEqual(['a', 'b', 'c', 'a']);
        expect(first.changes.at(-1)!.doc).toBeNull();
        expect(first.changes[1]!.doc).toEqual((await c.get('b'))!.doc);
        expect(first.changes[2]!.doc).toEqual((await c.get('c'))!.doc);

        // on from the returned position: only what is new
        await c.write([{ type: 'put', key: 'b', doc: { v: 2 } }]);
        const next = await drain(c, first.position, 10);
        expect(next.changes.map((x) => [x.key, x.doc])).toEqual([['b', { v: 2 }]]);
      } finally {
        await store.close();
      }
    },
  },
];
