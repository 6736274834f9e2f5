/**
 * The rollback job: one partitioned pass over the data collection's ranges (not the journal's):
 * for each page of documents, their journal entries are looked up (`getMany` on the journal in
 * the state store) and each document is settled by `decideRollback`:
 * - with a journal entry, still what the migration wrote (content hash = the entry's afterHash):
 *   the exact before-image is restored, with a write conditional on the rev just read;
 * - with an entry, changed by the application since: down() when the migration is exactly
 *   invertible, else the application's document is kept and reported as a conflict;
 * - with an entry, not at the target version (its write never happened, or the app wrote the old
 *   shape): left alone (`untouched`);
 * - without an entry, at the target version (written in the new shape by the application, or a
 *   backfill without the journal): down() where exact, else a conflict;
 * - without an entry, not at the target version: nothing to do (not counted).
 * A journalled document the application deleted is not in the data collection: it stays deleted.
 * An entry whose seal does not verify (edited after the check that precedes the run) is never
 * restored: a conflict, the document kept as it is.
 * A fan-out (engine/fan-out.ts): before a parent is restored (or when its entry is from an attempt
 * that never wrote it), the documents its entry names are deleted where they are still what the
 * migration wrote; a changed one is a conflict named `<collection>/<key>` and kept.
 *
 * Why the data's ranges and not the journal's: the pass must visit every document at the target
 * version anyway (those without an entry), and walking the data once covers both; the journal is
 * read by key, and is left whole until the rollback ends (then dropped).
 *
 * Resume rules (on top of the runner's): every write is conditional on the rev just read; a
 * conflict re-reads and decides again (up to MAX_ROLLBACK_ROUNDS, then a conflict is reported). A
 * batch redone after a kill finds the documents it restored at `from` (untouched now: the counts
 * of the redone batch start again from the checkpoint's, so nothing is counted twice) and the
 * conflicts it recorded recorded again (the same key, the same reason). Conflicts go to
 * `_sy_conflicts_<id>` so they outlive the journal; counts and samples are per partition (`data`)
 * and merged at the end.
 */
import { contentHash } from '../../core/values.js';
import type { Migration } from '../../migration/migration.js';
import { beforeImage, Journal, type JournalEntry } from '../../state/journal.js';
import type { PartitionCounts, PartitionState, PlanState } from '../../state/partitions.js';
import type {
  Collection,
  Range,
  ScanPage,
  Store,
  StoredDoc,
  WriteOp,
} from '../../store/contract.js';
import type { EngineContext } from '../context.js';
import { removeEmitted } from '../fan-out.js';
import { JobPass, type BatchIo, type Job, type PartitionWork } from '../runner/job.js';

export const MAX_ROLLBACK_ROUNDS = 10;

export interface RollbackCounts {
  /** restored to the exact before-image */
  restored: number;
  /** changed by the application since; turned back with down() */
  downcast: number;
  /** journalled but left alone: not at the target version */
  untouched: number;
  /** changed by the application, no exact inverse: the application's document was kept */
  conflicts: number;
  /** a fan-out: emitted documents deleted (engine/fan-out.ts); absent without a fan-out */
  emittedRemoved?: number;
}

/** What a partition keeps (its `data`). */
export interface RollbackData extends RollbackCounts {
  samples: { key: string; reason: string }[];
}

export function conflictsCollectionName(migrationId: string): string {
  return `_sy_conflicts_${migrationId}`;
}

export type RollbackDecision =
  | { kind: 'write'; op: WriteOp; count: 'restored' | 'downcast' }
  | { kind: 'untouched' }
  | { kind: 'none' }
  | { kind: 'conflict'; reason: string };

/** down() for a document at the target version; a conflict when that is not exact. */
function downDecision(m: Migration, s: StoredDoc, why: string): RollbackDecision {
  if (!m.reversible)
    return {
      kind: 'conflict',
      reason: `${why}, and the migration has no exact inverse: kept the application's document`,
    };
  try {
    return {
      kind: 'write',
      op: { type: 'put', key: s.key, doc: m.down(s.doc), ifRev: s.rev },
      count: 'downcast',
    };
  } catch (err) {
    return { kind: 'conflict', reason: `${why}; down() failed: ${(err as Error).message}` };
  }
}

/** What the rollback does with one document (null: gone), given its journal entry. */
export function decideRollback(
  m: Migration,
  entry: JournalEntry | null,
  s: StoredDoc | null,
  usedJournal: boolean,
): RollbackDecision {
  if (entry === null) {
    if (s === null || !m.isMigrated(s.doc)) return { kind: 'none' };
    return downDecision(
      m,
      s,
      usedJournal
        ? 'at the new version without a before-image (written by the application)'
        : 'no journal',
    );
  }
  if (s === null || !m.isMigrated(s.doc)) return { kind: 'untouched' };
  if (contentHash(s.doc) === entry.afterHash)
    return {
      kind: 'write',
      op: { type: 'put', key: s.key, doc: beforeImage(entry), ifRev: s.rev },
      count: 'restored',
    };
  return downDecision(m, s, 'changed by the application after the migration wrote it');
}

export function emptyRollbackData(): RollbackData {
  return { restored: 0, downcast: 0, untouched: 0, conflicts: 0, samples: [] };
}

export class RollbackJob implements Job {
  readonly pass = JobPass.rollback;
  readonly migration: string;
  readonly key: string;
  readonly #m: Migration;
  readonly #source: Collection;
  readonly #journal: Journal;
  readonly #conflicts: Collection;
  readonly #store: Store;
  readonly #maxSamples: number;
  readonly #usedJournal: () => Promise<boolean>;

  constructor(
    ctx: EngineContext,
    m: Migration,
    o: { maxSamples: number; usedJournal: () => Promise<boolean> },
  ) {
    this.#m = m;
    this.migration = m.id;
    this.key = `${m.id}#rollback`;
    this.#store = ctx.store;
    this.#source = ctx.store.collection(m.collection);
    this.#journal = new Journal(ctx.stateStore, m.id);
    this.#conflicts = ctx.stateStore.collection(conflictsCollectionName(m.id));
    this.#maxSamples = o.maxSamples;
    this.#usedJournal = o.usedJournal;
  }

  async plan(n: number): Promise<{ ranges: Range[]; params: { usedJournal: boolean } }> {
    return {
      ranges: await this.#source.split(n),
      params: { usedJournal: await this.#usedJournal() },
    };
  }

  scan(range: Range, cursor: string | null, limit: number): Promise<ScanPage> {
    return this.#source.scan({ range, cursor, limit });
  }

  async progressExtra(states: readonly PartitionState[]): Promise<Record<string, number>> {
    const sum = mergeRollbackData(states, 0);
    return {
      restored: sum.restored,
      downcast: sum.downcast,
      untouched: sum.untouched,
      conflicts: sum.conflicts,
    };
  }

  open(partition: PartitionState, plan: PlanState): PartitionWork {
    const data: RollbackData = {
      ...emptyRollbackData(),
      ...(partition.data as Partial<RollbackData> | undefined),
    };
    const usedJournal = plan.params?.usedJournal === true;
    return {
      batch: (items, io) => this.#batch(items, io, data, usedJournal),
      data: async () => ({ ...data }),
    };
  }

  async #batch(
    items: readonly StoredDoc[],
    io: BatchIo,
    data: RollbackData,
    usedJournal: boolean,
  ): Promise<Partial<PartitionCounts>> {
    const before = { ...data };
    const entries =
      usedJournal && items.length > 0
        ? await io.retrying('journal', () => this.#journal.get(items.map((s) => s.key)))
        : [];
    const entryOf = new Map(items.map((s, i) => [s.key, entries[i] ?? null]));
    // the journal was verified before the rollback started; an entry edited since is not trusted
    const tampered = new Set<string>();
    for (const [key, e] of entryOf) {
      const problem = e === null ? undefined : this.#journal.unverified(key, e);
      if (problem === undefined) continue;
      tampered.add(key);
      await this.#conflict(data, key, `its journal entry does not verify: ${problem}`, io);
    }
    let pending: StoredDoc[] = items.filter((s) => !tampered.has(s.key));
    const cleared = new Set<string>();
    for (let round = 0; pending.length > 0; round++) {
      if (round >= MAX_ROLLBACK_ROUNDS) {
        for (const s of pending)
          await this.#conflict(
            data,
            s.key,
            `kept changing during rollback (${MAX_ROLLBACK_ROUNDS} conflicting writes)`,
            io,
          );
        break;
      }
      const writes: { op: WriteOp; count: 'restored' | 'downcast' }[] = [];
      const clear: JournalEntry[] = [];
      for (const s of pending) {
        const d = decideRollback(this.#m, entryOf.get(s.key) ?? null, s, usedJournal);
        if (d.kind === 'untouched') data.untouched += 1;
        else if (d.kind === 'conflict') await this.#conflict(data, s.key, d.reason, io);
        else if (d.kind === 'write') writes.push(d);
        // a fan-out: what a restored (or never written) parent emitted goes first (fan-out.ts)
        const e = entryOf.get(s.key) ?? null;
        if (e !== null && (d.kind === 'untouched' || d.kind === 'write') && !cleared.has(s.key)) {
          cleared.add(s.key);
          clear.push(e);
        }
      }
      if (this.#m.fanOut !== undefined && clear.length > 0)
        data.emittedRemoved =
          (data.emittedRemoved ?? 0) +
          (await removeEmitted(this.#store, this.#m.fanOut, clear, io, (name, reason) =>
            this.#conflict(data, name, reason, io),
          ));
      if (writes.length === 0) break;
      // under the lease (runner/fencing.ts): a worker that lost it restores nothing late
      const results = (
        await io.write(this.#store, [
          { collection: this.#m.collection, ops: writes.map((w) => w.op) },
        ])
      )[0]!;
      const again: string[] = [];
      results.forEach((r, i) => {
        if (r.ok) data[writes[i]!.count] += 1;
        else again.push(r.key);
      });
      if (again.length === 0) break;
      const reread = await io.retrying('getMany', () => this.#source.getMany(again));
      // a document deleted meanwhile: untouched (it stays deleted)
      reread.forEach((s, i) => {
        if (s === null && entryOf.get(again[i]!) !== null) data.untouched += 1;
      });
      pending = reread.filter((s): s is StoredDoc => s !== null);
    }
    return {
      migrated: data.restored + data.downcast - before.restored - before.downcast,
      skipped: data.untouched - before.untouched,
      conflicts: data.conflicts - before.conflicts,
    };
  }

  async #conflict(data: RollbackData, key: string, reason: string, io: BatchIo): Promise<void> {
    data.conflicts += 1;
    if (data.samples.length < this.#maxSamples) data.samples.push({ key, reason });
    await io.retrying('conflicts', () =>
      this.#conflicts.write([
        { type: 'put', key, doc: { key, reason, at: new Date().toISOString() } },
      ]),
    );
  }
}

/** The partitions' counts and conflict samples, summed (samples capped at `maxSamples`). */
export function mergeRollbackData(
  states: readonly PartitionState[],
  maxSamples: number,
): RollbackData {
  const out = emptyRollbackData();
  for (const s of states) {
    const d = s.data as Partial<RollbackData> | undefined;
    if (d === undefined) continue;
    out.restored += Number(d.restored ?? 0);
    out.downcast += Number(d.downcast ?? 0);
    out.untouched += Number(d.untouched ?? 0);
    out.conflicts += Number(d.conflicts ?? 0);
    if (d.emittedRemoved !== undefined)
      out.emittedRemoved = (out.emittedRemoved ?? 0) + Number(d.emittedRemoved);
    for (const x of d.samples ?? []) if (out.samples.length < maxSamples) out.samples.push(x);
  }
  return out;
}
