/**
 * An export whose scan cursor is refused halfway (a Redis server restarted, or injected by
 * FaultyStore) walks the collection again and writes every document exactly once, in key order:
 * a property over generated collections and fault seeds, for stores that scan in key order and
 * for those that do not, and a real kill -9 and restart of redis-server between two pages.
 */
import fc from 'fast-check';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareKeys } from '../../src/core/values.js';
import { exportDocuments, MAX_EXPORT_RESTARTS } from '../../src/io/export-documents.js';
import type { Collection, ScanOptions } from '../../src/store/contract.js';
import { FaultyStore } from '../../src/store/faulty-store.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { openStore } from '../../src/store/open-store.js';
import { isCursorInvalidated } from '../../src/store/store-errors.js';
import { seedUsers } from '../engine/backfill-fixtures.js';
import { wrapCollection } from '../support/wrap-collection.js';
import {
  NO_REDIS_REASON,
  startRedisServer,
  type RestartableRedisServer,
  redisOrFailInCi,
} from '../support/redis-server.js';

class Lines extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
  keys(): string[] {
    return this.text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { _id: string })._id);
  }
}

/** a collection that scans like Redis: in no particular order (here: reversed pages) */
function unordered(inner: Collection): Collection {
  return wrapCollection(inner, {
    capabilities: { ...inner.capabilities, orderedScan: false },
    scan: async (o: ScanOptions) => {
      const page = await inner.scan(o);
      return { ...page, items: [...page.items].reverse() };
    },
  });
}

describe('export across refused cursors', () => {
  it('writes every document once, in key order, whatever page the cursor is refused at (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 7 }),
        fc.boolean(),
        async (keys, seed, pageSize, ordered) => {
          const memory = new MemoryStore();
          await memory
            .collection('c')
            .write(keys.map((key) => ({ type: 'put' as const, key, doc: { _id: key } })));
          const faulty = new FaultyStore(memory, { invalidCursorRate: 0.15, seed });
          const c = ordered ? faulty.collection('c') : unordered(faulty.collection('c'));
          const out = new Lines();
          const restarts: string[] = [];
          const result = await exportDocuments(c, out, {
            pageSize,
            onRestart: (why) => restarts.push(why),
          }).catch((e: unknown) => e);
          if (typeof result !== 'number') {
            // honest failure: only after more restarts than allowed, with the store's error
            expect(isCursorInvalidated(result)).toBe(true);
            expect(restarts).toHaveLength(MAX_EXPORT_RESTARTS);
            return;
          }
          expect(result).toBe(keys.length);
          expect(out.keys()).toEqual([...keys].sort(compareKeys));
          expect(restarts).toHaveLength(faulty.stats.invalidatedCursors);
        },
      ),
      { numRuns: 150 },
    );
  });
});

const hasRedis = redisOrFailInCi();

describe.skipIf(!hasRedis)(
  `export across a redis-server restart${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    let server: RestartableRedisServer;
    beforeAll(async () => {
      server = await startRedisServer({ appendonly: true });
    });
    afterAll(async () => server?.stop());

    it('kill -9 between two pages: the export walks again and loses nothing', async () => {
      const store = await openStore(`redis://127.0.0.1:${server.port}/0?prefix=x:`);
      const N = 20_000;
      await seedUsers(store, N, 'docs');
      const c = store.collection('docs');
      const before = new Lines();
      expect(await exportDocuments(c, before)).toBe(N);

      let scans = 0;
      const restarts: string[] = [];
      const after = new Lines();
      const n = await exportDocuments(c, after, {
        onRestart: (why) => restarts.push(why),
        call: async (what, fn) => {
          if (what === 'scan' && ++scans === 4) await server.restart();
          return fn();
        },
      });
      expect(restarts).toHaveLength(1);
      expect(restarts[0]).toMatch(/the server restarted or failed over/);
      expect(n).toBe(N);
      expect(after.text).toBe(before.text);
      await store.close();
    });
  },
);
