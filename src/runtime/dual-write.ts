/**
 * A write through the runtime while both sides are written: the authoritative side (the primary)
 * first, then the other side (the secondary), in an order every process agrees on.
 *
 * Why: two writes of one key, A then B on the primary, can reach a slow secondary as B then A and
 * leave it stale for good. So:
 *
 * Rules:
 * - within a process, the writes of one key run one at a time, in call order (key-queue.ts);
 * - across processes, the secondary write is conditional. Before the primary write, the writer
 *   knows a rev `t` the secondary had (the rev its own last write of the key there returned,
 *   cached per side and key, else read now). Then:
 *   1. it writes the primary (a failure, or up()/down() refusing the document, fails the call,
 *      with nothing written on the secondary);
 *   2. it writes the secondary conditional on `t` (a put `ifRev: t`, a delete `ifRev: t`). When
 *      that succeeds, no other writer wrote the secondary since `t`, so any writer whose primary
 *      write came later still has its own secondary write to make, conditional on a rev read
 *      after ours: the last primary write decides what the secondary ends with;
 *   3. a condition on absence proves less: an insert (`ifRev: null`) and a delete of an absent
 *      document can pass each other without any rev changing. So after an insert the writer
 *      reads the primary again (its rev must still be the one its own write returned), and a
 *      delete that found the secondary absent reads the secondary again (it must still be absent);
 *   4. when the conditional write conflicts or a check of step 3 fails, the writer reconciles,
 *      up to `RECONCILE_ROUNDS` times: it reads the secondary, then the primary, and writes the
 *      primary's current document (its up() or down()) to the secondary conditional on the rev it
 *      read (an insert is checked again as in step 3). Reading the secondary before the primary
 *      makes the same argument as step 2 hold for this write;
 *   5. when the order cannot be proven (rounds exhausted), or the secondary fails (a store error,
 *      up()/down() refusing the document), the key goes to the repair queue with the side that
 *      missed the write (repair-queue.ts), which re-reads the primary when it drains. The call
 *      itself never fails for the secondary; a failing queue write goes to `onError`.
 *   So, once the writers stop, each key's secondary holds up()/down() of its primary, or the key
 *   is in the repair queue. The argument needs a rev to change on every change of the document:
 *   on stores whose rev is a hash of the content (Redis, DynamoDB) a document that returns to the
 *   exact content it had while a write is in flight is not seen; shadow reads and verify are there
 *   for that;
 * - a delete of a key the new side answers for (new authoritative, old secondary: live for keys
 *   in the live percent, rampdown) is announced in the repair queue BEFORE the new side is
 *   deleted (an entry saying the old side is behind), and the announcement is withdrawn once the
 *   old side is deleted too. So from the moment the new side lacks the document until the old
 *   side lacks it too, the queue says so: live reads do not answer it from the old side
 *   (fallback.ts) and a backfill filling gaps in the target must not copy it back
 *   (`RepairQueue.pendingDeletes`), not even when the process dies between the two deletes. A
 *   failed announcement fails the call before anything is deleted; a failed new-side delete
 *   leaves its announcement, which the drain resolves by copying the new side's document back.
 */
import { canonicalEquals, type Doc } from '../core/values.js';
import { STAGE_RULES } from '../engine/stages.js';
import type { Migration } from '../migration/migration.js';
import type { Key, Rev, Store, StoredDoc, WriteOp } from '../store/contract.js';
import { upNow } from './lookup-context.js';
import type { RuntimeCounters } from './counters.js';
import type { KeyQueue } from './key-queue.js';
import type { RepairQueue, Side } from './repair-queue.js';
import { inLivePercent, liveBucket } from './sticky.js';
import { Attr, inSpan, SpanName } from '../observe/tracing.js';
import type { Collection } from '../store/contract.js';
import type { SideBySideState } from '../engine/stages.js';
import { StoreError } from '../core/errors.js';
import {
  fromFirstTarget,
  fromSource,
  writeSplitTargets,
  type SplitTarget,
} from './split-targets.js';

/** how many times step 4 of the header reads and writes again before queueing the key */
export const RECONCILE_ROUNDS = 3;
/** how many (side, key) revs a process remembers */
export const DEFAULT_REV_CACHE_SIZE = 10_000;

/** What a dual write needs of a migration's route (yard-collection.ts `Route` is one). */
export interface WriteRoute {
  readonly migration: Migration;
  readonly state: SideBySideState;
  readonly old: Collection;
  readonly new: Collection;
  readonly repairs: RepairQueue;
  readonly counters: RuntimeCounters;
  /** the writes of one key in this process, in order */
  readonly order: KeyQueue;
  /** the last rev this process saw each key at, per side */
  readonly revs: RevCache;
  /** where up() reads the migration's lookups (the data store); unused without lookups */
  readonly lookups?: Store;
  /** a split's other targets, derived from the old side after each write (split-targets.ts) */
  readonly more?: readonly SplitTarget[];
}

export type Write = { readonly type: 'put'; readonly doc: Doc } | { readonly type: 'delete' };

/** Where failures that cannot fail the call go. */
export type DualWriteErrorSink = (err: Error, what: string) => void;

/** A bounded map of (side, key) -> the last rev seen there (null: absent); oldest dropped first. */
export class RevCache {
  readonly #max: number;
  readonly #revs = new Map<string, Rev | null>();

  constructor(max = DEFAULT_REV_CACHE_SIZE) {
    this.#max = max;
  }

  get(side: Side, key: Key): Rev | null | undefined {
    return this.#revs.get(`${side}\u0000${key}`);
  }

  set(side: Side, key: Key, rev: Rev | null): void {
    const k = `${side}\u0000${key}`;
    this.#revs.delete(k);
    this.#revs.set(k, rev);
    if (this.#revs.size > this.#max) this.#revs.delete(this.#revs.keys().next().value!);
  }

  forget(side: Side, key: Key): void {
    this.#revs.delete(`${side}\u0000${key}`);
  }
}

/** The side whose write decides the call for `key` in the route's stage. */
export function authority(r: Pick<WriteRoute, 'migration' | 'state'>, key: Key): Side {
  const a = STAGE_RULES[r.state.stage].authoritative;
  if (a === 'by-key') return inLivePercent(key, r.migration.id, r.state.percent) ? 'new' : 'old';
  return a;
}

/**
 * The document as `side` stores it: a document at the migration's `to` version is the new shape
 * (the old side gets down(doc)), any other the old shape (the new side gets up(doc)).
 */
export async function shapeFor(
  r: Pick<WriteRoute, 'migration' | 'lookups'>,
  side: Side,
  doc: Doc,
): Promise<Doc> {
  const m = r.migration;
  const isNew = m.versionOf(doc) === m.to;
  // up() with the lookups as read now (lookup-context.ts): one getMany per looked-up collection
  if (side === 'new') return isNew ? doc : upNow(r.lookups, m, doc);
  return isNew ? m.down(doc) : doc;
}

/**
 * Write `key` on the sides the stage writes, by the header's rules; then a split's other targets
 * (writeMore).
 */
export function dualWrite(
  r: WriteRoute,
  key: Key,
  write: Write,
  onError: DualWriteErrorSink,
): Promise<void> {
  return r.order.run(key, () =>
    inSpan(SpanName.dualWrite, writeAttributes(r, key, write), async () => {
      // a key queued for repair gets its other targets from the drain (repair-queue.ts)
      if (await writeInOrder(r, key, write, onError)) await writeMore(r, key, onError);
    }),
  );
}

/**
 * A split's other targets, after both sides of the write (split-targets.ts): derived from the
 * old side while it is written (from the first target in complete); what fails queues the key
 * for repair, never failing the call.
 */
async function writeMore(r: WriteRoute, key: Key, onError: DualWriteErrorSink): Promise<void> {
  if (r.more === undefined || r.more.length === 0) return;
  const writes = STAGE_RULES[r.state.stage].writes;
  if (!writes.includes('new')) return;
  // from complete on the source is not written: the first target is the truth
  const read = writes.includes('old') ? fromSource(r.old) : fromFirstTarget(r.migration, r.new);
  try {
    await writeSplitTargets(read, r.more, key, RECONCILE_ROUNDS);
  } catch (err) {
    await r.repairs.queueFailed(key, err, onError);
  }
}

/** The span's attributes: never the key or the document (see observe/tracing.ts). */
function writeAttributes(r: WriteRoute, key: Key, write: Write) {
  return {
    [Attr.migration]: r.migration.id,
    [Attr.stage]: r.state.stage,
    [Attr.bucket]: liveBucket(key, r.migration.id),
    [Attr.side]: authority(r, key),
    'switchyard.write.type': write.type,
  };
}

async function writeInOrder(
  r: WriteRoute,
  key: Key,
  write: Write,
  onError: DualWriteErrorSink,
): Promise<boolean> {
  const first = authority(r, key);
  const other: Side = first === 'old' ? 'new' : 'old';
  const primaryOp: WriteOp =
    write.type === 'put'
      ? { type: 'put', key, doc: await shapeFor(r, first, write.doc) }
      : { type: 'delete', key };
  if (!STAGE_RULES[r.state.stage].writes.includes(other)) {
    await writeOne(r, first, primaryOp);
    return true;
  }
  let before = r.revs.get(other, key);
  if (before === undefined)
    before = await readOne(r, other, key).then((s) => s?.rev ?? null, noRev);
  const announced =
    write.type === 'delete' && other === 'old' ? await r.repairs.announceDelete(key) : undefined;
  // a failed primary delete leaves its announcement (it may have replaced an older entry): the
  // drain copies the new side's document to the old side, which is right either way
  const primary = await writeOne(r, first, primaryOp);
  let proven: boolean;
  let failure: unknown;
  try {
    proven = await writeSecondary(r, other, key, write, primary.ok ? primary.rev : null, before);
  } catch (err) {
    proven = false;
    failure = err;
  }
  if (!proven) {
    r.revs.forget(other, key);
    const error =
      failure === undefined
        ? `the order of concurrent writes could not be proven after ${RECONCILE_ROUNDS} rounds`
        : ((failure as Error)?.message ?? String(failure));
    try {
      await r.repairs.add({ key, op: write.type, side: other, error });
    } catch (qerr) {
      onError(qerr as Error, 'repair-queue');
    }
    return false;
  }
  if (announced !== undefined) {
    try {
      await r.repairs.remove(key, announced);
    } catch (qerr) {
      onError(qerr as Error, 'repair-queue');
    }
  }
  return true;
}

/** Steps 2-4 of the header; true when the secondary provably follows the primary. */
async function writeSecondary(
  r: WriteRoute,
  side: Side,
  key: Key,
  write: Write,
  primaryRev: Rev | null,
  before: Rev | null | undefined,
): Promise<boolean> {
  const primary: Side = side === 'old' ? 'new' : 'old';
  if (before === null && write.type === 'delete') {
    const now = await readOne(r, side, key);
    if (now === null) return true;
  } else if (before !== undefined) {
    const op: WriteOp =
      write.type === 'put'
        ? { type: 'put', key, doc: await shapeFor(r, side, write.doc), ifRev: before }
        : { type: 'delete', key, ifRev: before! };
    const res = await writeOne(r, side, op, false);
    if (res.ok) {
      r.revs.set(side, key, res.rev);
      if (before !== null) return true;
      if (((await readOne(r, primary, key))?.rev ?? null) === primaryRev) return true;
    }
  }
  return reconcile(r, side, key);
}

/** Step 4 of the header. */
async function reconcile(r: WriteRoute, side: Side, key: Key): Promise<boolean> {
  const primary: Side = side === 'old' ? 'new' : 'old';
  for (let round = 0; round < RECONCILE_ROUNDS; round++) {
    const now = await readOne(r, side, key);
    const truth = await readOne(r, primary, key);
    const want = truth === null ? null : await shapeFor(r, side, truth.doc);
    if (want === null && now === null) {
      r.revs.set(side, key, null);
      return true;
    }
    if (want !== null && now !== null && canonicalEquals(want, now.doc)) {
      r.revs.set(side, key, now.rev);
      return true;
    }
    const op: WriteOp =
      want === null
        ? { type: 'delete', key, ifRev: now!.rev }
        : { type: 'put', key, doc: want, ifRev: now?.rev ?? null };
    const res = await writeOne(r, side, op, false);
    if (!res.ok) continue;
    r.revs.set(side, key, res.rev);
    if (want === null || now !== null) return true;
    if (((await readOne(r, primary, key))?.rev ?? null) === truth!.rev) return true;
  }
  return false;
}

/**
 * A read the ordering needs. Not counted as a read of its side: the runtime counters are what the
 * application's calls saw (gates compare them); a failure shows as a queued repair instead.
 */
async function readOne(r: WriteRoute, side: Side, key: Key): Promise<StoredDoc | null> {
  const [got] = await r[side].getMany([key]);
  return got ?? null;
}

/** One op on one side, counted; a refused unconditional op is a StoreError. */
async function writeOne(r: WriteRoute, side: Side, op: WriteOp, mustSucceed = true) {
  const [res] = await r.counters.time(side, 'write', () => r[side].write([op]));
  if (res === undefined) throw new StoreError(`write of '${op.key}' returned no result`);
  if (mustSucceed && !res.ok) throw new StoreError(`write of '${op.key}' was refused (conflict)`);
  return res;
}

function noRev(): undefined {
  return undefined;
}
