/**
 * A uniform random sample of a collection, streamed (reservoir sampling, algorithm R): one pass
 * of bounded pages, memory for `size` documents only. Seeded, so a plan can be repeated.
 */
import type { Collection, StoredDoc } from '../store/contract.js';

export interface SampleOptions {
  size: number;
  seed?: number;
  pageSize?: number;
  signal?: AbortSignal;
}

/** mulberry32: a small, fast, seedable PRNG */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function sampleCollection(
  c: Collection,
  options: SampleOptions,
): Promise<{ sample: StoredDoc[]; seen: number }> {
  const random = seededRandom(options.seed ?? Date.now());
  const reservoir: StoredDoc[] = [];
  let seen = 0;
  let cursor: string | null = null;
  do {
    options.signal?.throwIfAborted();
    const page = await c.scan({ cursor, limit: options.pageSize ?? 1000 });
    for (const item of page.items) {
      seen += 1;
      if (reservoir.length < options.size) reservoir.push(item);
      else {
        const j = Math.floor(random() * seen);
        if (j < options.size) reservoir[j] = item;
      }
    }
    cursor = page.cursor;
  } while (cursor !== null);
  return { sample: reservoir, seen };
}
