/**
 * Fencing: a worker whose lease was taken over (its process stalled, or its link to the store was
 * cut, past the lease TTL, and another worker took the partition with a higher token) must not
 * land a write for that partition afterwards. Jobs write through `BatchIo.write`, which comes
 * here.
 *
 * Rules:
 * - Where the store written is the one that holds the leases and it can commit several
 *   collections at once (`Store.writeAtomic`: SQLite, Redis), the write carries the lease as a
 *   guard: the partition document must still be at the rev this worker last wrote, checked in
 *   the same transaction / script. A worker that lost its lease lands nothing, however late its
 *   write arrives (a request stuck in a cut link and delivered after the take-over included);
 *   the batch is abandoned with LeaseLostError.
 * - Elsewhere (DynamoDB, MongoDB, or data in a store apart from the state store) the lease is
 *   renewed before the write when it is older than a third of its TTL (a conditional write on
 *   the partition document); a refused renewal abandons the batch (LeaseLostError). A write
 *   already sent when the lease is lost can still land: data writes are conditional on the revs
 *   read, so such a write never overwrites anything newer, and the worker stops at its next
 *   checkpoint.
 * - A rev is stronger than the token: it changes on any write of the partition document, so an
 *   unchanged rev means nobody took the lease over, even when it has expired meanwhile.
 * - A refused guard is not yet a lost lease: the partition is read again, and when it still names
 *   this worker with the same token (a write of its own moved the rev: applied, acknowledgement
 *   lost, as when the server was killed between the two; state/lease.ts), the write goes again
 *   under the rev found, once.
 */
import { LeaseLostError } from '../../state/lease.js';
import type { Store, WriteGuard, WriteOp, WriteResult } from '../../store/contract.js';
import { WriteGuardError } from '../../store/store-errors.js';
import type { BatchIo } from './job.js';

export type WriteBatches = readonly { collection: string; ops: readonly WriteOp[] }[];

/** A worker's hold on a partition, as the writes of one batch see it. */
export interface LeaseHold {
  /** the store that holds the lease */
  readonly store: Store;
  /** the lease as a write precondition */
  readonly guard: WriteGuard;
  /** renew the lease if it is older than a third of its TTL; LeaseLostError when refused */
  renewIfStale(): Promise<void>;
  /** the lease read again after a refused guard: the guard to write under if still held, else null */
  reclaim?(): Promise<WriteGuard | null>;
}

/**
 * Write `batches` to collections of `store` (results per batch, per op), fenced by `hold` as the
 * rules say; without a hold (work that holds no lease), plainly. Several batches go in one
 * atomic write where the store has one, else one after the other, in order.
 */
export async function writeUnderLease(
  store: Store,
  batches: WriteBatches,
  hold: LeaseHold | undefined,
  retrying: BatchIo['retrying'],
): Promise<WriteResult[][]> {
  const atomic = store.writeAtomic?.bind(store);
  if (hold !== undefined && hold.store === store && atomic !== undefined) {
    let guard = hold.guard;
    for (let reclaimed = false; ; reclaimed = true) {
      try {
        return await retrying('write', () => atomic(batches, guard));
      } catch (err) {
        if (!(err instanceof WriteGuardError)) throw err;
        const again = reclaimed ? null : await hold.reclaim?.();
        if (again != null) {
          guard = again;
          continue;
        }
        throw new LeaseLostError(
          `lost the lease of partition ${err.guard.key} (taken over by another worker): this batch was not written`,
          { cause: err },
        );
      }
    }
  }
  await hold?.renewIfStale();
  if (batches.length > 1 && atomic !== undefined) return retrying('write', () => atomic(batches));
  const out: WriteResult[][] = [];
  for (const b of batches)
    out.push(await retrying('write', () => store.collection(b.collection).write(b.ops)));
  return out;
}
