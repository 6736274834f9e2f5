/**
 * Lookups at runtime (issue 16 item 1): a migration that declares `lookups` gets, in every up()
 * the runtime runs, the looked-up documents as read at that moment from the data store (the
 * project's store: where the backfill reads them too), through engine/lookups.ts — one getMany
 * per call and looked-up collection (a dual write of one document: one read per lookup; a
 * shadow comparison of a batch: one read per lookup for the whole batch).
 *
 * What this guarantees is what the backfill guarantees: up() sees the looked-up document as of
 * its read; a looked-up document that changes afterwards does not rewrite what was computed
 * (docs/guides/across-collections.md). Casting with readAs through a step that has lookups is
 * refused (version-chain.ts): a read is not the place for more reads.
 */
import type { Doc } from '../core/values.js';
import { readLookups } from '../engine/lookups.js';
import { NO_LOOKUPS, type TransformContext } from '../migration/lookups.js';
import type { Migration } from '../migration/migration.js';
import type { Store } from '../store/contract.js';

/** Per document, its lookups as read now; NO_LOOKUPS each when the migration has none. */
export async function contextsNow(
  store: Store | undefined,
  m: Migration,
  docs: readonly Doc[],
): Promise<readonly TransformContext[]> {
  if (!m.hasLookups || docs.length === 0) return docs.map(() => NO_LOOKUPS);
  if (store === undefined)
    throw new Error(
      `${m.id} reads other collections (lookups) but the runtime was given no store to read them from`,
    );
  return readLookups(store, m, docs);
}

/** up(doc) with its lookups as read now. */
export async function upNow(store: Store | undefined, m: Migration, doc: Doc): Promise<Doc> {
  if (!m.hasLookups) return m.up(doc);
  const [ctx] = await contextsNow(store, m, [doc]);
  return m.up(doc, ctx);
}
