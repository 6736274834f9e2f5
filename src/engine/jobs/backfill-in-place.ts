/**
 * The in-place backfill job: one page of the collection is read -> each document transformed
 * (`decideInPlace`) -> the before-images journaled (write-ahead) -> the new documents written,
 * each conditional on the rev that was read.
 *
 * Resume rules (on top of the runner's, runner/runner.ts):
 * 1. Documents already at `to` are skipped, so a batch redone after a kill transforms nothing
 *    twice. A result up() must not write (not storable, key changed, failing the migration's
 *    checks: checked-up.ts) is a dead letter, never written.
 * 2. Every data write is conditional on the rev that was read. A conflict (the application wrote
 *    the document meanwhile) re-reads and re-transforms that document; a stale transform never
 *    overwrites a newer write. A write whose acknowledgement was lost is retried the same way: it
 *    conflicts (the rev moved), the re-read finds the document at `to`, and it is skipped. After
 *    MAX_CONFLICT_ROUNDS conflicts in a row the document goes to the dead letters. A document the
 *    re-read cannot read (the application stored something that is not a document) is a dead
 *    letter naming its key; the rest of the batch goes on.
 * 2b. A document an operation with `onInvalid: 'skip'` refuses (SkippedDocumentError) is left as it
 *    is: not written, not journaled, not dead-lettered; counted as skipped. A redone batch skips
 *    it again.
 * 3. Where the state lives in the same store and the store can commit several collections at
 *    once, the journal entries and the data go in one transaction; otherwise the journal is
 *    written first (write-ahead) and the data after. An entry whose data write never happened is
 *    harmless: rollback finds the document not at the target version and leaves it alone.
 * 3b. A fan-out (engine/fan-out.ts): the journal entries (naming every key the parent emits, and
 *    those an unfinished earlier attempt wrote) are written first, then the emitted documents,
 *    then the parents; a kill -9 anywhere redoes the batch and writes the same keys again.
 * 4. Both go through `io.write`: fenced by the partition's lease (runner/fencing.ts), so a worker
 *    whose lease was taken over does not overwrite the new holder's journal entries.
 */
import { contentHash, toStorageJSON } from '../../core/values.js';
import type { TransformContext } from '../../migration/lookups.js';
import type { Migration } from '../../migration/migration.js';
import { isSkippedDocument } from '../../migration/operation-error.js';
import type { Journal, JournalEntry } from '../../state/journal.js';
import { ZERO_COUNTS, type PartitionCounts } from '../../state/partitions.js';
import type { Collection, StoredDoc, WriteOp, WriteResult } from '../../store/contract.js';
import type { EngineContext } from '../context.js';
import { lookupHashes, readLookups } from '../lookups.js';
import {
  emittedPairs,
  prepareFanOut,
  writeFanOut,
  type FanOutWrite,
  type PreparedFanOut,
} from '../fan-out.js';
import type { Emitted } from '../../migration/fan-out.js';
import type { BatchIo } from '../runner/job.js';
import { BackfillJob, type EndCheck, type NewDeadLetter } from './backfill-job.js';
import { checkedUp } from './checked-up.js';
import { backfillLeft, finalSweep, sweepWanted } from './final-sweep.js';

/** how many times a conflicting document is re-read and re-transformed within one batch */
export const MAX_CONFLICT_ROUNDS = 10;

/**
 * What the backfill does with one document, decided from the document alone. `skip`: already at
 * `to`, or left as it is by an operation's `onInvalid: 'skip'`. The journal entry is made when
 * `journaled` (or for a fan-out, which always journals): without the journal, serializing the
 * before-image and hashing the after-image for nothing cost about 5% of the client's CPU.
 */
export type InPlaceDecision =
  | { kind: 'skip' }
  | { kind: 'dead'; error: unknown }
  | { kind: 'write'; op: WriteOp; journal?: JournalEntry; emitted?: Emitted[] };

export function decideInPlace(
  m: Migration,
  item: StoredDoc,
  lookups?: TransformContext,
  journaled = true,
): InPlaceDecision {
  if (m.isMigrated(item.doc)) return { kind: 'skip' };
  const up = checkedUp(m, item.key, item.doc, lookups);
  if (!up.ok)
    return isSkippedDocument(up.error) ? { kind: 'skip' } : { kind: 'dead', error: up.error };
  // a fan-out: the documents the array becomes (engine/fan-out.ts writes them before the parent)
  let emitted: Emitted[] | undefined;
  if (m.fanOut !== undefined)
    try {
      emitted = m.fanOut.emit(item.key, item.doc).emitted;
    } catch (error) {
      return { kind: 'dead', error };
    }
  const after = m.stamp(up.doc, new Date());
  const op: WriteOp = { type: 'put', key: item.key, doc: after, ifRev: item.rev };
  if (!journaled && emitted === undefined) return { kind: 'write', op };
  return {
    kind: 'write',
    ...(emitted !== undefined ? { emitted } : {}),
    op,
    journal: {
      key: item.key,
      before: item.text ?? toStorageJSON(item.doc),
      afterHash: contentHash(after),
      // what up() looked up, so verify can report a lookup that changed since (engine/lookups.ts)
      ...(m.hasLookups && lookups !== undefined ? { lookups: lookupHashes(lookups) } : {}),
      ...(emitted !== undefined ? { emitted: emittedPairs(emitted) } : {}),
    },
  };
}

export class InPlaceBackfillJob extends BackfillJob {
  readonly #ctx: EngineContext;
  readonly #journal: Journal | undefined;

  get destination(): Collection {
    return this.source;
  }

  readonly #finalSweep: boolean | undefined;

  /** `finalSweep`: force the final sweep on (or off); by default where cursors are tied to a server */
  constructor(
    ctx: EngineContext,
    m: Migration,
    journal: Journal | undefined,
    options: { finalSweep?: boolean } = {},
  ) {
    super(ctx, m);
    this.#ctx = ctx;
    this.#journal = journal;
    this.#finalSweep = options.finalSweep;
  }

  /** Before "backfilled": the final sweep (final-sweep.ts) where it is wanted. */
  override async endCheck(io: BatchIo): Promise<EndCheck> {
    if (!sweepWanted(this.source, this.#finalSweep, this.disturbed))
      return { left: 0, message: '' };
    const r = await finalSweep(
      this.source,
      io,
      io.limit,
      backfillLeft(this.#ctx.store, this.m, this.dead),
    );
    return {
      left: r.left,
      message:
        r.left === 0
          ? ''
          : `${r.left} of the ${r.seen} documents of ${this.m.collection} are still at the old version after every partition was walked (${r.keys.join(', ')}${r.left > r.keys.length ? ', ...' : ''}): a walk lost its place (a server restart or failover), or the application wrote them in the old shape since. Nothing written is wrong; run backfill again: it walks everything afresh and transforms only what is left`,
    };
  }

  async process(
    items: readonly StoredDoc[],
    io: BatchIo,
    deadKeys?: Set<string>,
  ): Promise<Partial<PartitionCounts>> {
    const counts: PartitionCounts = { ...ZERO_COUNTS };
    let pending: StoredDoc[] = [...items];
    for (let round = 0; pending.length > 0; round++) {
      let ops: WriteOp[] = [];
      let journal: JournalEntry[] = [];
      const fanned: FanOutWrite[] = [];
      const dead: NewDeadLetter[] = [];
      // what the batch looks up: one getMany per looked-up collection (engine/lookups.ts)
      const lookups = await readLookups(
        this.#ctx.store,
        this.m,
        pending.map((p) => p.doc),
        (what, fn) => io.retrying(what, fn),
      );
      for (const [i, item] of pending.entries()) {
        const d = decideInPlace(this.m, item, lookups[i], this.#journal !== undefined);
        if (d.kind === 'skip') counts.skipped += 1;
        else if (d.kind === 'dead') dead.push(this.deadLetter(item, d.error));
        else if (d.emitted !== undefined)
          fanned.push({ op: d.op, journal: d.journal!, emitted: d.emitted });
        else {
          ops.push(d.op);
          if (d.journal !== undefined) journal.push(d.journal);
        }
      }
      // a fan-out: earlier attempts' keys, keys that are not ours (engine/fan-out.ts)
      let prepared: PreparedFanOut | undefined;
      if (fanned.length > 0) {
        prepared = await prepareFanOut(
          this.#ctx.store,
          this.m.fanOut!,
          this.#fanOutJournal(),
          fanned,
          io,
        );
        for (const r of prepared.refused)
          dead.push({ key: r.key, error: r.error, version: this.m.from, at: Date.now() });
        ops = prepared.writes.map((w) => w.op);
        journal = prepared.writes.map((w) => w.journal);
      }
      counts.errors += await this.addDead(dead, io, deadKeys);
      if (ops.length === 0) break;
      const results = await this.timed(io, () =>
        this.fitting(
          ops,
          (fit) =>
            prepared !== undefined
              ? writeFanOut(
                  this.#ctx.store,
                  this.#ctx.stateStore,
                  this.m,
                  this.#fanOutJournal(),
                  prepared,
                  fit,
                  io,
                )
              : this.#write(fit, fit.length === ops.length ? journal : only(journal, fit), io),
          io,
          counts,
          deadKeys,
        ),
      );
      const conflicted: string[] = [];
      for (const r of results) {
        if (r.ok) counts.migrated += 1;
        else conflicted.push(r.key);
      }
      counts.conflicts += conflicted.length;
      if (conflicted.length === 0) break;
      if (round >= MAX_CONFLICT_ROUNDS) {
        const stuck = conflicted.map((key) => ({
          key,
          error: `kept changing: ${MAX_CONFLICT_ROUNDS} conflicting writes in a row`,
          version: this.m.from,
          at: Date.now(),
        }));
        counts.errors += await this.addDead(stuck, io, deadKeys, false);
        break;
      }
      // a document the application made unreadable meanwhile is a dead letter naming its key
      const reread = await this.readMany(conflicted, io);
      counts.errors += await this.addDead(reread.unreadable, io, deadKeys);
      pending = reread.docs;
    }
    return counts;
  }

  /** the journal a fan-out needs (a fan-out is not exactly invertible: never --no-journal) */
  #fanOutJournal(): Journal {
    if (this.#journal === undefined)
      throw new Error(
        `${this.m.id}: a fan-out needs the undo journal (it cannot run with --no-journal)`,
      );
    return this.#journal;
  }

  /**
   * A batch and its journal entries, under the lease (runner/fencing.ts): in one transaction where
   * possible, else journal first.
   */
  async #write(ops: WriteOp[], journal: JournalEntry[], io: BatchIo): Promise<WriteResult[]> {
    const j = this.#journal;
    const { store, stateStore } = this.#ctx;
    const data = { collection: this.m.collection, ops };
    if (j === undefined || journal.length === 0) return (await io.write(store, [data]))[0]!;
    const entries = { collection: j.collectionName, ops: j.recordOps(journal) };
    if (stateStore === store) return (await io.write(store, [entries, data]))[1]!;
    await io.write(stateStore, [entries]);
    return (await io.write(store, [data]))[0]!;
  }
}

/** the journal entries of the ops that are written (a too-large document was left out) */
function only(journal: readonly JournalEntry[], ops: readonly WriteOp[]): JournalEntry[] {
  const keys = new Set(ops.map((o) => o.key));
  return journal.filter((e) => keys.has(e.key));
}
