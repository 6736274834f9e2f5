/**
 * A merge's secondary sources at runtime (migration/merge-sources.ts): after the application
 * writes `profiles/k` through `yard.collection('profiles')`, the target document of key k of
 * every merge that joins `profiles` is derived again, with the profile as it is now.
 *
 * Rules:
 * - Only in the stages that write both sides (dual-write, shadow, live, rampdown): in `off` the
 *   target is not written by the runtime (catch-up follows the secondary's change feed there),
 *   and from `complete` on the merge is over (the target is the truth, nothing feeds it).
 * - Derived from the side that is authoritative for k (dual-write.ts `authority`): where the old
 *   side is (dual-write, shadow, live keys outside the percent), `up(users/k, profile now)`; where
 *   the target is (live keys in the percent, rampdown), `up(down(accounts/k), profile now)`, so a
 *   write the application made to the target is kept. No primary document: no target document.
 * - As a split's other targets (split-targets.ts `deriveTarget`): the target is read FIRST, then
 *   the truth, and written conditional on the target's rev, up to RECONCILE_ROUNDS times; in this
 *   process the key waits for the route's other writes of k (the route's key queue).
 * - What cannot be proven, a store error or up() refusing the document, queues k for repair on
 *   the new side (repair-queue.ts: its drain derives it again from the old side, with the lookups
 *   of then); it never fails the application's write, which has been made.
 */
import { STAGE_RULES, Stage } from '../engine/stages.js';
import type { Key } from '../store/contract.js';
import {
  authority,
  RECONCILE_ROUNDS,
  type DualWriteErrorSink,
  type WriteRoute,
} from './dual-write.js';
import { upNow } from './lookup-context.js';
import { deriveTarget, fromFirstTarget, fromSource } from './split-targets.js';

/** Derive the target document of `key` again after a write of a secondary source (header). */
export function followSecondary(
  r: WriteRoute,
  key: Key,
  onError: DualWriteErrorSink,
): Promise<void> {
  const writes = STAGE_RULES[r.state.stage].writes;
  if (r.state.stage === Stage.complete || !writes.includes('new') || !writes.includes('old'))
    return Promise.resolve();
  return r.order.run(key, async () => {
    const m = r.migration;
    const read = authority(r, key) === 'old' ? fromSource(r.old) : fromFirstTarget(m, r.new);
    try {
      await deriveTarget(
        read,
        r.new,
        (truth) => upNow(r.lookups, m, truth),
        m.target!.collection,
        key,
        RECONCILE_ROUNDS,
      );
    } catch (err) {
      await r.repairs.queueFailed(key, err, onError);
    }
  });
}
