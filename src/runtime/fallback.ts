/**
 * Fallback in live: a key the new side answers (in the live percent, at any percent) that the
 * new side does not have, or whose read there failed, is answered by the old side and counted
 * (RuntimeCounters.fallback), instead of null or an error.
 *
 * Rules:
 * - the new side has the document: it answers, as is (no fallback);
 * - the new side has none: the old side is read. None there either: null, and nothing is
 *   counted (an absent key is not a fallback). A document there is answered as the old side
 *   stores it (the old version; `readAs` casts it) and counted as `missing` ...
 * - ... unless the repair queue (repair-queue.ts) holds an entry for the key saying the OLD side
 *   missed a write. Then the new side's absence is a delete the old side has not caught up with,
 *   and the answer is null: a delete written to both sides never comes back from the old side.
 *   Why the queue is enough: in live, a delete of a key the new side answers is announced in
 *   the queue (side old) before it goes to the new side, and withdrawn only once the old side is
 *   deleted too (dual-write.ts). So a delete under way or returned is on both sides or in the
 *   queue, even when the process died between the two deletes;
 * - the new side's read failed: the old side answers every key of the call (absent ones as
 *   null), counted as `failed`, unless the queue says the old side missed a write for one of
 *   them: the old side cannot answer for that key, and the call fails with the new side's error;
 * - the old side's read or the queue's read fails: no fallback (null for a missing document,
 *   the new side's error for a failed read);
 * - query() in live follows the same rules for the keys the new side answers (see
 *   `queryFallback`): a key the old side matches that the new side does not have is answered
 *   by the old side; when the new side's query fails, the old side answers all of them unless
 *   the queue holds any entry for the old side (a scan of the queue);
 * - not covered: a document deleted from the new side behind Switchyard's back (not through the
 *   runtime) is served from the old side, which cannot be told from one never copied.
 */
import type { Doc } from '../core/values.js';
import type { Key, StoredDoc } from '../store/contract.js';
import { FallbackReason } from './counters.js';
import type { Route } from './yard-collection.js';

/**
 * The answers for `keys`, which the new side answered with `fromNew` (or failed with an error):
 * its documents, with the old side's where it had none or failed (header rules).
 */
export async function readWithFallback(
  r: Route,
  keys: readonly Key[],
  fromNew: readonly (StoredDoc | null)[] | Error,
): Promise<(Doc | null)[]> {
  const failed = fromNew instanceof Error;
  const out = keys.map((_, i) => (failed ? null : (fromNew[i]?.doc ?? null)));
  const asked = keys.flatMap((k, i) => (failed || fromNew[i] === null ? [i] : []));
  if (asked.length === 0) return out;
  const giveUp = () => {
    if (failed) throw fromNew;
    return out;
  };
  let olds: (StoredDoc | null)[];
  let behind: Set<Key>;
  try {
    olds = await r.counters.time('old', 'read', () => r.old.getMany(asked.map((i) => keys[i]!)));
    const found = asked.filter((_, j) => failed || olds[j] !== null);
    behind = await r.repairs.behind(
      'old',
      found.map((i) => keys[i]!),
    );
  } catch {
    return giveUp();
  }
  if (failed && behind.size > 0) throw fromNew;
  let served = 0;
  asked.forEach((i, j) => {
    const old = olds[j] ?? null;
    if (old === null || behind.has(keys[i]!)) return;
    out[i] = old.doc;
    served++;
  });
  r.counters.fallback(
    failed ? FallbackReason.failed : FallbackReason.missing,
    failed ? asked.length : served,
  );
  return out;
}

/**
 * query() in live: the old side's matches `oldFound` for keys the new side answers, which the
 * new side's matches `newFound` (or its error) do not cover, by the header's rules. Returns the
 * documents to add to the new side's answer.
 */
export async function queryFallback(
  r: Route,
  oldFound: readonly StoredDoc[],
  newFound: readonly StoredDoc[] | Error,
): Promise<StoredDoc[]> {
  if (oldFound.length === 0) return [];
  if (newFound instanceof Error) {
    let behind: boolean;
    try {
      behind = await r.repairs.anyBehind('old');
    } catch {
      throw newFound;
    }
    if (behind) throw newFound;
    r.counters.fallback(FallbackReason.failed, oldFound.length);
    return [...oldFound];
  }
  const matched = new Set(newFound.map((s) => s.key));
  const unseen = oldFound.filter((s) => !matched.has(s.key));
  if (unseen.length === 0) return [];
  try {
    const onNew = await r.counters.time('new', 'read', () =>
      r.new.getMany(unseen.map((s) => s.key)),
    );
    const missing = unseen.filter((_, j) => onNew[j] === null);
    const behind = await r.repairs.behind(
      'old',
      missing.map((s) => s.key),
    );
    const served = missing.filter((s) => !behind.has(s.key));
    r.counters.fallback(FallbackReason.missing, served.length);
    return served;
  } catch {
    return [];
  }
}
