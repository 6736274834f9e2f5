/**
 * What a batch's documents look up (migration/lookups.ts), read in ONE getMany per batch and
 * looked-up collection — never one read per document. Each document's context holds, per
 * lookup, the document as of this read (or null). A key several documents share is read once.
 *
 * Rule: a looked-up document that changes after this read is not seen by the batch; the value
 * up() used is the one of the batch's read (docs/guides/across-collections.md). The in-place
 * backfill keeps, in each journal entry, the content hash of every looked-up document it used
 * (`lookupHashes`), so verify can tell a document whose lookup changed since from drift.
 */
import { contentHash, type Doc } from '../core/values.js';
import { lookupKey, NO_LOOKUPS, type TransformContext } from '../migration/lookups.js';
import type { Migration } from '../migration/migration.js';
import { beforeImage, type JournalEntry } from '../state/journal.js';
import type { Store, StoredDoc } from '../store/contract.js';

/** the store call wrapper of the runner (BatchIo.retrying), or a plain call */
export type Retrying = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

const direct: Retrying = (_what, fn) => fn();

/** The transform context of each document, in order. */
export async function readLookups(
  store: Store,
  m: Migration,
  docs: readonly Doc[],
  retrying: Retrying = direct,
): Promise<TransformContext[]> {
  if (!m.hasLookups) return docs.map(() => NO_LOOKUPS);
  const contexts: Record<string, Doc | null>[] = docs.map(() => ({}));
  for (const [name, spec] of Object.entries(m.lookups)) {
    const keys = docs.map((d) => lookupKey(d, spec));
    const unique = [...new Set(keys.filter((k): k is string => k !== null))];
    const found = new Map<string, Doc>();
    if (unique.length > 0) {
      const c = store.collection(spec.collection);
      const got = await retrying(`getMany ${spec.collection}`, () => c.getMany(unique));
      got.forEach((s, i) => {
        if (s !== null) found.set(unique[i]!, s.doc);
      });
    }
    keys.forEach((k, i) => {
      contexts[i]![name] = k === null ? null : (found.get(k) ?? null);
    });
  }
  return contexts.map((lookups) => ({ lookups }));
}

/**
 * Per lookup, the content hash of the looked-up document in `ctx`, or null when there was none:
 * what the journal keeps of the lookups a document was computed from.
 */
export function lookupHashes(ctx: TransformContext): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [name, doc] of Object.entries(ctx.lookups))
    out[name] = doc === null ? null : contentHash(doc);
  return out;
}

/** The names of the lookups whose document differs now (`now`) from the one recorded (`then`). */
export function changedLookups(
  then: Readonly<Record<string, string | null>>,
  now: TransformContext,
): string[] {
  const current = lookupHashes(now);
  return Object.keys(current).filter((name) => name in then && then[name] !== current[name]);
}

/**
 * What verify recomputes up() with: per stored document, its lookups as read now, by the key
 * field of its before-image where the journal has one (what the backfill looked up by), else of
 * the document itself. One getMany per looked-up collection, like the backfill; undefined when
 * the migration has no lookups.
 */
export async function verifyContexts(
  store: Store,
  m: Migration,
  entries: readonly (JournalEntry | null)[],
  items: readonly StoredDoc[],
  retrying: Retrying = direct,
): Promise<TransformContext[] | undefined> {
  if (!m.hasLookups || items.length === 0) return undefined;
  const sources = items.map((s, i) => {
    const e = entries[i] ?? null;
    if (e === null) return s.doc;
    try {
      return beforeImage(e);
    } catch {
      return s.doc; // an unreadable before-image: reported by the checks, looked up by the document
    }
  });
  return readLookups(store, m, sources, retrying);
}
