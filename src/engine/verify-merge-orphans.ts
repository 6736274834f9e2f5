/**
 * A merge's secondary documents without a primary (migration/merge-sources.ts): `profiles/k`
 * with no `users/k` yields no target document, by design. Verify says how many there are, over
 * the whole of each secondary collection, as `orphans` (not drift: they do not make the report
 * not ok), with capped samples named `<collection>/<key>`.
 *
 * How: each secondary collection is scanned in pages of `batchSize`; per page, one getMany of
 * the same keys in the source. Exact as of each page's read; a full verify only (a sample verify
 * does not scan them).
 */
import type { Migration } from '../migration/migration.js';
import type { Store } from '../store/contract.js';

export interface MergeOrphans {
  /** secondary documents without a primary document of the same key */
  orphans: number;
  /** `<collection>/<key>`, capped */
  samples: string[];
}

export async function countMergeOrphans(
  store: Store,
  m: Migration,
  o: { batchSize: number; maxSamples: number; signal?: AbortSignal | undefined },
): Promise<MergeOrphans> {
  const out: MergeOrphans = { orphans: 0, samples: [] };
  const primary = store.collection(m.collection);
  for (const s of m.merge) {
    const secondary = store.collection(s.collection);
    let cursor: string | null = null;
    do {
      const page = await secondary.scan({ cursor, limit: o.batchSize });
      const keys = page.items.map((i) => i.key);
      const found = keys.length > 0 ? await primary.getMany(keys) : [];
      keys.forEach((k, i) => {
        if (found[i] != null) return;
        out.orphans += 1;
        if (out.samples.length < o.maxSamples) out.samples.push(`${s.collection}/${k}`);
      });
      cursor = page.cursor;
    } while (cursor !== null && o.signal?.aborted !== true);
  }
  return out;
}

/** The orphans joined to a side-by-side report (idempotent). */
export function withOrphans<R extends { orphans?: number; samples: { orphans?: string[] } }>(
  report: R,
  found: MergeOrphans,
): R {
  report.orphans = found.orphans;
  report.samples.orphans = found.samples;
  return report;
}
