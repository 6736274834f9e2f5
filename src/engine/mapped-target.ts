/**
 * The target collection of a side-by-side migration as every engine job and the runtime see it:
 * addressed by SOURCE keys. With a key mapping (`target.key`, migration/key-mapping.ts) this
 * wrapper carries each key across — reads and writes of source key `k` go to target key `up(k)`,
 * and what the target returns (scans, results) is named by `down(tk)` — so the copy, verify,
 * catch-up, repair drain, dual writes and shadow reads pair `k` with `up(k)` without knowing of
 * the mapping. Without one, the collection itself is used.
 *
 * Rules:
 * - A source key the mapping refuses (KeyMappingError) fails the call that names it; jobs check
 *   keys first (`keyProblem`) so one bad key becomes one dead letter, not a failed batch.
 * - A target key no source key maps to (`toSource` undefined: written behind Switchyard's back)
 *   is returned by scans under `unmappedKey(tk)` when `keepUnmapped` (verify and the extras sweep
 *   must see it); reads and writes of such a key go to `tk` itself. The source has no document
 *   under it (`sourceGetMany`). The runtime leaves them out: no application key reaches them.
 * - split, count and capacity are the target's own; the change feed is not offered.
 */
import type { Migration } from '../migration/migration.js';
import type { KeyMapping } from '../migration/key-mapping.js';
import type {
  Collection,
  Key,
  ScanOptions,
  ScanPage,
  Store,
  StoredDoc,
  WriteOp,
  WriteResult,
} from '../store/contract.js';

const UNMAPPED = '\u0000unmapped\u0000';

/** The name a target key without a source key is scanned under (see the header). */
export function unmappedKey(targetKey: Key): Key {
  return `${UNMAPPED}${targetKey}`;
}

/** The target key of a key `unmappedKey` made, or undefined for any other key. */
export function unmappedTargetKey(key: Key): Key | undefined {
  return key.startsWith(UNMAPPED) ? key.slice(UNMAPPED.length) : undefined;
}

/** `source.getMany(keys)`, with null for target keys no source key maps to. */
export async function sourceGetMany(
  source: Collection,
  keys: readonly Key[],
): Promise<(StoredDoc | null)[]> {
  if (!keys.some((k) => unmappedTargetKey(k) !== undefined)) return source.getMany(keys);
  const real = keys.filter((k) => unmappedTargetKey(k) === undefined);
  const got = await source.getMany(real);
  let i = 0;
  return keys.map((k) => (unmappedTargetKey(k) === undefined ? (got[i++] ?? null) : null));
}

/** How a key shows in reports: `USER#1 -> U#1` with a mapping, the key itself without. */
export function keyLabel(m: Migration, key: Key): string {
  const lone = unmappedTargetKey(key);
  if (lone !== undefined) return `${lone} (target key; no source key maps to it)`;
  if (m.keyMapping === undefined) return key;
  try {
    return `${key} -> ${m.keyMapping.toTarget(key)}`;
  } catch {
    return key;
  }
}

/** The KeyMappingError of a source key, or undefined (always, without a mapping). */
export function keyProblem(m: Migration, key: Key): Error | undefined {
  if (unmappedTargetKey(key) !== undefined) return undefined; // read as the target key itself
  return m.keyMapping?.problem(key);
}

/** `store.collection(<target>)`, in source keys (the header). */
export function targetCollection(
  m: Migration,
  store: Store,
  options: { keepUnmapped?: boolean } = {},
): Collection {
  const c = store.collection(m.target!.collection);
  return m.keyMapping === undefined ? c : mapKeys(c, m.keyMapping, options.keepUnmapped ?? true);
}

/** `inner`, addressed by source keys through `mapping`. */
export function mapKeys(inner: Collection, mapping: KeyMapping, keepUnmapped: boolean): Collection {
  const toTarget = (k: Key): Key => unmappedTargetKey(k) ?? mapping.toTarget(k);
  const toSource = (tk: Key): Key | undefined => {
    const k = mapping.toSource(tk);
    if (k !== undefined) return k;
    return keepUnmapped ? unmappedKey(tk) : undefined;
  };
  const rekey = (s: StoredDoc | null, key: Key): StoredDoc | null =>
    s === null ? null : { ...s, key };
  const out: Collection = {
    name: inner.name,
    capabilities: { ...inner.capabilities, changeFeed: false },
    get: async (k) => rekey(await inner.get(toTarget(k)), k),
    getMany: async (ks) => {
      const got = await inner.getMany(ks.map(toTarget));
      return got.map((s, i) => rekey(s, ks[i]!));
    },
    scan: async (o: ScanOptions): Promise<ScanPage> => {
      const page = await inner.scan(o);
      const items: StoredDoc[] = [];
      for (const s of page.items) {
        const k = toSource(s.key);
        if (k !== undefined) items.push({ ...s, key: k });
      }
      const unreadable = page.unreadable?.flatMap((u) => {
        const k = toSource(u.key);
        return k === undefined ? [] : [{ ...u, key: k }];
      });
      return { items, cursor: page.cursor, ...(unreadable ? { unreadable } : {}) };
    },
    split: (n) => inner.split(n),
    write: async (ops: readonly WriteOp[]): Promise<WriteResult[]> => {
      const results = await inner.write(ops.map((op) => ({ ...op, key: toTarget(op.key) })));
      return results.map((r, i) => ({ ...r, key: ops[i]!.key }));
    },
    count: (r) => inner.count(r),
  };
  const extra: Partial<Collection> = {};
  if (inner.consumedCapacity) extra.consumedCapacity = () => inner.consumedCapacity!();
  if (inner.provisionedCapacity) extra.provisionedCapacity = () => inner.provisionedCapacity!();
  if (inner.estimatePass) extra.estimatePass = (s, n, o) => inner.estimatePass!(s, n, o);
  if (inner.requireExists) extra.requireExists = () => inner.requireExists!();
  return { ...out, ...extra };
}
