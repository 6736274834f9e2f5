/**
 * A cheap sample spread over the keyspace: `split(parts)` and the first few documents of each
 * part. Not uniform (the first documents of each part, not any), but bounded: `parts` small reads
 * whatever the collection's size, which is what a backfill can afford before it starts. Uniform
 * sampling (engine/sample.ts) reads the whole collection; `schema infer` and `check` use that.
 */
import type { Doc } from '../core/values.js';
import type { Collection } from '../store/contract.js';

export const DEFAULT_SPREAD_PARTS = 8;

export async function sampleSpread(
  c: Collection,
  size: number,
  parts: number = DEFAULT_SPREAD_PARTS,
  retry: <T>(what: string, fn: () => Promise<T>) => Promise<T> = (_what, fn) => fn(),
): Promise<Doc[]> {
  const ranges = await retry('split', () => c.split(parts));
  const each = Math.max(1, Math.ceil(size / ranges.length));
  const pages: { items: { doc: Doc }[] }[] = [];
  for (const range of ranges) pages.push(await retry('scan', () => c.scan({ range, limit: each })));
  return pages.flatMap((p) => p.items.map((i) => i.doc)).slice(0, size);
}
