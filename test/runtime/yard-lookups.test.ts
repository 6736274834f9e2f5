/**
 * Lookups at runtime (issue 16 item 1), on SQLite files: a side-by-side migration whose up()
 * copies `version` from the `docOps` document named by `doc_id`. The runtime's up() gets the
 * looked-up documents as read at that moment — dual writes (one getMany per put and looked-up
 * collection), shadow comparisons (one per batch), the repair queue's drain — and readAs through
 * the lookups step is refused with words naming it. Before: the runtime called up() without
 * them, so every dual write stored `version: null` and every shadow read was a mismatch.
 */
import { describe, expect, it } from 'vitest';
import { Stage } from '../../src/engine/stages.js';
import { drainRepairs } from '../../src/runtime/repair-queue.js';
import { FaultyStore } from '../../src/store/faulty-store.js';
import {
  countReads,
  docKey,
  docOf,
  expectedVersion,
  lookupMigration,
  seedDocsAndOps,
} from '../engine/lookups-fixtures.js';
import { closeAfterEach, docsOf, fixture, moveTo, newStore, yardFor } from './yard-fixtures.js';

const open = closeAfterEach();
const N = 20;
const migrated = (i: number) => ({ ...docOf(i), version: expectedVersion(i), _sv: 2 });

describe('lookups in the runtime (SQLite)', () => {
  it('dual-write puts and shadow reads compute up() with the looked-up documents; readAs is refused', async () => {
    const store = newStore('sqlite');
    await seedDocsAndOps(store, N);
    const f = fixture(store, lookupMigration({ target: { collection: 'docs_v2' } }));
    await moveTo(f, Stage.dualWrite);
    const yard = await yardFor(f);
    open.push({ yard, store });
    const docs = yard.collection('docs');
    const reads = countReads(store, 'docOps');
    for (let i = 0; i < N; i++) await docs.put(docOf(i));
    // one getMany of docOps per put, of one key
    expect(reads).toMatchObject({ getMany: N, keys: N, get: 0 });
    expect(await docsOf(store, 'docs_v2')).toEqual(
      Array.from({ length: N }, (_, i) => migrated(i)),
    );
    expect((await docsOf(store, 'docs_v2')).filter((d) => d.version !== null).length).toBe(
      Array.from({ length: N }, (_, i) => expectedVersion(i)).filter((v) => v !== null).length,
    );

    await moveTo(f, Stage.shadow);
    await yard.refresh();
    const keys = Array.from({ length: N }, (_, i) => docKey(i));
    const before = reads.getMany;
    expect(await docs.getMany(keys)).toEqual(keys.map((_, i) => docOf(i)));
    await yard.idle();
    expect(yard.stats()[f.migration.id]).toMatchObject({ total: N, matched: N, mismatched: 0 });
    expect(reads.getMany - before).toBe(1); // one getMany for the batch's comparisons

    await expect(docs.get(docKey(2), { readAs: 2 })).rejects.toThrow(
      /m-lookup reads other collections \(lookups\)/,
    );
  });

  it('the repair queue drains with the looked-up documents', async () => {
    const inner = newStore('sqlite');
    await seedDocsAndOps(inner, N);
    const faulty = new FaultyStore(inner, { failRate: 1, affects: (n) => n === 'docs_v2' });
    const f = fixture(faulty, lookupMigration({ target: { collection: 'docs_v2' } }), inner);
    await moveTo(f, Stage.dualWrite);
    const yard = await yardFor(f);
    open.push({ yard, store: inner });
    for (const i of [2, 3]) await yard.collection('docs').put(docOf(i));
    expect(await docsOf(inner, 'docs_v2')).toEqual([]); // the shadow writes were queued
    faulty.enabled = false;
    expect(await drainRepairs(f, f.migration)).toMatchObject({ repaired: 2, failed: 0 });
    expect(await docsOf(inner, 'docs_v2')).toEqual([migrated(2), migrated(3)]);
    expect(migrated(2).version).toBe(10);
  });
});
