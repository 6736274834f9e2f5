/**
 * Documents a scan could not read (ScanPage.unreadable: not JSON, a JSON array) carried through a
 * job's batch: the runner hands a batch only `items`, so the job's `scan` puts them there, marked,
 * and its `batch` takes them out again (`splitUnreadable`) to report each by key (the backfill: a
 * dead letter; verify: a failure of the report). The marks never leave the job: nothing is
 * written or transformed for a marked item.
 */
import type { Collection, ScanPage, StoredDoc, UnreadableDoc } from '../../store/contract.js';
import { UnreadableDocumentError } from '../../store/store-errors.js';
import type { BatchIo } from '../runner/job.js';

const UNREADABLE = Symbol('unreadable');
type Marked = StoredDoc & { [UNREADABLE]?: string };

/** The page with its unreadable documents appended to `items`, marked. */
export function withUnreadable(page: ScanPage): ScanPage {
  if (page.unreadable === undefined || page.unreadable.length === 0) return page;
  const marked = page.unreadable.map((u): Marked => ({
    key: u.key,
    doc: {},
    rev: '',
    [UNREADABLE]: u.reason,
  }));
  return { items: [...page.items, ...marked], cursor: page.cursor };
}

/** A batch's items: the documents read, and the ones marked unreadable. */
export function splitUnreadable(items: readonly StoredDoc[]): {
  readable: readonly StoredDoc[];
  unreadable: UnreadableDoc[];
} {
  const unreadable: UnreadableDoc[] = [];
  for (const i of items as readonly Marked[])
    if (i[UNREADABLE] !== undefined) unreadable.push({ key: i.key, reason: i[UNREADABLE] });
  if (unreadable.length === 0) return { readable: items, unreadable };
  return { readable: items.filter((i) => (i as Marked)[UNREADABLE] === undefined), unreadable };
}

/**
 * getMany; when the store cannot read one of them, one by one: each unreadable key is told to
 * `unreadable` and is `undefined` in the answer (null: absent).
 */
export function readEach(
  c: Collection,
  keys: readonly string[],
  io: Pick<BatchIo, 'retrying'>,
  unreadable: (key: string, reason: string) => void,
): Promise<(StoredDoc | null | undefined)[]> {
  return readEachWith((ks) => c.getMany(ks), keys, io.retrying, unreadable);
}

/** readEach through any `getMany` (a mapped target, a source with unmapped keys). */
export async function readEachWith(
  getMany: (keys: readonly string[]) => Promise<(StoredDoc | null)[]>,
  keys: readonly string[],
  retrying: BatchIo['retrying'],
  unreadable: (key: string, reason: string) => void,
): Promise<(StoredDoc | null | undefined)[]> {
  try {
    return await retrying('getMany', () => getMany(keys));
  } catch (err) {
    if (!(err instanceof UnreadableDocumentError)) throw err;
  }
  const out: (StoredDoc | null | undefined)[] = [];
  for (const key of keys) {
    try {
      out.push((await retrying('get', () => getMany([key])))[0] ?? null);
    } catch (err) {
      if (!(err instanceof UnreadableDocumentError)) throw err;
      unreadable(key, err.reason);
      out.push(undefined);
    }
  }
  return out;
}
