/**
 * What a batch's documents look up (migration/lookups.ts), read in ONE getMany per batch and
 * looked-up collection — never one read per document. Each document's context holds, per
 * lookup, the document as of this read (or null). A key several documents share is read once.
 *
 * Rule: a looked-up document that changes after this read is not seen by the batch; the value
 * up() used is the one of the batch's read (docs/guides/cross-collection.md).
 */
import type { Doc } from '../core/values.js';
import { lookupKey, NO_LOOKUPS, type TransformContext } from '../migration/lookups.js';
import type { Migration } from '../migration/migration.js';
import type { Store } from '../store/contract.js';

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
